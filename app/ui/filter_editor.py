"""Filter editor for one record type: My People / everything / conditions on Workbooks fields
with the API's operators joined by AND, OR or an expression, plus a live preview count that is
computed on a probe thread (debounced) so typing never waits for the network."""
from __future__ import annotations

from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain import filters as F
from app.domain.records import Kind
from app.errors import AppError
from app.runner.probes import ProbeRunner

OPERATOR_LABELS = {
    "eq": "is", "ne": "is not", "bg": "begins with", "nbg": "does not begin with", "ct": "contains",
    "nct": "does not contain", "gt": "is greater than", "ge": "is at least", "lt": "is less than",
    "le": "is at most", "between": "is between (a,b)", "not_between": "is not between (a,b)",
    "blank": "is empty", "not_blank": "is not empty", "true": "is true", "false": "is false",
    "today": "is today", "ge_today": "is today or later", "gt_today": "is after today",
    "le_today": "is today or earlier", "lt_today": "is before today",
}
FIELDS = {
    "person": ("assigned_to", "watched", "person_first_name", "person_last_name", "employer_name",
               "person_job_title", "main_location[town]", "main_location[county_province_state]",
               "main_location[country]", "main_location[email]", "created_by_user[person_name]", "updated_at"),
    "task": ("assigned_to", "watched", "activity_status", "activity_type", "activity_priority", "name",
             "due_datetime", "start_datetime", "updated_at"),
    "meeting": ("assigned_to", "watched", "activity_status", "activity_type", "name", "start_datetime",
                "end_datetime", "updated_at"),
}
PRESETS = {  # kind -> ((key, label, factory), ...)
    "person": (("my-people", "My People (assigned to me or watched by me)", F.my_people),
               ("all", "All people", F.everything)),
    "task": (("open-activities", "My open tasks (assigned or watched, not complete)", F.open_activities),
             ("all", "All tasks", F.everything)),
    "meeting": (("open-activities", "My meetings (assigned or watched, not complete)", F.open_activities),
                ("all", "All meetings", F.everything)),
}
NOUN = {"person": ("person", "people"), "task": ("task", "tasks"), "meeting": ("meeting", "meetings")}
DESTINATION = {"person": "added to Outlook", "task": "kept in Outlook", "meeting": "kept in your calendar"}


def preview_text(kind: str, count: int) -> str:
    one, many = NOUN.get(kind, (kind, kind + "s"))
    return f"{count} {one if count == 1 else many} will be {DESTINATION.get(kind, 'synced')}"


class FilterEditor(QWidget):
    changed = Signal()
    count_changed = Signal(str, int)  # kind, count

    def __init__(self, kind: str, *, preview: Callable[[str, F.Filter], int] | None = None,
                 probes: ProbeRunner | None = None, debounce_ms: int = 400, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setObjectName(f"filterEditor_{kind}")
        self._preview = preview
        self._probes = probes or (ProbeRunner(self) if preview else None)
        if self._probes is not None:
            self._probes.finished.connect(self._probe_done)
            self._probes.failed.connect(self._probe_failed)
        self.count: int | None = None

        self.group = QButtonGroup(self)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.radios: dict[str, QRadioButton] = {}
        for key, label, _factory in PRESETS[kind]:
            radio = QRadioButton(label)
            radio.setObjectName(f"preset_{key}")
            self.group.addButton(radio)
            self.radios[key] = radio
            box.addWidget(radio)
        custom = QRadioButton("Only records matching these conditions:")
        custom.setObjectName("preset_custom")
        self.group.addButton(custom)
        self.radios["custom"] = custom
        box.addWidget(custom)

        self.table = QTableWidget(0, 3)
        self.table.setObjectName("conditions")
        self.table.setHorizontalHeaderLabels(["Workbooks field", "Operator", "Value"])
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(110)
        self.table.setMaximumHeight(170)
        box.addWidget(self.table)
        tip = QLabel("The value :my_queue: means your own queue. Dates are YYYY-MM-DD; “between” takes a,b.")
        tip.setStyleSheet("color: #6b7280;")
        tip.setWordWrap(True)
        box.addWidget(tip)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add condition")
        self.add_button.clicked.connect(lambda: self.add_condition(F.Condition(FIELDS[kind][0], "eq", "")))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        self.match = QComboBox()
        self.match.addItem("All conditions (AND)", "and")
        self.match.addItem("Any condition (OR)", "or")
        self.match.addItem("Expression…", "expr")
        self.expression = QLineEdit()
        self.expression.setPlaceholderText("(1 OR 2) AND 3")
        self.expression.setVisible(False)
        self.match.currentIndexChanged.connect(self._match_changed)
        self.expression.textChanged.connect(self._edited)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(QLabel("Match:"))
        row.addWidget(self.match)
        row.addWidget(self.expression)
        box.addLayout(row)
        self.preview_label = QLabel(" ")
        self.preview_label.setObjectName("previewCount")
        font = self.preview_label.font()
        font.setBold(True)
        self.preview_label.setFont(font)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b91c1c;")
        self.error_label.setWordWrap(True)
        box.addWidget(self.preview_label)
        box.addWidget(self.error_label)
        box.addStretch(1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self.refresh_preview)
        self.group.buttonToggled.connect(lambda _b, on: on and self._edited())
        self.set_filter(F.default_filter(Kind(kind)))

    # --- model <-> widgets ---------------------------------------------------------------------

    def set_filter(self, flt: F.Filter) -> None:
        self.blockSignals(True)
        self.table.setRowCount(0)
        for cond in flt.conditions:
            self.add_condition(cond)
        m = flt.match.strip().lower()
        self.match.setCurrentIndex({"and": 0, "or": 1}.get(m, 2))
        self.expression.setText("" if m in ("and", "or") else flt.match)
        key = flt.name if flt.name in self.radios else "custom"
        self.radios[key].setChecked(True)
        self.blockSignals(False)
        self._sync_enabled()
        self._edited()

    def add_condition(self, cond: F.Condition) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        field = QComboBox()
        field.setEditable(True)
        field.addItems(list(FIELDS[self.kind]))
        field.setCurrentText(cond.field)
        op = QComboBox()
        for key, label in OPERATOR_LABELS.items():
            op.addItem(label, key)
        op.setCurrentIndex(op.findData(cond.op))
        value = QLineEdit(cond.value)
        value.setEnabled(cond.op not in F.VALUELESS)
        field.currentTextChanged.connect(self._edited)
        op.currentIndexChanged.connect(lambda _i, o=op, v=value: v.setEnabled(o.currentData() not in F.VALUELESS))
        op.currentIndexChanged.connect(self._edited)
        value.textChanged.connect(self._edited)
        self.table.setCellWidget(r, 0, field)
        self.table.setCellWidget(r, 1, op)
        self.table.setCellWidget(r, 2, value)
        self._edited()

    def _remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()} or {self.table.rowCount() - 1}, reverse=True)
        for r in rows:
            if r >= 0:
                self.table.removeRow(r)
        self._edited()

    def preset(self) -> str:
        for key, radio in self.radios.items():
            if radio.isChecked():
                return key
        return "custom"

    def filter(self) -> F.Filter:
        """The edited filter; raises ConfigError when a condition or expression is invalid."""
        key = self.preset()
        for pkey, _label, factory in PRESETS[self.kind]:
            if pkey == key:
                return factory()
        conds = []
        for r in range(self.table.rowCount()):
            field = self.table.cellWidget(r, 0).currentText().strip()
            op = self.table.cellWidget(r, 1).currentData()
            value = self.table.cellWidget(r, 2).text().strip()
            conds.append(F.Condition(field, op, "" if op in F.VALUELESS else value))
        match = self.match.currentData()
        if match == "expr":
            match = self.expression.text().strip() or "and"
        flt = F.Filter(tuple(conds), match, "custom")
        flt.check()
        return flt

    def _match_changed(self) -> None:
        self.expression.setVisible(self.match.currentData() == "expr")
        self._edited()

    def _sync_enabled(self) -> None:
        custom = self.preset() == "custom"
        for w in (self.table, self.add_button, self.remove_button, self.match, self.expression):
            w.setEnabled(custom)
        for r in range(self.table.rowCount()):
            op, value = self.table.cellWidget(r, 1), self.table.cellWidget(r, 2)
            value.setEnabled(custom and op.currentData() not in F.VALUELESS)

    @Slot()
    def _edited(self, *_args) -> None:
        if self.signalsBlocked():
            return
        self._sync_enabled()
        try:
            self.filter()
            self.error_label.setText("")
        except AppError as exc:
            self.error_label.setText(exc.message)
            self.preview_label.setText(" ")
            self.changed.emit()
            return
        self.changed.emit()
        if self._preview is not None:
            self.preview_label.setText("Counting…")
            self._debounce.start()

    # --- preview -----------------------------------------------------------------------------

    def set_preview(self, preview: Callable[[str, F.Filter], int] | None) -> None:
        self._preview = preview
        if preview is not None and self._probes is None:
            self._probes = ProbeRunner(self)
            self._probes.finished.connect(self._probe_done)
            self._probes.failed.connect(self._probe_failed)
        self._edited()

    @Slot()
    def refresh_preview(self) -> None:
        if self._preview is None or self._probes is None:
            return
        try:
            flt = self.filter()
        except AppError:
            return
        preview, kind = self._preview, self.kind
        self._probes.submit(f"preview:{kind}", lambda: preview(kind, flt))

    @Slot(str, object)
    def _probe_done(self, name: str, value: object) -> None:
        if name != f"preview:{self.kind}":
            return
        self.count = int(value)  # type: ignore[arg-type]
        self.preview_label.setText(preview_text(self.kind, self.count))
        self.count_changed.emit(self.kind, self.count)

    @Slot(str, object)
    def _probe_failed(self, name: str, exc: object) -> None:
        if name != f"preview:{self.kind}":
            return
        self.preview_label.setText("Could not count: " + getattr(exc, "message", str(exc)))
