"""The small window that stands in for the tray where no system tray exists (interfaces.md §1):
the same entries as the tray menu, as buttons, plus a banner for notifications."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import resources
from app.ui.models.status_model import StatusModel


class StatusWindow(QWidget):
    action = Signal(str)

    def __init__(self, model: StatusModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName("statusWindow")
        self.setWindowTitle("Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.setMinimumWidth(380)

        self.state_icon = QLabel()
        self.status = QLabel()
        self.status.setObjectName("statusLine")
        font = self.status.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.status.setFont(font)
        self.schedule = QLabel()
        self.schedule.setObjectName("scheduleLine")
        self.schedule.setStyleSheet("color: #6b7280;")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(6)
        head = QHBoxLayout()
        head.addWidget(self.state_icon, 0, Qt.AlignmentFlag.AlignTop)
        text_box = QVBoxLayout()
        text_box.setSpacing(2)
        text_box.addWidget(self.status)
        text_box.addWidget(self.schedule)
        text_box.addStretch(1)
        head.addLayout(text_box, 1)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.setStyleSheet("QLabel#banner { background: #fff7ed; border: 1px solid #fdba74; "
                                  "border-radius: 6px; padding: 8px; color: #7c2d12; }")
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.linkActivated.connect(self._banner_link)
        self.banner.hide()

        self.buttons: dict[str, QPushButton] = {}
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(8)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        layout.addWidget(self.banner)
        layout.addLayout(self.grid)
        model.changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        m = self.model
        self.state_icon.setPixmap(resources.tray_icon(m.tray_state()).pixmap(40, 40))
        self.status.setText(m.status_line())
        self.schedule.setText(m.schedule_line())
        p = m.progress
        self.bar.setVisible(m.syncing)
        if p is not None and p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self._rebuild_buttons()

    def _rebuild_buttons(self) -> None:
        entries = [e for e in self.model.entries() if e.key and e.key != "-"]
        keys = [e.key for e in entries]
        if keys != list(self.buttons):
            for button in self.buttons.values():
                self.grid.removeWidget(button)
                button.deleteLater()
            self.buttons = {}
            for i, entry in enumerate(entries):
                button = QPushButton()
                button.setObjectName(f"button_{entry.key}")
                button.clicked.connect(lambda _c=False, key=entry.key: self.action.emit(key))
                self.grid.addWidget(button, i // 2, i % 2)
                self.buttons[entry.key] = button
        for entry in entries:
            button = self.buttons[entry.key]
            button.setText(entry.text)
            button.setEnabled(entry.enabled)
        if "sync_now" in self.buttons:
            self.buttons["sync_now"].setDefault(True)

    def notify(self, title: str, message: str, level: str = "info", target: str = "") -> None:
        """Without a tray there are no desktop notifications: show a banner with the same
        next steps as links (for held deletions: review, or allow once)."""
        links = []
        if target == "holds":
            links = ['<a href="holds">Review…</a>', '<a href="allow_once">Allow once</a>']
        elif target:
            links = [f'<a href="{target}">Open…</a>']
        self.banner.setText(f"<b>{title}</b><br>{message}" + ("<br>" + " &nbsp; ".join(links) if links else ""))
        self.banner.show()

    @Slot(str)
    def _banner_link(self, key: str) -> None:
        self.banner.hide()
        self.action.emit(key)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        # Closing hides the window; the program keeps syncing (Quit ends it). A second launch
        # brings the window back.
        self.hide()
        event.ignore()
