"""Item models for the conflict, hold, history and issues windows (views live elsewhere)."""
from __future__ import annotations

from typing import Any, Callable, Generic, Sequence, TypeVar

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.ui import text
from app.ui.ports import ActionView, ConflictView, FieldRow, HoldView, IssueView, RunView

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex
ROLE_ITEM = Qt.ItemDataRole.UserRole + 1

CHANGED = QColor("#fef3c7")  # one side changed: amber wash
CLASH = QColor("#fee2e2")  # both sides changed differently: red wash
PICKED = QColor("#dcfce7")  # the value that will be kept


class RowsModel(QAbstractTableModel, Generic[T]):
    """A read-only table over a list of frozen values: one column = (header, getter)."""

    def __init__(self, columns: Sequence[tuple[str, Callable[[T], Any]]], parent=None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[T] = []

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def item(self, row: int) -> T:
        return self.rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section][0]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = self.columns[index.column()][1](row)
            return "" if value is None else str(value)
        if role == ROLE_ITEM:
            return row
        return self.extra(row, index.column(), role)

    def extra(self, row: T, column: int, role: int) -> Any:
        return None


def _count(run: RunView, key: str) -> int:
    return int(run.counts.get(key, 0))


class RunsModel(RowsModel[RunView]):
    def __init__(self, parent=None) -> None:
        super().__init__([
            ("Started", lambda r: text.when(r.started_at)),
            ("Trigger", lambda r: r.trigger + (" (preview)" if r.dry_run else "")),
            ("Result", lambda r: "OK" if r.ok else "Problems"),
            ("Created", lambda r: _count(r, "created")),
            ("Updated", lambda r: _count(r, "updated")),
            ("Linked", lambda r: _count(r, "linked")),
            ("Removed", lambda r: _count(r, "removed")),
            ("Failed", lambda r: _count(r, "failed")),
            ("Took", lambda r: f"{r.seconds:.1f} s"),
        ], parent)

    def extra(self, row: RunView, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == 2 and not row.ok:
            return QBrush(QColor("#b91c1c"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ActionsModel(RowsModel[ActionView]):
    def __init__(self, parent=None) -> None:
        super().__init__([
            ("Type", lambda a: text.KIND_SINGULAR.get(a.kind, a.kind)),
            ("Item", lambda a: a.item),
            ("What happened", lambda a: a.action),
            ("Why", lambda a: a.reason),
        ], parent)


class IssuesModel(RowsModel[IssueView]):
    def __init__(self, parent=None) -> None:
        super().__init__([
            ("Item", lambda i: i.item),
            ("Problem", lambda i: i.message),
            ("Attempts", lambda i: i.attempts),
            ("Next retry", lambda i: text.when(i.next_retry) if i.next_retry else "—"),
        ], parent)

    def extra(self, row: IssueView, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == 2 and row.attempts >= 5:
            return QBrush(QColor("#b91c1c"))
        return None


class HoldsModel(RowsModel[HoldView]):
    REASONS = {"mass_delete": "Many deletions", "empty_side": "A side looks empty", "collection_gone": "Folder gone"}

    def __init__(self, parent=None) -> None:
        super().__init__([
            ("Type", lambda h: text.KIND_PLURAL.get(h.kind, h.kind).capitalize()),
            ("Where", lambda h: "Outlook" if h.side == "outlook" else "Workbooks"),
            ("Why held", lambda h: self.REASONS.get(h.reason, h.reason)),
            ("Held", lambda h: f"{h.planned} of {h.linked}"),
        ], parent)


class ConflictListModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.items: list[ConflictView] = []

    def set_items(self, items: Sequence[ConflictView]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def remove(self, conflict_id: str) -> None:
        for row, item in enumerate(self.items):
            if item.conflict_id == conflict_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.items[row]
                self.endRemoveRows()
                return

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            fields = ", ".join(r.label for r in item.rows if r.suggested is None) or "merge ready"
            return f"{item.label}\n{text.KIND_SINGULAR.get(item.kind, item.kind).capitalize()} · {fields}"
        if role == ROLE_ITEM:
            return item
        return None


class ConflictFieldsModel(QAbstractTableModel):
    """Rows: differing fields. Columns: Field, Outlook, Last synced, Workbooks, Keep (editable)."""

    HEADERS = ("Field", "Outlook", "Last synced", "Workbooks", "Keep")
    CHOICES = {"outlook": "Outlook", "workbooks": "Workbooks"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[FieldRow] = []
        self.choices: list[str | None] = []

    def set_conflict(self, conflict: ConflictView | None) -> None:
        self.beginResetModel()
        self.rows = list(conflict.rows) if conflict else []
        self.choices = [r.suggested if (r.outlook_changed != r.workbooks_changed) else None for r in self.rows]
        self.endResetModel()

    def complete(self) -> bool:
        return bool(self.rows) and all(c is not None for c in self.choices)

    def picks(self) -> tuple[tuple[str, str], ...]:
        return tuple((r.field, c or "") for r, c in zip(self.rows, self.choices))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == 4 else base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        choice = self.choices[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == 0:
                return row.label
            if col == 4:
                return self.CHOICES.get(choice or "", "Choose…") if role == Qt.ItemDataRole.DisplayRole else choice
            value = (row.outlook, row.base, row.workbooks)[col - 1]
            return "—" if value in (None, "") else value
        if role == Qt.ItemDataRole.BackgroundRole and col in (1, 3):
            side = "outlook" if col == 1 else "workbooks"
            changed = row.outlook_changed if col == 1 else row.workbooks_changed
            if choice == side:
                return QBrush(PICKED)
            if changed:
                return QBrush(CLASH if row.suggested is None else CHANGED)
        if role == Qt.ItemDataRole.FontRole and col == 2:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and col in (1, 3):
            changed = row.outlook_changed if col == 1 else row.workbooks_changed
            return "Changed since the last sync" if changed else "Unchanged since the last sync"
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if index.column() != 4 or role != Qt.ItemDataRole.EditRole or value not in self.CHOICES:
            return False
        self.choices[index.row()] = value
        left, right = self.index(index.row(), 0), self.index(index.row(), 4)
        self.dataChanged.emit(left, right)
        return True
