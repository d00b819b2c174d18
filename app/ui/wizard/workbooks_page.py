"""Page 1: sign in to Workbooks (API key, or user name and password with a database choice),
then the prerequisite check (R36) in the background."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from app.errors import PrerequisiteError
from app.ui.ports import WorkbooksCredentials, WorkbooksSignIn
from app.ui.wizard.common import BusyLine, error_text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


class WorkbooksPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("workbooksPage")
        self.setTitle("Sign in to Workbooks")
        self.setSubTitle("The connector uses your own Workbooks login. An API key is the safest choice; it is kept "
                         "in your computer's keychain.")
        self.url = QLineEdit("https://secure.workbooks.com")
        self.url.setObjectName("workbooksUrl")
        self.by_key = QRadioButton("API key")
        self.by_password = QRadioButton("User name and password")
        self.by_key.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_key)
        group.addButton(self.by_password)
        self.api_key = QLineEdit()
        self.api_key.setObjectName("apiKey")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("from Start › Preferences › API keys")
        self.username = QLineEdit()
        self.username.setObjectName("workbooksUsername")
        self.username.setPlaceholderText("you@company.com")
        self.password = QLineEdit()
        self.password.setObjectName("workbooksPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.database = QComboBox()
        self.database.setObjectName("database")
        self.database.setEnabled(False)
        self.database.setPlaceholderText("sign in to list your databases")

        self.by_password.toggled.connect(self._switch_method)
        self.by_password.toggled.connect(self._reset)
        for edit in (self.url, self.api_key, self.username, self.password):
            edit.textEdited.connect(self._reset)
        self.database.currentIndexChanged.connect(self._database_chosen)

        self.sign_in_button = QPushButton("Sign in and check")
        self.sign_in_button.setObjectName("signIn")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.status = BusyLine()

        self.form = form = QFormLayout()
        form.addRow("Workbooks address:", self.url)
        form.addRow("Sign in with:", self.by_key)
        form.addRow("", self.by_password)
        form.addRow("API key:", self.api_key)
        form.addRow("User name:", self.username)
        form.addRow("Password:", self.password)
        form.addRow("Database:", self.database)
        button_row = QHBoxLayout()
        button_row.addWidget(self.sign_in_button)
        button_row.addStretch(1)
        form.addRow("", button_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self._switch_method(False)

        self.signed_in: WorkbooksSignIn | None = None
        self.checked = False
        wizard.probes.finished.connect(self._done)
        wizard.probes.failed.connect(self._failed)

    @Slot(bool)
    def _switch_method(self, by_password: bool) -> None:
        self.form.setRowVisible(self.api_key, not by_password)
        for widget in (self.username, self.password, self.database):
            self.form.setRowVisible(widget, by_password)

    # --- state -----------------------------------------------------------------------------------

    def credentials(self) -> WorkbooksCredentials:
        if self.by_key.isChecked():
            return WorkbooksCredentials(self.url.text().strip(), "api_key", api_key=self.api_key.text().strip())
        return WorkbooksCredentials(self.url.text().strip(), "password", username=self.username.text().strip(),
                                    password=self.password.text(), database_id=self.database.currentData() or "")

    @Slot()
    def _reset(self, *_args) -> None:
        self.signed_in, self.checked = None, False
        self.w.missing = []
        if self.sender() is not self.database:
            self.database.clear()
            self.database.setEnabled(False)
        self.status.clear()
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self.checked

    def nextId(self) -> int:  # noqa: N802
        from app.ui.wizard.wizard import PageId

        return PageId.GAP if self.w.missing else PageId.MAILBOX

    # --- background checks -------------------------------------------------------------------

    @Slot()
    def sign_in(self) -> None:
        creds = self.credentials()
        if not creds.url or (creds.auth == "api_key" and not creds.api_key) or (
                creds.auth == "password" and not (creds.username and creds.password)):
            self.status.problem("Fill in the address and your sign-in details first.")
            return
        if creds.auth == "password" and self.signed_in is not None and self.database.count() and creds.database_id:
            self._check_prerequisites()
            return
        self.status.busy("Signing in…")
        self.sign_in_button.setEnabled(False)
        backend = self.w.backend
        self.w.probes.submit("wb_sign_in", lambda: backend.sign_in_workbooks(creds))

    def _check_prerequisites(self) -> None:
        creds = self.credentials()
        self.status.busy("Checking licence, connector extension and permissions…")
        self.sign_in_button.setEnabled(False)
        backend = self.w.backend
        self.w.probes.submit("wb_prereq", lambda: tuple(backend.check_prerequisites(creds)))

    @Slot(int)
    def _database_chosen(self, _index: int) -> None:
        if self.signed_in is not None and self.database.currentData():
            self.checked = False
            self.completeChanged.emit()
            self._check_prerequisites()

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name == "wb_sign_in":
            self.signed_in = value  # type: ignore[assignment]
            self.w.signed_in = self.signed_in
            if self.by_password.isChecked() and self.signed_in.databases:
                self.database.blockSignals(True)
                self.database.clear()
                for db in self.signed_in.databases:
                    self.database.addItem(db.name, db.id)
                self.database.setEnabled(True)
                self.database.blockSignals(False)
                if len(self.signed_in.databases) > 1:
                    self.database.setCurrentIndex(0)
            self._check_prerequisites()
        elif name == "wb_prereq":
            self._prereq_result(list(value))  # type: ignore[arg-type]

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name == "wb_sign_in":
            self.sign_in_button.setEnabled(True)
            self.status.problem(error_text(exc))
        elif name == "wb_prereq":
            if isinstance(exc, PrerequisiteError):
                self._prereq_result(list(exc.missing) or list(GAP_DEFAULTS))
            else:
                self.sign_in_button.setEnabled(True)
                self.status.problem(error_text(exc))

    def _prereq_result(self, missing: list[str]) -> None:
        self.sign_in_button.setEnabled(True)
        self.w.workbooks = self.credentials()
        self.w.missing = missing
        self.checked = True
        who = f" as {self.signed_in.user_name}" if self.signed_in else ""
        if missing:
            self.status.problem(f"Signed in{who}, but your administrator needs to enable "
                                f"{len(missing)} thing{'s' if len(missing) != 1 else ''}. Click Next for details.")
        else:
            self.status.ok(f"Signed in{who}. Licence, extension and permissions are in place.")
        self.completeChanged.emit()


# R37: when Workbooks refuses without saying why, the gap page lists all four.
GAP_DEFAULTS = (
    "Workbooks Outlook Connector module (Licences & Modules)",
    "Outlook Connector extension enabled on your user record",
    "Capabilities: View CRM Sales Leads, View CRM Sales Opportunities, View CRM Cases",
    "API access for your user",
)
