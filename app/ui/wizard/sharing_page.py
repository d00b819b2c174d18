"""Page 4: sharing choices (R25, R26), email capture start and the never-record list (B33)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from app.ui.ports import SharingCounts

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


class SharingPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("sharingPage")
        self.setTitle("Your existing Outlook contacts")
        self.setSubTitle("Shared items carry the “Workbooks” category in every mail client. Native items are never "
                         "touched. You can share or unshare any item later.")
        existing = QGroupBox("Contacts already in Outlook")
        ev = QVBoxLayout(existing)
        self.keep_native = QRadioButton("Keep them all Native (private)")
        self.share_matching = QRadioButton("Share the ones matching a Workbooks person")
        self.share_all = QRadioButton("Share all of them")
        self.share_matching.setChecked(True)
        self.existing_group = QButtonGroup(self)
        for key, radio in (("none", self.keep_native), ("matching", self.share_matching), ("all", self.share_all)):
            radio.setObjectName(f"existing_{key}")
            self.existing_group.addButton(radio)
            ev.addWidget(radio)
        new = QGroupBox("Contacts, tasks and meetings you create later")
        nv = QVBoxLayout(new)
        self.new_native = QRadioButton("Native, unless I add the “Workbooks” category")
        self.new_shared = QRadioButton("Share them automatically")
        self.new_native.setChecked(True)
        self.new_group = QButtonGroup(self)
        for radio in (self.new_native, self.new_shared):
            self.new_group.addButton(radio)
            nv.addWidget(radio)
        email = QGroupBox("Sent email")
        ef = QFormLayout(email)
        self.capture = QComboBox()
        self.capture.setObjectName("captureStart")
        for days, label in ((0, "From today"), (7, "From 7 days ago"), (30, "From 30 days ago"),
                            (90, "From 90 days ago")):
            self.capture.addItem(label, days)
        self.never_record = QPlainTextEdit()
        self.never_record.setObjectName("neverRecord")
        self.never_record.setPlaceholderText("Never record mail to these addresses or @domains, one per line")
        self.never_record.setMaximumHeight(70)
        ef.addRow("Record sent mail:", self.capture)
        ef.addRow("Never record:", self.never_record)
        layout = QVBoxLayout(self)
        layout.addWidget(existing)
        layout.addWidget(new)
        layout.addWidget(email)
        layout.addStretch(1)
        wizard.probes.finished.connect(self._done)
        self.counts: SharingCounts | None = None

    def initializePage(self) -> None:  # noqa: N802
        wb, mb, backend = self.w.workbooks, self.w.mailbox, self.w.backend
        self.w.probes.submit("sharing_counts", lambda: backend.sharing_counts(wb, mb))

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name != "sharing_counts":
            return
        self.counts = value  # type: ignore[assignment]
        c = self.counts
        assert c is not None
        self.keep_native.setText(f"Keep all {c.existing} Native (private)")
        self.share_matching.setText(f"Share the {c.matching} matching a Workbooks person (recommended)")
        self.share_all.setText(f"Share all {c.existing} (unmatched ones become new Workbooks people)")

    def share_existing(self) -> str:
        if self.keep_native.isChecked():
            return "none"
        return "all" if self.share_all.isChecked() else "matching"

    def never_record_list(self) -> tuple[str, ...]:
        return tuple(x.strip() for x in self.never_record.toPlainText().splitlines() if x.strip())
