"""Render PNGs of the tray menu, wizard pages, settings, conflict dialog and history window with
fake data, for the README (not a test; pytest does not collect tools/).

    QT_QPA_PLATFORM=offscreen python tools/make_screenshots.py [OUT_DIR]

Default OUT_DIR: docs/screenshots/. Also composes readme-row.png (tray menu, a wizard page and
the conflict dialog side by side) for the README's screenshot row.
"""
from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The settings window reads the start-at-sign-in entry: read an empty one, never the real ~/.config.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="wbc-screenshots-xdg-")

from app.runner import qtcompat  # noqa: E402,F401 - before any Qt call
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from app.runner.scheduler import Scheduler  # noqa: E402
from app.runner.values import WorkerState, WorkerStatus  # noqa: E402
from app.sync.events import Phase, Progress  # noqa: E402
from app.ui import resources  # noqa: E402
from app.ui.application import ConnectorApp  # noqa: E402
from app.ui.conflict_dialog import ConflictDialog  # noqa: E402
from app.ui.history_window import HistoryWindow  # noqa: E402
from app.ui.hold_dialog import HoldDialog  # noqa: E402
from app.ui.issues_window import IssuesWindow  # noqa: E402
from app.ui.settings_window import SettingsWindow  # noqa: E402
from app.ui.wizard import SetupWizard  # noqa: E402
from tests.ui.fakes import NOW, FakeEngine, FakeJournal, FakeWizardBackend  # noqa: E402


class Store:
    def load(self):
        from app.settings import MailboxAccount, Settings, WorkbooksAccount

        return Settings(workbooks=WorkbooksAccount(url="https://secure.workbooks.com", username="priya@acme.example",
                                                   auth="password", database_id="42"),
                        mailbox=MailboxAccount(ews_url="https://mail.acme.example/EWS/Exchange.asmx",
                                               address="priya@acme.example", username="ACME\\priya"))

    def save(self, settings, secrets):
        pass

    def preview_count(self, kind, flt):
        return {"person": 412, "task": 37, "meeting": 12}[kind]

    def rebuild_journal(self):
        pass


def settle(app: QApplication, rounds: int = 30) -> None:
    for _ in range(rounds):
        app.processEvents()
        threading.Event().wait(0.01)


def shot(widget: QWidget, path: pathlib.Path, app: QApplication) -> None:
    widget.show()
    settle(app)
    widget.grab().save(str(path))
    print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def tray_menu_image(ctrl: ConnectorApp, path: pathlib.Path, app: QApplication) -> None:
    menu = ctrl.tray.menu
    menu.aboutToShow.emit()
    menu.adjustSize()
    menu.popup(QPoint(0, 0))
    settle(app)
    menu_px = menu.grab()
    menu.hide()
    icon_px = resources.tray_icon(ctrl.tray.state).pixmap(22, 22)
    pad, bar = 16, 34
    w = max(menu_px.width() + 2 * pad, 360)
    h = bar + menu_px.height() + 2 * pad
    image = QImage(w, h, QImage.Format.Format_ARGB32)
    image.fill(QColor("#dfe3ea"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.fillRect(0, 0, w, bar, QColor("#1f2937"))  # a panel with the tray icon
    x = w - pad - menu_px.width() // 2 - 11
    p.drawPixmap(x, (bar - 22) // 2, icon_px)
    p.setPen(QColor("#e5e7eb"))
    f = QFont(p.font())
    f.setPointSize(9)
    p.setFont(f)
    p.drawText(w - 58, 0, 50, bar, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "09:12")
    p.drawPixmap(w - pad - menu_px.width(), bar + 4, menu_px)
    p.end()
    image.save(str(path))
    print("wrote", path.relative_to(ROOT))


def readme_row(out: pathlib.Path, names: tuple[str, ...], *, height: int = 600, gap: int = 24,
               margin: int = 24) -> None:
    """Three screenshots side by side at one height (scaled down only, never up, so text stays
    readable), on a light background, for the README."""
    pixmaps = [QPixmap(str(out / name)) for name in names]
    if any(px.isNull() for px in pixmaps):
        raise SystemExit(f"missing screenshot among {names}")
    height = min(height, max(px.height() for px in pixmaps))
    scaled = [px if px.height() <= height else
              px.scaledToHeight(height, Qt.TransformationMode.SmoothTransformation) for px in pixmaps]
    w = sum(px.width() for px in scaled) + gap * (len(scaled) - 1) + 2 * margin
    h = height + 2 * margin
    image = QImage(w, h, QImage.Format.Format_ARGB32)
    image.fill(QColor("#f3f4f6"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    x = margin
    for px in scaled:
        y = margin + (height - px.height()) // 2
        p.setPen(QColor("#cbd5e1"))
        p.drawRect(x - 1, y - 1, px.width() + 1, px.height() + 1)
        p.drawPixmap(x, y, px)
        x += px.width() + gap
    p.end()
    path = out / "readme-row.png"
    image.save(str(path))
    print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(argv[:1])
    app.setStyle("Fusion")
    app.setWindowIcon(resources.app_icon())
    journal = FakeJournal()

    # --- tray menu, mid-run and idle ---------------------------------------------------------
    gate = threading.Event()
    ctrl = ConnectorApp(lambda: FakeEngine(gate=gate, steps=412), journal=journal, use_tray=True,
                        settings_store=Store(), schedule="hourly",
                        scheduler_factory=lambda s: Scheduler(s, start_delay=3600))
    ctrl.start()
    settle(app)
    ctrl.model.set_worker_status(WorkerStatus(WorkerState.IDLE, last_sync=NOW.replace(hour=9, minute=12),
                                              last_ok=True, next_sync=NOW.replace(hour=10, minute=12)))
    ctrl.model.refresh()
    tray_menu_image(ctrl, out / "tray-menu.png", app)
    status = ctrl._make_status_window()  # the no-tray stand-in, idle
    ctrl.status_window = status
    shot(status, out / "status-window.png", app)
    status.hide()
    ctrl.model.set_worker_status(WorkerStatus(WorkerState.SYNCING, reason="manual",
                                              last_sync=NOW.replace(hour=9, minute=12), last_ok=True))
    ctrl.model.set_progress(Progress(Phase.EXECUTE, "person", 120, 412))
    ctrl.tray.refresh()
    tray_menu_image(ctrl, out / "tray-menu-syncing.png", app)
    shot(status, out / "status-window-syncing.png", app)
    status.hide()
    ctrl.model.setup_needed = True  # first start, before the wizard is confirmed: paused
    ctrl.model.set_worker_status(WorkerStatus(WorkerState.PAUSED))
    shot(status, out / "status-window-setup.png", app)
    status.hide()
    ctrl.model.setup_needed = False

    # --- wizard --------------------------------------------------------------------------------
    backend = FakeWizardBackend()
    wizard = SetupWizard(backend, lambda r: None, debounce_ms=10)
    wizard.resize(700, 580)
    wp = wizard.workbooks_page
    wp.by_password.setChecked(True)
    wp.username.setText("priya@acme.example")
    wp.password.setText("correct horse")
    wizard.show()
    wp.sign_in_button.click()
    settle(app, 60)
    shot(wizard, out / "wizard-1-workbooks.png", app)
    # the gap page, as another user would see it
    gap_backend = FakeWizardBackend(missing=["View CRM Cases", "View CRM Sales Opportunities",
                                             "Outlook Connector extension enabled on your user record"])
    gap_wizard = SetupWizard(gap_backend, lambda r: None, debounce_ms=10)
    gap_wizard.resize(700, 580)
    gap_wizard.workbooks_page.api_key.setText("k")
    gap_wizard.show()
    gap_wizard.workbooks_page.sign_in_button.click()
    settle(app, 60)
    gap_wizard.next()
    shot(gap_wizard, out / "wizard-2-prerequisites.png", app)
    gap_wizard.hide()
    wizard.next()
    mp = wizard.mailbox_page
    mp.ews_url.setText("https://mail.acme.example/EWS/Exchange.asmx")
    mp.address.setText("priya@acme.example")
    mp.username.setText("ACME\\priya")
    mp.password.setText("secret")
    backend.lease_holder = "PRIYA-OLD-LAPTOP"
    mp.test_button.click()
    settle(app, 60)
    mp.take_over.setChecked(True)
    shot(wizard, out / "wizard-3-mailbox.png", app)
    wizard.next()
    settle(app, 80)
    shot(wizard, out / "wizard-4-filters.png", app)
    wizard.next()
    settle(app, 60)
    shot(wizard, out / "wizard-5-sharing.png", app)
    wizard.next()
    shot(wizard, out / "wizard-6-schedule.png", app)
    wizard.next()
    settle(app, 60)
    shot(wizard, out / "wizard-7-first-sync.png", app)
    wizard.next()
    wizard.progress_page.on_progress(Progress(Phase.EXECUTE, "person", 120, 412))
    shot(wizard, out / "wizard-8-progress.png", app)
    wizard.hide()

    # --- settings, conflicts, holds, history -----------------------------------------------------
    settings = SettingsWindow(Store(), journal)
    settings.show_tab("filters")
    settings.explain_edit.setText("jane.smith@client.example")
    settings.explain()
    settle(app, 60)
    shot(settings, out / "settings-filters.png", app)
    settings.show_tab("schedule")
    shot(settings, out / "settings-schedule.png", app)
    settings.show_tab("safety")
    shot(settings, out / "settings-safety.png", app)
    settings.hide()

    conflicts = ConflictDialog(journal)
    shot(conflicts, out / "conflict-dialog.png", app)
    conflicts.hide()
    holds = HoldDialog(journal)
    shot(holds, out / "hold-dialog.png", app)
    holds.hide()
    history = HistoryWindow(journal)
    shot(history, out / "history-window.png", app)
    history.hide()
    issues = IssuesWindow(journal)
    shot(issues, out / "issues-window.png", app)
    issues.hide()

    readme_row(out, ("tray-menu.png", "wizard-4-filters.png", "conflict-dialog.png"))

    gate.set()
    ctrl.shutdown()
    for w in (wizard, gap_wizard):
        w.probes.wait_for_done(3000)
    settle(app)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    # Many throwaway top-level widgets: skip the interpreter's unordered teardown of them.
    os._exit(code)
