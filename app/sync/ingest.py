"""Ingest: page both sides into staging together with their cursors (design.md 5.1 steps 3-4).

Outlook: the folder's change feed from the stored SyncState; deletions are confirmed by a lookup.
CRM: the first run (or a changed filter) lists the scope server-side; later runs read the delta
since the high-water mark, unfiltered, and evaluate the filter locally so records entering or
leaving scope are seen. Each page is written with its token in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from app.domain.filters import Filter, evaluate
from app.domain.records import CrmRecord, HighWater, Kind, OutlookItem, Side
from app.sync.ports import CrmPort, InvalidSyncToken, MailboxPort
from app.sync.state import Batch, Link, Staged


def encode_mark(mark: HighWater) -> str:
    return f"{mark.updated_at.isoformat()}|{mark.last_id}"


def decode_mark(text: str) -> HighWater:
    when, _, last = text.partition("|")
    return HighWater(datetime.fromisoformat(when), int(last or 0))


@dataclass
class IngestResult:
    pages: int = 0
    staged: int = 0
    first_sync: bool = False
    reset: bool = False  # token refused: lost-state path
    listed_ids: set[str] = field(default_factory=set)  # CRM full listing: ids seen


def ingest_outlook(
    mailbox: MailboxPort, kind: Kind, token: str | None, write: Callable[[Batch], None],
    cancelled: Callable[[], bool], known: Callable[[str, str], bool] | None = None,
) -> IngestResult:
    """`known(item_id, change_key)`: the journal already holds that version (our own write's
    echo), so the adapter need not read the item. Only used on an incremental read: a first or
    re-index read (no token) sees every item."""
    res = IngestResult(first_sync=token is None)
    try:
        _outlook_pages(mailbox, kind, token, write, cancelled, res, known if token else None)
    except InvalidSyncToken:
        res.reset = True
        res.first_sync = True
        _outlook_pages(mailbox, kind, None, write, cancelled, res, None)
    return res


def _outlook_pages(mailbox, kind, token, write, cancelled, res: IngestResult, known=None) -> None:
    pages = mailbox.changes(kind, token) if known is None else mailbox.changes(kind, token, known=known)
    for page in pages:
        stage: list[Staged] = []
        deletes = []
        for ch in page.changes:
            if ch.op == "upsert" and ch.item is not None:
                stage.append(_outlook_staged(ch.item))
            elif ch.op == "delete":
                deletes.append(ch.item_id)
        if deletes:  # a delete notification plus a failed lookup (moves back, races)
            for item_id, got in zip(deletes, mailbox.fetch(kind, deletes)):
                stage.append(_outlook_staged(got) if got is not None else Staged(Side.OUTLOOK, kind, item_id, "delete"))
        res.pages += 1
        res.staged += len(stage)
        write(Batch(stage=stage, cursors=[(Side.OUTLOOK.value, kind.value, page.token)]))
        if page.done or cancelled():
            break


def _outlook_staged(item: OutlookItem) -> Staged:
    return Staged(Side.OUTLOOK, item.kind, item.item_id, "upsert", item.change_key, outlook=item)


def crm_staged(rec: CrmRecord, in_scope: bool) -> Staged:
    if rec.deleted:
        return Staged(Side.CRM, rec.kind, rec.id, "delete", str(rec.lock_version), crm=rec, in_scope=False)
    return Staged(Side.CRM, rec.kind, rec.id, "upsert", str(rec.lock_version), crm=rec, in_scope=in_scope)


def ingest_crm(
    crm: CrmPort, kind: Kind, mark_text: str | None, *, flt: Filter, resolved: Filter, today: date,
    now: datetime, overlap: timedelta, links: Iterable[Link], full_listing: bool, write: Callable[[Batch], None],
    cancelled: Callable[[], bool], batch_size: int = 100,
) -> IngestResult:
    by_crm = {l.crm_id: l for l in links if l.crm_id}
    res = IngestResult(first_sync=mark_text is None)
    if mark_text is None or full_listing:
        start = HighWater(now - overlap, 0)
        for page in crm.list_scope(kind, flt):
            stage = []
            for rec in page.records:
                res.listed_ids.add(rec.id)
                link = by_crm.get(rec.id)
                if link is not None and link.crm_lock_version == str(rec.lock_version) and link.in_scope:
                    continue
                stage.append(crm_staged(rec, True))
            res.pages += 1
            res.staged += len(stage)
            write(Batch(stage=stage))
            if page.done or cancelled():
                break
        # linked records the listing no longer shows: look them up and judge them locally
        missing = [cid for cid, l in by_crm.items() if cid not in res.listed_ids and l.in_scope]
        stage = []
        for i in range(0, len(missing), batch_size):
            chunk = missing[i:i + batch_size]
            got = {r.id: r for r in crm.fetch(kind, chunk)}
            for cid in chunk:
                rec = got.get(cid)
                if rec is None:
                    continue  # unknown id: not proof of deletion (B7); nothing is staged
                stage.append(crm_staged(rec, evaluate(resolved, rec.raw, today)))
        res.staged += len(stage)
        write(Batch(stage=stage, cursors=[(Side.CRM.value, kind.value, encode_mark(start))]))
        return res
    mark = decode_mark(mark_text)
    since = HighWater(mark.updated_at - overlap, 0) if overlap else mark
    for page in crm.changes_since(kind, since):
        stage = []
        for rec in page.records:
            link = by_crm.get(rec.id)
            in_scope = (not rec.deleted) and evaluate(resolved, rec.raw, today)
            if link is None and not in_scope:
                continue  # neither ours nor wanted
            if (link is not None and not rec.deleted and link.crm_lock_version == str(rec.lock_version)
                    and in_scope == link.in_scope):
                continue  # our own echo or a replayed page
            stage.append(crm_staged(rec, in_scope))
        res.pages += 1
        res.staged += len(stage)
        new_mark = page.high_water if page.high_water is not None else None
        if new_mark is not None and (new_mark.updated_at, new_mark.last_id) < (mark.updated_at, mark.last_id):
            new_mark = mark
        cursors = [(Side.CRM.value, kind.value, encode_mark(new_mark))] if new_mark is not None else []
        write(Batch(stage=stage, cursors=cursors))
        if page.done or cancelled():
            break
    return res
