"""The one worker thread (design.md §3).

`SyncWorker` is created without a parent, moved to its own `QThread`, and builds everything it
uses (the engine through `engine_factory`, the scheduler and its timer) in its `start` slot, so no
other thread touches them. Requests arrive as queued signals; results leave as signals carrying
the frozen dataclasses of `app.sync.events`. The only direct cross-thread call is the cancel
token (a `threading.Event`).

`WorkerHandle` is the GUI-thread side: it owns the thread, forwards requests with
`Qt.QueuedConnection` and re-emits the worker's signals from the GUI thread, so UI code can
connect plain callables to it safely.
"""
from __future__ import annotations

import inspect
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from app.runner.engine_api import (  # noqa: F401 - re-exported for callers of this module
    PROGRESS_INTERVAL,
    EngineFactory,
    EngineLike,
    EventCancelToken,
    SignalObserver,
)
from app.runner.scheduler import Scheduler
from app.runner.values import (
    RETRYABLE,
    HoldDecision,
    Resolution,
    WorkerState,
    WorkerStatus,
    fatal_from_exception,
)
from app.sync.events import CycleSummary, FatalIssue, FatalKind

log = logging.getLogger("workbooks_connector.runner")

class SyncWorker(QObject):
    status_changed = Signal(object)  # WorkerStatus
    progress = Signal(object)  # Progress (throttled)
    cycle_finished = Signal(object)  # CycleSummary
    item_issue = Signal(object)  # ItemIssue
    conflict_raised = Signal(object)  # ConflictRaised
    hold_raised = Signal(object)  # HoldRaised
    fatal_issue = Signal(object)  # FatalIssue
    journal_changed = Signal()  # a cycle or a command wrote to the journal: windows reload
    undo_finished = Signal(object)  # UndoResult (a preview or the undo itself), or FatalIssue
    undo_state = Signal(object)  # why "Undo last sync" is unavailable (str), or None
    stopped = Signal()

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        schedule: str = "hourly",
        scheduler_factory: Callable[[str], Scheduler] | None = None,
        cancel: EventCancelToken | None = None,
    ) -> None:
        super().__init__()  # no parent: it is moved to its own thread
        self._engine_factory = engine_factory
        self._schedule = schedule
        self._scheduler_factory = scheduler_factory or (lambda s: Scheduler(s))
        self.cancel_token = cancel or EventCancelToken()
        self.stopping = threading.Event()  # set directly by the handle before shutdown
        self.scheduler: Scheduler | None = None
        self._engine: EngineLike | None = None
        self._observer = SignalObserver(self)
        self._state = WorkerState.STARTING
        self._paused = False
        self._running = False
        self._pending = False
        self._pending_kinds: set[str] | None = set()
        self._pending_reason = ""
        self._pending_dry_run = False
        self._drain_scheduled = False
        self._allow_mass_delete_once = False
        self._status = WorkerStatus(WorkerState.STARTING)
        self.cycles_run = 0

    # --- lifecycle -------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        """Runs on the worker thread when it starts: build the scheduler (the engine is built
        lazily at the first cycle, also on this thread)."""
        self.scheduler = self._scheduler_factory(self._schedule)
        self.scheduler.setParent(self)
        self.scheduler.due.connect(self._on_due)
        self.scheduler.next_changed.connect(self._on_next_changed)
        self.scheduler.start()
        self._set_status(state=WorkerState.IDLE)

    @Slot()
    def shutdown(self) -> None:
        """Queued after the current cycle (which the cancel token is already stopping)."""
        self.stopping.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        engine, self._engine = self._engine, None
        close = getattr(engine, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing must not stop the shutdown
                log.exception("closing the engine failed")
        self._set_status(state=WorkerState.STOPPED, next_sync=None)
        self.stopped.emit()
        thread = self.thread()
        if thread is not None:
            thread.quit()

    # --- requests --------------------------------------------------------------------------

    @Slot(object, str)
    def request_sync(self, kinds: Iterable[str] | None = None, reason: str = "manual") -> None:
        self._queue(kinds, reason, dry_run=False)

    @Slot(object, str)
    def request_dry_run(self, kinds: Iterable[str] | None = None, reason: str = "preview") -> None:
        self._queue(kinds, reason, dry_run=True)

    @Slot()
    def allow_mass_delete_once(self) -> None:
        """The user chose "allow once" on a brake notification: the next cycle applies holds."""
        self._allow_mass_delete_once = True
        self._queue(None, "allow-once", dry_run=False)

    def _queue(self, kinds: Iterable[str] | None, reason: str, *, dry_run: bool) -> None:
        if self.stopping.is_set():
            return
        if self._paused and reason in ("schedule", "start", "wake", "retry"):
            if self.scheduler is not None:
                self.scheduler.skipped()
            return
        if kinds is None or self._pending_kinds is None:
            self._pending_kinds = None  # everything
        else:
            self._pending_kinds |= set(kinds)
        if not self._pending:
            self._pending_reason, self._pending_dry_run = reason, dry_run
        else:
            self._pending_dry_run = self._pending_dry_run and dry_run
        self._pending = True  # the "run again" flag: many requests mid-cycle make one run
        if not self._running and not self._drain_scheduled:
            self._drain_scheduled = True
            QTimer.singleShot(0, self._drain)

    @Slot(str)
    def _on_due(self, reason: str) -> None:
        if self._running or self._pending:
            if self.scheduler is not None and not self._running:
                self.scheduler.skipped()
            return
        self.request_sync(None, reason)

    @Slot(object)
    def _on_next_changed(self, when: datetime | None) -> None:
        if self._status.next_sync != when:
            self._set_status(next_sync=when)

    @Slot()
    def pause(self) -> None:
        self._paused = True
        if self.scheduler is not None:
            self.scheduler.set_paused(True)
        self._pending = False
        self._set_status(state=WorkerState.PAUSED, next_sync=None)

    @Slot()
    def resume(self) -> None:
        self._paused = False
        if self.scheduler is not None:
            self.scheduler.set_paused(False)
        next_sync = self.scheduler.next_due_datetime() if self.scheduler else None
        self._set_status(state=WorkerState.IDLE, next_sync=next_sync, fatal=None)

    @Slot()
    def network_back(self) -> None:
        if self.scheduler is not None:
            self.scheduler.network_back()

    @Slot(object)
    def reload_settings(self, schedule: str | None = None) -> None:
        """Settings were saved: rebuild the engine before the next cycle, adopt the schedule."""
        self._close_engine()
        if schedule:
            self._schedule = schedule
            if self.scheduler is not None:
                self.scheduler.set_schedule(schedule)

    @Slot(str, object)
    def resolve_conflict(self, conflict_id: str, resolution: Resolution) -> None:
        self._command("resolve_conflict", conflict_id, resolution)

    @Slot(object)
    def share_again(self, item: Any) -> None:
        if self._command("share_again", item):
            self.request_sync(None, "share-again")

    @Slot(object)
    def change_email_link(self, change: Any) -> None:
        """"Link email…" (B36): the decision goes to the journal, the sync makes it in Workbooks."""
        if self._command("change_email_link", change):
            self.request_sync(None, "email-links")

    @Slot(str, object)
    def decide_hold(self, hold_id: str, decision: HoldDecision) -> None:
        if decision is HoldDecision.LATER:
            return
        engine_has = callable(getattr(self._engine_or_build_quiet(), "decide_hold", None))
        if engine_has:
            self._command("decide_hold", hold_id, decision)
        elif decision is HoldDecision.APPLY:
            self._allow_mass_delete_once = True  # the engine applies held deletions when allowed
        else:
            self.fatal_issue.emit(fatal_from_exception(NotImplementedError("restoring held items needs a newer engine")))
            return
        self.request_sync(None, "hold-decided")

    @Slot()
    def take_over_lease(self) -> None:
        """"Move syncing to this computer": the engine takes the lease over in the next cycle."""
        if self._command("take_over_lease"):
            self.request_sync(None, "take-over")

    @Slot(str)
    def retry_item(self, item: str) -> None:
        self._command("retry_item", item, optional=True)  # without it the cycle simply retries
        self.request_sync(None, "retry-item")

    @Slot(str)
    def ignore_item(self, item: str) -> None:
        self._command("ignore_item", item, optional=True)

    @Slot(bool)
    def request_undo(self, dry_run: bool) -> None:
        """Undo last sync, or its preview, here between cycles (this thread is the one writer)."""
        if self.stopping.is_set():
            return
        try:
            undo = getattr(self._engine_or_build(), "undo", None)
            if not callable(undo):
                raise NotImplementedError("this sync engine cannot undo")
            result: Any = undo(dry_run=dry_run)
        except Exception as exc:  # noqa: BLE001 - shown in the undo dialog
            result = fatal_from_exception(exc)
        self.undo_finished.emit(result)
        if not dry_run:
            self.journal_changed.emit()
            self.check_undo()

    @Slot()
    def check_undo(self) -> None:
        """Whether there is a sync to undo (a journal read, no network)."""
        if self.stopping.is_set():
            return
        try:
            check = getattr(self._engine_or_build(), "undo_unavailable", None)
            reason = check() if callable(check) else "Undo is not available with this sync engine."
        except Exception as exc:  # noqa: BLE001 - the menu entry just stays off
            log.info("could not tell whether there is a sync to undo: %s", type(exc).__name__)
            reason = "Undo is not available right now (the journal could not be read)."
        self.undo_state.emit(reason)

    # --- the cycle ---------------------------------------------------------------------------

    def _engine_or_build(self) -> EngineLike:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def _engine_or_build_quiet(self) -> EngineLike | None:
        try:
            return self._engine_or_build()
        except Exception as exc:  # noqa: BLE001
            self.fatal_issue.emit(fatal_from_exception(exc))
            return None

    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        close = getattr(engine, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001
                log.exception("closing the engine failed")

    def _command(self, name: str, *args: Any, optional: bool = False) -> bool:
        """Run one user decision on the engine (between cycles: the single writer). True if done."""
        if self.stopping.is_set():
            return False
        try:
            engine = self._engine_or_build()
            method = getattr(engine, name, None)
            if not callable(method):
                if optional:
                    log.info("the sync engine has no %s(); skipped", name)
                    return False
                raise NotImplementedError(f"the sync engine has no {name}() yet")
            method(*args)
        except Exception as exc:  # noqa: BLE001 - mapped for the user
            self.fatal_issue.emit(fatal_from_exception(exc))
            return False
        self.journal_changed.emit()
        return True

    @Slot()
    def _drain(self) -> None:
        self._drain_scheduled = False
        if not self._pending or self._running or self.stopping.is_set():
            return
        kinds, reason, dry_run = self._pending_kinds, self._pending_reason, self._pending_dry_run
        self._pending, self._pending_kinds, self._pending_dry_run = False, set(), False
        self._run_cycle(kinds, reason, dry_run)
        if self._pending and not self._drain_scheduled:  # requested from within the cycle
            self._drain_scheduled = True
            QTimer.singleShot(0, self._drain)

    def _run_cycle(self, kinds: set[str] | None, reason: str, dry_run: bool) -> None:
        self._running = True
        self.cancel_token.clear()
        if self.stopping.is_set():  # shutdown raced the request
            self.cancel_token.cancel()
        if self.scheduler is not None:
            self.scheduler.cycle_started()
        allow = self._allow_mass_delete_once and not dry_run
        self._set_status(state=WorkerState.SYNCING, reason=reason, fatal=None, dry_run=dry_run)
        summary: CycleSummary | None = None
        fatal: FatalIssue | None = None
        self._observer.fatal_seen = None
        try:
            engine = self._engine_or_build()
            kwargs: dict[str, Any] = dict(
                dry_run=dry_run, allow_mass_delete=allow, observer=self._observer, cancel=self.cancel_token
            )
            if kinds and _accepts(engine.run_cycle, "kinds"):
                kwargs["kinds"] = tuple(sorted(kinds))
            summary = engine.run_cycle(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user as a FatalIssue
            fatal = fatal_from_exception(exc)
            if fatal.kind in (FatalKind.AUTH, FatalKind.SIGN_IN_AGAIN, FatalKind.CONFIG, FatalKind.JOURNAL,
                              FatalKind.UNEXPECTED):
                self._close_engine()  # rebuilt with fresh clients/settings next time
        finally:
            self._running = False
            self.cycles_run += 1
            if allow:
                self._allow_mass_delete_once = False
        now = datetime.now(timezone.utc)
        seen = self._observer.fatal_seen
        if fatal is not None and seen is not None:
            fatal = seen  # the engine already reported this problem (and knows its kind best)
        if fatal is not None:
            if self.scheduler is not None:
                self.scheduler.cycle_finished(False, fatal.kind in RETRYABLE)
            self._set_status(state=WorkerState.ERROR, last_sync=now, last_ok=False, fatal=fatal,
                             next_sync=self._next())
            if seen is None:
                self.fatal_issue.emit(fatal)  # not yet reported by the engine itself
            return
        ok = bool(summary.ok) if summary is not None else True
        if self.scheduler is not None and not dry_run:
            self.scheduler.cycle_finished(ok, True)
        elif self.scheduler is not None:
            self.scheduler.cycle_finished_unscheduled()
        state = WorkerState.PAUSED if self._paused else WorkerState.IDLE
        finished = (summary.finished_at if summary is not None and summary.finished_at else now)
        self._set_status(state=state, last_sync=finished if not dry_run else self._status.last_sync,
                         last_ok=ok if not dry_run else self._status.last_ok, next_sync=self._next())
        if summary is not None:
            self.cycle_finished.emit(summary)
        self.journal_changed.emit()

    def _next(self) -> datetime | None:
        if self._paused or self.scheduler is None:
            return None
        return self.scheduler.next_due_datetime()

    def _set_status(self, **changes: Any) -> None:
        values = {f: getattr(self._status, f) for f in self._status.__dataclass_fields__}
        values.update(changes)
        if self._paused and values["state"] is WorkerState.IDLE:
            values["state"] = WorkerState.PAUSED
        self._status = WorkerStatus(**values)
        self.status_changed.emit(self._status)


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class WorkerHandle(QObject):
    """GUI-thread owner of the worker thread. Connect UI code to *its* signals."""

    status_changed = Signal(object)
    progress = Signal(object)
    cycle_finished = Signal(object)
    item_issue = Signal(object)
    conflict_raised = Signal(object)
    hold_raised = Signal(object)
    fatal_issue = Signal(object)
    journal_changed = Signal()
    undo_finished = Signal(object)
    undo_state = Signal(object)

    _sync = Signal(object, str)
    _dry_run = Signal(object, str)
    _allow_once = Signal()
    _pause = Signal()
    _resume = Signal()
    _reload = Signal(object)
    _resolve = Signal(str, object)
    _decide = Signal(str, object)
    _take_over = Signal()
    _share_again = Signal(object)
    _email_link = Signal(object)
    _network_back = Signal()
    _retry = Signal(str)
    _ignore = Signal(str)
    _shutdown = Signal()
    _undo = Signal(bool)
    _check_undo = Signal()

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        schedule: str = "hourly",
        scheduler_factory: Callable[[str], Scheduler] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("sync-worker")
        self.worker = SyncWorker(engine_factory, schedule=schedule, scheduler_factory=scheduler_factory)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        q = Qt.ConnectionType.QueuedConnection
        self._sync.connect(self.worker.request_sync, q)
        self._dry_run.connect(self.worker.request_dry_run, q)
        self._allow_once.connect(self.worker.allow_mass_delete_once, q)
        self._pause.connect(self.worker.pause, q)
        self._resume.connect(self.worker.resume, q)
        self._reload.connect(self.worker.reload_settings, q)
        self._resolve.connect(self.worker.resolve_conflict, q)
        self._decide.connect(self.worker.decide_hold, q)
        self._take_over.connect(self.worker.take_over_lease, q)
        self._share_again.connect(self.worker.share_again, q)
        self._email_link.connect(self.worker.change_email_link, q)
        self._retry.connect(self.worker.retry_item, q)
        self._network_back.connect(self.worker.network_back, q)
        self._ignore.connect(self.worker.ignore_item, q)
        self._shutdown.connect(self.worker.shutdown, q)
        self._undo.connect(self.worker.request_undo, q)
        self._check_undo.connect(self.worker.check_undo, q)
        for name in ("status_changed", "progress", "cycle_finished", "item_issue", "conflict_raised",
                     "hold_raised", "fatal_issue", "journal_changed", "undo_finished", "undo_state"):
            getattr(self.worker, name).connect(getattr(self, name), q)
        self.status_changed.connect(self._remember_status)
        self.status = WorkerStatus(WorkerState.STARTING)
        self._started = False

    @Slot(object)
    def _remember_status(self, status: WorkerStatus) -> None:
        self.status = status

    @property
    def busy(self) -> bool:
        return self.status.state is WorkerState.SYNCING

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.thread.start()

    def sync_now(self, kinds: Iterable[str] | None = None, reason: str = "manual") -> None:
        self._sync.emit(None if kinds is None else tuple(kinds), reason)

    def dry_run(self, kinds: Iterable[str] | None = None, reason: str = "preview") -> None:
        self._dry_run.emit(None if kinds is None else tuple(kinds), reason)

    def allow_mass_delete_once(self) -> None:
        self._allow_once.emit()

    def cancel(self) -> None:
        """Stop the running cycle after its current batch (the one direct cross-thread call)."""
        self.worker.cancel_token.cancel()

    def pause(self) -> None:
        self.cancel()
        self._pause.emit()

    def resume(self) -> None:
        self._resume.emit()

    def reload_settings(self, schedule: str | None = None) -> None:
        self._reload.emit(schedule)

    def resolve_conflict(self, conflict_id: str, resolution: Resolution) -> None:
        self._resolve.emit(conflict_id, resolution)

    def decide_hold(self, hold_id: str, decision: HoldDecision) -> None:
        self._decide.emit(hold_id, decision)

    def take_over_lease(self) -> None:
        self._take_over.emit()

    def share_again(self, item: object) -> None:
        self._share_again.emit(item)

    def change_email_link(self, change: object) -> None:
        self._email_link.emit(change)

    def retry_item(self, item: str) -> None:
        self._retry.emit(item)

    def network_back(self) -> None:
        self._network_back.emit()

    def ignore_item(self, item: str) -> None:
        self._ignore.emit(item)

    def undo(self, dry_run: bool = False) -> None:
        """Undo last sync (dry_run: only list what it would do); answered by `undo_finished`."""
        self._undo.emit(bool(dry_run))

    def check_undo(self) -> None:
        """Ask whether there is a sync to undo; answered by `undo_state`."""
        self._check_undo.emit()

    def shutdown(self, timeout_ms: int = 15_000) -> bool:
        """Cancel, let the worker finish its current batch and close, then join the thread."""
        if not self._started:
            return True
        self.worker.stopping.set()
        self.worker.cancel_token.cancel()
        self._shutdown.emit()
        finished = self.thread.wait(timeout_ms)
        if not finished:
            log.error("the sync worker did not stop within %d ms", timeout_ms)
        self._started = not finished
        return bool(finished)
