"""Page 2: connect the mailbox, either Exchange Online (Microsoft 365, over Microsoft Graph with the
device-code sign-in) or Exchange Server (EWS); test the connection in the background, and show any
other computer holding the mailbox lease (B20) and the Mail Sync question (B4)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from app.ui import text
from app.ui.ports import MailboxCheck, MailboxCredentials
from app.ui.wizard.common import BusyLine, error_text
from app.ui.wizard.device_sign_in import DeviceSignInPanel

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


class MailboxPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("mailboxPage")
        self.setTitle("Connect your mailbox")
        self.setSubTitle("Your Exchange mailbox is reached directly; no mail client needs to be open.")
        self.online = QRadioButton("Exchange Online (Microsoft 365)")
        self.online.setObjectName("backendGraph")
        self.online.setToolTip("Mailboxes hosted by Microsoft. Reached over Microsoft Graph; you sign in with a "
                               "code in your web browser.")
        self.server = QRadioButton("Exchange Server (EWS)")
        self.server.setObjectName("backendEws")
        self.server.setToolTip("Your company's own Exchange server, reached over Exchange Web Services.")
        self.backend_group = QButtonGroup(self)
        self.backend_group.addButton(self.online)
        self.backend_group.addButton(self.server)
        self.online.setChecked(True)
        self.client_id = QLineEdit()
        self.client_id.setObjectName("graphClientId")
        self.client_id.setPlaceholderText("00000000-0000-0000-0000-000000000000")
        self.client_id.setToolTip("The application (client) id of your organisation's app registration for the "
                                  "connector (a public client with the device-code flow allowed).")
        self.tenant = QLineEdit()
        self.tenant.setObjectName("graphTenant")
        self.tenant.setPlaceholderText("contoso.onmicrosoft.com (or leave empty)")
        self.authority_host = QLineEdit()
        self.authority_host.setObjectName("graphAuthorityHost")
        self.authority_host.setPlaceholderText("https://login.microsoftonline.com")
        self.graph_url = QLineEdit()
        self.graph_url.setObjectName("graphUrl")
        self.graph_url.setPlaceholderText("https://graph.microsoft.com/v1.0")
        self.ca_bundle = QLineEdit()
        self.ca_bundle.setObjectName("mailboxCaBundle")
        self.ca_bundle.setPlaceholderText("only for a company or test certificate authority (PEM file)")
        self.sign_in = DeviceSignInPanel(wizard.probes)
        self.sign_in.signed_in.connect(self._signed_in)
        self.sign_in.failed.connect(lambda _m: self.test_button.setEnabled(True))
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
        choice = QHBoxLayout()
        choice.addWidget(self.online)
        choice.addWidget(self.server)
        choice.addStretch(1)
        form = QFormLayout()
        form.addRow("Mailbox:", self.address)
        self.ews_form = QWidget()
        ews = QFormLayout(self.ews_form)
        ews.setContentsMargins(0, 0, 0, 0)
        ews.addRow("EWS address:", self.ews_url)
        ews.addRow("User name:", self.username)
        ews.addRow("Password:", self.password)
        ews.addRow("Sign-in method:", self.auth)
        self.graph_form = QWidget()
        graph = QFormLayout(self.graph_form)
        graph.setContentsMargins(0, 0, 0, 0)
        graph.addRow("Application (client) id:", self.client_id)
        graph.addRow("Tenant:", self.tenant)
        graph.addRow("Sign-in service:", self.authority_host)
        graph.addRow("Microsoft Graph address:", self.graph_url)
        graph.addRow("CA bundle:", self.ca_bundle)
        button_row = QHBoxLayout()
        button_row.addWidget(self.test_button)
        button_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(choice)
        layout.addLayout(form)
        layout.addWidget(self.ews_form)
        layout.addWidget(self.graph_form)
        layout.addLayout(button_row)
        layout.addWidget(self.sign_in)
        layout.addWidget(self.status)
        layout.addWidget(self.lease)
        layout.addWidget(self.take_over)
        layout.addWidget(self.mail_sync)
        layout.addWidget(self.mail_sync_warning)
        layout.addStretch(1)
        for edit in (self.ews_url, self.address, self.username, self.password, self.client_id, self.tenant,
                     self.authority_host, self.graph_url, self.ca_bundle):
            edit.textEdited.connect(self._reset)
        self.auth.currentIndexChanged.connect(self._reset)
        self.online.toggled.connect(self._backend_changed)
        self._backend_changed()
        self.result: MailboxCheck | None = None
        wizard.probes.finished.connect(self._done)
        wizard.probes.failed.connect(self._failed)

    def backend(self) -> str:
        return "graph" if self.online.isChecked() else "ews"

    def credentials(self, tokens: object = None) -> MailboxCredentials:
        if self.backend() == "graph":
            return MailboxCredentials("", self.address.text().strip(), "", "", backend="graph",
                                      client_id=self.client_id.text().strip(), tenant=self.tenant.text().strip(),
                                      authority_host=self.authority_host.text().strip(),
                                      graph_url=self.graph_url.text().strip(), ca_bundle=self.ca_bundle.text().strip(),
                                      tokens=tokens)
        return MailboxCredentials(self.ews_url.text().strip(), self.address.text().strip(),
                                  self.username.text().strip() or self.address.text().strip(),
                                  self.password.text(), self.auth.currentData())

    @Slot()
    def _backend_changed(self, *_a) -> None:
        graph = self.backend() == "graph"
        self.graph_form.setVisible(graph)
        self.ews_form.setVisible(not graph)
        self.test_button.setText("Sign in with Microsoft 365…" if graph else "Test connection")
        self.address.setPlaceholderText("you@company.com (the Microsoft 365 mailbox)" if graph else "you@company.com")
        self._reset()

    @Slot()
    def _reset(self, *_a) -> None:
        self.sign_in.reset()  # a new address or app id needs a new sign-in
        self.test_button.setEnabled(True)
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
        if creds.backend == "graph":
            if not (creds.address and creds.client_id):
                self.status.problem("Fill in the mailbox and the application (client) id first.")
                return
            backend = self.w.backend
            self.test_button.setEnabled(False)
            self.status.clear()
            self.sign_in.start(lambda: backend.graph_sign_in(creds))
            return
        if not (creds.ews_url and creds.address and creds.password):
            self.status.problem("Fill in the EWS address, mailbox and password first.")
            return
        backend = self.w.backend
        self.test_button.setEnabled(False)
        self.status.busy("Connecting to the mailbox…")
        self.w.probes.submit("mailbox", lambda: backend.test_mailbox(creds))

    @Slot(object, str)
    def _signed_in(self, session: object, _address: str) -> None:
        """Signed in: the same connection and lease checks as EWS, with this sign-in."""
        creds = self.credentials(tokens=session)
        backend = self.w.backend
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
        self.w.mailbox = self.credentials(tokens=self.sign_in.session if self.backend() == "graph" else None)
        self.completeChanged.emit()

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name == "mailbox":
            self.test_button.setEnabled(True)
            self.status.problem(error_text(exc))
