"""Page 3: which records to sync, per type, with live counts (R33, B28)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWizardPage

from app.domain.filters import Filter
from app.settings import KINDS
from app.ui.filter_editor import FilterEditor

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard

TAB_LABELS = {"person": "People", "task": "Tasks", "meeting": "Meetings"}
SUMMARY_NOUNS = {"person": ("person", "people"), "task": ("open task", "open tasks"),
                 "meeting": ("upcoming meeting", "upcoming meetings")}


class FiltersPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("filtersPage")
        self.setTitle("Choose what to sync")
        self.setSubTitle("Start with your own records; you can widen or narrow this any time in Settings.")
        self.tabs = QTabWidget()
        self.editors: dict[str, FilterEditor] = {}
        for kind in KINDS:
            editor = FilterEditor(kind, preview=self._count, probes=wizard.probes, debounce_ms=wizard.debounce_ms)
            editor.count_changed.connect(self._update_summary)
            self.editors[kind] = editor
            self.tabs.addTab(editor, TAB_LABELS[kind])
        self.summary = QLabel(" ")
        self.summary.setObjectName("filtersSummary")
        font = self.summary.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        self.summary.setFont(font)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.summary)

    def _count(self, kind: str, flt: Filter) -> int:  # runs on a probe thread
        creds = self.w.workbooks
        return int(self.w.backend.preview_counts(creds, {kind: flt})[kind])

    def initializePage(self) -> None:  # noqa: N802
        for editor in self.editors.values():
            editor.refresh_preview()

    def filters(self) -> dict[str, Filter]:
        return {kind: editor.filter() for kind, editor in self.editors.items()}

    @Slot(str, int)
    def _update_summary(self, _kind: str, _count: int) -> None:
        parts = []
        for kind, editor in self.editors.items():
            if editor.count is not None:
                one, many = SUMMARY_NOUNS[kind]
                parts.append(f"{editor.count} {one if editor.count == 1 else many}")
        self.summary.setText(", ".join(parts))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        try:
            self.filters()
        except Exception:  # noqa: BLE001 - an invalid condition: the editor shows why
            return False
        return True
