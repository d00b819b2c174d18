""""Undo last sync…" in the tray (B9): the menu entry is off with its reason when there is nothing
to undo; the dialog previews on the worker thread, lists what will be restored and skipped, and
undoes only after "Undo"."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from PySide6.QtWidgets import QApplication

from app.errors import AuthError
from app.runner.scheduler import Scheduler
from app.ui.application import ConnectorApp
from app.ui.undo_dialog import UndoDialog
from app.sync.undo import UndoItem
from app.sync.undo_apply import UndoResult
from tests.ui.fakes import FakeEngine, FakeJournal

RUN_AT = datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc)


class UndoEngine(FakeEngine):
    def __init__(self, *, unavailable: str | None = None, raises: BaseException | None = None) -> None:
        super().__init__()
        self.unavailable = unavailable
        self.undo_raises = raises
        self.undo_calls: list[tuple[bool, str]] = []

    def undo_unavailable(self) -> str | None:
        return self.unavailable

    def undo(self, *, dry_run: bool = False) -> UndoResult:
        self.undo_calls.append((dry_run, threading.current_thread().name))
        if self.undo_raises is not None:
            raise self.undo_raises
        restored = [UndoItem("l1", "person", "PER-1", "outlook", "restore", "restored in Outlook as it was before that sync")]
        skipped = [UndoItem("l2", "person", "PER-2", "outlook", "changed", "changed in Outlook since that sync: left as it is")]
        if not dry_run:
            self.unavailable = "Nothing to undo: the last sync was undone already."
        return UndoResult(dry_run=dry_run, run_id="r1", run_at=RUN_AT, undo_run_id="u1", restored=restored,
                          skipped=skipped, conflicts=0 if dry_run else 1)


@pytest.fixture
def make_app(qtbot):
    apps: list[ConnectorApp] = []

    def make(engine) -> ConnectorApp:
        ctrl = ConnectorApp(lambda: engine, journal=FakeJournal(), use_tray=True, schedule="manual",
                            scheduler_factory=lambda s: Scheduler(s, start_delay=3600))
        apps.append(ctrl)
        with qtbot.waitSignal(ctrl.handle.undo_state, timeout=5000):
            ctrl.start()
        return ctrl

    yield make
    for ctrl in apps:
        ctrl.shutdown()
        assert ctrl.handle.thread.isFinished()
        for w in ctrl.windows.values():
            w.close()
            w.deleteLater()
        ctrl.tray.menu.deleteLater()


def menu(ctrl):
    ctrl.tray.menu.aboutToShow.emit()
    return {a.objectName(): a for a in ctrl.tray.menu.actions() if a.objectName()}


def test_the_entry_is_off_with_the_reason_when_there_is_nothing_to_undo(qtbot, make_app):
    reason = "Nothing to undo: the last sync that changed something ran on 2026-11-01 09:00 UTC, more than 7 days ago."
    ctrl = make_app(UndoEngine(unavailable=reason))
    actions = menu(ctrl)
    undo = actions["action_undo"]
    assert not undo.isEnabled() and undo.toolTip() == reason and "nothing to undo" in undo.text()
    names = [a.objectName() for a in ctrl.tray.menu.actions()]
    assert names.index("action_undo") == names.index("action_history") + 1


def test_preview_then_undo_on_the_worker_thread(qtbot, make_app):
    engine = UndoEngine()
    ctrl = make_app(engine)
    undo = menu(ctrl)["action_undo"]
    assert undo.isEnabled() and undo.text() == "Undo last sync…"

    with qtbot.waitSignal(ctrl.handle.undo_finished, timeout=5000):
        undo.trigger()
    dialog = ctrl.windows["undo"]
    assert isinstance(dialog, UndoDialog) and dialog.isVisible()
    gui = threading.current_thread().name
    assert [dry for dry, _t in engine.undo_calls] == [True]  # a preview first
    assert engine.undo_calls[0][1] != gui  # on the worker thread, like "Sync now"
    assert [dialog.restore_list.item(i).text() for i in range(dialog.restore_list.count())] == [
        "PER-1 (person): restored in Outlook as it was before that sync"]
    assert dialog.skip_list.item(0).text().startswith("PER-2 (person): changed in Outlook since that sync")
    assert "24 Nov 2026 16:30 UTC" in dialog.caption.text()
    assert dialog.undo_button.isEnabled()

    with qtbot.waitSignal(ctrl.handle.undo_state, timeout=5000, check_params_cb=lambda r: r is not None):
        dialog.undo_button.click()
    assert engine.undo_calls[-1][0] is False and engine.undo_calls[-1][1] != gui
    assert dialog.phase == "done" and "Restored 1 item(s)" in dialog.caption.text()
    assert "wait in Conflicts" in dialog.caption.text()
    assert not menu(ctrl)["action_undo"].isEnabled()  # undone: it cannot be undone twice


def test_cancel_after_the_preview_changes_nothing(qtbot, make_app):
    engine = UndoEngine()
    ctrl = make_app(engine)
    with qtbot.waitSignal(ctrl.handle.undo_finished, timeout=5000):
        menu(ctrl)["action_undo"].trigger()
    ctrl.windows["undo"].close_button.click()
    qtbot.wait(100)
    assert [dry for dry, _t in engine.undo_calls] == [True]


def test_a_failure_is_shown_in_the_dialog_not_as_a_traceback(qtbot, make_app):
    engine = UndoEngine(raises=AuthError("the Workbooks API key was refused"))
    ctrl = make_app(engine)
    with qtbot.waitSignal(ctrl.handle.undo_finished, timeout=5000):
        menu(ctrl)["action_undo"].trigger()
    dialog = ctrl.windows["undo"]
    assert dialog.phase == "failed" and "API key was refused" in dialog.caption.text()
    assert not dialog.undo_button.isVisible()
    assert QApplication.instance() is not None


@pytest.mark.slow
def test_undo_from_the_tray_on_the_real_stack(qtbot, tmp_path):
    """ProfileEngine on the worker thread against both sandboxes: sync, a CRM edit, sync, then
    "Undo last sync…" puts the Outlook contact back and the entry turns off."""
    from app import paths as paths_mod
    from app import settings as st
    from app.runner.profile_engine import ProfileEngine
    from app.sandbox.demo import demo_settings
    from app.sandbox.run import start_both
    from app.ui.journal_view import ReaderJournalView
    from tests.e2e.test_sync_e2e import contact_for, my_people

    boxes = start_both(people=30, seed_value=1)
    paths = paths_mod.ProfilePaths(tmp_path / "profile").ensure()
    st.save(demo_settings(boxes), paths.config)
    ctrl = ConnectorApp(lambda: ProfileEngine(paths), journal=ReaderJournalView(paths.journal), use_tray=True,
                        schedule="manual", scheduler_factory=lambda s: Scheduler(s, start_delay=3600))
    try:
        with qtbot.waitSignal(ctrl.handle.undo_state, timeout=60_000) as first:
            ctrl.start()
        assert "no sync" in first.args[0]
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=60_000):
            menu(ctrl)["action_sync_now"].trigger()
        person = my_people(boxes)[0]
        contact = contact_for(boxes, person["main_location[email]"].lower())
        before = boxes.ews.describe(contact["id"])["props"].get("JobTitle") or ""
        boxes.crm.bump_version("people", person["id"], person_job_title="Undo Tester")
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=60_000):
            menu(ctrl)["action_sync_now"].trigger()
        qtbot.waitUntil(lambda: ctrl.model.undo_unavailable is None, timeout=60_000)
        assert boxes.ews.describe(contact["id"])["props"]["JobTitle"] == "Undo Tester"

        with qtbot.waitSignal(ctrl.handle.undo_finished, timeout=60_000):
            menu(ctrl)["action_undo"].trigger()
        dialog = ctrl.windows["undo"]
        assert dialog.restore_list.count() == 1 and dialog.undo_button.isEnabled(), dialog.caption.text()
        # a check queued by the sync before may still answer "available": wait for the one after the undo
        with qtbot.waitSignal(ctrl.handle.undo_state, timeout=60_000, check_params_cb=lambda r: r is not None) as after:
            dialog.undo_button.click()
        assert dialog.phase == "done", dialog.caption.text()
        assert (boxes.ews.describe(contact["id"])["props"].get("JobTitle") or "") == before
        assert after.args[0] and "cannot be undone" in after.args[0]
        assert not menu(ctrl)["action_undo"].isEnabled()
    finally:
        ctrl.shutdown()
        assert ctrl.handle.thread.isFinished()
        for w in ctrl.windows.values():
            w.close()
        ctrl.tray.menu.deleteLater()
        boxes.stop()


def test_the_no_tray_status_window_offers_undo_with_the_same_dialog(qtbot):
    """Without a system tray the status window's buttons are the menu: "Undo last sync…" is there,
    off with its reason when there is nothing to undo, and opens the same preview dialog."""
    reason = "Nothing to undo: no sync has changed anything yet."
    engine = UndoEngine(unavailable=reason)
    ctrl = ConnectorApp(lambda: engine, journal=FakeJournal(), use_tray=False, schedule="manual",
                        scheduler_factory=lambda s: Scheduler(s, start_delay=3600))
    try:
        with qtbot.waitSignal(ctrl.handle.undo_state, timeout=5000):
            ctrl.start()
        button = ctrl.status_window.buttons["undo"]
        assert not button.isEnabled() and button.toolTip() == reason

        engine.unavailable = None
        with qtbot.waitSignal(ctrl.handle.undo_state, timeout=5000):
            ctrl.handle.check_undo()
        button = ctrl.status_window.buttons["undo"]
        assert button.isEnabled() and button.text() == "Undo last sync…" and not button.toolTip()
        with qtbot.waitSignal(ctrl.handle.undo_finished, timeout=5000):
            button.click()
        dialog = ctrl.windows["undo"]
        assert isinstance(dialog, UndoDialog) and dialog.isVisible() and dialog.undo_button.isEnabled()
        assert [dry for dry, _t in engine.undo_calls] == [True]
    finally:
        ctrl.shutdown()
        for w in list(ctrl.windows.values()) + [ctrl.status_window]:
            w.close()
            w.deleteLater()
