""""Undo last sync…" (product.md B9): the confirmation dialog behind the tray entry and the
no-tray status window's button (StatusModel.entries).

The dialog first asks the worker for a preview (an undo dry run: it reads what each side holds
now, writes nothing), lists what will be restored and what is skipped, and only on "Undo" asks
the worker to carry it out. Both run on the sync worker thread, like "Sync now"; the dialog only
reacts to `WorkerHandle.undo_finished`.
"""
from __future__ import annotations

from typing import Any

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget,
)

from app.sync.events import FatalIssue
from app.ui.models.status_model import UNDO_CHECKING

def _line(item: Any) -> str:
    return f"{item.label or item.link_id[:8]} ({item.kind}): {item.message}"


class UndoDialog(QDialog):
    """Preview, confirm, result. `handle` is a WorkerHandle (or anything with `undo(dry_run)` and
    an `undo_finished` signal)."""

    finished_undo = Signal(object)  # the UndoResult of the applied undo

    def __init__(self, handle: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.handle = handle
        self.setObjectName("undoDialog")
        self.setWindowTitle("Undo last sync")
        self.phase = "idle"  # idle | preview | ready | applying | done | failed
        self.preview: Any = None
        self.result: Any = None
        self.caption = QLabel(UNDO_CHECKING)
        self.caption.setObjectName("undoCaption")
        self.caption.setWordWrap(True)
        self.restore_label = QLabel("Will be restored:")
        self.restore_list = QListWidget()
        self.restore_list.setObjectName("undoRestore")
        self.skip_label = QLabel("Skipped (changed since that sync, or not possible to undo):")
        self.skip_list = QListWidget()
        self.skip_list.setObjectName("undoSkipped")
        self.buttons = QDialogButtonBox()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undoConfirm")
        self.undo_button.setEnabled(False)
        self.close_button = QPushButton("Cancel")
        self.close_button.setObjectName("undoClose")
        self.buttons.addButton(self.undo_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.undo_button.clicked.connect(self.confirm)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.caption, self.restore_label, self.restore_list, self.skip_label, self.skip_list,
                       self.buttons):
            layout.addWidget(widget)
        self.resize(560, 420)
        handle.undo_finished.connect(self.on_result)

    def start(self) -> None:
        """Ask for the preview (again, when reopened)."""
        if self.phase == "applying":
            return
        self.phase, self.preview, self.result = "preview", None, None
        self.caption.setText("Checking what the last sync changed and whether each item is still as it left it…")
        self.restore_list.clear()
        self.skip_list.clear()
        self.undo_button.setEnabled(False)
        self.undo_button.show()
        self.close_button.setText("Cancel")
        self.handle.undo(dry_run=True)

    def reload(self) -> None:  # ConnectorApp.open_window calls this when the dialog is reopened
        if self.phase not in ("preview", "applying"):
            self.start()

    @Slot()
    def confirm(self) -> None:
        if self.phase != "ready":
            return
        self.phase = "applying"
        self.undo_button.setEnabled(False)
        self.close_button.setEnabled(False)  # the undo runs to its end; closing now would hide its result
        self.caption.setText("Undoing the last sync…")
        self.handle.undo(dry_run=False)

    @Slot(object)
    def on_result(self, result: Any) -> None:
        if self.phase not in ("preview", "applying"):
            return  # not ours (another window asked), or already settled
        self.close_button.setEnabled(True)
        if isinstance(result, FatalIssue):
            self.phase = "failed"
            self.caption.setText(f"{result.title}: {result.message}")
            self.undo_button.hide()
            self.close_button.setText("Close")
            return
        self._show(result)
        if self.phase == "preview":
            self.preview = result
            self.phase = "ready" if result.restored else "done"
            self.undo_button.setEnabled(bool(result.restored))
            if not result.restored:
                self.undo_button.hide()
                self.close_button.setText("Close")
            return
        self.result, self.phase = result, "done"
        self.undo_button.hide()
        self.close_button.setText("Close")
        self.finished_undo.emit(result)

    def _show(self, result: Any) -> None:
        self.restore_list.clear()
        self.skip_list.clear()
        for item in result.restored:
            self.restore_list.addItem(_line(item))
        for item in result.skipped:
            self.skip_list.addItem(_line(item))
        if result.nothing:
            self.caption.setText(result.nothing)
            return
        when = f"{result.run_at:%d %b %Y %H:%M} UTC" if result.run_at else "the last sync"
        if result.dry_run:
            text = (f"The sync of {when} changed {len(result.restored) + len(result.skipped)} item(s). "
                    f"{len(result.restored)} can be put back as they were; {len(result.skipped)} will be left "
                    "as they are. Nothing is deleted for good: items the sync created go to Deleted Items "
                    "(Outlook) or are unshared (Workbooks People are kept).")
        else:
            text = f"Restored {len(result.restored)} item(s) changed by the sync of {when}."
            if result.skipped:
                text += f" {len(result.skipped)} item(s) were left as they are."
            if result.conflicts:
                text += (f" {result.conflicts} item(s) now differ between Outlook and Workbooks: they wait in "
                         "Conflicts for your choice.")
            if result.errors:
                text += " Some could not be restored: " + "; ".join(f"{e.item}: {e.message}" for e in result.errors)
        self.caption.setText(text)
        self.restore_label.setText("Will be restored:" if result.dry_run else "Restored:")
