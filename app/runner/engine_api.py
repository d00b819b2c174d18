"""The engine as the worker sees it (no Qt here): the `EngineLike` protocol, the cancel token on a
`threading.Event`, and the Observer that turns engine reports into the worker's signals."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

from app.sync.events import ConflictRaised, CycleSummary, FatalIssue, HoldRaised, ItemIssue, Progress

log = logging.getLogger("workbooks_connector.runner")

PROGRESS_INTERVAL = 0.2  # at most five progress signals a second


class EngineLike(Protocol):
    """What the worker needs from the sync engine (app.sync.engine.SyncEngine provides it).

    Optional extras, used when present: `resolve_conflict(conflict_id, Resolution)`,
    `decide_hold(hold_id, HoldDecision)`, `take_over_lease()`, `retry_item(item)`,
    `ignore_item(item)` and `close()`. Without `decide_hold`, "Apply" runs one cycle with
    allow_mass_delete=True.
    """

    def run_cycle(
        self, *, dry_run: bool = False, allow_mass_delete: bool = False, observer: Any = None, cancel: Any = None
    ) -> CycleSummary: ...


EngineFactory = Callable[[], EngineLike]


class EventCancelToken:
    """`app.sync.ports.CancelToken` on a threading.Event: the UI sets it, the engine polls it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()


class SignalObserver:
    """The engine's Observer: turns calls into the worker's signals (called on the worker thread).
    Progress is throttled; a FatalIssue is remembered so the worker does not report it twice."""

    def __init__(self, worker: Any) -> None:
        self._worker = worker
        self._last_emit = 0.0
        self._last_key: tuple[Any, Any] | None = None
        self.fatal_seen: FatalIssue | None = None  # reported by the engine during this cycle

    def progress(self, event: object) -> None:
        if not isinstance(event, Progress):
            return
        now = time.monotonic()
        key = (event.phase, event.kind)
        final = event.total is not None and event.done >= event.total
        if key != self._last_key or final or now - self._last_emit >= PROGRESS_INTERVAL:
            self._last_key, self._last_emit = key, now
            self._worker.progress.emit(event)

    def issue(self, event: object) -> None:
        w = self._worker
        if isinstance(event, ItemIssue):
            w.item_issue.emit(event)
        elif isinstance(event, ConflictRaised):
            w.conflict_raised.emit(event)
        elif isinstance(event, HoldRaised):
            w.hold_raised.emit(event)
        elif isinstance(event, FatalIssue):
            self.fatal_seen = event
            w.fatal_issue.emit(event)
        else:
            log.warning("observer got an unknown event type %s", type(event).__name__)
