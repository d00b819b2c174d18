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
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import resources
from app.ui.models.status_model import StatusModel

# Buttons that take a whole row: the one thing to do before set-up, and the usual action after.
WIDE = frozenset({"setup", "sync_now"})
MIN_WIDTH = 400


class StatusWindow(QWidget):
    """Header (state icon, status line, linked counts, last/next sync), an optional progress bar
    and banner, then exactly one set of buttons for the current state: the set-up actions before
    the wizard has been confirmed, the tray menu's actions afterwards. The window is sized to its
    contents (fixed size), so switching states leaves neither overlapping buttons nor gaps."""

    action = Signal(str)

    def __init__(self, model: StatusModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName("statusWindow")
        self.setWindowTitle("Workbooks connector")
        self.setWindowIcon(resources.app_icon())

        self.state_icon = QLabel()
        self.state_icon.setFixedSize(40, 40)
        self.status = QLabel()
        self.status.setObjectName("statusLine")
        font = self.status.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.status.setFont(font)
        self.linked = QLabel()
        self.linked.setObjectName("linkedLine")
        self.schedule = QLabel()
        self.schedule.setObjectName("scheduleLine")
        self.schedule.setStyleSheet("color: #6b7280;")
        self.hint = QLabel("Connect your Workbooks database and your mailbox to start syncing. "
                           "Nothing is changed until you confirm the last step.")
        self.hint.setObjectName("setupHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #6b7280;")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(6)
        head = QHBoxLayout()
        head.setSpacing(12)
        head.addWidget(self.state_icon, 0, Qt.AlignmentFlag.AlignTop)
        text_box = QVBoxLayout()
        text_box.setSpacing(2)
        text_box.addWidget(self.status)
        text_box.addWidget(self.linked)
        text_box.addWidget(self.schedule)
        text_box.addWidget(self.hint)
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
        self.actions_box = QWidget()  # replaced as a whole whenever the set of actions changes
        self.actions_box.setObjectName("statusActions")
        self.actions_box.setMinimumWidth(MIN_WIDTH)

        self.main_layout = QVBoxLayout(self)
        self.main_layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)
        self.main_layout.addLayout(head)
        self.main_layout.addWidget(self.bar)
        self.main_layout.addWidget(self.banner)
        self.main_layout.addSpacing(4)
        self.main_layout.addWidget(self.actions_box)
        model.changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        m = self.model
        self.state_icon.setPixmap(resources.tray_icon(m.tray_state()).pixmap(40, 40))
        self.status.setText(m.status_line())
        for label, value in ((self.linked, m.linked_line()), (self.schedule, m.schedule_line())):
            label.setText(value)
            label.setVisible(bool(value))
        self.hint.setVisible(m.setup_needed)
        p = m.progress
        self.bar.setVisible(m.syncing and not m.setup_needed)
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
            self._replace_actions(entries)
        for entry in entries:
            button = self.buttons[entry.key]
            button.setText(entry.text)
            button.setEnabled(entry.enabled)
            button.setToolTip(entry.tip)

    def _replace_actions(self, entries: list) -> None:
        """Build a fresh button panel and swap it in; the old one is hidden at once (not just
        scheduled for deletion), so two panels are never laid out or painted together."""
        box = QWidget()
        box.setObjectName("statusActions")
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        box.setMinimumWidth(MIN_WIDTH)  # the window is sized to its contents: keep it this wide
        grid.setHorizontalSpacing(8)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        buttons: dict[str, QPushButton] = {}
        row = col = 0
        for entry in entries:
            button = QPushButton(entry.text)
            button.setObjectName(f"button_{entry.key}")
            button.clicked.connect(lambda _c=False, key=entry.key: self.action.emit(key))
            wide = entry.key in WIDE
            if wide and col:
                row, col = row + 1, 0
            grid.addWidget(button, row, col, 1, 2 if wide else 1)
            if wide or col:
                row, col = row + 1, 0
            else:
                col = 1
            buttons[entry.key] = button
        primary = next((k for k in ("setup", "sync_now") if k in buttons), None)
        if primary is not None:
            buttons[primary].setDefault(True)
            buttons[primary].setAutoDefault(True)
        old = self.actions_box
        self.main_layout.replaceWidget(old, box)
        old.hide()
        old.setParent(None)
        old.deleteLater()
        box.show()  # a child added to a shown window stays hidden until told otherwise
        self.actions_box = box
        self.buttons = buttons

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
