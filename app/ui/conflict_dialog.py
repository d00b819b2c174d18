"""The conflict inbox (design.md §9, B37): open conflicts on the left; on the right one row per
differing field with Outlook, Last synced and Workbooks values, changed cells highlighted and a
preselected choice where only one side changed. Decisions leave as `decided(id, Resolution)`;
the application forwards them to the worker, the journal's single writer."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.runner.values import Choice, Resolution
from app.ui import resources, text
from app.ui.models.tables import ROLE_ITEM, ConflictFieldsModel, ConflictListModel
from app.ui.ports import ConflictView, JournalView


class ChoiceDelegate(QStyledItemDelegate):
    def createEditor(self, parent, option, index):  # noqa: N802
        combo = QComboBox(parent)
        combo.setPlaceholderText("Choose…")
        for key, label in ConflictFieldsModel.CHOICES.items():
            combo.addItem(label, key)
        combo.currentIndexChanged.connect(lambda _i, c=combo: self.commitData.emit(c))
        return combo

    def setEditorData(self, editor, index):  # noqa: N802
        value = index.data(Qt.ItemDataRole.EditRole)
        i = editor.findData(value)
        editor.blockSignals(True)
        editor.setCurrentIndex(i)  # -1 = nothing chosen yet
        editor.blockSignals(False)

    def setModelData(self, editor, model, index):  # noqa: N802
        if editor.currentIndex() >= 0:
            model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)


class ConflictDialog(QDialog):
    decided = Signal(str, object)  # conflict id, Resolution

    def __init__(self, journal: JournalView | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self.setObjectName("conflictDialog")
        self.setWindowTitle("Conflicts — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(920, 460)

        self.list_model = ConflictListModel(self)
        self.list = QListView()
        self.list.setObjectName("conflictList")
        self.list.setModel(self.list_model)
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        self.list.setMinimumWidth(240)
        self.list.selectionModel().currentChanged.connect(self._current_changed)

        self.title = QLabel()
        self.title.setObjectName("conflictTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.title.setFont(font)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #6b7280;")
        self.fields = ConflictFieldsModel(self)
        self.fields.dataChanged.connect(self._update_buttons)
        self.table = QTableView()
        self.table.setObjectName("conflictFields")
        self.table.setModel(self.fields)
        self.table.setItemDelegateForColumn(4, ChoiceDelegate(self.table))
        self.table.verticalHeader().hide()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(4, 120)
        legend = QLabel('<span style="background:#fef3c7">&nbsp;changed on one side&nbsp;</span>&nbsp; '
                        '<span style="background:#fee2e2">&nbsp;changed on both&nbsp;</span>&nbsp; '
                        '<span style="background:#dcfce7">&nbsp;will be kept&nbsp;</span>')

        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for key, label in (("outlook", "Keep Outlook"), ("workbooks", "Keep Workbooks"),
                           ("merged", "Apply merged"), ("both", "Keep both"), ("later", "Decide later")):
            button = QPushButton(label)
            button.setObjectName(f"button_{key}")
            button.clicked.connect(lambda _c=False, k=key: self.decide(Choice(k)))
            self.buttons[key] = button
            if key == "later":
                row.addStretch(1)
            row.addWidget(button)
        self.buttons["both"].setToolTip("Only for items paired at the first sync: unlink them and keep two records")
        self.buttons["merged"].setToolTip("Keep the value chosen in the Keep column for each field")

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.hint)
        rl.addWidget(self.table, 1)
        rl.addWidget(legend)
        rl.addLayout(row)
        self.empty = QLabel("No conflicts. Everything is in step.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 660])
        self.split = split
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        layout.addWidget(self.empty)
        self.reload()

    @Slot()
    def reload(self) -> None:
        current = self.current()
        items = list(self.journal.conflicts()) if self.journal is not None else []
        self.set_conflicts(items, select=current.conflict_id if current else None)

    def set_conflicts(self, items: list[ConflictView], select: str | None = None) -> None:
        self.list_model.set_items(items)
        row = next((i for i, c in enumerate(items) if c.conflict_id == select), 0)
        if items:
            self.list.setCurrentIndex(self.list_model.index(row))
        self._show(self.current())

    def current(self) -> ConflictView | None:
        index = self.list.currentIndex()
        return index.data(ROLE_ITEM) if index.isValid() else None

    def select(self, conflict_id: str) -> None:
        for row, item in enumerate(self.list_model.items):
            if item.conflict_id == conflict_id:
                self.list.setCurrentIndex(self.list_model.index(row))

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show(current.data(ROLE_ITEM) if current.isValid() else None)

    def _show(self, conflict: ConflictView | None) -> None:
        has = conflict is not None
        self.split.setVisible(bool(self.list_model.items))
        self.empty.setVisible(not self.list_model.items)
        self.fields.set_conflict(conflict)
        for r in range(self.fields.rowCount()):
            self.table.openPersistentEditor(self.fields.index(r, 4))
        if has:
            kind = text.KIND_SINGULAR.get(conflict.kind, conflict.kind)
            self.title.setText(conflict.label)
            clashes = sum(1 for r in conflict.rows if r.suggested is None)
            when = f" Raised {text.when(conflict.raised_at)}." if conflict.raised_at else ""
            self.hint.setText(
                f"This {kind} changed on both sides since the last sync. "
                + (f"{text.plural(clashes, 'field')} changed differently on each side; pick which to keep, "
                   "or keep one whole version." if clashes else "The changes can be merged.")
                + when)
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        conflict = self.current()
        has = conflict is not None
        for key in ("outlook", "workbooks", "later"):
            self.buttons[key].setEnabled(has)
        self.buttons["merged"].setEnabled(has and self.fields.complete())
        self.buttons["both"].setEnabled(has and bool(conflict and conflict.first_sync))
        self.buttons["both"].setVisible(bool(conflict and conflict.first_sync))

    def decide(self, choice: Choice) -> None:
        conflict = self.current()
        if conflict is None:
            return
        picks = self.fields.picks() if choice is Choice.MERGED else ()
        resolution = Resolution(choice, picks)
        self.decided.emit(conflict.conflict_id, resolution)
        if choice is Choice.LATER:
            row = self.list.currentIndex().row()
            if row + 1 < self.list_model.rowCount():
                self.list.setCurrentIndex(self.list_model.index(row + 1))
            return
        self.list_model.remove(conflict.conflict_id)
        if self.list_model.rowCount():
            self.list.setCurrentIndex(self.list_model.index(0))
        self._show(self.current())
