"""UI test fixtures: every worker thread started here is stopped and joined at teardown."""
from __future__ import annotations

import pytest

from app.runner import qtcompat  # noqa: F401 - applied before any Qt call

from app.runner.scheduler import Scheduler
from app.runner.sync_worker import WorkerHandle


@pytest.fixture
def make_handle(qtbot):
    handles: list[WorkerHandle] = []

    def make(engine, *, schedule: str = "manual", start_delay: float = 3600.0) -> WorkerHandle:
        handle = WorkerHandle(lambda: engine, schedule=schedule,
                              scheduler_factory=lambda s: Scheduler(s, start_delay=start_delay))
        handles.append(handle)
        with qtbot.waitSignal(handle.status_changed, timeout=5000, raising=True):
            handle.start()
        return handle

    yield make
    for handle in handles:
        gate = getattr(handle, "_test_gate", None)
        if gate is not None:
            gate.set()
        assert handle.shutdown(10_000), "worker thread did not stop"
        assert handle.thread.isFinished()
        handle.deleteLater()


@pytest.fixture(autouse=True)
def _private_autostart_dir(tmp_path, monkeypatch):
    """The settings window reads (and on Save may write) the start-at-sign-in entry: keep it in
    a temporary XDG config home, never the real ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return tmp_path / "xdg-config"
