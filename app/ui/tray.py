"""The tray icon and its menu (design.md §9). The menu is rebuilt each time it opens, from the
StatusModel's cached values only, so it opens instantly even mid-run (R31)."""
from __future__ import annotations

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.sync.events import FatalKind
from app.ui import resources
from app.ui.models.status_model import StatusModel


def fill_menu(menu: QMenu, model: StatusModel, on_action) -> None:
    menu.clear()
    for index, entry in enumerate(model.entries()):
        if entry.key == "-":
            menu.addSeparator()
            continue
        action = QAction(entry.text, menu)
        action.setEnabled(entry.enabled)
        if entry.tip:
            action.setToolTip(entry.tip)
            action.setStatusTip(entry.tip)
            menu.setToolTipsVisible(True)
        if entry.key:
            action.setObjectName(f"action_{entry.key}")
            action.triggered.connect(lambda _checked=False, key=entry.key: on_action(key))
        else:  # the status lines
            font = action.font()
            font.setBold(index == 0)
            action.setFont(font)
        menu.addAction(action)


class TrayController(QObject):
    action = Signal(str)  # an entry key of StatusModel.entries()

    def __init__(self, model: StatusModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon = QSystemTrayIcon(resources.tray_icon("idle"), self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.state = ""
        model.changed.connect(self.refresh)
        self.rebuild_menu()
        self.refresh()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    @Slot()
    def rebuild_menu(self) -> None:
        fill_menu(self.menu, self.model, self._trigger)
        self._offer_sign_in()

    def _offer_sign_in(self) -> None:
        """While the Microsoft 365 sign-in needs renewing, the menu leads with the way to do it."""
        fatal = self.model.worker.fatal
        if fatal is None or fatal.kind is not FatalKind.SIGN_IN_AGAIN:
            return
        action = QAction("Sign in to Microsoft 365 again…", self.menu)
        action.setObjectName("action_graph_sign_in")
        action.triggered.connect(lambda _checked=False: self._trigger("graph_sign_in"))
        first = self.menu.actions()[0] if self.menu.actions() else None
        self.menu.insertAction(first, action)

    def _trigger(self, key: str) -> None:
        self.action.emit(key)

    def find_action(self, key: str) -> QAction | None:
        for action in self.menu.actions():
            if action.objectName() == f"action_{key}":
                return action
        return None

    @Slot()
    def refresh(self) -> None:
        state = self.model.tray_state()
        if state != self.state:
            self.state = state
            self.icon.setIcon(resources.tray_icon(state))
        self.icon.setToolTip(self.model.tooltip())
        if self.menu.isVisible():
            self.rebuild_menu()

    @Slot(QSystemTrayIcon.ActivationReason)
    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.action.emit("status")

    def notify(self, title: str, message: str, level: str = "info", target: str = "") -> None:
        """A desktop notification; a click on it is routed by Notifier.clicked (messageClicked)."""
        icon = {"warning": QSystemTrayIcon.MessageIcon.Warning, "error": QSystemTrayIcon.MessageIcon.Critical}.get(
            level, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(title, message, icon, 10_000)
