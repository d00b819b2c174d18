"""Desktop notifications: which events notify, at most one a minute, never item content.

Failures, holds and conflicts notify by default, successes do not (design.md §9). Within the
one-minute window later notifications are not dropped silently: the most important one waiting
is shown when the window ends. A click opens the window the notification was about.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.sync.events import CycleSummary, FatalIssue, FatalKind, HoldRaised
from app.ui import text

PRIORITY = {"hold": 3, "failure": 2, "conflict": 1, "success": 0}
DEFAULTS = {"hold": True, "failure": True, "conflict": True, "success": False}
TARGET = {"hold": "holds", "conflict": "conflicts", "failure": "status", "success": "history"}


@dataclass(frozen=True)
class Note:
    category: str  # hold | failure | conflict | success
    title: str
    message: str
    level: str = "info"  # info | warning | error
    target: str = ""  # action key opened by a click


def hold_note(hold: HoldRaised) -> Note:
    what = text.KIND_SINGULAR.get(hold.kind, hold.kind)
    side = "Outlook" if hold.side == "outlook" else "Workbooks"
    if hold.reason == "mass_delete":
        title = f"{hold.planned} {what} deletions held"
        body = (f"This sync would remove {hold.planned} of {hold.linked} paired {what}s in {side}, more than the "
                "safety limit. Nothing was deleted. Click to review: allow once, restore, or decide later.")
    else:
        title = f"{side} {text.KIND_PLURAL.get(hold.kind, hold.kind)} look empty"
        body = ("Their deletions are held until you decide; everything else still syncs. Click to review.")
    return Note("hold", title, body, "warning", "holds")


def conflict_note(count: int) -> Note:
    return Note("conflict", f"{text.plural(count, 'conflict')} to review",
                "The same field changed on both sides. Nothing is overwritten until you choose.", "info", "conflicts")


def failure_note(fatal: FatalIssue) -> Note:
    if fatal.kind is FatalKind.SIGN_IN_AGAIN:  # a click opens the sign-in itself, not the status window
        return Note("failure", "Sign in to Microsoft 365 again",
                    "The saved sign-in has expired or was revoked, so syncing has stopped. Click to sign in; syncing "
                    "resumes straight after.", "warning", "graph_sign_in")
    level = "warning" if fatal.kind is FatalKind.TRANSIENT else "error"
    message = fatal.message if len(fatal.message) <= 160 else fatal.message[:157] + "…"
    return Note("failure", fatal.title, message, level, "status")


def success_note(summary: CycleSummary) -> Note:
    created = sum(sum(v.values()) for v in summary.created.values())
    updated = sum(sum(v.values()) for v in summary.updated.values())
    return Note("success", "Sync finished", f"{created} created, {updated} updated", "info", "history")


class NotificationPolicy:
    """Pure rate-limit and preference logic (clock injectable for tests)."""

    def __init__(self, enabled: dict[str, bool] | None = None, *, min_gap: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = dict(DEFAULTS, **(enabled or {}))
        self.min_gap = min_gap
        self.clock = clock
        self.last_shown: float | None = None
        self.waiting: Note | None = None

    def offer(self, note: Note) -> Note | None:
        """The note to show now, or None (disabled, or held back by the rate limit)."""
        if not self.enabled.get(note.category, False):
            return None
        now = self.clock()
        if self.last_shown is None or now - self.last_shown >= self.min_gap:
            self.last_shown = now
            self.waiting = None
            return note
        if self.waiting is None or PRIORITY[note.category] >= PRIORITY[self.waiting.category]:
            self.waiting = note
        return None

    def seconds_until_free(self) -> float:
        if self.last_shown is None:
            return 0.0
        return max(0.0, self.min_gap - (self.clock() - self.last_shown))

    def release(self) -> Note | None:
        """The waiting note, once the gap has passed."""
        if self.waiting is not None and self.seconds_until_free() <= 0:
            note, self.waiting = self.waiting, None
            self.last_shown = self.clock()
            return note
        return None


class Notifier(QObject):
    shown = Signal(object)  # Note
    open_requested = Signal(str)  # action key of the last shown note, on click

    def __init__(self, sink: Callable[[str, str, str, str], None], policy: NotificationPolicy | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sink = sink
        self.policy = policy or NotificationPolicy()
        self.last: Note | None = None
        self.new_conflicts = 0  # ConflictRaised seen in the running cycle
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._release)

    def post(self, note: Note) -> None:
        shown = self.policy.offer(note)
        if shown is not None:
            self._show(shown)
        elif self.policy.waiting is not None and not self._timer.isActive():
            self._timer.start(int(self.policy.seconds_until_free() * 1000) + 50)

    @Slot()
    def _release(self) -> None:
        note = self.policy.release()
        if note is not None:
            self._show(note)
        elif self.policy.waiting is not None:
            self._timer.start(int(self.policy.seconds_until_free() * 1000) + 50)

    def _show(self, note: Note) -> None:
        self.last = note
        self.sink(note.title, note.message, note.level, note.target)
        self.shown.emit(note)

    @Slot()
    def clicked(self) -> None:
        if self.last is not None and self.last.target:
            self.open_requested.emit(self.last.target)

    # --- event adapters --------------------------------------------------------------------

    @Slot(object)
    def on_hold(self, hold: HoldRaised) -> None:
        self.post(hold_note(hold))

    @Slot(object)
    def on_fatal(self, fatal: FatalIssue) -> None:
        self.post(failure_note(fatal))

    @Slot(object)
    def on_conflict(self, _event: object) -> None:
        self.new_conflicts += 1

    @Slot(object)
    def on_cycle(self, summary: CycleSummary) -> None:
        """Conflicts notify once, in the cycle that raised them, not every run they stay open."""
        new, self.new_conflicts = self.new_conflicts, 0
        if summary.dry_run:
            return
        if new:
            self.post(conflict_note(new))
        elif summary.ok and not summary.holds:
            self.post(success_note(summary))
