"""Sync history (B23): runs with their counts, and for the selected run each action and why."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui import resources
from app.ui.models.tables import ROLE_ITEM, ActionsModel, RunsModel
from app.ui.ports import JournalView


def _table(model) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    return view


class HistoryWindow(QWidget):
    def __init__(self, journal: JournalView, parent: QWidget | None = None, *, limit: int = 100) -> None:
        super().__init__(parent)
        self.journal, self.limit = journal, limit
        self.setObjectName("historyWindow")
        self.setWindowTitle("Sync history — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(900, 520)
        self.runs = RunsModel(self)
        self.actions = ActionsModel(self)
        self.runs_view = _table(self.runs)
        self.runs_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.runs_view.horizontalHeader().setStretchLastSection(False)
        self.runs_view.selectionModel().currentRowChanged.connect(self._run_changed)
        self.actions_view = _table(self.actions)
        header = self.actions_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.caption = QLabel()
        self.caption.setStyleSheet("color: #6b7280;")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.runs_view)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 6, 0, 0)
        ll.addWidget(self.caption)
        ll.addWidget(self.actions_view)
        split.addWidget(lower)
        split.setSizes([240, 280])
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("History is kept for 30 days."))
        bottom.addStretch(1)
        bottom.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        layout.addLayout(bottom)
        self.reload()

    @Slot()
    def reload(self) -> None:
        self.runs.set_rows(list(self.journal.history(self.limit)))
        if self.runs.rowCount():
            self.runs_view.selectRow(0)
        else:
            self.actions.set_rows([])
            self.caption.setText("No syncs yet.")

    @Slot(QModelIndex, QModelIndex)
    def _run_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        run = current.data(ROLE_ITEM) if current.isValid() else None
        self.actions.set_rows(list(run.actions) if run else [])
        if run is not None:
            self.caption.setText(f"What this run did ({len(run.actions)} actions shown):")
