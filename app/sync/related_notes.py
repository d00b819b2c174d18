"""The "Related in Workbooks" block of synced contacts' notes (R18, design.md 6.1 last row).

Runs after the email phase, which keeps the read-side copy of Organisations, Opportunities, Cases
and Sales Leads current from the CRM delta feed. For each shared contact the block is built from
that copy alone (no request per contact); only contacts whose block differs from the one last
written are updated, in batches (`update_many` when the mailbox offers it), each quoting the
link's ChangeKey. The block flows CRM -> Outlook only: the connectors leave the user's notes
around it alone and exclude it from the notes they read, so it never makes a change or conflict.

After a write the link gets the new ChangeKey, so the next feed read knows the echo as ours.
What was written is remembered per person (`EmailStore.related_written`): a crash between the
Outlook write and that record only means the same block is written once more.

Pure: standard library and app.sync / app.domain only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from app.domain.records import Kind, Update
from app.errors import AppError, AuthError, PrerequisiteError, StaleVersion
from app.sync import retry
from app.sync.email_phase_hook import related_blocks
from app.sync.state import SHARED, Batch, Link

CHUNK = 100  # contacts per update_many call (EWS UpdateItem batch size used elsewhere)


@dataclass
class RelatedResult:
    written: int = 0  # contacts whose block was (re)written
    removed: int = 0  # ... of which the block was taken away (nothing relates any more)
    stale: int = 0  # contacts changed in Outlook meanwhile: retried after the next feed read
    issues: list[tuple[str, str, Any]] = field(default_factory=list)  # Tally.issues rows


def block_digest(block: str | None) -> str:
    return hashlib.sha256((block or "").encode("utf-8")).hexdigest()[:16]


def _company(link: Link) -> str | None:
    for fields in (link.crm_fields, link.base):
        if fields and fields.get("company"):
            return str(fields["company"])
    return None


def plan_blocks(links: Iterable[Link], references: Sequence[Any], organisations: Mapping[str, str | None],
                written: Mapping[str, tuple[str | None, str]]) -> list[tuple[Link, str, str]]:
    """(link, block, digest) for each shared contact whose block must be (re)written: it differs
    from the one written on that Outlook item, or the item never had one and now has something.
    A block that empties is written as "" (the connectors then drop the marker lines)."""
    usable = [ln for ln in links if ln.state == SHARED and ln.ews_item_id and ln.ews_change_key and ln.crm_id]
    blocks = related_blocks(references, {ln.crm_id: _company(ln) for ln in usable},  # type: ignore[misc]
                            organisations=organisations)
    out: list[tuple[Link, str, str]] = []
    for ln in usable:
        block = blocks.get(ln.crm_id or "") or ""
        digest = block_digest(block)
        prev = written.get(ln.crm_id or "")
        if prev is None:
            if block:
                out.append((ln, block, digest))
        elif prev != (ln.ews_item_id, digest):
            if block or prev[0] == ln.ews_item_id:  # a new item without a block needs nothing
                out.append((ln, block, digest))
    return out


def refresh_related_notes(mailbox: Any, journal: Any, email_journal: Any, now: Any, *,
                          cancelled: Any = None) -> RelatedResult:
    """Write changed blocks onto the shared contacts; returns what was done. Raises only fatal
    errors (auth, prerequisites); per-contact failures become issues and are retried next run."""
    result = RelatedResult()
    links = email_journal.shared_contacts()  # light rows; the full link is read only for a write
    ids = [ln.crm_id for ln in links if ln.crm_id]
    people = email_journal.people(ids)
    organisations = {pid: p.organisation_id for pid, p in people.items() if p.organisation_id}
    todo = plan_blocks(links, email_journal.references(), organisations, email_journal.related_written(ids))
    batch = getattr(mailbox, "update_many", None)
    for start in range(0, len(todo), CHUNK):
        if cancelled is not None and cancelled():
            break
        chunk = todo[start:start + CHUNK]
        updates = [Update(id=ln.ews_item_id or "", version=ln.ews_change_key or "", fields={}, changed=frozenset(),
                          related=block) for ln, block, _d in chunk]
        results: list[Any]
        try:
            results = list(batch(Kind.PERSON, updates)) if callable(batch) else [_one(mailbox, u) for u in updates]
        except (AuthError, PrerequisiteError):
            raise
        except AppError as exc:
            results = [exc] * len(chunk)
        stamped: list[Link] = []
        done: list[tuple[str, str, str]] = []
        full = _full_links(journal, [ln.id for ln, _b, _d in chunk])
        for (ln, block, digest), res in zip(chunk, results):
            if isinstance(res, StaleVersion):
                result.stale += 1  # the user is editing it: the feed brings the new ChangeKey first
            elif isinstance(res, (AuthError, PrerequisiteError)):
                raise res
            elif isinstance(res, AppError):
                result.issues.append((f"related items of contact {ln.id[:8]}", f"{res.title}: {res.message}",
                                      retry.retry_after(now, 1)))
            elif ln.id in full:
                stamped.append(replace(full[ln.id], ews_item_id=res.id, ews_change_key=res.version))
                done.append((ln.crm_id or "", res.id, digest))
                result.written += 1
                result.removed += 0 if block else 1
        if stamped:
            journal.write(Batch(links=stamped))  # first: the echo of our write must be known as ours
            email_journal.save_related_written(done)
    return result


def _full_links(journal: Any, link_ids: Sequence[str]) -> dict[str, Link]:
    many = getattr(journal, "links_by_id", None)
    if callable(many):
        return dict(many(link_ids))
    found = (journal.link(i) for i in link_ids)
    return {ln.id: ln for ln in found if ln is not None}


def _one(mailbox: Any, update: Update) -> Any:
    try:
        return mailbox.update(Kind.PERSON, update)
    except (AuthError, PrerequisiteError):
        raise
    except AppError as exc:
        return exc


__all__ = ["RelatedResult", "block_digest", "plan_blocks", "refresh_related_notes"]
