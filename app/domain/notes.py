"""The "Related in Workbooks" block at the end of a contact's notes (R18, design 6.1).

The block sits between fixed marker lines so both mailbox routes (EWS and Graph) can find, keep
or rewrite it while leaving the user's own notes around it alone.
"""
from __future__ import annotations

BLOCK_START = "----- Related in Workbooks (kept up to date by the Workbooks connector) -----"
BLOCK_END = "----- End of Related in Workbooks -----"


def _clean(text: str | None) -> str | None:
    return (text.strip() or None) if text is not None else None


def split_block(text: str | None) -> tuple[str | None, str | None]:
    """Plain notes text -> (user notes outside the block, block content); an unterminated block
    runs to the end."""
    if not text:
        return None, None
    start = text.find(BLOCK_START)
    if start < 0:
        return _clean(text), None
    end = text.find(BLOCK_END, start)
    block_end = end + len(BLOCK_END) if end >= 0 else len(text)
    inner = text[start + len(BLOCK_START): end if end >= 0 else len(text)]
    outside = text[:start].rstrip() + ("\n" + text[block_end:].lstrip("\n") if text[block_end:].strip() else "")
    return _clean(outside), _clean(inner)


def join_block(notes: str | None, related: str | None) -> str | None:
    """User notes followed by the block (either may be missing)."""
    parts = []
    if _clean(notes):
        parts.append(notes.strip())  # type: ignore[union-attr]
    if _clean(related):
        parts.append(f"{BLOCK_START}\n{related.strip()}\n{BLOCK_END}")  # type: ignore[union-attr]
    return "\n\n".join(parts) if parts else None
