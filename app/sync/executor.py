"""Runs the outbox (design.md 5.1 step 10, 5.9).

Each operation is committed `in_flight` before its call; on success the link is stamped with the
returned version, hashes and snapshot, the row is marked done and history written, all in one
transaction. At start-up `verify_in_flight` looks every in-flight write up (creates by our link id,
updates by content) so a crash between a call and its commit never duplicates or loses anything.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from app.domain.normalise import canonical, content_hash
from app.domain.records import CrmRecord, Kind, NewItem, OutlookItem, Sharing, Side, Stamp, Update
from app.errors import AppError, AuthError, JournalError, NotFound, PrerequisiteError, StaleVersion
from app.sync import guards, retry
from app.sync.commit_behind import CommitBehind
from app.sync.gc_pause import fewer_young_collections, gc_paused
from app.sync.ports import CrmPort, JournalPort, MailboxPort
from app.sync.sharing import label_of
from app.sync.state import (
    CANCELLED, DONE, FAILED, IN_FLIGHT, PENDING, SHARED, Batch, HistoryEntry, ItemErrorRec, Link, OutboxOp,
    SharingRec, Staged, evolve,
)

PHASE = {"create": 0, "update": 1, "share": 2, "unshare": 3, "trash": 3, "soft_delete": 3, "release": 3}
OUTLOOK_NAMES = {Kind.PERSON: "contacts", Kind.TASK: "tasks", Kind.MEETING: "meetings"}
CRM_NAMES = {Kind.PERSON: "people", Kind.TASK: "tasks", Kind.MEETING: "meetings"}


def _first_back(wire: Sequence[tuple[list[OutboxOp], Future | None]]) -> int:
    """The position of a chunk whose call is back (or that was never sent), the oldest of those;
    waits for one. A slow call no longer holds back the settling of the ones after it, nor the
    sending of the next chunk in its place."""
    calls = [call for _flying, call in wire]
    for i, call in enumerate(calls):
        if call is None or call.done():
            return i
    wait([c for c in calls if c is not None], return_when=FIRST_COMPLETED)
    return next(i for i, call in enumerate(calls) if call is not None and call.done())


def _chunks(seq: Sequence[Any], n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


@dataclass
class Tally:
    created: dict[str, dict[str, int]]
    updated: dict[str, dict[str, int]]
    deleted: dict[str, dict[str, int]]
    unshared: dict[str, int]
    issues: list[tuple[str, str, Any]] = field(default_factory=list)  # (item, message, retry_at)

    def count(self, op: OutboxOp) -> None:
        names = OUTLOOK_NAMES if op.side is Side.OUTLOOK else CRM_NAMES
        name = names[op.kind]
        side = op.side.value
        if op.op == "create":
            self.created[side][name] += 1
        elif op.op == "update":
            self.updated[side][name] += 1
        elif op.op in ("trash", "soft_delete"):
            self.deleted[side][name] += 1
        elif op.op == "unshare" or (op.op == "release" and op.payload.get("note") in ("outlook_delete", "filter")):
            self.unshared["outlook"] += 1


class Executor:
    def __init__(self, crm: CrmPort, mailbox: MailboxPort, journal: JournalPort, *, clock: Callable[[], Any],
                 run_id: str, tally: Tally, crm_batch: int = 100, evaluate_scope: Callable[[CrmRecord], bool] | None = None,
                 calls_in_flight: int = 2):
        self.crm, self.mailbox, self.journal = crm, mailbox, journal
        self.calls_in_flight = calls_in_flight
        self._calls: ThreadPoolExecutor | None = None
        self.now = clock
        self.run_id = run_id
        self.tally = tally
        self.crm_batch = crm_batch
        self.evaluate_scope = evaluate_scope or (lambda rec: True)
        self.restaged = False
        self.failed_links: set[str] = set()
        self.outlook_writes: dict[Kind, int] = {}  # successful Outlook writes per kind (echoes to read)
        self._collect: Batch | None = None
        self._links: dict[str, Link | None] = {}  # links of the chunk in hand (see _prime)
        self._planned: dict[str, Link] = {}  # links the plan wrote, not read back (see run)
        self._canonical: dict[int, Any] = {}  # their snapshots, canonical already, by identity
        self._planned_here: set[str] = set()  # ops this run planned (see _plan_hashes)

    # --- crash recovery --------------------------------------------------------------------------

    def verify_in_flight(self) -> None:
        ops = self.journal.outbox([IN_FLIGHT])
        by_kind: dict[Kind, list[OutboxOp]] = {}
        for op in ops:
            by_kind.setdefault(op.kind, []).append(op)
        for kind, kops in by_kind.items():
            crm_creates = [o for o in kops if o.op == "create" and o.side is Side.CRM]
            found: dict[str, CrmRecord] = {}
            if crm_creates:
                for chunk in _chunks([o.link_id for o in crm_creates], self.crm_batch):
                    for rec in self.crm.find_by_link(kind, chunk):
                        if rec.link_id:  # a deleted one landed too: the delta will report its deletion
                            found[rec.link_id] = rec
            for op in kops:
                result = self._verify_one(op, found)
                if result is not None:
                    self._succeed(op, result)
                else:
                    self.journal.write(Batch(outbox=[replace(op, state=PENDING)]))

    def _verify_one(self, op: OutboxOp, crm_found: dict[str, CrmRecord]) -> Any:
        link = self.journal.link(op.link_id) if hasattr(self.journal, "link") else None
        if op.op == "create" and op.side is Side.CRM:
            return crm_found.get(op.link_id)
        if op.op == "create":
            items = self.mailbox.find_by_marker(op.kind, link_id=op.link_id)
            return items[0] if items else None
        if link is None:
            return None
        if op.op == "update" and op.side is Side.OUTLOOK and link.ews_item_id:
            got = self.mailbox.fetch(op.kind, [link.ews_item_id])[0]
            if got is not None and content_hash(op.kind, got.fields) == content_hash(op.kind, op.payload["fields"]):
                return got
        elif op.op == "update" and op.side is Side.CRM and link.crm_id:
            recs = self.crm.fetch(op.kind, [link.crm_id])
            if recs and content_hash(op.kind, recs[0].fields) == content_hash(op.kind, op.payload["fields"]):
                return recs[0]
        elif op.op in ("share", "unshare") and link.ews_item_id:
            got = self.mailbox.fetch(op.kind, [link.ews_item_id])[0]
            want = Sharing.SHARED if op.op == "share" else Sharing.UNSHARED
            if got is not None and got.marker is want and (op.op == "unshare" or (got.categorised and got.link_id == link.id)):
                return got
        elif op.op == "soft_delete" and link.crm_id:
            recs = self.crm.fetch(op.kind, [link.crm_id])
            if not recs or recs[0].deleted:
                return True
        return None

    # --- running ---------------------------------------------------------------------------------

    def run(self, ops: Sequence[OutboxOp], cancelled: Callable[[], bool] = lambda: False, *,
            planned: Mapping[str, Link] | None = None) -> None:
        """`planned`: links the cycle's plan has just written and nothing has written since, as
        stored; each is used instead of reading it back, until the executor writes it."""
        self._planned = dict(planned or {})
        # their snapshots are this plan's canonical forms: a settle need not work them out again
        self._canonical = {id(snap): snap for link in self._planned.values()
                           for snap in (link.ews_fields, link.crm_fields, link.base) if snap is not None}
        try:
            self._run(ops, cancelled)
        finally:
            self._pending_by_link = None  # not kept past the run: a first sync's thousands of entries
            self._planned, self._canonical = {}, {}
            if self._calls is not None:
                self._calls.shutdown(wait=True)
                self._calls = None

    def _run(self, ops: Sequence[OutboxOp], cancelled: Callable[[], bool]) -> None:
        ordered = sorted((o for o in ops if o.state == PENDING), key=lambda o: (PHASE.get(o.op, 9), o.seq))
        self._planned_here.update(o.id for o in ordered if o.run_id == self.run_id)
        self._pending_by_link: dict[str, list[OutboxOp]] = {}
        for o in ordered:
            self._pending_by_link.setdefault(o.link_id, []).append(o)
        self._errors: dict[Kind, dict[str, ItemErrorRec]] = {}
        groups: dict[tuple[int, Kind, Side, str], list[OutboxOp]] = {}
        for op in ordered:
            groups.setdefault((PHASE.get(op.op, 9), op.kind, op.side, op.op), []).append(op)
        for (_phase, kind, side, name), gops in sorted(groups.items(), key=lambda kv: (kv[0][0], min(o.seq for o in kv[1]))):
            if cancelled():
                return
            gops = [o for o in gops if o.link_id not in self.failed_links]
            if not gops:
                continue
            if name == "create":
                self._creates(kind, side, gops)
            elif name == "update" and side is Side.CRM:
                self._crm_updates(kind, gops)
            elif name == "trash":
                self._trash(kind, gops)
            elif name == "soft_delete":
                self._soft_deletes(kind, gops)
            elif side is Side.OUTLOOK and name in ("update", "share", "unshare") and self._can_batch(name):
                self._outlook_batch(kind, name, gops)
            else:
                for op in gops:
                    if cancelled():
                        return
                    if op.link_id in self.failed_links:
                        self._cancel(op)
                        continue
                    self._single(op)

    def _begin(self, ops: Sequence[OutboxOp]) -> list[OutboxOp]:
        flying = self._flying(ops)
        self.journal.write(Batch(outbox=flying))
        return flying

    def _flying(self, ops: Sequence[OutboxOp]) -> list[OutboxOp]:
        return [evolve(o, state=IN_FLIGHT, attempts=o.attempts + 1, run_id=self.run_id) for o in ops]

    def _expected(self, op: OutboxOp, link: Link | None) -> str | None:
        if op.payload.get("chain") and link is not None:
            return link.ews_change_key if op.side is Side.OUTLOOK else link.crm_lock_version
        return op.expected_version

    def _creates(self, kind: Kind, side: Side, ops: list[OutboxOp]) -> None:
        todo = []
        found: dict[str, CrmRecord] = {}
        retried = [o.link_id for o in ops if o.payload.get("verify")]
        if retried and side is Side.CRM:  # a failed create may have landed after all: look first
            for chunk in _chunks(retried, self.crm_batch):
                found.update({r.link_id: r for r in self.crm.find_by_link(kind, chunk) if r.link_id})
        for op in ops:
            if op.payload.get("verify"):
                hit = self._verify_one(op, found)
                if hit is not None:
                    self._succeed(op, hit)
                    continue
            todo.append(op)

        def request(flying: list[OutboxOp]) -> Callable[[], Sequence[Any]]:
            self._prime([op.link_id for op in flying])
            items = []
            for op in flying:
                link = self._link(op.link_id)
                items.append(NewItem(fields=dict(op.payload["fields"]), link_id=op.link_id,
                                     crm_id=link.crm_id if (link and side is Side.OUTLOOK) else None,
                                     sharing=Sharing.SHARED))
            port = self.crm if side is Side.CRM else self.mailbox
            return lambda: port.create(kind, items)

        self._pipeline(list(_chunks(todo, self.crm_batch)), request)

    def _crm_updates(self, kind: Kind, ops: list[OutboxOp]) -> None:
        def request(flying: list[OutboxOp]) -> Callable[[], Sequence[Any]]:
            self._prime([op.link_id for op in flying])
            ups = []
            for op in flying:
                link = self._link(op.link_id)
                ups.append(Update(id=link.crm_id if link else "", version=self._expected(op, link) or "",
                                  fields=dict(op.payload["fields"]), changed=frozenset(op.payload.get("changed", ()))))
            return lambda: self.crm.update(kind, ups)

        self._pipeline(list(_chunks(ops, self.crm_batch)), request)

    def _trash(self, kind: Kind, ops: list[OutboxOp]) -> None:
        ops = self._recheck_held(kind, ops)
        for chunk in _chunks(ops, self.crm_batch):
            chunk = self._begin(chunk)
            ids = [self.journal.link(o.link_id).ews_item_id for o in chunk]  # type: ignore[union-attr]
            try:
                results = self.mailbox.trash(kind, ids)
            except AppError as exc:
                results = [exc] * len(chunk)
            for op, res in zip(chunk, results):
                self._settle(op, True if res is None else res)

    def _recheck_held(self, kind: Kind, ops: list[OutboxOp]) -> list[OutboxOp]:
        """A trash that waited in a hold is re-checked against the item's ChangeKey first: the
        user approved deleting what they saw, not an edit made since (guards.recheck_held_trash)."""
        held = [o for o in ops if o.hold_id]
        if not held:
            return ops
        links = [self.journal.link(o.link_id) for o in held]
        got = self.mailbox.fetch(kind, [l.ews_item_id or "" if l else "" for l in links])
        keep, unshare = guards.recheck_held_trash(held, [g.change_key if g is not None else None for g in got])
        if unshare:
            self.journal.write(Batch(outbox=unshare))
            for op in unshare:
                self._single(op)
        return [o for o in ops if not o.hold_id] + keep

    def _soft_deletes(self, kind: Kind, ops: list[OutboxOp]) -> None:
        for chunk in _chunks(ops, self.crm_batch):
            chunk = self._begin(chunk)
            stamps = []
            for o in chunk:
                link = self.journal.link(o.link_id)
                stamps.append(Stamp(link.crm_id or "", self._expected(o, link) or ""))  # type: ignore[union-attr]
            try:
                results = self.crm.delete(kind, stamps)
            except AppError as exc:
                results = [exc] * len(chunk)
            for op, res in zip(chunk, results):
                self._settle(op, True if res is None else res)

    def _can_batch(self, name: str) -> bool:
        """The adapter offers the optional batched form (EwsMailbox.update_many / set_sharing_many)."""
        try:
            return callable(getattr(self.mailbox, "update_many" if name == "update" else "set_sharing_many"))
        except AttributeError:
            return False

    def _outlook_batch(self, kind: Kind, name: str, ops: list[OutboxOp]) -> None:
        """Outlook updates or sharing changes of many items in one call per chunk: each item still
        quotes its own stored ChangeKey under NeverOverwrite, and each gets its own result."""
        def ready(chunk: list[OutboxOp]) -> list[OutboxOp]:
            self._prime([op.link_id for op in chunk])
            out = []
            for op in chunk:
                if self._link(op.link_id) is None or op.link_id in self.failed_links:
                    self._cancel(op)
                else:
                    out.append(op)
            return out

        def request(flying: list[OutboxOp]) -> Callable[[], Sequence[Any]]:
            self._prime([op.link_id for op in flying])
            links = [self._link(op.link_id) for op in flying]
            if name == "update":
                ups = [Update(id=link.ews_item_id or "", version=self._expected(op, link) or "",
                              fields=dict(op.payload["fields"]), changed=frozenset(op.payload.get("changed", ())))
                       for op, link in zip(flying, links)]
                return lambda: self.mailbox.update_many(kind, ups)
            want = Sharing.SHARED if name == "share" else Sharing.UNSHARED
            wants = [(link.ews_item_id or "", self._expected(op, link) or "", want, link.crm_id, link.id)
                     for op, link in zip(flying, links)]
            return lambda: self.mailbox.set_sharing_many(kind, wants)

        self._pipeline(list(_chunks(ops, self.crm_batch)), request, ready)

    def _pipeline(self, chunks: list[list[OutboxOp]], request: Callable[[list[OutboxOp]], Callable[[], Sequence[Any]]],
                  ready: Callable[[list[OutboxOp]], list[OutboxOp]] = list) -> None:
        """Chunk after chunk with up to `calls_in_flight` server calls on the wire (on call threads):
        while the engine settles the oldest chunk's results, the next ones are still out, and the
        settling commits in one transaction with the marking in flight of a chunk sent later (as
        many chunks are marked ahead as are on the wire). The engine thread stays the journal's
        only writer and every chunk is committed in flight before its call is sent, so a crash
        anywhere is verified on resume as before; more chunks may be in flight then, each looked
        up by its link ids. A chunk is settled as soon as its call is back
        (the oldest of those back first), so a slow call holds back no other chunk.

        `ready(chunk)` keeps the operations still to run (it may cancel others); `request(flying)`
        reads what the call needs on the engine thread and returns the call itself."""
        if not chunks:
            return
        self._links.clear()
        journal = self.journal
        # with calls on their own threads, the journal commits behind the engine too (commit_behind.py)
        behind = CommitBehind(journal) if self.calls_in_flight > 0 else None
        if behind is not None:
            self.journal = behind
        try:
            with fewer_young_collections():
                self._chunk_by_chunk(chunks, request, ready)
        except BaseException:
            self._end_pipeline(journal, behind, quiet=True)
            raise
        self._end_pipeline(journal, behind)

    def _end_pipeline(self, journal: JournalPort, behind: CommitBehind | None, *, quiet: bool = False) -> None:
        self._links.clear()
        if behind is not None:
            self.journal = journal
            behind.close(quiet=quiet)

    def _chunk_by_chunk(self, chunks: list[list[OutboxOp]], request: Callable[[list[OutboxOp]], Callable[[], Sequence[Any]]],
                        ready: Callable[[list[OutboxOp]], list[OutboxOp]]) -> None:
        on_wire = max(1, self.calls_in_flight)
        # With calls on their own threads, as many chunks again are committed in flight before
        # they are due: when a call comes back, the next chunk's mark is long committed and it goes
        # out at once, instead of waiting behind the settling commits queued before its mark.
        ahead = on_wire if self.calls_in_flight > 0 else 0
        waiting = deque(chunks[on_wire + ahead:])
        first = [self._flying(ready(chunk)) for chunk in chunks[:on_wire + ahead]]
        self.journal.write(Batch(outbox=[op for flying in first for op in flying]))
        if isinstance(self.journal, CommitBehind):
            self.journal.wait()  # committed before the first calls: they go out in order, as after it
        marked: deque[tuple[list[OutboxOp], Future | None]] = deque((flying, None) for flying in first[on_wire:])
        wire: deque[tuple[list[OutboxOp], Future | None]] = deque()
        try:
            for flying in first[:on_wire]:
                wire.append((flying, self._send(request(flying)) if flying else None))
            while wire:
                # out of `wire` first: a call that fails here has had its say (_results), and is
                # not waited for again when the rest are abandoned
                back = _first_back(wire)
                flying, call = wire[back]
                del wire[back]
                results = self._results(flying, call) if call is not None else []
                upcoming = waiting.popleft() if waiting else []
                nxt = self._settle_all(flying, results, then=lambda: self._flying(ready(upcoming)) if upcoming else [])
                if nxt:
                    marked.append((nxt, self._committing()))
                if marked:
                    due, mark = marked.popleft()
                    wire.append((due, None))  # committed in flight: abandoned as such if request() fails
                    if due:
                        wire[-1] = (due, self._send(request(due), mark))
        except BaseException:
            for flying, call in wire:
                self._abandon(flying, call)
            for flying, _mark in marked:
                self._abandon(flying, None)
            raise

    def _committing(self) -> Future | None:
        """The commit of the latest write, when the journal commits behind the engine."""
        return self.journal.last if isinstance(self.journal, CommitBehind) else None

    def _send(self, call: Callable[[], Sequence[Any]], after: Future | None = None) -> Future:
        """The call on a call thread; `after`: the commit that marks its chunk in flight, which
        the call waits for (a failed commit, that one or any since, fails the call unsent)."""
        behind = self.journal
        if after is not None and isinstance(behind, CommitBehind):
            inner = call

            def call() -> Sequence[Any]:
                behind.committed(after)
                return inner()
        if self.calls_in_flight <= 0:
            done: Future = Future()
            try:
                done.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to _results like the threaded form
                done.set_exception(exc)
            return done
        if self._calls is None:
            self._calls = ThreadPoolExecutor(max_workers=self.calls_in_flight, thread_name_prefix="sync-call")
        return self._calls.submit(call)

    def _results(self, flying: list[OutboxOp], call: Future) -> Sequence[Any]:
        try:
            return call.result()
        except JournalError:  # its chunk's mark in flight did not commit: nothing was sent
            raise
        except (AuthError, PrerequisiteError):  # the call as a whole was refused: nothing was written
            self.journal.write(Batch(outbox=[replace(op, state=PENDING) for op in flying]))
            raise
        except AppError as exc:
            return [exc] * len(flying)

    def _abandon(self, flying: list[OutboxOp], call: Future | None) -> None:
        """The engine stopped with this chunk committed in flight: wait for its call and settle what
        it returned if that still works; a chunk never sent, or refused as a whole, is pending again.
        What stays in flight is verified at the next start (verify_in_flight)."""
        try:
            if call is None:
                self.journal.write(Batch(outbox=[replace(op, state=PENDING) for op in flying]))
                return
            results = self._results(flying, call)
            self._settle_all(flying, results)
        except BaseException:  # noqa: BLE001 - the engine's own error is the one reported
            return

    def _settle_all(self, ops: Sequence[OutboxOp], results: Sequence[Any],
                    then: Callable[[], list[OutboxOp]] | None = None) -> list[OutboxOp]:
        """Settle a chunk's results in one journal transaction (each op is in_flight until then, so
        a crash before the commit is verified on resume like a crash during the call). `then()`
        gives the next chunk's operations marked in flight, committed in the same transaction and
        returned; it runs after every result here is settled, so it sees this chunk's failures.

        Without the cyclic collector (app/sync/gc_pause.py): a chunk's rows and values die by
        reference counting once written, while the executor holds a first sync's ten thousand
        outbox entries; a full collection set off inside a settle walked all of them to free
        nothing (a quarter of a second at 10,000 people)."""
        with gc_paused():
            self._collect = Batch()
            nxt: list[OutboxOp] = []
            seen: set[str] = set()
            try:
                for op, res in zip(ops, results):
                    if op.link_id in seen:  # the same link twice: commit first, so the second reads the first
                        self._flush()
                        seen.clear()
                    seen.add(op.link_id)
                    self._settle(op, res)
                if then is not None:
                    nxt = then()
                    self._collect.outbox.extend(nxt)
            finally:
                self._flush()
                self._collect = None
            return nxt

    def _flush(self) -> None:
        if self._collect:
            batch, self._collect = self._collect, Batch()
            # links change with the write: read those afresh afterwards (the next chunk's stay)
            self._forget_links(batch)
            self.journal.write(batch)

    def _forget_links(self, batch: Batch) -> None:
        for link_id in [l.id for l in batch.links] + list(batch.drop_links) + [lid for lid, _at in batch.gone_seen]:
            self._links.pop(link_id, None)
            self._planned.pop(link_id, None)

    def _prime(self, link_ids: Sequence[str]) -> None:
        """Read the links of the chunks in hand in one query (when the journal offers it) for
        `_link`; a link is dropped from here when the executor writes it (`_flush`)."""
        many = getattr(self.journal, "links_by_id", None)
        want = [i for i in link_ids if i not in self._links]
        if self._planned and want:
            self._links.update((i, self._planned.pop(i)) for i in want if i in self._planned)
            want = [i for i in want if i not in self._links]
        if callable(many) and want:
            self._links.update(many(want))
            self._links.update({i: None for i in want if i not in self._links})

    def _link(self, link_id: str) -> Link | None:
        if link_id in self._links:
            return self._links[link_id]
        if link_id in self._planned:  # from here on like a link read: dropped when written
            link = self._links[link_id] = self._planned.pop(link_id)
            return link
        return self.journal.link(link_id)

    def _commit(self, b: Batch) -> None:
        if self._collect is not None:
            self._collect.extend(b)
        else:
            self._forget_links(b)
            self.journal.write(b)

    def _single(self, op: OutboxOp) -> None:
        link = self.journal.link(op.link_id)
        if link is None:
            self._cancel(op)
            return
        (op,) = self._begin([op])
        try:
            if op.op == "release":
                res: Any = True
            elif op.op == "update":  # Outlook: one item per call (a stale bulk update fails as a whole)
                res = self.mailbox.update(op.kind, Update(id=link.ews_item_id or "", version=self._expected(op, link) or "",
                                                          fields=dict(op.payload["fields"]),
                                                          changed=frozenset(op.payload.get("changed", ()))))
            elif op.op in ("share", "unshare"):
                res = self.mailbox.set_sharing(op.kind, link.ews_item_id or "", self._expected(op, link) or "",
                                               Sharing.SHARED if op.op == "share" else Sharing.UNSHARED,
                                               crm_id=link.crm_id, link_id=link.id)
            else:
                raise AppError(f"unknown outbox operation {op.op}")
        except (AuthError, PrerequisiteError):
            self.journal.write(Batch(outbox=[replace(op, state=PENDING)]))
            raise
        except AppError as exc:
            res = exc
        self._settle(op, res)

    # --- results ---------------------------------------------------------------------------------

    def _settle(self, op: OutboxOp, res: Any) -> None:
        if isinstance(res, (AuthError, PrerequisiteError)):
            self.journal.write(Batch(outbox=[replace(op, state=PENDING)]))
            raise res
        if isinstance(res, BaseException):
            self._fail(op, res)
        else:
            self._succeed(op, res)

    def _cancel(self, op: OutboxOp) -> None:
        self.journal.write(Batch(outbox=[replace(op, state=CANCELLED)]))

    def _later_ops(self, op: OutboxOp) -> list[OutboxOp]:
        """The link's other operations of this plan: cancelled, the next plan starts afresh."""
        cached = getattr(self, "_pending_by_link", None)
        pool = cached.get(op.link_id, []) if cached is not None else [
            o for o in self.journal.outbox([PENDING]) if o.link_id == op.link_id]
        here = (PHASE.get(op.op, 9), op.seq)
        return [replace(o, state=CANCELLED) for o in pool if o.id != op.id and (PHASE.get(o.op, 9), o.seq) > here]

    def _fail(self, op: OutboxOp, exc: BaseException) -> None:
        self.failed_links.add(op.link_id)
        b = Batch(outbox=[replace(op, state=FAILED, last_error=f"{type(exc).__name__}: {exc}")] + self._later_ops(op))
        link = self.journal.link(op.link_id)
        if isinstance(exc, (StaleVersion, NotFound)):
            self._restage(op, link, b)  # re-read and re-plan, never retry blindly
        else:
            now = self.now()
            prev = self._previous_error(op)
            attempts = (prev.attempts if prev else 0) + 1
            title = getattr(exc, "title", "Error")
            msg = getattr(exc, "message", str(exc))
            versions = f"{link.ews_change_key}|{link.crm_lock_version}" if link else ""
            b.errors.append(rec := ItemErrorRec(
                key=op.link_id, kind=op.kind, op=op.op, error_class=type(exc).__name__, title=title, message=msg,
                attempts=attempts, last_try_at=now, retry_after=retry.retry_after(now, attempts),
                last_try_version=op.payload.get("versions", versions), link_id=op.link_id, side=op.side.value))
            if getattr(self, "_errors", None) is not None and op.kind in self._errors:
                self._errors[op.kind][op.link_id] = rec
            b.history.append(HistoryEntry(self.run_id, now, "error", op.kind.value, op.link_id,
                                          _direction(op), f"{op.op} failed: {msg}", result="failed"))
            self.tally.issues.append((op.payload.get("label") or op.link_id, f"{title}: {msg}", retry.retry_after(now, attempts)))
        self._commit(b)

    def _previous_error(self, op: OutboxOp) -> ItemErrorRec | None:
        cache = getattr(self, "_errors", None)
        if cache is None:
            cache = self._errors = {}
        if op.kind not in cache:
            cache[op.kind] = {e.key: e for e in self.journal.load(op.kind).errors}
        return cache[op.kind].get(op.link_id)

    def _restage(self, op: OutboxOp, link: Link | None, b: Batch) -> None:
        if link is None:
            return
        if op.side is Side.OUTLOOK and link.ews_item_id:
            got = self.mailbox.fetch(op.kind, [link.ews_item_id])[0]
            b.stage.append(Staged(Side.OUTLOOK, op.kind, link.ews_item_id, "upsert" if got else "delete",
                                  got.change_key if got else "", outlook=got))
        elif op.side is Side.CRM and link.crm_id:
            recs = self.crm.fetch(op.kind, [link.crm_id])
            rec = recs[0] if recs else None
            if rec is None or rec.deleted:
                b.stage.append(Staged(Side.CRM, op.kind, link.crm_id, "delete", "", crm=rec))
            else:
                b.stage.append(Staged(Side.CRM, op.kind, link.crm_id, "upsert", str(rec.lock_version), crm=rec,
                                      in_scope=self.evaluate_scope(rec)))
        self.restaged = True

    def _succeed(self, op: OutboxOp, res: Any) -> None:
        now = self.now()
        link = self._link(op.link_id)
        b = Batch(outbox=[evolve(op, state=DONE)])
        if link is None:
            self._commit(b)
            return
        kind = op.kind
        canon = _Canonical(kind, self._canonical)
        prior = link  # as the journal knew it before this write: the undo's before_json
        if op.side is Side.OUTLOOK and op.op != "release":
            self.outlook_writes[kind] = self.outlook_writes.get(kind, 0) + 1
        key_o = (Side.OUTLOOK.value, kind.value)
        key_c = (Side.CRM.value, kind.value)
        hash_of = _Hashes(kind, self._plan_hashes(op, link))
        if op.op == "create" and op.side is Side.OUTLOOK:
            fields = canon(op.payload["fields"])
            stamp = res.stamp if isinstance(res, OutlookItem) else res
            if isinstance(res, OutlookItem):
                fields = canon(res.fields)
            link = evolve(link, ews_item_id=stamp.id, ews_change_key=stamp.version, ews_fields=fields,
                           ews_hash=hash_of(fields))
        elif op.op == "create":
            rec: CrmRecord = res
            fields = canon(rec.fields)
            link = evolve(link, crm_id=rec.id, crm_lock_version=str(rec.lock_version), crm_fields=fields,
                           crm_hash=hash_of(fields), crm_updated_at=rec.updated_at)
        elif op.op == "update" and op.side is Side.OUTLOOK:
            fields = canon(op.payload["fields"])
            version = res.change_key if isinstance(res, OutlookItem) else res.version
            if link.ews_item_id:
                b.unstage.append(key_o + (link.ews_item_id,))
            link = evolve(link, ews_change_key=version, ews_fields=fields, ews_hash=hash_of(fields))
        elif op.op == "update":
            fields = canon(op.payload["fields"])
            version = str(res.lock_version) if isinstance(res, CrmRecord) else res.version
            if link.crm_id:
                b.unstage.append(key_c + (link.crm_id,))
            link = evolve(link, crm_lock_version=version, crm_fields=fields, crm_hash=hash_of(fields))
        elif op.op in ("share", "unshare"):
            version = res.change_key if isinstance(res, OutlookItem) else res.version
            link = evolve(link, ews_change_key=version)
        # an undo's writes stay in the undo's run, even when a sync finishes them after a crash
        b.history.append(HistoryEntry(op.payload.get("undo_run") or self.run_id, now, op.op, kind.value, link.id,
                                      _direction(op), op.payload.get("reason", ""),
                                      before=op.payload.get("before") or prior_state(op, prior, link, self._plan_source(op))))
        self.tally.count(op)
        if op.payload.get("final"):
            after = op.payload.get("after", "stamp")
            b.clear_errors.append(link.id)
            if after in ("release", "tombstone"):
                b.drop_links.append(link.id)
                if link.ews_item_id:
                    b.unstage.append(key_o + (link.ews_item_id,))
                if link.crm_id:
                    b.unstage.append(key_c + (link.crm_id,))
                sh = op.payload.get("sharing")
                if sh:
                    b.sharing.append(SharingRec(kind=kind, state=sh["state"], reason=sh["reason"], crm_id=link.crm_id,
                                                ews_item_id=link.ews_item_id, link_id=None,
                                                recreate_blocked=bool(sh.get("blocked")), changed_at=now,
                                                label=label_of(link.ews_fields or link.crm_fields or link.base)))
            else:
                src = op.payload.get("source") or {}
                so, sc = src.get("outlook"), src.get("crm")
                touched = set(op.payload.get("written", ()))
                content = set(op.payload.get("content_written", ()))
                # the link's new values, applied at once (none of them is read before)
                stamped: dict[str, Any] = {"state": SHARED, "last_synced_at": now}
                if so and link.ews_item_id:
                    if "outlook" not in content:
                        stamped.update(ews_fields=so["fields"], ews_hash=so["hash"])
                    if "outlook" not in touched:
                        stamped["ews_change_key"] = so["version"]
                    b.unstage_if_version.append((key_o + (link.ews_item_id,), so["version"]))
                if sc and link.crm_id:
                    if "crm" not in content:
                        stamped.update(crm_fields=sc["fields"], crm_hash=sc["hash"])
                    if "crm" not in touched:
                        stamped["crm_lock_version"] = sc["version"]
                    b.unstage_if_version.append((key_c + (link.crm_id,), sc["version"]))
                base = op.payload.get("base")
                if base is not None:
                    base = canon(base)
                    stamped.update(base=base, base_hash=hash_of(base))
                if op.payload.get("in_scope") is not None:
                    stamped["in_scope"] = bool(op.payload["in_scope"])
                link = evolve(link, **stamped)
                b.links.append(link)
                b.sharing.append(SharingRec(kind=kind, state="shared", reason=op.payload.get("share_reason", "user"),
                                            crm_id=link.crm_id, ews_item_id=link.ews_item_id, link_id=link.id,
                                            changed_at=now))
        else:
            b.links.append(link)
        self._commit(b)

    def _plan_hashes(self, op: OutboxOp, link: Link) -> list[tuple[Any, str]]:
        """(fields, hash) pairs this run's plan computed for the op's link: a create usually writes
        exactly the other side's fields, which the plan hashed when it read them (the op's source)
        or when it made the link. Ops planned by an earlier run (a resume, perhaps by an older
        version) are hashed afresh: beginning an op stamps it with the running run's id, so what
        this run planned is noted before that (Executor._run)."""
        if op.id not in self._planned_here:
            return []
        src = op.payload.get("source") or {}
        seen = [(s["fields"], s["hash"]) for s in (src.get("crm"), src.get("outlook"))
                if s and s.get("fields") is not None and s.get("hash")]
        if op.op == "create" and op.payload.get("verify") is False:  # a link this plan made
            seen += [(f, h) for f, h in ((link.crm_fields, link.crm_hash), (link.ews_fields, link.ews_hash))
                     if f is not None and h]
        return seen

    def _plan_source(self, op: OutboxOp) -> Mapping[str, Any] | None:
        """The items as the plan read them (carried by the link's final operation), so a merged
        update records the side's real content before the write, not the last synced copy."""
        if op.payload.get("source") is not None:
            return op.payload["source"]
        for other in (getattr(self, "_pending_by_link", None) or {}).get(op.link_id, ()):
            if other.payload.get("source") is not None:
                return other.payload["source"]
        return None


def prior_state(op: OutboxOp, prior: Link, after: Link, source: Mapping[str, Any] | None) -> dict[str, Any]:
    """history.before_json of one applied write (B9): the written side's mapped fields, id and
    version before the write, and the id and version the write left, which an undo checks so an
    item changed since is skipped. A create has no prior content, only the id it made."""
    outlook = op.side is Side.OUTLOOK
    seen = (source or {}).get(op.side.value) or {}
    before_fields = None if op.op == "create" else (
        seen.get("fields") or (prior.ews_fields if outlook else prior.crm_fields))
    return {
        "side": op.side.value,
        "op": op.op,
        "label": op.payload.get("label") or "",
        "id": (after.ews_item_id if outlook else after.crm_id) if op.op == "create"
        else (prior.ews_item_id if outlook else prior.crm_id),
        "version": None if op.op == "create" else (
            seen.get("version") or (prior.ews_change_key if outlook else prior.crm_lock_version)),
        "fields": _as_dict(before_fields),
        "base": _as_dict(prior.base),
        "left_version": None if op.op in ("trash", "soft_delete", "release") else (
            after.ews_change_key if outlook else after.crm_lock_version),
    }


def _as_dict(fields: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A snapshot as a dict; one that is a dict already is kept as it is (snapshots are never
    changed in place), so the journal knows it and stores the text it already made for it."""
    if fields is None or type(fields) is dict:
        return fields  # type: ignore[return-value]
    return dict(fields)


class _Canonical:
    """canonical() for one settle. A create usually stores the planned fields as its written side
    and again as the new base, both the one payload dict, already canonical: each object is
    normalised once, and one that is canonical already is kept as the same object (not an equal
    copy), which the journal then encodes once and the hashes match by identity."""

    def __init__(self, kind: Kind, known: Mapping[int, Any] | None = None):
        self.kind = kind
        self.made: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(fields) -> (fields, canonical)
        self.known = known or {}  # objects canonical already, by id

    def __call__(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        if self.known.get(id(fields)) is fields:
            return fields  # type: ignore[return-value]
        hit = self.made.get(id(fields))
        if hit is not None and hit[0] is fields:
            return hit[1]
        out = canonical(self.kind, fields)
        if type(fields) is dict and _same_values(out, fields):
            out = fields  # type: ignore[assignment]
        self.made[id(fields)] = (fields, out)
        return out


def _same_values(made: dict[str, Any], given: dict[str, Any]) -> bool:
    """`given` equals `made` key for key, each value of the same type (True == 1 and 1 == 1.0, yet
    they are stored differently). The key order may differ: snapshots are stored with sorted keys,
    so one read back from the journal is in that order."""
    return made == given and list(map(type, made.values())) == list(map(type, map(given.__getitem__, made)))


class _Hashes:
    """content_hash for one settle: the same snapshot is often stored twice (the written fields
    and the new base), so an equal one hashed a moment ago is not hashed again. `known` may start
    with the hashes this run's plan took of the items it read (Executor._plan_hashes); hashes
    stored by an earlier run are not reused: they may come from an older mapping version."""

    def __init__(self, kind: Kind, known: list[tuple[Any, str]] | None = None):
        self.kind = kind
        self.known: list[tuple[Any, str]] = known or []

    def __call__(self, fields: Any) -> str:
        for f, h in self.known:
            if f is fields or f == fields:
                return h
        h = content_hash(self.kind, fields)
        self.known.append((fields, h))
        return h


def _direction(op: OutboxOp) -> str:
    return "to_outlook" if op.side is Side.OUTLOOK else "to_crm"
