"""Error dialogs written for people (design.md §3, §10 "Maestral"): one flow per FatalIssue kind,
and the report dialog that the excepthooks show. Dialogs are modeless: they never block sync."""
from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from app.sync.events import FatalIssue, FatalKind

log = logging.getLogger("workbooks_connector.ui")

# kind -> (button label, action key handled by the application)
FLOWS: dict[FatalKind, tuple[str, str]] = {
    FatalKind.AUTH: ("Sign in again…", "settings:accounts"),
    FatalKind.SIGN_IN_AGAIN: ("Sign in to Microsoft 365…", "graph_sign_in"),
    FatalKind.PREREQUISITE: ("Copy message for my administrator", "copy_admin_message"),
    FatalKind.LEASE: ("Move syncing to this computer", "take_over_lease"),
    FatalKind.JOURNAL: ("Rebuild the journal…", "rebuild_journal"),
    FatalKind.CONFIG: ("Open settings…", "settings"),
    FatalKind.UNEXPECTED: ("Copy details", "copy_details"),
}


def admin_message(missing: list[str] | tuple[str, ...]) -> str:
    lines = "\n".join(f"- {m}" for m in missing) or "- (Workbooks did not say which; please check all four)"
    return (
        "Hello,\n\nTo use the Workbooks connector I need the following enabled in Workbooks "
        "(Start › Configuration › Users & Security, and Licences & Modules):\n\n"
        f"{lines}\n\nThank you!"
    )


def fatal_dialog(fatal: FatalIssue, on_action: Callable[[str], None], parent: QWidget | None = None) -> QMessageBox:
    """A modeless message box for a cycle-ending problem, offering its flow's next step."""
    icon = QMessageBox.Icon.Warning if fatal.kind is not FatalKind.UNEXPECTED else QMessageBox.Icon.Critical
    box = QMessageBox(icon, fatal.title, fatal.title, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName(f"fatal_{fatal.kind.value}")
    box.setInformativeText(fatal.message)
    box.setWindowModality(Qt.WindowModality.NonModal)
    flow = FLOWS.get(fatal.kind)
    if flow is not None:
        label, key = flow
        button = box.addButton(label, QMessageBox.ButtonRole.AcceptRole)
        button.setObjectName(f"flow_{key}")
        button.clicked.connect(lambda: on_action(key))
    box.addButton(QMessageBox.StandardButton.Close)
    return box


def report_dialog(title: str, details: str, parent: QWidget | None = None) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Critical, "Workbooks connector", title, QMessageBox.StandardButton.Close, parent)
    box.setObjectName("report_dialog")
    box.setInformativeText("The connector hit a problem it did not expect. Syncing can carry on; the details "
                           "are in the log. Please send them to support if this keeps happening.")
    box.setDetailedText(details)
    copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(details))
    box.setWindowModality(Qt.WindowModality.NonModal)
    return box


class _CrashRelay(QObject):
    crashed = Signal(str, str)  # title, details: delivered on the GUI thread


class ExceptHooks(QObject):
    """sys.excepthook and threading.excepthook: log at CRITICAL, show the report dialog."""

    shown = Signal(object)  # the QMessageBox

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay = _CrashRelay()
        self._relay.crashed.connect(self._show)
        self._old = (sys.excepthook, threading.excepthook)
        self.dialogs: list[QMessageBox] = []

    def install(self) -> None:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._old

    def _sys_hook(self, exc_type, exc, tb) -> None:
        self._handle(exc_type, exc, tb)

    def _thread_hook(self, args) -> None:
        self._handle(args.exc_type, args.exc_value, args.exc_traceback)

    def _handle(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            return
        log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self._relay.crashed.emit(f"{exc_type.__name__}: {exc}", details)

    @Slot(str, str)
    def _show(self, title: str, details: str) -> None:
        box = report_dialog(title, details)
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [box]
        box.show()
        self.shown.emit(box)
