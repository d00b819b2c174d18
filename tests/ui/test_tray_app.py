"""The tray app wired end to end with a fake engine and journal: menu, status window,
notifications, fatal flows."""
from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QApplication, QPushButton

from app.errors import AuthError, TransientError
from app.runner.scheduler import Scheduler
from app.runner.values import HoldDecision, WorkerState
from app.sync.events import HoldRaised
from app.ui.application import ConnectorApp
from app.ui.hold_dialog import HoldDialog
from app.ui.notifications import NotificationPolicy
from tests.ui.fakes import FakeEngine, FakeJournal


@pytest.fixture
def make_app(qtbot):
    apps: list[ConnectorApp] = []

    def make(engine, *, use_tray=True, journal=None, **kw) -> ConnectorApp:
        ctrl = ConnectorApp(lambda: engine, journal=journal or FakeJournal(), use_tray=use_tray, schedule="manual",
                            scheduler_factory=lambda s: Scheduler(s, start_delay=3600), **kw)
        apps.append(ctrl)
        with qtbot.waitSignal(ctrl.handle.status_changed, timeout=5000):
            ctrl.start()
        return ctrl

    yield make
    for ctrl in apps:
        gate = getattr(ctrl, "_test_gate", None)
        if gate is not None:
            gate.set()
        ctrl.shutdown()
        assert ctrl.handle.thread.isFinished(), "worker thread still running after teardown"
        for w in list(ctrl.windows.values()) + [ctrl.status_window, ctrl.fatal_box, ctrl.wizard]:
            if w is not None:
                try:
                    w.close()
                    w.deleteLater()
                except RuntimeError:
                    pass
        if ctrl.tray is not None:
            ctrl.tray.menu.deleteLater()


def open_menu(ctrl):
    ctrl.tray.menu.aboutToShow.emit()
    return {a.objectName(): a for a in ctrl.tray.menu.actions() if a.objectName()}


def test_sync_now_from_the_tray_menu_runs_exactly_one_cycle(qtbot, make_app):
    engine = FakeEngine()
    ctrl = make_app(engine)
    actions = open_menu(ctrl)
    assert {"action_sync_now", "action_pause", "action_conflicts", "action_holds", "action_issues",
            "action_history", "action_settings", "action_about", "action_quit"} <= set(actions)
    assert actions["action_conflicts"].text() == "Conflicts (2)…"
    assert actions["action_holds"].text() == "Held deletions (1)…"
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        actions["action_sync_now"].trigger()
    qtbot.wait(100)
    assert len(engine.calls) == 1
    assert "Last sync" in ctrl.tray.icon.toolTip()


def test_menu_opens_at_once_mid_run_and_a_second_sync_now_runs_one_more(qtbot, make_app):
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    ctrl = make_app(engine)
    ctrl._test_gate = gate
    open_menu(ctrl)["action_sync_now"].trigger()
    assert engine.entered.wait(5)
    qtbot.waitUntil(lambda: ctrl.model.syncing and ctrl.model.progress is not None, timeout=3000)
    started = time.monotonic()
    actions = open_menu(ctrl)  # R31: the engine is busy, the menu still opens instantly
    assert time.monotonic() - started < 1.0
    assert "action_cancel_sync" in actions
    assert ctrl.tray.icon.toolTip().endswith("Syncing contacts 1/5")
    assert ctrl.tray.state == "syncing"
    actions["action_sync_now"].trigger()
    actions["action_sync_now"].trigger()
    gate.set()
    qtbot.waitUntil(lambda: len(engine.calls) == 2 and not ctrl.handle.busy, timeout=5000)
    qtbot.wait(200)
    assert len(engine.calls) == 2


def test_stop_this_sync_cancels_mid_run(qtbot, make_app):
    gate = threading.Event()
    engine = FakeEngine(gate=gate, steps=40)
    ctrl = make_app(engine)
    ctrl._test_gate = gate
    open_menu(ctrl)["action_sync_now"].trigger()
    assert engine.entered.wait(5)
    qtbot.waitUntil(lambda: ctrl.model.syncing, timeout=3000)
    open_menu(ctrl)["action_cancel_sync"].trigger()
    gate.set()
    qtbot.waitUntil(lambda: not ctrl.handle.busy and engine.cancelled_at is not None, timeout=5000)
    assert engine.cancelled_at == 1


def test_pause_and_resume_from_the_menu(qtbot, make_app):
    ctrl = make_app(FakeEngine())
    open_menu(ctrl)["action_pause"].trigger()
    qtbot.waitUntil(lambda: ctrl.model.paused, timeout=3000)
    assert ctrl.tray.state == "paused"
    actions = open_menu(ctrl)
    assert "action_resume" in actions and "action_pause" not in actions
    actions["action_resume"].trigger()
    qtbot.waitUntil(lambda: not ctrl.model.paused, timeout=3000)


def test_no_tray_status_window_offers_the_same_actions(qtbot, make_app):
    engine = FakeEngine()
    ctrl = make_app(engine, use_tray=False)
    window = ctrl.status_window
    assert window is not None and window.isVisible()
    menu_keys = [e.key for e in ctrl.model.entries() if e.key and e.key != "-"]
    assert list(window.buttons) == menu_keys
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        window.findChild(QPushButton, "button_sync_now").click()
    assert len(engine.calls) == 1
    qtbot.waitUntil(lambda: "Up to date" not in window.status.text() or True, timeout=100)
    window.close()  # closing hides; the app keeps running
    assert not window.isVisible() and ctrl.handle.thread.isRunning()
    ctrl.bring_forward()  # what a second launch does
    assert window.isVisible()


def test_brake_notification_review_and_allow_once(qtbot, make_app):
    hold = HoldRaised("h1", "person", "outlook", "mass_delete", 280, 350)
    engine = FakeEngine(events=(hold,))
    ctrl = make_app(engine, notification_policy=NotificationPolicy(min_gap=60))
    shown = []
    ctrl.notifier.shown.connect(shown.append)
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        ctrl.perform("sync_now")
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    note = shown[0]
    assert note.title == "280 contact deletions held" and note.target == "holds"
    assert "Jane" not in note.message  # never content
    assert ctrl.tray.state == "attention"
    ctrl.notifier.clicked()  # "review": the click opens the hold dialog
    dialog = ctrl.windows["holds"]
    assert isinstance(dialog, HoldDialog) and dialog.isVisible()
    assert "280 of your 350" in dialog.explain.text()
    engine.events = ()
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        dialog.buttons["apply"].click()  # "allow once"
    assert ("decide_hold", ("h1", HoldDecision.APPLY)) in engine.commands


def test_allow_once_without_engine_support_runs_one_cycle_with_deletes_allowed(qtbot, make_app):
    class OldEngine(FakeEngine):
        decide_hold = None  # type: ignore[assignment]

    engine = OldEngine()
    ctrl = make_app(engine)
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        ctrl.on_hold_decided("h1", HoldDecision.APPLY)
    assert engine.calls[-1]["allow_mass_delete"] is True


def test_auth_failure_shows_the_sign_in_flow(qtbot, make_app):
    ctrl = make_app(FakeEngine(raises=AuthError("Workbooks no longer accepts your sign-in")))
    with qtbot.waitSignal(ctrl.handle.fatal_issue, timeout=5000):
        ctrl.perform("sync_now")
    qtbot.waitUntil(lambda: ctrl.fatal_box is not None and ctrl.model.worker.state is WorkerState.ERROR, timeout=3000)
    assert ctrl.fatal_box.objectName() == "fatal_auth"
    assert ctrl.fatal_box.findChild(QPushButton, "flow_settings:accounts") is not None
    assert ctrl.tray.state == "attention"


def test_transient_failure_shows_offline_without_a_dialog(qtbot, make_app):
    ctrl = make_app(FakeEngine(raises=TransientError("503 from the server")))
    with qtbot.waitSignal(ctrl.handle.fatal_issue, timeout=5000):
        ctrl.perform("sync_now")
    qtbot.waitUntil(lambda: ctrl.tray.state == "offline", timeout=3000)
    assert ctrl.fatal_box is None


def test_conflict_resolved_in_the_dialog_reaches_the_worker(qtbot, make_app):
    engine = FakeEngine()
    ctrl = make_app(engine)
    ctrl.perform("conflicts")
    dialog = ctrl.windows["conflicts"]
    with qtbot.waitSignal(ctrl.handle.journal_changed, timeout=5000):
        dialog.buttons["workbooks"].click()
    name, (conflict_id, resolution) = engine.commands[0]
    assert name == "resolve_conflict" and conflict_id == "c1" and resolution.choice.value == "workbooks"


def test_history_issues_and_about_open(qtbot, make_app):
    ctrl = make_app(FakeEngine())
    for key in ("history", "issues", "about"):
        ctrl.perform(key)
        assert ctrl.windows[key].isVisible()
    assert ctrl.windows["history"].runs.rowCount() == 6
    assert ctrl.windows["history"].actions.rowCount() == 2
    assert ctrl.windows["issues"].model.rowCount() == 1


def test_quit_action_quits_the_event_loop(qtbot, make_app, monkeypatch):
    ctrl = make_app(FakeEngine())
    called = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: called.append(True)))
    open_menu(ctrl)["action_quit"].trigger()
    assert called


def test_no_tray_brake_banner_offers_review_and_allow_once(qtbot, make_app):
    hold = HoldRaised("h1", "person", "outlook", "mass_delete", 280, 350)
    engine = FakeEngine(events=(hold,))
    ctrl = make_app(engine, use_tray=False)
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        ctrl.perform("sync_now")
    banner = ctrl.status_window.banner
    qtbot.waitUntil(banner.isVisible, timeout=2000)
    assert "280 contact deletions held" in banner.text() and 'href="allow_once"' in banner.text()
    engine.events = ()
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        banner.linkActivated.emit("allow_once")
    assert engine.calls[-1]["allow_mass_delete"] is True
    banner.linkActivated.emit("holds")
    assert ctrl.windows["holds"].isVisible()


def test_first_start_opens_the_wizard_and_syncs_only_after_confirmation(qtbot, make_app):
    from tests.ui.fakes import FakeWizardBackend

    engine = FakeEngine()
    saved = []
    ctrl = make_app(engine, needs_setup=True, wizard_backend=FakeWizardBackend(), on_wizard_finished=saved.append)
    qtbot.waitUntil(lambda: ctrl.model.paused, timeout=3000)
    assert ctrl.wizard is not None and ctrl.wizard.isVisible()
    assert [e.key for e in ctrl.model.entries() if e.key not in ("", "-")] == ["setup", "about", "quit"]
    assert ctrl.tray.state == "attention"
    wizard = ctrl.wizard
    wizard.workbooks_page.api_key.setText("k")
    wizard.workbooks_page.sign_in_button.click()
    qtbot.waitUntil(wizard.workbooks_page.isComplete, timeout=5000)
    wizard.next()
    mp = wizard.mailbox_page
    mp.server.setChecked(True)
    mp.ews_url.setText("https://mail.example.test/EWS/Exchange.asmx")
    mp.address.setText("priya@example.test")
    mp.password.setText("pw")
    mp.test_button.click()
    qtbot.waitUntil(mp.isComplete, timeout=5000)
    for _ in range(3):
        wizard.next()
    wizard.next()
    qtbot.waitUntil(wizard.first_sync_page.isComplete, timeout=5000)
    assert engine.calls == [] and saved == []
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        wizard.next()  # Save and sync
    assert len(saved) == 1 and len(engine.calls) == 1
    assert ctrl.handle.status.reason == "first-sync"
    qtbot.waitUntil(lambda: wizard.progress_page.finished_summary is not None, timeout=2000)
    assert not ctrl.model.paused and not ctrl.model.setup_needed
    wizard.probes.wait_for_done(3000)


def test_conflicts_notify_once_in_the_cycle_that_raised_them(qtbot, make_app):
    from app.sync.events import ConflictRaised

    engine = FakeEngine(events=(ConflictRaised("c9", "person", "PER-9", ("mobile_phone",)),))
    ctrl = make_app(engine, notification_policy=NotificationPolicy(min_gap=0))
    shown = []
    ctrl.notifier.shown.connect(shown.append)
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        ctrl.perform("sync_now")
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    assert shown[0].title == "1 conflict to review" and shown[0].target == "conflicts"
    engine.events = ()
    with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=5000):
        ctrl.perform("sync_now")
    qtbot.wait(100)
    assert len(shown) == 1
