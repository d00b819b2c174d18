""""Link email…" (B36, design.md 9 History window): one recorded email's links with why, "Remove
link", and "Add link…" with a search over the linkable records the journal knows.

The dialog only reads (through the JournalView) and emits `changed` with an EmailLinkChange; the
worker writes the decision and runs the sync that makes it in Workbooks, off the GUI thread.
"""
from __future__ import annotations

from typing import Any

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import resources
from app.ui.ports import EmailLinkChange, JournalView

ROLE = Qt.ItemDataRole.UserRole
PENDING_ADD = "added by you, made in Workbooks at the next sync"
PENDING_REMOVE = "removed by you, taken out of Workbooks at the next sync"


def link_text(link: Any) -> str:
    return f"{link.record.label} — {link.why}"


class LinkEmailDialog(QDialog):
    changed = Signal(object)  # EmailLinkChange

    def __init__(self, email: Any, journal: JournalView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.email, self.journal = email, journal
        self.setObjectName("linkEmailDialog")
        self.setWindowTitle("Link email — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(640, 460)
        when = f"{email.sent_at:%Y-%m-%d %H:%M}" if email.sent_at else ""
        title = QLabel(f"<b>{_escape(email.subject or '(no subject)')}</b>  {when}")
        title.setTextFormat(Qt.TextFormat.RichText)
        self.links = QListWidget()
        self.links.setObjectName("emailLinks")
        self.links.itemSelectionChanged.connect(self._selection_changed)
        self.remove_button = QPushButton("Remove link")
        self.remove_button.setObjectName("removeLink")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self._remove)
        self.add_button = QPushButton("Add link…")
        self.add_button.setObjectName("addLink")
        self.add_button.clicked.connect(self._show_search)
        row = QHBoxLayout()
        row.addWidget(self.remove_button)
        row.addWidget(self.add_button)
        row.addStretch(1)

        # the search over linkable records, shown by "Add link…"
        self.search_box = QWidget()
        self.search = QLineEdit()
        self.search.setObjectName("linkSearch")
        self.search.setPlaceholderText("Search people, organisations, cases, opportunities, sales leads")
        self.search.textChanged.connect(self._search_changed)
        self.results = QListWidget()
        self.results.setObjectName("linkResults")
        self.results.itemSelectionChanged.connect(self._selection_changed)
        self.results.itemDoubleClicked.connect(lambda _item: self._add())
        self.link_button = QPushButton("Link")
        self.link_button.setObjectName("linkSelected")
        self.link_button.setEnabled(False)
        self.link_button.clicked.connect(self._add)
        sl = QVBoxLayout(self.search_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.search)
        sl.addWidget(self.results)
        sl.addWidget(self.link_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.search_box.hide()

        self.note = QLabel("Changes are made in Workbooks by the sync that starts when you make them. A removed "
                           "link is never added again automatically.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #6b7280;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(QLabel("Links and why:"))
        layout.addWidget(self.links)
        layout.addLayout(row)
        layout.addWidget(self.search_box)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._fill()

    def _fill(self) -> None:
        self.links.clear()
        for link in self.email.links:
            item = QListWidgetItem(link_text(link))
            item.setData(ROLE, link.record)
            if link.state != "linked":
                item.setForeground(Qt.GlobalColor.gray)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.links.addItem(item)

    def _linked(self) -> set[tuple[str, str]]:
        return {(ln.record.crm_type, ln.record.crm_id) for ln in self.email.links if ln.state == "linked"}

    @Slot()
    def _selection_changed(self) -> None:
        picked = [i for i in self.links.selectedItems() if i.data(ROLE) is not None]
        self.remove_button.setEnabled(bool(picked))
        self.link_button.setEnabled(bool(self.results.selectedItems()))

    @Slot()
    def _show_search(self) -> None:
        self.search_box.show()
        self.search.setFocus()
        self._search_changed(self.search.text())

    @Slot(str)
    def _search_changed(self, text: str) -> None:
        self.results.clear()
        linked = self._linked()
        for record in self.journal.linkable(text.strip(), 50):
            if (record.crm_type, record.crm_id) in linked:
                continue
            item = QListWidgetItem(record.label)
            item.setData(ROLE, record)
            self.results.addItem(item)
        self._selection_changed()

    def _emit(self, record: Any, add: bool, item: QListWidgetItem) -> None:
        self.changed.emit(EmailLinkChange(self.email.message_id, record.crm_type, record.crm_id, add))
        item.setText(f"{record.label} — {PENDING_ADD if add else PENDING_REMOVE}")
        item.setData(ROLE, None)
        item.setForeground(Qt.GlobalColor.gray)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)

    @Slot()
    def _remove(self) -> None:
        for item in self.links.selectedItems():
            record = item.data(ROLE)
            if record is not None:
                self._emit(record, False, item)
        self._selection_changed()

    @Slot()
    def _add(self) -> None:
        for item in self.results.selectedItems():
            record = item.data(ROLE)
            if record is None:
                continue
            row = self.results.takeItem(self.results.row(item))
            self.links.addItem(row)
            self._emit(record, True, row)
        self._selection_changed()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
