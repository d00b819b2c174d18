"""The one GUI-thread picture of "how is syncing going" that the tray, the status window and
the notifications read: worker status + latest progress + journal counts."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, Signal, Slot

from app.runner.values import WorkerState, WorkerStatus
from app.sync.events import FatalKind, Progress
from app.ui import text
from app.ui.ports import JournalView, StatusSnapshot

log = logging.getLogger("workbooks_connector.ui")

UNDO_TEXT = "Undo last sync…"
UNDO_CHECKING = "Checking whether there is a sync to undo…"


@dataclass(frozen=True)
class MenuEntry:
    key: str  # action key, "" for the status line, "-" for a separator
    text: str
    enabled: bool = True
    tip: str = ""  # why a disabled entry is off, shown as its tooltip


class StatusModel(QObject):
    changed = Signal()

    def __init__(self, journal: JournalView | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self.worker = WorkerStatus(WorkerState.STARTING)
        self.progress: Progress | None = None
        self.snapshot = StatusSnapshot()
        self.live_conflicts = 0  # raised during the running cycle, before the journal is re-read
        self.setup_needed = False  # no configuration yet: the wizard has not been confirmed
        self.settings_available = True  # the app was given a SettingsStore
        self.schedule = ""  # the configured schedule key ("hourly", "manual", ...); "" = unknown
        self.workbooks_url = ""  # "Open Workbooks" target; the entry is hidden without one
        self.undo_unavailable: str | None = UNDO_CHECKING  # why "Undo last sync…" is off (None: on)

    # --- inputs ------------------------------------------------------------------------------

    @Slot(object)
    def set_worker_status(self, status: WorkerStatus) -> None:
        if status.state is not WorkerState.SYNCING:
            self.progress = None
        self.worker = status
        self.changed.emit()

    @Slot(object)
    def set_undo_state(self, reason: str | None) -> None:
        self.undo_unavailable = reason
        self.changed.emit()

    @Slot(object)
    def set_progress(self, progress: Progress) -> None:
        self.progress = progress
        self.changed.emit()

    @Slot(object)
    def note_conflict(self, _event: object) -> None:
        self.live_conflicts += 1
        self.changed.emit()

    @Slot()
    def refresh(self) -> None:
        """Re-read the journal's counts (cheap read-only query), e.g. after each cycle."""
        if self.journal is None:
            return
        try:
            self.snapshot = self.journal.status()
            self.live_conflicts = 0
        except Exception:  # noqa: BLE001 - a busy journal must not break the tray
            log.warning("could not read the journal status", exc_info=True)
        self.changed.emit()

    # --- derived -----------------------------------------------------------------------------

    @property
    def conflicts(self) -> int:
        return self.snapshot.conflicts + self.live_conflicts

    @property
    def holds(self) -> int:
        return self.snapshot.holds

    @property
    def issues(self) -> int:
        return self.snapshot.issues

    @property
    def syncing(self) -> bool:
        return self.worker.state is WorkerState.SYNCING

    @property
    def paused(self) -> bool:
        return self.worker.state is WorkerState.PAUSED

    @property
    def last_sync(self) -> datetime | None:
        return self.worker.last_sync or self.snapshot.last_sync

    def tray_state(self) -> str:
        if self.setup_needed:
            return "attention"
        state = self.worker.state
        if state is WorkerState.SYNCING:
            return "syncing"
        if state is WorkerState.PAUSED:
            return "paused"
        if state is WorkerState.ERROR and self.worker.fatal is not None:
            kind = self.worker.fatal.kind
            if kind is FatalKind.TRANSIENT:
                return "offline"
            if kind in (FatalKind.AUTH, FatalKind.SIGN_IN_AGAIN, FatalKind.PREREQUISITE, FatalKind.LEASE,
                        FatalKind.CONFIG):
                return "attention"
            return "error"
        if self.holds:
            return "attention"
        if self.conflicts:
            return "conflict"
        return "idle"

    def status_line(self) -> str:
        w = self.worker
        if self.setup_needed:
            return "Not set up yet"
        if w.state is WorkerState.SYNCING:
            if self.progress is not None:
                p = self.progress
                return text.progress_text(p.phase.value, p.kind, p.done, p.total, p.message)
            return "Previewing changes…" if w.dry_run else "Syncing…"
        if w.state is WorkerState.PAUSED:
            return "Syncing is paused"
        if w.state is WorkerState.STARTING:
            return "Starting…"
        if w.state is WorkerState.ERROR and w.fatal is not None:
            return w.fatal.title
        if self.holds:
            return "Deletions held for your review"
        if self.conflicts:
            return f"{text.plural(self.conflicts, 'conflict')} to review"
        if self.last_sync is None:
            return "Not synced yet"
        ok = w.last_ok if w.last_ok is not None else self.snapshot.last_ok
        return "Up to date" if ok is not False else "Last sync had problems"

    def schedule_line(self) -> str:
        """"Last sync 09:12 · next 10:12" from the worker's real plan; "" before set-up."""
        if self.setup_needed:
            return ""
        nxt = None if self.syncing else self.worker.next_sync  # the plan is redone when this run ends
        if self.last_sync is None:  # the status line already says "Not synced yet" (or "Syncing…")
            if self.paused:
                return "Paused before the first sync"
            if nxt is not None:
                return f"First sync {text.when(nxt)}"
            return "Syncs when you choose Sync now" if self.schedule == "manual" else ""
        last = f"Last sync {text.when(self.last_sync)}"
        if self.paused:
            return f"{last} · paused"
        if nxt is not None:
            return f"{last} · next {text.when(nxt)}"
        if self.schedule == "manual":
            return f"{last} · syncs when you choose Sync now"
        return last

    def linked_line(self) -> str:
        """"230 contacts, 36 tasks, 18 meetings linked" from the journal; "" when nothing is."""
        linked = self.snapshot.linked or {}
        if self.setup_needed or not any(linked.values()):
            return ""
        parts = [text.plural(int(linked.get("person", 0)), "contact"), text.plural(int(linked.get("task", 0)), "task"),
                 text.plural(int(linked.get("meeting", 0)), "meeting")]
        return ", ".join(parts) + " linked"

    def tooltip(self) -> str:
        if self.setup_needed:
            return "Workbooks connector — not set up yet"
        if self.syncing:
            return f"Workbooks connector\n{self.status_line()}"
        return f"Workbooks connector — {self.status_line()}\n{self.schedule_line()}"

    def _undo_entry(self) -> MenuEntry:
        reason = self.undo_unavailable
        if reason is None:
            return MenuEntry("undo", UNDO_TEXT)
        return MenuEntry("undo", "Undo last sync (nothing to undo)", False, reason)

    def entries(self) -> list[MenuEntry]:
        """The tray menu, also shown as buttons by the no-tray status window."""
        e = [MenuEntry("", self.status_line(), False)]
        e += [MenuEntry("", line, False) for line in (self.schedule_line(), self.linked_line()) if line]
        e.append(MenuEntry("-", ""))
        if self.setup_needed:
            e.append(MenuEntry("setup", "Set up the connector…"))
            e.append(MenuEntry("-", ""))
            e.append(MenuEntry("about", "About Workbooks connector"))
            e.append(MenuEntry("quit", "Quit"))
            return e
        e.append(MenuEntry("sync_now", "Sync now"))
        if self.syncing:
            e.append(MenuEntry("cancel_sync", "Stop this sync"))
        e.append(MenuEntry("resume", "Resume syncing") if self.paused else MenuEntry("pause", "Pause syncing"))
        e.append(MenuEntry("-", ""))
        e.append(MenuEntry("conflicts", f"Conflicts ({self.conflicts})…", self.conflicts > 0))
        if self.holds:
            e.append(MenuEntry("holds", f"Held deletions ({self.holds})…"))
        e.append(MenuEntry("issues", f"Sync issues ({self.issues})…", self.issues > 0))
        e.append(MenuEntry("history", "Sync history…"))
        e.append(self._undo_entry())
        e.append(MenuEntry("explain", "Explain…", self.settings_available))
        e.append(MenuEntry("-", ""))
        e.append(MenuEntry("settings", "Settings…", self.settings_available))
        if self.workbooks_url:
            e.append(MenuEntry("open_workbooks", "Open Workbooks"))
        e.append(MenuEntry("about", "About Workbooks connector"))
        e.append(MenuEntry("-", ""))
        e.append(MenuEntry("quit", "Quit"))
        return e
