"""Small widgets shared by the wizard pages."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


class BusyLine(QWidget):
    """"Checking…" with a small indeterminate bar, or a result line (ok / problem)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumWidth(90)
        self.bar.setMaximumHeight(10)
        self.bar.setTextVisible(False)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 4, 0, 4)
        row.addWidget(self.bar)
        row.addWidget(self.label, 1)
        self.clear()

    def busy(self, message: str) -> None:
        self.bar.show()
        self.label.setStyleSheet("")
        self.label.setText(message)

    def ok(self, message: str) -> None:
        self.bar.hide()
        self.label.setStyleSheet("color: #15803d;")
        self.label.setText("✔ " + message)

    def problem(self, message: str) -> None:
        self.bar.hide()
        self.label.setStyleSheet("color: #b91c1c;")
        self.label.setText(message)

    def clear(self) -> None:
        self.bar.hide()
        self.label.setText("")


def error_text(exc: object) -> str:
    title = getattr(exc, "title", "")
    message = getattr(exc, "message", None) or str(exc)
    return f"{title}: {message}" if title else message
