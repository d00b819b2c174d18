"""The stop page of R37: each missing prerequisite and where the administrator fixes it, with
"Copy message for my administrator" and "Check again". No sync runs while anything is missing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWizardPage

from app.errors import PrerequisiteError
from app.ui.error_dialogs import admin_message
from app.ui.wizard.common import BusyLine, error_text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard

WHERE = "Start › Configuration › Users & Security (licences: Licences & Modules)"


class GapPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("gapPage")
        self.setTitle("Your Workbooks administrator needs to enable something")
        self.setSubTitle("The connector cannot sync until these are in place. Nothing has been changed anywhere.")
        self.list = QListWidget()
        self.list.setObjectName("gapList")
        self.list.setSpacing(3)
        self.list.setStyleSheet("QListWidget { color: #991b1b; background: #fef2f2; border: 1px solid #fecaca; "
                                "border-radius: 6px; padding: 4px; }")
        self.where = QLabel(f"Your administrator changes these under <b>{WHERE}</b>.")
        self.where.setWordWrap(True)
        self.copy_button = QPushButton("Copy message for my administrator")
        self.copy_button.setObjectName("copyAdminMessage")
        self.copy_button.clicked.connect(self.copy_message)
        self.again_button = QPushButton("Check again")
        self.again_button.setObjectName("checkAgain")
        self.again_button.clicked.connect(self.check_again)
        self.status = BusyLine()
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.again_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.where)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addStretch(1)
        wizard.probes.finished.connect(self._done)
        wizard.probes.failed.connect(self._failed)

    def initializePage(self) -> None:  # noqa: N802
        self._fill()

    def _fill(self) -> None:
        self.list.clear()
        for item in self.w.missing:
            self.list.addItem("✖  " + item)
        rows = max(1, self.list.count())
        self.list.setFixedHeight(rows * (self.list.sizeHintForRow(0) + 6) + 12)

    def isComplete(self) -> bool:  # noqa: N802
        return not self.w.missing

    def message(self) -> str:
        return admin_message(self.w.missing)

    @Slot()
    def copy_message(self) -> None:
        QGuiApplication.clipboard().setText(self.message())
        self.status.ok("Copied. Paste it into an email to your Workbooks administrator.")

    @Slot()
    def check_again(self) -> None:
        creds = self.w.workbooks
        backend = self.w.backend
        self.again_button.setEnabled(False)
        self.status.busy("Checking again…")
        self.w.probes.submit("gap_prereq", lambda: tuple(backend.check_prerequisites(creds)))

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name == "gap_prereq":
            self._result(list(value))  # type: ignore[arg-type]

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name != "gap_prereq":
            return
        if isinstance(exc, PrerequisiteError):
            from app.ui.wizard.workbooks_page import GAP_DEFAULTS

            self._result(list(exc.missing) or list(GAP_DEFAULTS))
        else:
            self.again_button.setEnabled(True)
            self.status.problem(error_text(exc))

    def _result(self, missing: list[str]) -> None:
        self.again_button.setEnabled(True)
        self.w.missing = missing
        self._fill()
        if missing:
            self.status.problem(f"Still missing: {len(missing)}.")
        else:
            self.status.ok("All set. Click Next to connect your mailbox.")
        self.completeChanged.emit()

    def nextId(self) -> int:  # noqa: N802
        from app.ui.wizard.wizard import PageId

        return PageId.MAILBOX
