"""Attachments of recorded emails (product.md B35, design.md 6.4): which messages go to the CRM
with their full MIME source, in batches bounded by bytes, and the note for those over the cap.

Pure: the MIME is read through the optional mailbox extension `message_mimes` (one round trip
per batch) and never stored; the journal keeps only the state (`recorded` / `too_large`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, Sequence, TypeVar

from app.errors import AppError, AuthError, ItemError, PrerequisiteError

MB = 1024 * 1024
# MIME carries attachments base64-encoded: 4 bytes for every 3, plus headers and line breaks.
MIME_OVERHEAD = 4 / 3
MIME_SLACK = 64 * 1024

T = TypeVar("T")


class MimeBatch(Protocol):
    """Mailbox extension: the MIME source of many sent messages in one round trip, one result per
    id in order (bytes, or an AppError for that message; NotFound once it left Sent Items)."""

    def message_mimes(self, item_ids: Sequence[str]) -> list[bytes | AppError]: ...


def too_large_note(cap_mb: int) -> str:
    return f"[Workbooks connector: attachments not recorded; the message is larger than {cap_mb} MB]"


def with_note(body: str, cap_mb: int) -> str:
    return (body + "\n\n" if body else "") + too_large_note(cap_mb)


def over_cap(size: int, cap_mb: int) -> bool:
    """The message as Exchange sizes it (attachments included) is over the cap."""
    return bool(cap_mb) and size > cap_mb * MB


def mime_too_big(mime: bytes, cap_mb: int) -> bool:
    """The MIME read is larger than any message under the cap can be (it grew since it was listed,
    or the server's size was low): recorded without attachments rather than sent over the limit."""
    return bool(cap_mb) and len(mime) > cap_mb * MB * MIME_OVERHEAD + MIME_SLACK


def expected_mime_bytes(size: int) -> int:
    return int(size * MIME_OVERHEAD) + MIME_SLACK


def byte_bounded(items: Sequence[T], *, count: int, budget: int, weight: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive batches of at most `count` items whose weights add up to at most `budget`; an
    item heavier than the budget travels alone. This bounds the MIME held in memory at once."""
    batch: list[T] = []
    held = 0
    for item in items:
        w = max(0, weight(item))
        if batch and (len(batch) >= max(1, count) or held + w > budget):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += w
    if batch:
        yield batch


def read_mimes(mailbox: Any, item_ids: Sequence[str]) -> dict[str, bytes | AppError]:
    """MIME per item id, in one `message_mimes` call. A mailbox without the extension gives each
    message an error, so nothing is recorded without the attachments the user asked for."""
    if not item_ids:
        return {}
    batch = getattr(mailbox, "message_mimes", None)
    if batch is None:
        missing = ItemError("this mailbox connection cannot read a message's MIME content",
                            title="Attachments not available")
        return {i: missing for i in item_ids}
    return per_item(batch, item_ids)


def per_item(batch: Callable[[list[str]], Sequence[Any]], item_ids: Sequence[str]) -> dict[str, Any]:
    """One batched mailbox read as {item id: result}. A failure of the whole call becomes each
    item's error (so each backs off on its own); sign-in and prerequisite errors stop the phase."""
    try:
        return dict(zip(item_ids, batch(list(item_ids))))
    except (AuthError, PrerequisiteError):
        raise
    except AppError as exc:
        return {i: exc for i in item_ids}


__all__ = ["MimeBatch", "byte_bounded", "expected_mime_bytes", "mime_too_big", "over_cap", "per_item", "read_mimes",
           "too_large_note", "with_note"]
