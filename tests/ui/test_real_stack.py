"""The tray app on the real stack: both sandboxes, a demo profile, ProfileEngine (wiring.sync_once)
on the worker thread and ReaderJournalView for the windows. Sync now from the tray menu."""
from __future__ import annotations

import pytest

from app import paths as paths_mod
from app import settings as st
from app.runner.profile_engine import ProfileEngine
from app.runner.scheduler import Scheduler
from app.ui.application import ConnectorApp
from app.ui.journal_view import ReaderJournalView

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_profile(tmp_path, monkeypatch):
    from app.sandbox.demo import demo_settings
    from app.sandbox.run import start_both

    boxes = start_both(people=30, seed_value=1)
    try:
        paths = paths_mod.ProfilePaths(tmp_path / "profile").ensure()
        settings = demo_settings(boxes)
        st.save(settings, paths.config)
        yield paths
    finally:
        boxes.stop()


def test_sync_now_from_the_tray_menu_against_the_sandboxes(qtbot, demo_profile):
    paths = demo_profile
    ctrl = ConnectorApp(lambda: ProfileEngine(paths), journal=ReaderJournalView(paths.journal), use_tray=True,
                        schedule="manual", scheduler_factory=lambda s: Scheduler(s, start_delay=3600))
    try:
        with qtbot.waitSignal(ctrl.handle.status_changed, timeout=5000):
            ctrl.start()
        ctrl.tray.menu.aboutToShow.emit()
        sync = next(a for a in ctrl.tray.menu.actions() if a.objectName() == "action_sync_now")
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=60_000) as blocker:
            sync.trigger()
        summary = blocker.args[0]
        assert summary.ok, summary.as_json()
        assert sum(summary.created["outlook"].values()) > 0
        qtbot.waitUntil(lambda: ctrl.model.snapshot.last_sync is not None, timeout=5000)
        assert ctrl.model.snapshot.linked.get("person", 0) > 0
        ctrl.perform("history")
        assert ctrl.windows["history"].runs.rowCount() >= 1
        assert "Last sync" in ctrl.tray.icon.toolTip()
    finally:
        ctrl.shutdown()
        assert ctrl.handle.thread.isFinished()
        for w in ctrl.windows.values():
            w.close()
