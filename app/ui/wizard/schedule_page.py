"""Page 5: how often to sync (R29)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtWidgets import QButtonGroup, QLabel, QRadioButton, QVBoxLayout, QWizardPage

from app.settings import SCHEDULES
from app.ui import text

if TYPE_CHECKING:
    from app.ui.wizard.wizard import SetupWizard


class SchedulePage(QWizardPage):
    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self.setObjectName("schedulePage")
        self.setTitle("How often should the connector sync?")
        self.setSubTitle("It syncs in the background; “Sync now” in the tray menu works any time.")
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        for key in SCHEDULES:
            radio = QRadioButton(text.SCHEDULE_LABELS[key])
            radio.setObjectName(f"schedule_{key}")
            radio.setChecked(key == "hourly")
            self.group.addButton(radio)
            self.radios[key] = radio
            layout.addWidget(radio)
        note = QLabel("A sync missed while the computer slept runs within two minutes of waking.")
        note.setStyleSheet("color: #6b7280;")
        layout.addWidget(note)
        layout.addStretch(1)

    def schedule(self) -> str:
        return next(k for k, r in self.radios.items() if r.isChecked())
