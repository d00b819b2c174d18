"""Ingest: page both sides into staging together with their cursors (design.md 5.1 steps 3-4).

Outlook: the folder's change feed from the stored SyncState; deletions are confirmed by a lookup.
CRM: the first run (or a changed filter) lists the scope server-side; later runs read the delta
since the high-water mark, unfiltered, and evaluate the filter locally so records entering or
leaving scope are seen. Each page is written with its token in one transaction.

Both sides' feeds are read on a background reader (app.sync.prefetch), a page ahead of the
staging, and the CRM feed can be opened before the Outlook side is read (`open_crm_read`), so the
waiting for one server overlaps the other side's reading and the journal writes. Staging stays
on the caller's thread: the reader only reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from app.domain.filters import Filter, evaluate
from app.domain.records import CrmRecord, HighWater, Kind, OutlookItem, Side
from app.sync.ports import CrmPort, InvalidSyncToken, MailboxPort
from app.sync.echo_follow import FollowedFeed
from app.sync.prefetch import ReadAhead, close_feed
from app.sync.state import Batch, Link, Staged

LISTING_STAGE_ROWS = 500  # staged rows of a CRM listing written per transaction (see _crm_listing)
FOLLOWED_FETCH = 500  # items per read of what a follower saw that is not ours (stage_followed)


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
    deletions_pending: int = 0  # CRM: deletions seen for the first time, waiting for the next run (B7)
    deletions_confirmed: int = 0  # CRM: earlier sightings a lookup confirmed, staged as deletions


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
    try:
        _stage_outlook_pages(pages, mailbox, kind, write, cancelled, res)
    finally:  # an early stop ends the feed (and any reader behind it) here, not at garbage collection
        close_feed(pages)


def _stage_outlook_pages(pages, mailbox, kind, write, cancelled, res: IngestResult) -> None:
    for page in pages:
        stage: list[Staged] = []
        deletes = []
        for ch in page.changes:
            if ch.op == "upsert" and ch.item is not None:
                stage.append(outlook_staged(ch.item))
            elif ch.op == "delete":
                deletes.append(ch.item_id)
        if deletes:
            stage.extend(confirmed_deletes(mailbox, kind, deletes))
        res.pages += 1
        res.staged += len(stage)
        write(Batch(stage=stage, cursors=[(Side.OUTLOOK.value, kind.value, page.token)]))
        if page.done or cancelled():
            break


def confirmed_deletes(mailbox: MailboxPort, kind: Kind, item_ids: list[str]) -> list[Staged]:
    """A deletion notice counts once a lookup fails too: an item moved back, or re-created under a
    race, is staged as it is now instead."""
    return [outlook_staged(got) if got is not None else Staged(Side.OUTLOOK, kind, item_id, "delete")
            for item_id, got in zip(item_ids, mailbox.fetch(kind, item_ids))]


def stage_followed(mailbox: MailboxPort, kind: Kind, fed: FollowedFeed, known: Callable[[str, str], bool],
                   write: Callable[[Batch], None]) -> None:
    """What a follower saw (app/sync/echo_follow.py), judged once every write of the cycle has
    settled: the changes that are not our own echoes are staged, and the follower's token is
    committed with the last of them."""
    unknown = [i for i, ck in fed.versions.items() if not (ck and known(i, ck))]
    stage: list[Staged] = []
    # an item changed by someone else is read now; gone meanwhile, its deletion is in the feed
    # after the token, so it is read next time
    for start in range(0, len(unknown), FOLLOWED_FETCH):
        ids = unknown[start:start + FOLLOWED_FETCH]
        stage.extend(outlook_staged(got) for got in mailbox.fetch(kind, ids) if got is not None)
    if fed.deleted:
        stage.extend(confirmed_deletes(mailbox, kind, list(fed.deleted)))
    write(Batch(stage=stage, cursors=[(Side.OUTLOOK.value, kind.value, fed.token)]))


def outlook_staged(item: OutlookItem) -> Staged:
    return Staged(Side.OUTLOOK, item.kind, item.item_id, "upsert", item.change_key, outlook=item)


def crm_staged(rec: CrmRecord, in_scope: bool) -> Staged:
    if rec.deleted:
        return Staged(Side.CRM, rec.kind, rec.id, "delete", str(rec.lock_version), crm=rec, in_scope=False)
    return Staged(Side.CRM, rec.kind, rec.id, "upsert", str(rec.lock_version), crm=rec, in_scope=in_scope)


def open_crm_read(crm: CrmPort, kind: Kind, mark_text: str | None, *, flt: Filter, overlap: timedelta,
                  full_listing: bool) -> ReadAhead:
    """The page feed `ingest_crm` reads with the same arguments, its first read already under way
    on a reader thread. The caller closes it (closing is idempotent; `ingest_crm` closes it too)."""
    if mark_text is None or full_listing:
        feed = crm.list_scope(kind, flt)
    else:
        mark = decode_mark(mark_text)
        feed = crm.changes_since(kind, HighWater(mark.updated_at - overlap, 0) if overlap else mark)
    return ReadAhead(feed, name=f"crm-{kind.value}-reader").start()


def ingest_crm(
    crm: CrmPort, kind: Kind, mark_text: str | None, *, flt: Filter, resolved: Filter, today: date,
    now: datetime, overlap: timedelta, links: Iterable[Link], full_listing: bool, write: Callable[[Batch], None],
    cancelled: Callable[[], bool], batch_size: int = 100, pages: ReadAhead | None = None,
) -> IngestResult:
    """CRM deletions follow B7: a linked record reported deleted (or missing from a listing and
    from a lookup) is only marked as seen gone on its link. A later run looks each marked record up
    by id; gone again, the deletion is staged and planned (row 9/11/12); alive, the mark is cleared.

    `pages`: the feed `open_crm_read` opened with the same arguments (else it is opened here).
    On a full listing `now` is the time the listing began: the next delta starts from it."""
    by_crm = {l.crm_id: l for l in links if l.crm_id}
    gone = _Sightings(by_crm, now)
    res = IngestResult(first_sync=mark_text is None)
    if pages is None:
        pages = open_crm_read(crm, kind, mark_text, flt=flt, overlap=overlap, full_listing=full_listing)
    with pages:
        if mark_text is None or full_listing:
            _crm_listing(crm, kind, pages, now, overlap, resolved, today, by_crm, gone, write, cancelled, res,
                         batch_size)
        else:
            _crm_delta(pages, kind, mark_text, resolved, today, by_crm, gone, write, cancelled, res)
    _confirm_gone(crm, kind, resolved, today, gone, write, res, batch_size)
    return res


def _crm_listing(crm, kind, pages, now, overlap, resolved, today, by_crm, gone: "_Sightings", write, cancelled,
                 res: IngestResult, batch_size: int) -> None:
    start = HighWater(now - overlap, 0)
    # A listing's pages are staged several at a time: its mark is written only at its end, so a
    # run stopped part-way lists again from the start whatever was staged, and fewer, larger
    # transactions cost the engine thread less.
    stage: list[Staged] = []
    stopped = False
    with pages:  # closed before the lookups below: no read of the listing runs beside them
        for page in pages:
            for rec in page.records:
                res.listed_ids.add(rec.id)
                gone.alive(rec.id)
                link = by_crm.get(rec.id)
                if link is not None and link.crm_lock_version == str(rec.lock_version) and link.in_scope:
                    continue
                stage.append(crm_staged(rec, True))
                res.staged += 1
            res.pages += 1
            if page.done:
                break
            if cancelled():
                stopped = True
                break
            if len(stage) >= LISTING_STAGE_ROWS:
                write(Batch(stage=stage, gone_seen=gone.take()))
                stage = []
    if stopped:
        # what was listed is kept, but neither the mark (records not yet listed would be skipped
        # for good by the next delta) nor the absence of linked records not reached yet
        write(Batch(stage=stage, gone_seen=gone.take()))
        return
    # linked records the listing no longer shows: look them up and judge them locally
    missing = [cid for cid, l in by_crm.items() if cid not in res.listed_ids and l.in_scope]
    looked_up = 0
    for cid, rec in _looked_up(crm, kind, missing, batch_size):
        if rec is None or rec.deleted:
            gone.seen(cid)  # missing from the listing and from the lookup: a first sighting at most
            continue
        gone.alive(cid)
        stage.append(crm_staged(rec, evaluate(resolved, rec.raw, today)))
        looked_up += 1
    res.staged += looked_up
    write(Batch(stage=stage, cursors=[(Side.CRM.value, kind.value, encode_mark(start))], gone_seen=gone.take()))


def _crm_delta(pages, kind, mark_text, resolved, today, by_crm, gone: "_Sightings", write, cancelled,
               res: IngestResult) -> None:
    mark = decode_mark(mark_text)
    for page in pages:
        stage = []
        for rec in page.records:
            link = by_crm.get(rec.id)
            in_scope = (not rec.deleted) and evaluate(resolved, rec.raw, today)
            if link is None and not in_scope:
                continue  # neither ours nor wanted
            if link is not None and rec.deleted:
                gone.seen(rec.id)  # recorded with this page's mark, so it is never skipped past
                continue
            if link is not None:
                gone.alive(rec.id)
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
        write(Batch(stage=stage, cursors=cursors, gone_seen=gone.take()))
        if page.done or cancelled():
            break


def _looked_up(crm, kind, ids, batch_size: int):
    """(id, record or None) for each id, looked up by id in requests of `batch_size`."""
    for i in range(0, len(ids), batch_size):
        chunk = ids[i:i + batch_size]
        got = {r.id: r for r in crm.fetch(kind, chunk)}
        for cid in chunk:
            yield cid, got.get(cid)


def _confirm_gone(crm, kind, resolved, today, gone: "_Sightings", write, res: IngestResult, batch_size: int) -> None:
    """The second run: a direct lookup of every record marked gone by an earlier run."""
    stage: list[Staged] = []
    for cid, rec in _looked_up(crm, kind, gone.to_confirm(), batch_size):
        if rec is None or rec.deleted:
            res.deletions_confirmed += 1
            stage.append(Staged(Side.CRM, kind, cid, "delete", str(rec.lock_version) if rec else "", crm=rec,
                                in_scope=False))
            continue
        gone.alive(cid)
        link = gone.links[cid]
        in_scope = evaluate(resolved, rec.raw, today)
        if link.crm_lock_version != str(rec.lock_version) or in_scope != link.in_scope:
            stage.append(crm_staged(rec, in_scope))
    res.staged += len(stage)
    write(Batch(stage=stage, gone_seen=gone.take()))
    res.deletions_pending = gone.pending()


class _Sightings:
    """Pending CRM deletions of one kind during one ingest (B7). Marks set by an earlier run are
    confirmed or cleared by a lookup; marks set now wait for the next run."""

    def __init__(self, by_crm: dict[str, Link], now: datetime):
        self.links, self.now = by_crm, now
        self.earlier = {cid for cid, l in by_crm.items() if l.crm_gone_seen_at is not None}
        self.new: set[str] = set()
        self.cleared: set[str] = set()
        self._out: list[tuple[str, datetime | None]] = []

    def seen(self, cid: str) -> None:
        if cid in self.earlier or cid in self.new:
            return  # already waiting: the lookup below decides
        self.new.add(cid)
        self._out.append((self.links[cid].id, self.now))

    def alive(self, cid: str) -> None:
        if cid in self.earlier and cid not in self.cleared:
            self.cleared.add(cid)
            self._out.append((self.links[cid].id, None))

    def to_confirm(self) -> list[str]:
        return sorted(self.earlier - self.cleared)

    def pending(self) -> int:
        """Links left waiting for a confirming run: first sightings made by this run."""
        return len(self.new)

    def take(self) -> list[tuple[str, datetime | None]]:
        out, self._out = self._out, []
        return out
