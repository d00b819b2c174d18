"""When to sync: the schedule, a run soon after start, catch-up after sleep, back-off after failures.

The scheduler lives on the worker thread (the worker builds it in its start slot) and only emits
`due(reason)`; the worker decides whether a cycle actually starts, so two cycles never overlap.
Time is checked against the wall clock on every tick rather than trusting one long timer: a
timer does not fire during sleep, and a wall-clock jump that the monotonic clock did not see
means the computer was asleep (or its clock was changed), which triggers a catch-up.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, QTimer, Signal

from app.settings import SCHEDULE_SECONDS

# Delay before the next attempt after the n-th consecutive failure (capped by the schedule for
# transient trouble; at least the schedule for failures a retry will not fix by itself).
BACKOFF_SECONDS = (60, 5 * 60, 15 * 60, 30 * 60, 2 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)


class Scheduler(QObject):
    due = Signal(str)  # reason: "start" | "schedule" | "wake" | "retry"
    next_changed = Signal(object)  # datetime | None

    def __init__(
        self,
        schedule: str = "hourly",
        *,
        parent: QObject | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        tick_seconds: float = 30.0,
        start_delay: float = 20.0,
        wake_delay: float = 30.0,
        jump_threshold: float = 90.0,
    ) -> None:
        super().__init__(parent)
        self._wall, self._mono = wall, mono
        self.tick_seconds, self.start_delay, self.wake_delay = tick_seconds, start_delay, wake_delay
        self.jump_threshold = jump_threshold
        self.interval = 0
        self.failures = 0
        self.running = False  # a cycle is under way: nothing is emitted meanwhile
        self.paused = False
        self.next_due: float | None = None
        self._wake_pending = False
        self._started_once = False
        self._last_wall = wall()
        self._last_mono = mono()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check)
        self.set_schedule(schedule)

    # --- configuration -------------------------------------------------------------------

    def set_schedule(self, schedule: str) -> None:
        if schedule not in SCHEDULE_SECONDS:
            raise ValueError(f"unknown schedule {schedule!r}")
        self.schedule = schedule
        self.interval = SCHEDULE_SECONDS[schedule]
        if self.next_due is not None and self.interval:
            self.next_due = min(self.next_due, self._wall() + self.interval)
        elif not self.interval:
            self.next_due = None
        self._rearm()

    def start(self) -> None:
        """Arm the first run, soon after the app starts (never in manual mode)."""
        self._last_wall, self._last_mono = self._wall(), self._mono()
        self.next_due = self._wall() + self.start_delay if self.interval else None
        self._rearm()

    def stop(self) -> None:
        self._timer.stop()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._rearm()

    # --- cycle bookkeeping (called by the worker) -----------------------------------------

    def cycle_started(self) -> None:
        self.running = True
        self._timer.stop()

    def cycle_finished(self, ok: bool, retryable: bool = True) -> None:
        """Plan the next run: the schedule after success, back-off after failures."""
        self.running = False
        now = self._wall()
        self._last_wall, self._last_mono = now, self._mono()  # a long cycle is not a sleep
        if ok:
            self.failures = 0
            self.next_due = now + self.interval if self.interval else None
        else:
            self.failures += 1
            backoff = BACKOFF_SECONDS[min(self.failures, len(BACKOFF_SECONDS)) - 1]
            if retryable:
                delay = min(backoff, self.interval) if self.interval else backoff
            else:
                delay = max(backoff, self.interval)
            self.next_due = now + delay if (self.interval or retryable) else None
        self._rearm()

    # --- the clock -----------------------------------------------------------------------

    def next_due_datetime(self) -> datetime | None:
        if self.next_due is None or self.paused:
            return None
        return datetime.fromtimestamp(self.next_due, tz=timezone.utc)

    def check(self) -> None:
        """Timer tick (also callable directly by tests): detect sleep, emit due when it is time."""
        wall, mono = self._wall(), self._mono()
        wall_gap, mono_gap = wall - self._last_wall, mono - self._last_mono
        self._last_wall, self._last_mono = wall, mono
        woke = (wall_gap - mono_gap) > self.jump_threshold or wall_gap > self.tick_seconds + self.jump_threshold
        if self.running or self.paused:
            self._rearm()
            return
        if woke and self.next_due is not None and wall >= self.next_due - self.wake_delay:
            # Missed while asleep: catch up shortly after waking (network needs a moment).
            self.next_due = wall + self.wake_delay
            self._wake_pending = True
            self._rearm()
            return
        if self.next_due is not None and wall >= self.next_due:
            reason = "wake" if self._wake_pending else ("retry" if self.failures else "schedule")
            if not self.failures and self._first_pending():
                reason = "start"
            self._wake_pending = False
            self._started_once = True
            self.next_due = None  # re-planned by cycle_finished (or by `skipped`)
            self._rearm()
            self.due.emit(reason)
            return
        self._rearm()

    def cycle_finished_unscheduled(self) -> None:
        """A cycle that does not count as a sync (a dry-run preview) ended: keep the plan."""
        self.running = False
        self._last_wall, self._last_mono = self._wall(), self._mono()
        if self.next_due is None and self.interval:
            self.next_due = self._wall() + self.interval
        self._rearm()

    def network_back(self) -> None:
        """The network returned (R32): catch up soon if a run was missed or the last one failed."""
        if self.paused or self.running or not (self.interval or self.failures):
            return
        soon = self._wall() + self.wake_delay
        if self.failures or (self.next_due is not None and self.next_due <= soon):
            self.next_due = soon
            self._wake_pending = True
            self._rearm()

    def skipped(self) -> None:
        """The worker did not run after `due` (paused, busy): plan the next slot normally."""
        self.next_due = self._wall() + self.interval if self.interval else None
        self._rearm()

    def _first_pending(self) -> bool:
        return not self._started_once

    def _rearm(self) -> None:
        self._timer.stop()
        self.next_changed.emit(self.next_due_datetime())
        if self.running:
            return
        wait = self.tick_seconds
        if self.next_due is not None:
            wait = max(0.0, min(wait, self.next_due - self._wall()))
        self._timer.start(int(wait * 1000))
