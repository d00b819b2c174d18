"""SyncEngine.run_cycle(): the phases of design.md section 5.

Pure orchestration: every effect goes through a port (CrmPort, MailboxPort, JournalPort), the time
comes from the Clock, so fakes and sandboxes drive it alike. Typical use:

    journal = app.journal.repo.open_journal(profile / "journal.sqlite3")
    engine = SyncEngine(crm, mailbox, journal, EngineConfig(...), clock)
    summary = engine.run_cycle(dry_run=False, allow_mass_delete=False)
    print(json.dumps(summary.as_json())); exit code 3 if summary.holds, 1 if summary.errors

Fatal problems (AuthError, PrerequisiteError, JournalError, a whole side unreachable) are reported
to the observer as FatalIssue and re-raised as the typed AppError, so the CLI maps exit codes.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from app.domain.filters import MY_QUEUE, Filter, evaluate, resolve
from app.domain.records import CrmRecord, Kind, Side
from app.errors import (
    AppError, AuthError, CollectionUnavailable, ConfigError, JournalError, PrerequisiteError, SignInAgainRequired,
    TransientError,
)
from app.sync import carried, guards
from app.sync.compose import KindPlanner
from app.sync.config import TO_WORKBOOKS, EngineConfig
from app.sync.events import (
    ConflictRaised, CycleSummary, FatalIssue, FatalKind, HoldRaised, ItemIssue, Phase, Progress, empty_counts,
)
from app.sync.echo_follow import EchoFollower, FollowedFeed
from app.sync.executor import Executor, Tally
from app.sync.gc_pause import gc_paused, heap_frozen
from app.sync.held_listing import HeldListings
from app.sync.ingest import crm_staged, ingest_crm, ingest_outlook, open_crm_read, stage_followed
from app.sync.prefetch import close_feed
from app.sync.ports import Clock, CrmPort, JournalPort, MailboxPort
from app.sync.state import HELD, PENDING, Batch, Hold, HistoryEntry, KindState, Link, OutboxOp, Staged

OUTLOOK_NOUN = {Kind.PERSON: "contacts", Kind.TASK: "tasks", Kind.MEETING: "meetings"}
FOLLOWED = (Kind.PERSON, Kind.TASK)  # folders whose feed may be followed while we create in them
CRM_NOUN = {Kind.PERSON: "people", Kind.TASK: "tasks", Kind.MEETING: "meetings"}
PAGED = frozenset({"changes", "changes_since", "list_scope", "sent_changes", "references_since"})
HISTORY_DAYS = 30
INDEXED = "indexed:outlook:{}"  # the plan of the folder's first indexing is committed
INDEXING = "indexing:outlook:{}"  # the folder's first indexing has begun


class _Counted:
    """Counts calls (and pages of feeds) made through a port: the `requests` of the summary.
    A feed may be read on a reader thread (app.sync.prefetch) while the engine thread calls the
    same port, so every count is taken under one lock."""

    _lock = threading.Lock()

    def __init__(self, port: Any, counts: dict[str, int], key: str):
        self._port, self._counts, self._key = port, counts, key

    def _count(self) -> None:
        with self._lock:
            self._counts[self._key] += 1

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._port, name)
        if not callable(target):
            return target
        if name in PAGED:
            def paged(*a: Any, **kw: Any):
                self._count()
                feed = target(*a, **kw)
                try:
                    first = True
                    for page in feed:
                        if not first:
                            self._count()
                        first = False
                        yield page
                finally:  # stopped early: the port's feed ends now too, with whatever reads it
                    close_feed(feed)
            return paged

        def call(*a: Any, **kw: Any):
            self._count()
            return target(*a, **kw)
        return call


class _DryJournal:
    """Dry runs: reads pass through, writes of staging and cursors stay in memory, nothing else."""

    def __init__(self, real: JournalPort):
        self._real = real
        self._stage: dict[tuple[str, str, str], Staged | None] = {}
        self._cursors: dict[tuple[str, str], str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def cursor(self, side: str, name: str) -> str | None:
        if (side, name) in self._cursors:
            return self._cursors[(side, name)]
        return self._real.cursor(side, name)

    def write(self, batch: Batch) -> None:
        for s in batch.stage:
            self._stage[s.key] = s
        for key in batch.unstage:
            self._stage[key] = None
        for side, name, token in batch.cursors:
            self._cursors[(side, name)] = token

    def load(self, kind: Kind) -> KindState:
        st = self._real.load(kind)
        staged = {s.key: s for s in st.staged}
        for key, s in self._stage.items():
            if key[1] != kind.value:
                continue
            if s is None:
                staged.pop(key, None)
            else:
                staged[key] = s
        return replace(st, staged=tuple(staged.values()))


@dataclass
class _Cycle:
    run_id: str
    dry_run: bool
    allow: bool
    observer: Any
    cancel: Any
    tally: Tally
    requests: dict[str, int] = field(default_factory=lambda: {"workbooks": 0, "ews": 0})
    plan: list[dict[str, Any]] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    conflicts: int = 0
    email_links: int = 0
    first_outlook: dict[Kind, bool] = field(default_factory=dict)
    pending_deletions: dict[str, int] = field(default_factory=lambda: {n: 0 for n in CRM_NOUN.values()})
    unavailable: set[Kind] = field(default_factory=set)  # kinds held as collection_gone this run
    new_links: dict[str, Link] = field(default_factory=dict)  # made by this pass's plans, as written

    def cancelled(self) -> bool:
        return bool(self.cancel is not None and self.cancel.cancelled())

    def progress(self, phase: Phase, kind: str = "", done: int = 0, total: int | None = None, message: str = "") -> None:
        if self.observer is not None:
            self.observer.progress(Progress(phase, kind, done, total, message))

    def issue(self, event: Any) -> None:
        if self.observer is not None:
            self.observer.issue(event)


class SyncEngine:
    def __init__(self, crm: CrmPort, mailbox: MailboxPort, journal: JournalPort, config: EngineConfig, clock: Clock,
                 *, email_journal: Any = None, email_options: Any = None, email_link_edits: Any = None,
                 related_notes: bool = True):
        """`email_journal` (app.journal.email_store.EmailStore) and `email_options`
        (app.sync.email_phase_hook.options_from_settings) switch on the sent-mail phase (issue 6);
        `email_link_edits` (app.journal.email_link_store.EmailLinkStore) carries the user's link
        changes of recorded emails to Workbooks (B36); `related_notes` False leaves the contacts'
        "Related in Workbooks" block alone."""
        self.crm_port, self.mailbox_port, self.journal, self.config, self.clock = crm, mailbox, journal, config, clock
        self.email_journal = email_journal
        self.email_link_edits = email_link_edits
        self.related_notes = related_notes
        self.email_options = email_options if email_options is not None else config.email
        self._queues: dict[Kind, str | None] = dict(config.my_queues)
        self._dry_run = False
        self._known_ok = _accepts_known(mailbox)

    # --- public ----------------------------------------------------------------------------------

    def run_cycle(self, *, dry_run: bool = False, allow_mass_delete: bool = False, observer: Any = None,
                  cancel: Any = None) -> CycleSummary:
        started = time.monotonic()
        self._dry_run = dry_run
        c = _Cycle(str(uuid.uuid4()), dry_run, allow_mass_delete, observer, cancel,
                   Tally(empty_counts(), empty_counts(), empty_counts(), {"crm": 0, "outlook": 0}))
        crm = _Counted(self.crm_port, c.requests, "workbooks")
        mailbox = _Counted(self.mailbox_port, c.requests, "ews")
        journal: Any = _DryJournal(self.journal) if dry_run else self.journal
        try:
            with heap_frozen():
                self._cycle(c, crm, mailbox, journal)
        except AppError as exc:
            c.issue(FatalIssue(_fatal_kind(exc), exc.title, exc.message))
            raise
        holds = tuple(HoldRaised(h.id, h.kind.value, h.side.value, h.reason, h.planned, h.linked) for h in c.holds)
        errors = tuple(ItemIssue(item, msg, at) for item, msg, at in c.tally.issues)
        for err in errors:
            c.issue(err)
        summary = CycleSummary(
            ok=not errors and not holds, dry_run=dry_run, seconds=time.monotonic() - started,
            created=c.tally.created, updated=c.tally.updated, deleted=c.tally.deleted, unshared=c.tally.unshared,
            email_links=c.email_links, conflicts=c.conflicts, errors=errors, holds=holds, requests=dict(c.requests),
            plan=tuple(c.plan) if dry_run else (), finished_at=self.clock.now(),
            pending_deletions=dict(c.pending_deletions),
        )
        if not dry_run:
            now = self.clock.now()
            self.journal.write(Batch(history=[HistoryEntry(c.run_id, now, "run", summary=summary.as_json(),
                                                           result="ok" if summary.ok else "attention")],
                                     meta={"last_sync_at": now.isoformat(), "last_sync_ok": str(summary.ok).lower()}))
            prune = getattr(self.journal, "prune_history", None)
            if prune is not None:
                prune(now - timedelta(days=HISTORY_DAYS))
        c.progress(Phase.FINISH, "", 1, 1, "finished")
        return summary

    # --- phases ----------------------------------------------------------------------------------

    def _cycle(self, c: _Cycle, crm: Any, mailbox: Any, journal: Any) -> None:
        now = self.clock.now
        executor = Executor(crm, mailbox, journal, clock=now, run_id=c.run_id, tally=c.tally,
                            crm_batch=self.config.crm_batch, evaluate_scope=self._in_scope,
                            calls_in_flight=self.config.calls_in_flight)
        if not c.dry_run:
            c.progress(Phase.RESUME, "", 0, None, "resuming unfinished writes")
            if c.allow:
                self._approve_holds(journal)
            executor.verify_in_flight()
            executor.run(journal.outbox([PENDING]), c.cancelled)
        # a full listing's records go straight to this cycle's plan (app/sync/held_listing.py)
        held = HeldListings(journal) if not c.dry_run else None
        for kind in self.config.kinds:
            if c.cancelled():
                _keep(held)
                return
            self._share_requests(c, kind, crm, mailbox, journal)
            flt = self.config.filter_for(kind)
            sig_key = f"filter:{kind.value}"
            listed_key = f"listed:crm:{kind.value}"
            full = journal.get_meta(sig_key) not in (None, flt.to_json())
            last_listed = journal.get_meta(listed_key)
            if self.config.reconcile_hours and last_listed and not full:
                age = now() - datetime.fromisoformat(last_listed)
                full = age >= timedelta(hours=self.config.reconcile_hours)  # periodic membership reconcile
            mark = journal.cursor(Side.CRM.value, kind.value)  # the Outlook read below never moves it
            overlap = timedelta(seconds=self.config.overlap_seconds)
            # the CRM feed is read (a page ahead) while the Outlook side is: their waiting overlaps
            crm_started = now()
            crm_pages = open_crm_read(crm, kind, mark, flt=flt, overlap=overlap, full_listing=full)
            try:
                c.progress(Phase.INGEST_OUTLOOK, kind.value)
                begun = _begin_first_indexing(journal, kind, now())
                try:
                    res = ingest_outlook(mailbox, kind, journal.cursor(Side.OUTLOOK.value, kind.value),
                                         journal.write, c.cancelled, known=self._known(journal, kind))
                except CollectionUnavailable as exc:  # the folder refused us: its items are not "deleted"
                    self._collection_gone(c, kind, Side.CRM, exc, journal, OUTLOOK_NOUN[kind])
                    continue
                # the install choice for existing items applies once, to the items of the first indexing,
                # even when a crash or cancel splits that indexing and its planning over several runs;
                # a refused token later re-reads, it does not re-share (_plan_kind marks it done)
                c.first_outlook[kind] = journal.get_meta(INDEXED.format(kind.value)) is None and (res.first_sync or begun)
                c.progress(Phase.INGEST_CRM, kind.value)
                if full or mark is None:
                    journal.write(Batch(meta={listed_key: now().isoformat()}))
                listing = held is not None and (full or mark is None)
                try:
                    crm_res = ingest_crm(crm, kind, mark, flt=flt, resolved=self._resolved(kind, crm),
                                         today=now().date(), now=crm_started, overlap=overlap,
                                         links=self._crm_stamps(journal, kind), full_listing=full,
                                         write=held.writer(kind) if listing else journal.write,
                                         cancelled=c.cancelled,
                                         batch_size=self.config.crm_batch, pages=crm_pages)
                except CollectionUnavailable as exc:  # lost access is never read as deletion (B7, row 14)
                    self._collection_gone(c, kind, Side.OUTLOOK, exc, journal, CRM_NOUN[kind])
                    continue
            finally:  # the Outlook side failed or was cancelled first: the CRM reader stops unread
                crm_pages.close()
            back = guards.collection_back(kind, journal.holds("open"), now())
            if back:
                journal.write(Batch(holds=back))
            c.pending_deletions[CRM_NOUN[kind]] += crm_res.deletions_pending
            if journal.get_meta(sig_key) != flt.to_json():
                if held is not None and held.holding(kind):  # the filter is the listing's: they commit together
                    held.defer(kind, {sig_key: flt.to_json()})
                else:
                    journal.write(Batch(meta={sig_key: flt.to_json()}))
        followers: dict[Kind, EchoFollower] = {}
        try:
            for _pass in range(max(1, self.config.max_plan_passes)):
                if c.cancelled():
                    _keep(held)
                    return
                c.progress(Phase.PLAN)
                for kind in self.config.kinds:
                    if kind not in c.unavailable:
                        self._plan_kind(c, kind, crm, mailbox, held or journal)
                if held is not None:
                    held.flush()  # a kind not planned keeps its listing staged, as before
                    held = None
                if c.dry_run:
                    break
                c.progress(Phase.EXECUTE)
                executor.restaged = False
                executor.failed_links.clear()
                ops = journal.outbox([PENDING])
                self._follow_own_creates(c, mailbox, journal, ops, followers)
                new_links, c.new_links = c.new_links, {}
                executor.run(ops, c.cancelled, planned=new_links)
                del ops, new_links  # a first sync's ten thousand entries are not kept through what follows
                if not executor.restaged:
                    break
            if not c.dry_run:
                for hold in journal.holds("open"):
                    if all(h.id != hold.id for h in c.holds):
                        c.holds.append(hold)
                self._read_past_own_creates(c, mailbox, journal, executor.outlook_writes, followers)
        finally:  # cancelled, failed or not needed after all: the followers read nothing more
            for follower in followers.values():
                follower.stop()
        c.progress(Phase.EMAIL)
        self.apply_email_link_edits(c, crm, journal)
        self.record_sent_email(c, crm, mailbox, journal)
        self.write_related_notes(c, mailbox, journal)

    def _read_past_own_creates(self, c: _Cycle, mailbox: Any, journal: Any,
                               outlook_writes: dict[Kind, int] | None = None,
                               followers: dict[Kind, EchoFollower] | None = None) -> None:
        """Advance each folder's token past the items we just created there. A change feed reports
        net changes since the token, so an item created after it and deleted by the user before the
        next read would never be reported at all: the deletion would go unseen.

        Also after our other writes to the folder (updates, sharing): with `known` the echoes of
        our own writes are skipped unread (IdOnly pages of up to 512, no GetItem), so the next
        cycle starts from a token with nothing of ours behind it. Anything else that turns up is
        staged as usual and planned next cycle.

        A folder with many creates was followed while they were made (`_follow_own_creates`):
        only the follower's last round is read here, and what it saw is judged and staged now."""
        followers = followers if followers is not None else {}
        for kind in self.config.kinds:
            if c.cancelled():
                return
            if c.tally.created["outlook"].get(OUTLOOK_NOUN[kind], 0) <= 0 and not (outlook_writes or {}).get(kind):
                continue
            follower = followers.pop(kind, None)
            fed = follower.finish() if follower is not None else None
            if fed is not None and self._stage_followed(mailbox, journal, kind, fed):
                continue
            ingest_outlook(mailbox, kind, journal.cursor(Side.OUTLOOK.value, kind.value), journal.write, c.cancelled,
                           known=self._known(journal, kind))

    def _follow_own_creates(self, c: _Cycle, mailbox: Any, journal: Any, ops: list[OutboxOp],
                            followers: dict[Kind, EchoFollower]) -> None:
        """Start following the change feed of each folder about to receive many of our creates
        (app/sync/echo_follow.py): its read past them then overlaps the creates themselves.
        Contacts and tasks only: the calendar's feed passes through the recurring-series wrapper."""
        if not self._known_ok or self.config.follow_creates_at <= 0:
            return
        creates: dict[Kind, int] = {}
        for op in ops:
            if op.op == "create" and op.side is Side.OUTLOOK:
                creates[op.kind] = creates.get(op.kind, 0) + 1
        for kind, n in creates.items():
            if kind in followers or kind not in FOLLOWED or n < self.config.follow_creates_at:
                continue
            token = journal.cursor(Side.OUTLOOK.value, kind.value)
            if token is None:
                continue
            noun = OUTLOOK_NOUN[kind]
            followers[kind] = EchoFollower(mailbox, kind, token,
                                           lambda noun=noun: c.tally.created["outlook"].get(noun, 0),
                                           round_items=self.config.follow_round_items).start()

    def _stage_followed(self, mailbox: Any, journal: Any, kind: Kind, fed: FollowedFeed) -> bool:
        """Stage what a follower saw (ingest.stage_followed). Judged now that every write has
        settled: the journal holds each item's latest version. False when the echoes cannot be
        told apart (no `known`)."""
        known = self._known(journal, kind)
        if known is None:
            return False
        stage_followed(mailbox, kind, fed, known, journal.write)
        return True

    @staticmethod
    def _crm_stamps(journal: Any, kind: Kind) -> list[Any]:
        """Links as CRM ingest needs them (id, CRM id, lock version, scope, pending-deletion
        sighting): the journal's light read when it offers one, so a sync of many linked items does
        not decode every field snapshot. Ingest only reads them (it writes staged rows and
        gone_seen marks), so the missing snapshots are never written back."""
        stamps = getattr(journal, "crm_stamps", None)
        return stamps(kind) if callable(stamps) else journal.links(kind)

    def _known(self, journal: Any, kind: Kind) -> Callable[[str, str], bool] | None:
        """MailboxPort.changes(known=...): True for an (item id, ChangeKey) the journal's link already
        holds, i.e. the echo of our own write (design.md 1.9); loaded on first use only."""
        if not self._known_ok:
            return None
        held: dict[str, str] = {}
        loaded = False

        def known(item_id: str, change_key: str) -> bool:
            nonlocal loaded
            if not loaded:
                versions = getattr(journal, "ews_versions", None)
                held.update(versions(kind) if callable(versions) else
                            {l.ews_item_id: l.ews_change_key for l in journal.links(kind) if l.ews_item_id})
                loaded = True
            return bool(change_key) and held.get(item_id) == change_key
        return known

    def apply_email_link_edits(self, c: _Cycle, crm: Any, journal: Any) -> None:
        """Links of recorded emails the user added or removed (B36), before recording adds any."""
        if c.dry_run or c.cancelled() or self.email_link_edits is None:
            return
        from app.sync.email_link_edits import apply_link_edits

        now = self.clock.now()
        res = apply_link_edits(crm, self.email_link_edits, now)
        c.email_links += res.added
        c.tally.issues.extend((i.item, i.message, i.retry_at) for i in res.issues)
        if res.done:
            journal.write(Batch(history=[HistoryEntry(c.run_id, now, action + "_email", kind="email", link_id=item,
                                                      direction="to_crm", reason=reason)
                                         for action, item, reason in res.done]))

    def record_sent_email(self, c: _Cycle, crm: Any, mailbox: Any, journal: Any) -> None:
        """Sent-mail recording (issue 6, design.md 6.4): runs after contacts and activities."""
        if c.dry_run or self.email_journal is None or self.email_options is None:
            return
        from app.sync.email_phase_hook import record_sent_email

        c.email_links += record_sent_email(c.tally, crm, mailbox, self.email_journal, self.email_options,
                                           self.clock, observer=c.observer, cancel=c.cancel)

    def write_related_notes(self, c: _Cycle, mailbox: Any, journal: Any) -> None:
        """The "Related in Workbooks" block of contacts (R18), from the reference copy the email
        phase has just brought up to date; CRM -> Outlook only."""
        if c.dry_run or c.cancelled() or self.email_journal is None or self.email_options is None:
            return
        if not self.related_notes:
            return
        if Kind.PERSON not in self.config.kinds or self.config.direction_for(Kind.PERSON) == TO_WORKBOOKS:
            return
        from app.sync.related_notes import refresh_related_notes

        res = refresh_related_notes(mailbox, journal, self.email_journal, self.clock.now(), cancelled=c.cancelled)
        c.tally.issues.extend(res.issues)

    def _plan_kind(self, c: _Cycle, kind: Kind, crm: Any, mailbox: Any, journal: Any) -> None:
        # the state, the plan and its batch are all freed when _load_plan_write returns: still
        # inside the pause, so the collector never has to look at them (app/sync/gc_pause.py)
        with gc_paused():
            self._load_plan_write(c, kind, crm, mailbox, journal)

    def _load_plan_write(self, c: _Cycle, kind: Kind, crm: Any, mailbox: Any, journal: Any) -> None:
        state = journal.load(kind)
        pairs = carried.carried(journal) if kind is Kind.TASK else {}
        planner = KindPlanner(kind, state, config=self.config, crm=crm, mailbox=mailbox, now=self.clock.now(),
                              run_id=c.run_id, first_outlook=c.first_outlook.get(kind, False),
                              resolved=self._resolved(kind, crm), allow_mass_delete=c.allow, carried=pairs)
        out = planner.plan()
        if pairs and not c.dry_run:
            out.batch.meta.update(carried.dropped())  # used once: the first real plan after the switch
        c.conflicts += len(out.conflicts)
        for conf in out.conflicts:
            c.issue(ConflictRaised(conf.id, kind.value, conf.label or conf.link_id[:8], tuple(conf.fields)))
        for hold in out.holds:
            c.holds.append(hold)
            c.issue(HoldRaised(hold.id, kind.value, hold.side.value, hold.reason, hold.planned, hold.linked))
        if c.dry_run:
            c.plan.extend(out.entries)
            for op in out.ops:
                if op.state == PENDING:
                    c.tally.count(op)
            return
        if c.first_outlook.get(kind):  # with the plan that consumed the first indexing, not before it
            out.batch.meta[INDEXED.format(kind.value)] = self.clock.now().isoformat()
        if isinstance(journal, HeldListings):
            journal.write_plan(kind, out.batch)
        else:
            journal.write(out.batch)
        # The links this plan made are stored exactly as they stand here (no earlier row kept a
        # column): the executor takes them from here rather than reading ten thousand back.
        existed = {link.id for link in state.links}
        c.new_links.update((link.id, link) for link in out.batch.links if link.id not in existed)

    def _collection_gone(self, c: _Cycle, kind: Kind, side: Side, exc: AppError, journal: Any, item: str) -> None:
        """A whole collection refused us: hold the kind (exit 3), plan nothing for it, report why.
        `side` is the side whose deletions the hold protects (the other one)."""
        c.unavailable.add(kind)
        linked = sum(1 for l in journal.links(kind) if l.state == "shared")
        hold, new = guards.collection_gone(kind, side, linked, journal.holds("open"), self.clock.now())
        if new:
            journal.write(Batch(holds=[hold], history=[HistoryEntry(
                c.run_id, self.clock.now(), "hold", kind.value, None, "", f"collection_gone: {exc.message}")]))
        if all(h.id != hold.id for h in c.holds):
            c.holds.append(hold)
            c.issue(HoldRaised(hold.id, kind.value, side.value, hold.reason, hold.planned, hold.linked))
        c.tally.issues.append((item, exc.message, None))

    def _approve_holds(self, journal: Any) -> None:
        holds = journal.holds("open")
        if not holds:
            return
        now = self.clock.now()
        ids = {h.id for h in holds}
        ops = [replace(o, state=PENDING) for o in journal.outbox([HELD]) if o.hold_id in ids]
        journal.write(Batch(holds=[replace(h, status="approved", decided_at=now) for h in holds], outbox=ops))

    def _share_requests(self, c: _Cycle, kind: Kind, crm: Any, mailbox: Any, journal: Any) -> None:
        """`share` (or "Share again") of an Unshared or Native Outlook item, or of a CRM record whose
        Outlook copy the user deleted: look it up and stage it, so planning shares or re-creates it."""
        rows = getattr(journal, "sharing_rows", None)
        sharing = rows(kind, "share_requested") if callable(rows) else journal.load(kind).sharing
        outlook = [s for s in sharing if s.state == "share_requested" and s.ews_item_id]
        from_crm = [s for s in sharing if s.state == "share_requested" and s.crm_id and not s.ews_item_id]
        if not outlook and not from_crm:
            return
        now = self.clock.now()
        stage: list[Staged] = []
        settled = []  # requests that cannot be carried out go back to Unshared, so they are not retried forever
        for rec, got in zip(outlook, mailbox.fetch(kind, [s.ews_item_id for s in outlook]) if outlook else []):
            if got is None:
                settled.append(replace(rec, state="unshared", changed_at=now))
            else:
                stage.append(Staged(Side.OUTLOOK, kind, got.item_id, "upsert", got.change_key, outlook=got))
        if from_crm:
            found = {r.id: r for r in crm.fetch(kind, [s.crm_id for s in from_crm])}
            resolved, today = self._resolved(kind, crm), now.date()
            for rec in from_crm:
                record = found.get(rec.crm_id)
                if record is None or record.deleted:
                    settled.append(replace(rec, state="unshared", changed_at=now))
                else:
                    stage.append(crm_staged(record, evaluate(resolved, record.raw, today)))
        journal.write(Batch(stage=stage, sharing=settled))

    # --- filters ---------------------------------------------------------------------------------

    def _resolved(self, kind: Kind, crm: Any) -> Filter:
        flt = self.config.filter_for(kind)
        if not any(cond.value == MY_QUEUE for cond in flt.conditions):
            return flt
        if self._queues.get(kind) is None:
            cached = self.journal.get_meta(f"my_queue:{kind.value}")
            if cached:
                self._queues[kind] = cached
        if self._queues.get(kind) is None:
            ident = crm.identity()
            queues = dict(ident.my_queues)
            want = "Person" if kind is Kind.PERSON else "Activit"
            pick = next((v for k, v in queues.items() if want.lower() in k.lower()), None)
            if pick is None and queues:
                pick = next(iter(queues.values()))
            for k in Kind:
                if self._queues.get(k) is None:
                    p = next((v for n, v in queues.items()
                              if ("person" if k is Kind.PERSON else "activit") in n.lower()), pick)
                    self._queues[k] = None if p is None else str(p)
            if not self._dry_run:
                self.journal.write(Batch(meta={f"my_queue:{k.value}": v for k, v in self._queues.items() if v}))
        try:
            return resolve(flt, self._queues.get(kind))
        except ConfigError:
            raise

    def _in_scope(self, rec: CrmRecord) -> bool:
        flt = self.config.filter_for(rec.kind)
        try:
            resolved = resolve(flt, self._queues.get(rec.kind)) if any(c.value == MY_QUEUE for c in flt.conditions) else flt
        except ConfigError:
            return True
        return evaluate(resolved, rec.raw, self.clock.now().date())


def _keep(held: HeldListings | None) -> None:
    """A cancelled cycle keeps what it listed, staged with its mark, as it did before listings
    were held: the next run plans it instead of listing again."""
    if held is not None:
        held.flush()


def _begin_first_indexing(journal: Any, kind: Kind, now: datetime) -> bool:
    """Is the Outlook read about to run (part of) the folder's first indexing? Noted durably before
    its first page, because that page's sync token alone would make a run resuming after a crash
    take the rest for new items and skip the install choice (kill test, issue 8)."""
    if journal.get_meta(INDEXED.format(kind.value)) is not None:
        return False
    if journal.get_meta(INDEXING.format(kind.value)) is not None:
        return True
    if journal.cursor(Side.OUTLOOK.value, kind.value) is not None:
        return False  # a journal from before these notes: as before, only a token-less read is first
    journal.write(Batch(meta={INDEXING.format(kind.value): now.isoformat()}))
    return True


def _accepts_known(mailbox: Any) -> bool:
    """Whether the adapter's `changes` takes the optional `known` argument (MailboxPort)."""
    import inspect

    try:
        return "known" in inspect.signature(mailbox.changes).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def _fatal_kind(exc: AppError) -> FatalKind:
    if isinstance(exc, SignInAgainRequired):
        return FatalKind.SIGN_IN_AGAIN
    if isinstance(exc, AuthError):
        return FatalKind.AUTH
    if isinstance(exc, PrerequisiteError):
        return FatalKind.PREREQUISITE
    if isinstance(exc, JournalError):
        return FatalKind.JOURNAL
    if isinstance(exc, ConfigError):
        return FatalKind.CONFIG
    if isinstance(exc, TransientError):
        return FatalKind.TRANSIENT
    return FatalKind.UNEXPECTED
