"""Support bundle preview (B24): the user reads every file before anything is saved."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)


class SupportBundleDialog(QDialog):
    def __init__(self, files: Mapping[str, str], save: Callable[[Mapping[str, str], Path], Path],
                 default_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.files, self._save, self.default_name = dict(files), save, default_name
        self.saved_to: Path | None = None
        self.setObjectName("supportBundleDialog")
        self.setWindowTitle("Support bundle — Workbooks connector")
        self.resize(760, 520)
        intro = QLabel("This is everything the bundle holds: versions, settings without addresses, counts, error "
                       "texts and recent log lines. No passwords, keys, email bodies or contact details. "
                       "Read it, then save it and attach it to your support request.")
        intro.setWordWrap(True)
        self.tabs = QTabWidget()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for name, text in self.files.items():
            view = QPlainTextEdit(text)
            view.setReadOnly(True)
            view.setFont(mono)
            view.setObjectName(f"bundle_{name}")
            self.tabs.addTab(view, name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.choose_and_save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    def choose_and_save(self) -> None:
        start = str(Path.home() / self.default_name)
        name, _ = QFileDialog.getSaveFileName(self, "Save the support bundle", start, "Zip archives (*.zip)")
        if name:
            self.save_to(Path(name))

    def save_to(self, dest: Path) -> bool:
        try:
            self.saved_to = self._save(self.files, dest)
        except OSError as exc:
            box = QMessageBox(QMessageBox.Icon.Warning, "Could not save the support bundle",
                              f"{dest}: {exc.strerror or exc}", QMessageBox.StandardButton.Ok, self)
            box.setObjectName("supportBundleError")
            box.open()
            return False
        self.accept()
        return True
