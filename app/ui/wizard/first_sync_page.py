"""Page 6: the first sync's preview (dry run: nothing is written), then the confirmation that
saves the settings — the first and only write the wizard causes (R34)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWizard, QWizardPage

from app.errors import AppError
from app.sync.events import CycleSummary
from app.ui import text
from app.ui.wizard.common import BusyLine, error_text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


def _count(n: int, what: str) -> str:
    """"21 contacts", "1 meeting": `what` is a kind ("person") or already a plural label."""
    many = text.KIND_PLURAL.get(what, what)
    if n == 1:
        one = {plural: text.KIND_SINGULAR.get(kind, plural) for kind, plural in text.KIND_PLURAL.items()}
        one.update(people="person", emails="email")  # the engine's Workbooks-side names
        return f"1 {one.get(many, many)}"
    return f"{n} {many}"


def describe_plan(s: CycleSummary) -> list[str]:
    out = s.created.get("outlook", {})
    crm = s.created.get("crm", {})
    lines = []
    made = [_count(n, what) for what, n in out.items() if n]
    if made:
        lines.append("Create in Outlook: " + ", ".join(made))
    made_crm = [_count(n, what) for what, n in crm.items() if n]
    if made_crm:
        lines.append("Create in Workbooks: " + ", ".join(made_crm))
    links = sum(int(p.get("count", 1)) for p in s.plan if p.get("op") == "link")
    if links:
        lines.append(f"Pair {links} existing item{'s' if links != 1 else ''} by marker, address or name")
    if s.conflicts:
        lines.append(f"{s.conflicts} need your decision (look-alikes; nothing is created for them until you pick)")
    deletions = sum(sum(v.values()) for v in s.deleted.values()) + sum(s.unshared.values())
    lines.append(text.plural(deletions, "deletion"))
    return lines


class FirstSyncPage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setObjectName("firstSyncPage")
        self.setTitle("Ready for the first sync")
        self.setSubTitle("This is what the first sync will do. Nothing has been written yet; “Save and sync” "
                         "saves your choices and starts it.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Save and sync")
        self.status = BusyLine()
        self.plan = QLabel()
        self.plan.setObjectName("planSummary")
        self.plan.setWordWrap(True)
        font = self.plan.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.plan.setFont(font)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b91c1c;")
        self.error.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.plan)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.summary: CycleSummary | None = None
        wizard.probes.finished.connect(self._done)
        wizard.probes.failed.connect(self._failed)

    def initializePage(self) -> None:  # noqa: N802
        self.summary = None
        self.plan.clear()
        self.error.clear()
        result = self.w.build_result()
        backend = self.w.backend
        self.status.busy("Working out what the first sync will do (a dry run)…")
        self.w.probes.submit("dry_run", lambda: backend.dry_run(result))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self.summary is not None

    @Slot(str, object)
    def _done(self, name: str, value: object) -> None:
        if name != "dry_run":
            return
        self.summary = value  # type: ignore[assignment]
        assert self.summary is not None
        self.status.ok("Preview ready.")
        self.plan.setText("<br>".join("• " + line for line in describe_plan(self.summary)))
        self.completeChanged.emit()

    @Slot(str, object)
    def _failed(self, name: str, exc: object) -> None:
        if name == "dry_run":
            self.status.problem("The preview failed: " + error_text(exc))

    def validatePage(self) -> bool:  # noqa: N802
        """The commit: hand the result to the application's configure logic (which saves it)."""
        try:
            self.w.confirm()
        except AppError as exc:
            self.error.setText(error_text(exc))
            return False
        return True
