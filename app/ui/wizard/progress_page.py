"""Page 7: the first sync running, with a progress bar, then its summary."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWizardPage

from app.sync.events import CycleSummary, FatalIssue, Progress
from app.ui import text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


def summary_text(s: CycleSummary) -> str:
    created = sum(sum(v.values()) for v in s.created.values())
    updated = sum(sum(v.values()) for v in s.updated.values())
    parts = [f"{created} created", f"{updated} updated"]
    if s.email_links:
        parts.append(f"{s.email_links} email links")
    if s.conflicts:
        parts.append(text.plural(s.conflicts, "conflict") + " to review")
    if s.errors:
        parts.append(text.plural(len(s.errors), "item") + " failed (see Sync issues)")
    return "First sync finished: " + ", ".join(parts) + "."


class ProgressPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.setObjectName("progressPage")
        self.setTitle("First sync")
        self.setSubTitle("You can close this window; syncing carries on from the tray icon.")
        self.bar = QProgressBar()
        self.bar.setObjectName("firstSyncProgress")
        self.bar.setRange(0, 0)
        self.label = QLabel("Starting…")
        self.label.setObjectName("firstSyncStatus")
        self.label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addStretch(1)
        self.finished_summary: CycleSummary | None = None

    @Slot(object)
    def on_progress(self, p: Progress) -> None:
        if self.finished_summary is not None:
            return
        self.label.setText(text.progress_text(p.phase.value, p.kind, p.done, p.total, p.message))
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)

    @Slot(object)
    def on_finished(self, summary: CycleSummary) -> None:
        if summary.dry_run:
            return
        self.finished_summary = summary
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.label.setText(summary_text(summary))

    @Slot(object)
    def on_fatal(self, fatal: FatalIssue) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.label.setText(f"<b>{fatal.title}</b><br>{fatal.message}")
