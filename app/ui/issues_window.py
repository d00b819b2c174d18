"""Sync issues: items that failed, with attempts and next retry; Retry now, Open in Workbooks,
Ignore. Retry and ignore are requests to the worker (the journal's single writer)."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui import resources
from app.ui.models.tables import ROLE_ITEM, IssuesModel
from app.ui.ports import IssueView, JournalView


class IssuesWindow(QWidget):
    retry = Signal(str)  # item
    ignore = Signal(str)

    def __init__(self, journal: JournalView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self.setObjectName("issuesWindow")
        self.setWindowTitle("Sync issues — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(820, 360)
        self.model = IssuesModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.view.selectionModel().currentRowChanged.connect(lambda *_: self._update())
        self.retry_button = QPushButton("Retry now")
        self.open_button = QPushButton("Open in Workbooks")
        self.ignore_button = QPushButton("Ignore")
        self.retry_button.clicked.connect(lambda: self._emit(self.retry))
        self.ignore_button.clicked.connect(lambda: self._emit(self.ignore))
        self.open_button.clicked.connect(self._open)
        row = QHBoxLayout()
        row.addWidget(QLabel("Failed items are retried after 1 min, 5 min, 30 min, 2 h, 12 h, then daily."))
        row.addStretch(1)
        for b in (self.retry_button, self.open_button, self.ignore_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(row)
        self.reload()

    @Slot()
    def reload(self) -> None:
        self.model.set_rows(list(self.journal.issues()))
        if self.model.rowCount():
            self.view.selectRow(0)
        self._update()

    def current(self) -> IssueView | None:
        index = self.view.currentIndex()
        return index.data(ROLE_ITEM) if index.isValid() else None

    def _update(self) -> None:
        issue = self.current()
        self.retry_button.setEnabled(issue is not None)
        self.ignore_button.setEnabled(issue is not None)
        self.open_button.setEnabled(bool(issue and issue.url))

    def _emit(self, signal) -> None:
        issue = self.current()
        if issue is not None:
            signal.emit(issue.item)

    def _open(self) -> None:
        issue = self.current()
        if issue is not None and issue.url:
            QDesktopServices.openUrl(QUrl(issue.url))
