"""The no-tray status window's layout per state, the header's linked counts and schedule, the
tray's "Open Workbooks" / "Explain…" entries, start-at-sign-in in Settings, and the demo's
short first-run delay."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import combinations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QCheckBox, QLabel, QMessageBox, QPushButton

from app import autostart
from app.runner.values import WorkerState, WorkerStatus
from app.settings import Settings, WorkbooksAccount
from app.ui.application import ConnectorApp
from app.ui.models.status_model import StatusModel
from app.ui.settings_window import SettingsWindow
from app.ui.status_window import StatusWindow
from tests.ui.fakes import FakeEngine, FakeJournal, FakeWizardBackend
from tests.ui.test_tray_app import make_app, open_menu  # noqa: F401 - fixture

WB_URL = "https://secure.workbooks.com"


def text_when(moment: datetime) -> str:
    from app.ui import text

    return text.when(moment)


class Store:
    def __init__(self, url: str = WB_URL, command: list[str] | None = None):
        self.url = url
        self.command = command
        self.saved = []

    def load(self):
        return Settings(workbooks=WorkbooksAccount(url=self.url))

    def save(self, settings, secrets):
        self.saved.append(settings)

    def preview_count(self, kind, flt):
        return 1

    def rebuild_journal(self):
        pass

    def support_bundle(self):
        return {"about.txt": "workbooks-connector 0.1.0\n", "journal.json": '{"quick_check": ["ok"]}\n'}

    def autostart_command(self):
        return list(self.command or ["/opt/wbc/workbooks-connector", "--profile", "/home/p/profile"])


def _rect(window, widget) -> QRect:
    return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())


def assert_one_coherent_button_set(window: StatusWindow, expected_keys: list[str]) -> None:
    """Exactly the model's buttons are visible, none overlaps another, and they sit right under
    the header (no stray gap) in a window sized to its contents."""
    window.layout().activate()
    visible = [b for b in window.findChildren(QPushButton) if b.isVisibleTo(window)]
    assert sorted(b.objectName() for b in visible) == sorted(f"button_{k}" for k in expected_keys)
    assert list(window.buttons) == expected_keys
    rects = {b.objectName(): _rect(window, b) for b in visible}
    for (a, ra), (b, rb) in combinations(rects.items(), 2):
        assert not ra.intersects(rb), f"{a} {ra} overlaps {b} {rb}"
    labels = [w for w in window.findChildren(QLabel) if w.isVisibleTo(window) and w.objectName() != "banner"]
    header_bottom = max(_rect(window, w).bottom() for w in labels + [window.state_icon])
    buttons_top = min(r.top() for r in rects.values())
    assert 0 < buttons_top - header_bottom <= 24, (header_bottom, buttons_top)
    assert window.height() <= window.sizeHint().height() + 1
    assert max(r.bottom() for r in rects.values()) >= window.height() - 20  # nothing empty below


def test_status_window_unconfigured_then_set_up_shows_one_coherent_set(qtbot, make_app):
    engine = FakeEngine()
    saved = []
    ctrl = make_app(engine, use_tray=False, needs_setup=True, wizard_backend=FakeWizardBackend(),
                    on_wizard_finished=saved.append, settings_store=Store())
    window = ctrl.status_window
    qtbot.waitUntil(lambda: ctrl.model.paused, timeout=3000)
    qtbot.wait(20)
    assert window.status.text() == "Not set up yet"
    assert window.hint.isVisibleTo(window)
    assert not window.schedule.isVisibleTo(window) and not window.linked.isVisibleTo(window)
    assert not window.bar.isVisibleTo(window)
    assert_one_coherent_button_set(window, ["setup", "about", "quit"])
    setup_rect = _rect(window, window.buttons["setup"])
    assert setup_rect.width() > _rect(window, window.buttons["about"]).width() * 1.5  # the wide primary action
    ctrl.wizard.close()

    # What completing the wizard does to the app (the full wizard flow is covered in test_tray_app).
    ctrl.needs_setup = False
    ctrl.model.setup_needed = False
    ctrl.model.workbooks_url = WB_URL
    ctrl.handle.resume()
    qtbot.waitUntil(lambda: not ctrl.model.paused, timeout=3000)
    ctrl.model.refresh()
    qtbot.wait(20)
    keys = [e.key for e in ctrl.model.entries() if e.key and e.key != "-"]
    assert keys[0] == "sync_now" and "setup" not in keys
    assert {"explain", "open_workbooks", "settings"} <= set(keys)
    assert_one_coherent_button_set(window, keys)
    assert not window.hint.isVisibleTo(window)
    assert window.linked.text() == "350 contacts, 55 tasks, 41 meetings linked"

    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        window.buttons["sync_now"].click()
    qtbot.waitUntil(lambda: window.schedule.text().startswith("Last sync "), timeout=3000)
    assert_one_coherent_button_set(window, [e.key for e in ctrl.model.entries() if e.key and e.key != "-"])


def test_status_window_header_linked_counts_and_real_next_sync(qtbot):
    model = StatusModel(FakeJournal())
    model.refresh()
    last = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    nxt = last + timedelta(hours=1)
    model.set_worker_status(WorkerStatus(WorkerState.IDLE, last_sync=last, last_ok=True, next_sync=nxt))
    window = StatusWindow(model)
    qtbot.addWidget(window)
    window.show()
    hhmm = lambda d: d.astimezone().strftime("%H:%M")  # noqa: E731
    assert window.linked.text() == "350 contacts, 55 tasks, 41 meetings linked"
    if nxt.astimezone().date() == last.astimezone().date() == datetime.now().astimezone().date():
        assert window.schedule.text() == f"Last sync {hhmm(last)} · next {hhmm(nxt)}"
        assert model.tooltip().endswith(f"Last sync {hhmm(last)} · next {hhmm(nxt)}")
    assert_one_coherent_button_set(window, [e.key for e in model.entries() if e.key and e.key != "-"])
    model.schedule = "manual"
    model.set_worker_status(WorkerStatus(WorkerState.IDLE, last_sync=last, last_ok=True, next_sync=None))
    assert "Sync now" in window.schedule.text()


def test_tray_tooltip_shows_last_and_next_sync_from_the_scheduler(qtbot, make_app):
    ctrl = make_app(FakeEngine(), settings_store=Store())
    ctrl.handle.reload_settings("hourly")  # the real schedule: next run an hour after this one
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        open_menu(ctrl)["action_sync_now"].trigger()
    qtbot.waitUntil(lambda: ctrl.model.worker.next_sync is not None and ctrl.model.last_sync is not None,
                    timeout=3000)
    last, nxt = ctrl.model.last_sync, ctrl.model.worker.next_sync
    assert timedelta(minutes=59) < nxt - last < timedelta(minutes=61)
    tip = ctrl.tray.icon.toolTip()
    assert "Last sync " in tip and " · next " in tip
    if nxt.astimezone().date() == datetime.now().astimezone().date():
        assert tip.endswith(f"Last sync {last.astimezone():%H:%M} · next {nxt.astimezone():%H:%M}")


def test_open_workbooks_and_explain_from_the_tray_menu(qtbot, make_app, monkeypatch):
    opened = []
    monkeypatch.setattr("app.ui.application.QDesktopServices.openUrl", lambda url: opened.append(url) or True)
    ctrl = make_app(FakeEngine(), settings_store=Store())
    actions = open_menu(ctrl)
    assert actions["action_open_workbooks"].text() == "Open Workbooks"
    actions["action_open_workbooks"].trigger()
    assert [u.toString() for u in opened] == [WB_URL]
    assert actions["action_explain"].text() == "Explain…"
    actions["action_explain"].trigger()
    window = ctrl.windows["settings"]
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.explain_edit.hasFocus() or window.focusWidget() is window.explain_edit,
                    timeout=2000)
    window.explain_edit.setText("jane@example.test")
    window.explain()
    qtbot.waitUntil(lambda: "jane@example.test" in window.explain_result.text(), timeout=3000)


def test_open_workbooks_is_hidden_without_an_address(qtbot, make_app):
    ctrl = make_app(FakeEngine(), settings_store=Store(url=""))
    assert "action_open_workbooks" not in open_menu(ctrl)


def test_start_at_sign_in_reads_and_writes_the_autostart_entry(qtbot, _private_autostart_dir):
    entry = _private_autostart_dir / "autostart" / "workbooks-connector.desktop"
    store = Store()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    box = window.findChild(QCheckBox, "startAtSignIn")
    assert box.text() == "Start Workbooks connector when I sign in"
    assert not box.isHidden() and not box.isChecked()  # on the Schedule tab
    box.setChecked(True)
    assert not entry.exists()  # nothing is written until Save
    assert window.save()
    assert entry.exists() and autostart.is_enabled()
    assert autostart.backend().registered_command() == store.autostart_command()

    autostart.disable()  # changed elsewhere: the window shows the real state when shown again
    window.hide()
    window.show()
    assert not box.isChecked()
    autostart.enable(["/x/wbc"])
    window.hide()
    window.show()
    assert box.isChecked()
    box.setChecked(False)
    assert window.save()
    assert not entry.exists() and not autostart.is_enabled()


def test_start_at_sign_in_failure_is_shown_and_the_box_shows_the_truth(qtbot, monkeypatch):
    class Refusing:
        def is_enabled(self):
            return False

        def enable(self, command):
            raise autostart.AutostartError("Could not write the autostart entry: read-only")

        def disable(self):
            pass

    monkeypatch.setattr(autostart, "backend", lambda platform=None: Refusing())
    store = Store()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.start_at_sign_in.setChecked(True)
    assert not window.save()
    assert len(store.saved) == 1  # the other settings were saved
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "settingsError") is not None, timeout=2000)
    error = window.findChild(QMessageBox, "settingsError")
    assert "read-only" in error.text()
    assert not window.start_at_sign_in.isChecked()
    error.close()


def test_start_at_sign_in_is_hidden_in_demo_mode(qtbot, make_app, _private_autostart_dir):
    ctrl = make_app(FakeEngine(), settings_store=Store(), demo=True)
    ctrl.perform("settings")
    window = ctrl.windows["settings"]
    assert window.start_at_sign_in.isHidden()
    window.start_at_sign_in.setChecked(True)
    assert window.save()
    assert not (_private_autostart_dir / "autostart").exists()


@pytest.mark.parametrize("delay, expected", [(None, 20.0), (2.0, 2.0)])
def test_first_run_delay_reaches_the_scheduler(qtbot, delay, expected):
    ctrl = ConnectorApp(lambda: FakeEngine(), journal=FakeJournal(), use_tray=True, schedule="hourly",
                        first_run_delay=delay)
    try:
        with qtbot.waitSignal(ctrl.handle.status_changed, timeout=5000):
            ctrl.start()
        qtbot.waitUntil(lambda: ctrl.handle.worker.scheduler is not None, timeout=3000)
        assert ctrl.handle.worker.scheduler.start_delay == expected
    finally:
        ctrl.shutdown()
        ctrl.tray.menu.deleteLater()


def test_demo_syncs_within_a_few_seconds_of_opening(qtbot):
    engine = FakeEngine()
    ctrl = ConnectorApp(lambda: engine, journal=FakeJournal(), use_tray=True, schedule="hourly",
                        first_run_delay=0.3, demo=True)
    try:
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
            ctrl.start()
        assert len(engine.calls) == 1 and ctrl.handle.status.reason == "start"
    finally:
        ctrl.shutdown()
        ctrl.tray.menu.deleteLater()


def test_tray_launch_passes_the_demo_delay(monkeypatch, tmp_path):
    import app.ui.application as application
    from app import paths as paths_mod
    from app.commands import tray

    seen = {}
    monkeypatch.setattr(application, "run_app", lambda *a, **kw: seen.update(kw) or 0)
    paths = paths_mod.ProfilePaths(tmp_path / "p")
    assert tray.launch(paths, Settings(), demo=True) == 0
    assert seen["first_run_delay"] == tray.DEMO_FIRST_RUN_DELAY <= 5 and seen["demo"] is True
    assert tray.launch(paths, Settings()) == 0
    assert seen["first_run_delay"] is None and seen["demo"] is False


def test_before_the_first_sync_the_header_says_when_it_will_run(qtbot):
    model = StatusModel(FakeJournal())
    nxt = datetime.now(timezone.utc) + timedelta(seconds=30)
    model.set_worker_status(WorkerStatus(WorkerState.IDLE, next_sync=nxt))
    assert model.status_line() == "Not synced yet"
    assert model.schedule_line() == f"First sync {text_when(nxt)}"
    from app.ui import text

    assert text.progress_text("ingest_outlook", "meeting", 0, None) == "Reading Outlook meetings"


def test_readme_row_puts_three_screenshots_side_by_side_unscaled(qtbot, tmp_path):
    import importlib.util
    import pathlib

    from PySide6.QtGui import QColor, QImage

    spec = importlib.util.spec_from_file_location(
        "make_screenshots", pathlib.Path(__file__).resolve().parents[2] / "tools" / "make_screenshots.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    sizes = {"a.png": (360, 380), "b.png": (700, 580), "c.png": (920, 460)}
    for name, (w, h) in sizes.items():
        image = QImage(w, h, QImage.Format.Format_ARGB32)
        image.fill(QColor("#123456"))
        image.save(str(tmp_path / name))
    tool.readme_row(tmp_path, tuple(sizes), gap=20, margin=10)
    row = QImage(str(tmp_path / "readme-row.png"))
    assert row.width() == 360 + 700 + 920 + 2 * 20 + 2 * 10
    assert row.height() == 580 + 2 * 10  # the tallest panel at full size: nothing shrunk


def test_while_the_first_sync_runs_no_stale_next_time_is_shown(qtbot):
    model = StatusModel(FakeJournal())
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    model.set_worker_status(WorkerStatus(WorkerState.SYNCING, next_sync=soon))
    assert model.schedule_line() == ""
    last = datetime.now(timezone.utc)
    model.set_worker_status(WorkerStatus(WorkerState.SYNCING, last_sync=last, next_sync=soon))
    assert model.schedule_line() == f"Last sync {text_when(last)}"


def test_first_sync_preview_counts_are_singular_for_one():
    from app.sync.events import CycleSummary
    from app.ui.wizard.first_sync_page import describe_plan

    summary = CycleSummary(ok=True, dry_run=True, seconds=0.1, finished_at=datetime.now(timezone.utc),
                           created={"outlook": {"contacts": 21, "tasks": 4, "meetings": 1},
                                    "crm": {"people": 1, "emails": 2}})
    lines = describe_plan(summary)
    assert lines[0] == "Create in Outlook: 21 contacts, 4 tasks, 1 meeting"
    assert lines[1] == "Create in Workbooks: 1 person, 2 emails"
    assert lines[-1] == "0 deletions"


def test_open_workbooks_without_a_browser_puts_the_address_on_the_clipboard(qtbot, make_app, monkeypatch):
    from PySide6.QtGui import QGuiApplication

    monkeypatch.setattr("app.ui.application.QDesktopServices.openUrl", lambda url: False)
    ctrl = make_app(FakeEngine(), settings_store=Store())
    assert ctrl.open_workbooks() is False
    assert QGuiApplication.clipboard().text() == WB_URL
    box = ctrl.windows["open_workbooks"]
    assert box.isVisible() and WB_URL in box.text()


def test_conflicts_tab_and_safety_policies_are_saved(qtbot):
    from PySide6.QtWidgets import QComboBox

    store = Store()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.show_tab("conflicts")
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Conflicts"
    person = window.findChild(QComboBox, "conflictPolicy_person")
    assert person.currentData() == "ask" and person.isVisible()
    person.setCurrentIndex(person.findData("crm_wins"))
    window.findChild(QComboBox, "leaveFilterPolicy").setCurrentIndex(1)
    crm_delete = window.findChild(QComboBox, "crmDeletePolicy")
    crm_delete.setCurrentIndex(crm_delete.findData("keep"))
    assert window.save()
    saved = store.saved[-1]
    assert saved.conflicts.person == "crm_wins" and saved.conflicts.task == "ask"
    assert saved.safety.leave_filter == "trash_unchanged" and saved.safety.crm_delete == "keep"


def test_sharing_tab_lists_unshared_items_and_shares_one_again(qtbot):
    from PySide6.QtWidgets import QListWidget

    window = SettingsWindow(Store(), FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.show_tab("sharing")
    listing = window.findChild(QListWidget, "unsharedList")
    button = window.findChild(QPushButton, "shareAgain")
    texts = [listing.item(i).text() for i in range(listing.count())]
    assert texts[0].startswith("Tom Jones tom@jones.test (contact, removed from Outlook)")
    assert "re-creates it in Outlook" in texts[0] and "unshared by you" in texts[1]
    assert not button.isEnabled()
    listing.item(0).setSelected(True)
    assert button.isEnabled()
    with qtbot.waitSignal(window.share_again_requested) as sig:
        button.click()
    assert sig.args[0].crm_id == "PER-7" and sig.args[0].removed_from_outlook
    assert "shared again at the next sync" in listing.item(0).text() and not button.isEnabled()


def test_support_bundle_is_shown_before_it_is_saved(qtbot, tmp_path):
    import zipfile

    from PySide6.QtWidgets import QPlainTextEdit

    window = SettingsWindow(Store(), FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.show_tab("advanced")
    window.findChild(QPushButton, "supportBundle").click()
    dialog = window.support_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == ["about.txt", "journal.json"]
    view = dialog.findChild(QPlainTextEdit, "bundle_about.txt")
    assert view.isReadOnly() and view.toPlainText() == "workbooks-connector 0.1.0\n"
    assert not list(tmp_path.iterdir())  # nothing written while the user reads
    assert dialog.save_to(tmp_path / "bundle.zip")
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        assert zf.read("workbooks-connector-support/journal.json").decode() == '{"quick_check": ["ok"]}\n'
    assert not dialog.isVisible()


def test_support_bundle_save_failure_is_shown_and_the_dialog_stays(qtbot, tmp_path):
    window = SettingsWindow(Store(), FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.open_support_bundle()
    dialog = window.support_dialog
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not dialog.save_to(blocker / "bundle.zip")  # a file where a folder should be
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "supportBundleError") is not None, timeout=2000)
    assert dialog.isVisible()


def test_direction_per_type_is_saved_and_off_leaves_the_type_out(qtbot):
    from PySide6.QtWidgets import QComboBox

    store = Store()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    people = window.findChild(QComboBox, "direction_person")
    meetings = window.findChild(QComboBox, "direction_meeting")
    assert people.currentData() == "both"
    people.setCurrentIndex(people.findData("to_outlook"))
    meetings.setCurrentIndex(meetings.findData("off"))
    assert window.save()
    saved = store.saved[-1]
    assert saved.direction.person == "to_outlook" and saved.sync.kinds == ("person", "task")


def test_accounts_tab_of_a_microsoft_365_profile_offers_sign_in_not_a_password(qtbot):
    from app.settings import MailboxAccount

    class GraphStore(Store):
        def load(self):
            return Settings(workbooks=WorkbooksAccount(url=WB_URL),
                            mailbox=MailboxAccount(backend="graph", address="me@contoso.test", tenant="contoso.test",
                                                   client_id="11111111-2222-3333-4444-555555555555"))

    store = GraphStore()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    assert window.findChild(QLabel, "graphAddress").text() == "me@contoso.test"
    assert window.findChild(QLabel, "graphTenant").text() == "contoso.test"
    assert not hasattr(window, "mb_secret")  # no password field for a token-based mailbox
    with qtbot.waitSignal(window.graph_sign_in_requested):
        window.findChild(QPushButton, "graphSignInAgain").click()
    assert window.save()
    assert store.saved[-1].mailbox == store.load().mailbox  # saving other tabs leaves the account alone
