"""Page 2: connect the mailbox over EWS, test the connection in the background, and show any
other computer holding the mailbox lease (B20) and the Mail Sync question (B4)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from app.ui import text
from app.ui.ports import MailboxCheck, MailboxCredentials
from app.ui.wizard.common import BusyLine, error_text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


class MailboxPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("mailboxPage")
        self.setTitle("Connect your mailbox")
        self.setSubTitle("Your Exchange mailbox is reached directly; no mail client needs to be open.")
        self.ews_url = QLineEdit()
        self.ews_url.setObjectName("ewsUrl")
        self.ews_url.setPlaceholderText("https://mail.company.com/EWS/Exchange.asmx")
        self.address = QLineEdit()
        self.address.setObjectName("mailboxAddress")
        self.address.setPlaceholderText("you@company.com")
        self.username = QLineEdit()
        self.username.setObjectName("mailboxUsername")
        self.username.setPlaceholderText("DOMAIN\\you or you@company.com")
        self.password = QLineEdit()
        self.password.setObjectName("mailboxPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.auth = QComboBox()
        self.auth.addItem("NTLM (Windows sign-in)", "ntlm")
        self.auth.addItem("Basic", "basic")
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("testMailbox")
        self.test_button.clicked.connect(self.test)
        self.status = BusyLine()
        self.lease = QLabel()
        self.lease.setObjectName("leaseHolder")
        self.lease.setWordWrap(True)
        self.lease.hide()
        self.take_over = QCheckBox("Move syncing to this computer")
        self.take_over.setObjectName("takeOver")
        self.take_over.hide()
        self.take_over.toggled.connect(lambda _on: self.completeChanged.emit())
        self.mail_sync = QCheckBox("Workbooks Mail Sync (server side) also serves this mailbox")
        self.mail_sync.setToolTip("Running both makes duplicate emails and contacts. Ask your administrator to turn "
                                  "Mail Sync off for this mailbox.")
        self.mail_sync_warning = QLabel("Running both makes duplicates. Ask your administrator to switch Mail Sync "
                                        "off for this mailbox before the first sync.")
        self.mail_sync_warning.setWordWrap(True)
        self.mail_sync_warning.setStyleSheet("color: #b45309;")
        self.mail_sync_warning.hide()
        self.mail_sync.toggled.connect(self.mail_sync_warning.setVisible)
        form = QFormLayout()
        form.addRow("EWS address:", self.ews_url)
        form.addRow("Mailbox:", self.address)
        form.addRow("User name:", self.username)
        form.addRow("Password:", self.password)
        form.addRow("Sign-in method:", self.auth)
        button_row = QHBoxLayout()
        button_row.addWidget(self.test_button)
        button_row.addStretch(1)
        form.addRow("", button_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.lease)
        layout.addWidget(self.take_over)
        layout.addWidget(self.mail_sync)
        layout.addWidget(self.mail_sync_warning)
        layout.addStretch(1)
        for edit in (self.ews_url, self.address, self.username, self.password):
            edit.textEdited.connect(self._reset)
        self.auth.currentIndexChanged.connect(self._reset)
        self.result: MailboxCheck | None = None
        wizard.probes.finished.connect(self._done)
        wizard.probes.failed.connect(self._failed)

    def credentials(self) -> MailboxCredentials:
        return MailboxCredentials(self.ews_url.text().strip(), self.address.text().strip(),
                                  self.username.text().strip() or self.address.text().strip(),
                                  self.password.text(), self.auth.currentData())

    @Slot()
    def _reset(self, *_a) -> None:
        self.result = None
        self.status.clear()
        self.lease.hide()
        self.take_over.hide()
        self.take_over.setChecked(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        if self.result is None:
            return False
        return not self.result.lease_holder or self.take_over.isChecked()

    @Slot()
    def test(self) -> None:
        creds = self.credentials()
        if not (creds.ews_url and creds.address and creds.password):
            self.status.problem("Fill in the EWS address, mailbox and password first.")
            return
        backend = self.w.backend
        self.test_button.setEnabled(False)
        self.status.busy("Connecting to the mailbox…")
        self.w.probes.submit("mailbox", lambda: backend.test_mailbox(creds))

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name != "mailbox":
            return
        self.test_button.setEnabled(True)
        self.result = value  # type: ignore[assignment]
        check = self.result
        assert check is not None
        server = f" ({check.server})" if check.server else ""
        self.status.ok(f"Connected to {check.address}{server}.")
        if check.lease_holder:
            since = f", last seen {text.when(check.lease_since)}" if check.lease_since else ""
            self.lease.setText(f"<b>{check.lease_holder}</b> is syncing this mailbox{since}. Only one computer syncs "
                               "a mailbox; moving it here makes the other one stop at its next run.")
            self.lease.show()
            self.take_over.show()
        self.w.mailbox = self.credentials()
        self.completeChanged.emit()

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name == "mailbox":
            self.test_button.setEnabled(True)
            self.status.problem(error_text(exc))
