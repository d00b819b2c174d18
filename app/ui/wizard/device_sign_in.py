"""The Microsoft 365 device-code sign-in as a widget: shows the code and the page to enter it on
(open the browser, copy the code), waits on a probe thread, can be cancelled, and says plainly when
the code was not entered in time. Used by the wizard's mailbox page and by the tray's "Sign in to
Microsoft 365 again" dialog."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.errors import SignInTimedOut
from app.runner.probes import ProbeRunner
from app.ui.ports import DeviceSignIn
from app.ui.wizard.common import BusyLine, error_text

START, WAIT = "graph_sign_in:start", "graph_sign_in:wait"
DEFAULT_TIMEOUT = 600.0  # as configure's --graph-sign-in-timeout


class DeviceSignInPanel(QWidget):
    """`start(make_session)`; then `signed_in(session, address)` or `failed(message)`."""

    signed_in = Signal(object, str)
    failed = Signal(str)

    def __init__(self, probes: ProbeRunner, *, timeout: float = DEFAULT_TIMEOUT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deviceSignIn")
        self.probes = probes
        self.timeout = timeout
        self.session: DeviceSignIn | None = None
        self.flow: Any = None
        self._cancel = threading.Event()
        self.instructions = QLabel()
        self.instructions.setWordWrap(True)
        self.instructions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code = QLabel()
        self.code.setObjectName("deviceCode")
        font = QFont(self.code.font())
        font.setPointSize(font.pointSize() + 6)
        font.setBold(True)
        font.setFamily("monospace")
        self.code.setFont(font)
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open the sign-in page")
        self.open_button.setObjectName("openSignInPage")
        self.open_button.clicked.connect(self.open_page)
        self.copy_button = QPushButton("Copy code")
        self.copy_button.setObjectName("copySignInCode")
        self.copy_button.clicked.connect(self.copy_code)
        self.cancel_button = QPushButton("Cancel sign-in")
        self.cancel_button.setObjectName("cancelSignIn")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = BusyLine()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.code)
        row.addWidget(self.copy_button)
        row.addWidget(self.open_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        self.code_row = QWidget()
        self.code_row.setLayout(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.instructions)
        layout.addWidget(self.code_row)
        layout.addWidget(self.status)
        self._show_code(False)
        probes.finished.connect(self._done)
        probes.failed.connect(self._failed)

    # --- state ---------------------------------------------------------------------------------

    def is_waiting(self) -> bool:
        return self.probes.is_busy(START) or self.probes.is_busy(WAIT)

    def _show_code(self, on: bool) -> None:
        self.code_row.setVisible(on)
        self.instructions.setVisible(on)

    def reset(self) -> None:
        self.cancel(quiet=True)
        self.session, self.flow = None, None
        self._show_code(False)
        self.status.clear()

    # --- actions -------------------------------------------------------------------------------

    def start(self, make_session: Callable[[], DeviceSignIn]) -> None:
        """Build the sign-in and ask Microsoft 365 for a code, off the GUI thread."""
        self.cancel(quiet=True)
        self._cancel = threading.Event()
        self.session, self.flow = None, None
        self._show_code(False)
        self.status.busy("Contacting Microsoft 365…")

        def begin() -> tuple[DeviceSignIn, Any]:
            session = make_session()
            return session, session.start_device_flow()

        self.probes.submit(START, begin)

    @Slot()
    def cancel(self, quiet: bool = False) -> None:
        """Stop waiting: the poll loop sees the flag at its next interval; its late answer is dropped."""
        self._cancel.set()
        waiting = self.is_waiting()
        self.probes.forget(START)
        self.probes.forget(WAIT)
        self.cancel_button.setEnabled(False)
        if waiting and not quiet:
            self._show_code(False)
            self.status.problem("Sign-in cancelled. Start it again when you are ready.")
            self.failed.emit("cancelled")

    @Slot()
    def open_page(self) -> bool:
        if self.flow is None:
            return False
        if not QDesktopServices.openUrl(QUrl(self.flow.verification_uri)):
            QGuiApplication.clipboard().setText(self.flow.verification_uri)
            self.status.problem(f"No web browser could be started; the address is on the clipboard: "
                                f"{self.flow.verification_uri}")
            return False
        return True

    @Slot()
    def copy_code(self) -> None:
        if self.flow is not None:
            QGuiApplication.clipboard().setText(self.flow.user_code)

    # --- probe results -------------------------------------------------------------------------

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name == START:
            self.session, self.flow = value  # type: ignore[misc]
            minutes = max(1, int(min(self.timeout, max(0.0, self.flow.expires_at - time.time())) // 60))
            self.instructions.setText(
                f"Open <b>{self.flow.verification_uri}</b> in a web browser, enter the code below and sign in as "
                f"the mailbox owner. The code works for {minutes} minute{'s' if minutes != 1 else ''}.")
            self.code.setText(self.flow.user_code)
            self.cancel_button.setEnabled(True)
            self._show_code(True)
            self.status.busy("Waiting for you to sign in…")
            session, flow, cancelled = self.session, self.flow, self._cancel.is_set
            self.probes.submit(WAIT, lambda: session.finish_device_flow(flow, timeout=self.timeout,
                                                                        cancelled=cancelled))
        elif name == WAIT:
            self._show_code(False)
            self.cancel_button.setEnabled(False)
            address = str(value or "")
            self.status.ok(f"Signed in{' as ' + address if address else ''}.")
            self.signed_in.emit(self.session, address)

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name not in (START, WAIT):
            return
        self._show_code(False)
        self.cancel_button.setEnabled(False)
        if isinstance(exc, SignInTimedOut):
            minutes = max(1, round(self.timeout / 60))
            message = (f"The code was not entered within {minutes} minute{'s' if minutes != 1 else ''}. "
                       "Sign in again to get a new code.")
        else:
            message = error_text(exc)
        self.status.problem(message)
        self.failed.emit(message)


class SignInAgainDialog(QDialog):
    """The tray's re-consent flow: a device-code sign-in that goes straight to the keyring."""

    signed_in = Signal(str)

    def __init__(self, make_session: Callable[[], DeviceSignIn], address: str, *, timeout: float = DEFAULT_TIMEOUT,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signInAgainDialog")
        self.setWindowTitle("Sign in to Microsoft 365 again")
        self.make_session = make_session
        self.probes = ProbeRunner(self)
        intro = QLabel(f"The saved Microsoft 365 sign-in for <b>{address}</b> has expired or was revoked, so syncing "
                       "has stopped. Sign in again as the mailbox owner; syncing resumes straight after.")
        intro.setWordWrap(True)
        self.panel = DeviceSignInPanel(self.probes, timeout=timeout)
        self.panel.signed_in.connect(self._signed_in)
        self.again_button = QPushButton("Get a new code")
        self.again_button.setObjectName("signInAgainStart")
        self.again_button.clicked.connect(self.start)
        self.panel.failed.connect(lambda _m: self.again_button.setEnabled(True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.panel)
        row = QHBoxLayout()
        row.addWidget(self.again_button)
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)
        self.resize(560, 260)

    @Slot()
    def start(self) -> None:
        self.again_button.setEnabled(False)
        self.panel.start(self.make_session)

    @Slot(object, str)
    def _signed_in(self, _session: object, address: str) -> None:
        self.panel.status.ok(f"Signed in{' as ' + address if address else ''}. Syncing again…")
        self.signed_in.emit(address)
        self.accept()

    def done(self, r: int) -> None:  # noqa: D401 - Qt override
        self.panel.cancel(quiet=True)
        super().done(r)
