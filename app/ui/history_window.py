"""Sync history (B23): runs with their counts, and for the selected run each action and why; and
the recorded sent emails with each link and why, where "Link email…" adds or removes links (B36)."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
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


EMAIL_COLUMNS = ("Sent", "Subject", "Linked to")


class HistoryWindow(QWidget):
    email_link_changed = Signal(object)  # EmailLinkChange from "Link email…"

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
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Sync runs")
        self.tabs.addTab(self._emails_tab(), "Sent emails")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addLayout(bottom)
        self.reload()

    def _emails_tab(self) -> QWidget:
        self.emails = QTableWidget(0, len(EMAIL_COLUMNS))
        self.emails.setObjectName("sentEmails")
        self.emails.setHorizontalHeaderLabels(list(EMAIL_COLUMNS))
        self.emails.verticalHeader().hide()
        self.emails.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.emails.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.emails.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.emails.horizontalHeader().setStretchLastSection(True)
        self.emails.setWordWrap(False)
        self.emails.itemSelectionChanged.connect(
            lambda: self.link_button.setEnabled(bool(self.emails.selectedItems())))
        self.emails.itemDoubleClicked.connect(lambda _item: self.open_link_dialog())
        self.link_button = QPushButton("Link email…")
        self.link_button.setObjectName("linkEmail")
        self.link_button.setEnabled(False)
        self.link_button.clicked.connect(self.open_link_dialog)
        self.link_dialog = None
        tab = QWidget()
        tl = QVBoxLayout(tab)
        tl.setContentsMargins(0, 6, 0, 0)
        tl.addWidget(QLabel("Sent emails recorded in Workbooks, and the records each is linked to:"))
        tl.addWidget(self.emails)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.link_button)
        tl.addLayout(row)
        return tab

    def _reload_emails(self) -> None:
        self.sent = list(self.journal.emails(self.limit))
        self.emails.setRowCount(len(self.sent))
        for r, email in enumerate(self.sent):
            linked = [ln.record.label for ln in email.links if ln.state == "linked"]
            cells = (f"{email.sent_at:%Y-%m-%d %H:%M}" if email.sent_at else "", email.subject or "(no subject)",
                     ", ".join(linked) or "—")
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if c == 2:
                    item.setToolTip("\n".join(f"{ln.record.label} — {ln.why}" for ln in email.links))
                self.emails.setItem(r, c, item)
        self.emails.resizeColumnsToContents()
        self.link_button.setEnabled(bool(self.emails.selectedItems()))

    @Slot()
    def open_link_dialog(self) -> None:
        rows = {i.row() for i in self.emails.selectedItems()}
        if len(rows) != 1:
            return
        from app.ui.link_email_dialog import LinkEmailDialog

        self.link_dialog = LinkEmailDialog(self.sent[rows.pop()], self.journal, self)
        self.link_dialog.changed.connect(self.email_link_changed)
        self.link_dialog.finished.connect(lambda _code: self._reload_emails())
        self.link_dialog.open()

    @Slot()
    def reload(self) -> None:
        self._reload_emails()
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
