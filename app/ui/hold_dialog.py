"""Held deletions (B5, B6): what the brake stopped, and Apply / Restore / Decide later."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QModelIndex, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.runner.values import HoldDecision
from app.ui import resources, text
from app.ui.models.tables import ROLE_ITEM, HoldsModel
from app.ui.ports import HoldView, JournalView


def explain_hold(hold: HoldView) -> str:
    what = text.KIND_PLURAL.get(hold.kind, hold.kind)
    if hold.side == "outlook":
        effect = f"move {hold.planned} of your {hold.linked} paired {what} in Outlook to Deleted Items"
    else:
        effect = f"delete or unshare {hold.planned} of {hold.linked} paired {what} in Workbooks"
    if hold.reason == "mass_delete":
        why = "That is more than the safety limit allows in one go."
    elif hold.reason == "empty_side":
        why = "That side listed items last time and lists none now, which usually means a problem, not a clean-up."
    else:
        why = "The folder or list disappeared or refused access as a whole."
    return f"This sync would {effect}. {why} Nothing has been deleted; everything else keeps syncing."


class HoldDialog(QDialog):
    decided = Signal(str, object)  # hold id, HoldDecision

    def __init__(self, journal: JournalView | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self.setObjectName("holdDialog")
        self.setWindowTitle("Held deletions — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(640, 420)
        self.model = HoldsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(130)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.explain = QLabel()
        self.explain.setObjectName("holdExplain")
        self.explain.setWordWrap(True)
        self.items = QListWidget()
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for decision, label, tip in (
            (HoldDecision.APPLY, "Apply (allow once)", "Carry out these deletions this one time"),
            (HoldDecision.RESTORE, "Restore", "Re-create the items from the other side"),
            (HoldDecision.LATER, "Decide later", "Keep holding; ask again after the next sync"),
        ):
            button = QPushButton(label)
            button.setObjectName(f"button_{decision.value}")
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, d=decision: self.decide(d))
            self.buttons[decision.value] = button
            if decision is HoldDecision.LATER:
                row.addStretch(1)
            row.addWidget(button)
        self.buttons["later"].setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.explain)
        layout.addWidget(QLabel("Items held (first ones):"))
        layout.addWidget(self.items, 1)
        layout.addLayout(row)
        self.reload()

    @Slot()
    def reload(self) -> None:
        self.set_holds(list(self.journal.holds()) if self.journal is not None else [])

    def set_holds(self, holds: list[HoldView]) -> None:
        self.model.set_rows(holds)
        if holds:
            self.table.selectRow(0)
        self._show(self.current())

    def current(self) -> HoldView | None:
        index = self.table.currentIndex()
        return index.data(ROLE_ITEM) if index.isValid() else None

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        self._show(current.data(ROLE_ITEM) if current.isValid() else None)

    def _show(self, hold: HoldView | None) -> None:
        self.items.clear()
        if hold is None:
            self.explain.setText("No deletions are held.")
        else:
            self.explain.setText(explain_hold(hold))
            self.items.addItems(list(hold.items))
            if hold.planned > len(hold.items) and hold.items:
                self.items.addItem(f"… and {hold.planned - len(hold.items)} more")
        for button in self.buttons.values():
            button.setEnabled(hold is not None)

    def decide(self, decision: HoldDecision) -> None:
        hold = self.current()
        if hold is None:
            return
        self.decided.emit(hold.hold_id, decision)
        if decision is not HoldDecision.LATER:
            self.set_holds([h for h in self.model.rows if h.hold_id != hold.hold_id])
        else:
            self.close()
