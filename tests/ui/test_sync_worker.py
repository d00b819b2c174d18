"""The worker thread: one cycle per request, one more for requests mid-cycle, cancel, errors."""
from __future__ import annotations

import threading

import pytest

from app.errors import (
    AppError,
    AuthError,
    ConfigError,
    JournalError,
    LeaseHeld,
    PrerequisiteError,
    SecretsUnavailable,
    TransientError,
)
from app.runner.values import Choice, HoldDecision, Resolution, WorkerState, fatal_from_exception
from app.sync.events import FatalKind
from tests.ui.fakes import FakeEngine, issue_events


def _wait_cycles(qtbot, handle, n):
    qtbot.waitUntil(lambda: handle.worker.cycles_run >= n and not handle.busy, timeout=5000)


def test_sync_now_runs_exactly_one_cycle_on_the_worker_thread(qtbot, make_handle):
    engine = FakeEngine()
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000) as blocker:
        handle.sync_now()
    assert blocker.args[0].ok
    qtbot.wait(100)
    assert len(engine.calls) == 1
    assert engine.threads and threading.current_thread().name not in engine.threads
    assert handle.status.state is WorkerState.IDLE and handle.status.last_ok


def test_requests_mid_cycle_make_exactly_one_more_run(qtbot, make_handle):
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    handle = make_handle(engine)
    handle._test_gate = gate
    handle.sync_now()
    assert engine.entered.wait(5)
    for _ in range(3):
        handle.sync_now()  # mid-cycle: coalesced into one "run again"
    gate.set()
    _wait_cycles(qtbot, handle, 2)
    qtbot.wait(200)
    assert len(engine.calls) == 2


def test_cancel_mid_cycle_stops_after_the_current_batch(qtbot, make_handle):
    gate = threading.Event()
    engine = FakeEngine(gate=gate, steps=50)
    handle = make_handle(engine)
    handle._test_gate = gate
    handle.sync_now()
    assert engine.entered.wait(5)
    handle.cancel()
    gate.set()
    _wait_cycles(qtbot, handle, 1)
    assert engine.cancelled_at == 1


def test_progress_is_throttled(qtbot, make_handle):
    engine = FakeEngine(steps=500)
    handle = make_handle(engine)
    seen = []
    handle.progress.connect(seen.append)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.sync_now()
    qtbot.wait(50)
    assert 1 <= len(seen) < 20
    assert seen[-1].done == 500


def test_engine_events_reach_the_gui_as_signals(qtbot, make_handle):
    engine = FakeEngine(events=issue_events())
    handle = make_handle(engine)
    with qtbot.waitSignals([handle.item_issue, handle.conflict_raised, handle.hold_raised], timeout=5000):
        handle.sync_now()


@pytest.mark.parametrize(
    "exc, kind",
    [
        (AuthError("key revoked"), FatalKind.AUTH),
        (PrerequisiteError("missing", missing=("View CRM Cases",)), FatalKind.PREREQUISITE),
        (LeaseHeld("HOST is syncing this mailbox"), FatalKind.LEASE),
        (JournalError("damaged"), FatalKind.JOURNAL),
        (ConfigError("bad"), FatalKind.CONFIG),
        (SecretsUnavailable("no keyring"), FatalKind.CONFIG),
        (TransientError("503"), FatalKind.TRANSIENT),
        (AppError("odd"), FatalKind.UNEXPECTED),
        (ZeroDivisionError("boom"), FatalKind.UNEXPECTED),
    ],
    ids=lambda v: getattr(v, "value", type(v).__name__),
)
def test_exceptions_map_to_fatal_kinds(exc, kind):
    fatal = fatal_from_exception(exc)
    assert fatal.kind is kind
    assert fatal.title and fatal.message


def test_worker_turns_an_engine_exception_into_a_fatal_issue(qtbot, make_handle):
    engine = FakeEngine(raises=LeaseHeld("OLD-LAPTOP is syncing this mailbox"))
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.fatal_issue, timeout=5000) as blocker:
        handle.sync_now()
    assert blocker.args[0].kind is FatalKind.LEASE
    qtbot.waitUntil(lambda: handle.status.state is WorkerState.ERROR, timeout=2000)


def test_commands_go_through_the_worker(qtbot, make_handle):
    engine = FakeEngine()
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.journal_changed, timeout=5000):
        handle.resolve_conflict("c1", Resolution(Choice.WORKBOOKS))
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.decide_hold("h1", HoldDecision.APPLY)
    assert engine.commands == [("resolve_conflict", ("c1", Resolution(Choice.WORKBOOKS))),
                               ("decide_hold", ("h1", HoldDecision.APPLY))]


def test_allow_once_applies_holds_for_one_cycle_only(qtbot, make_handle):
    engine = FakeEngine()
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.allow_mass_delete_once()
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.sync_now()
    assert [c["allow_mass_delete"] for c in engine.calls] == [True, False]


def test_pause_skips_scheduled_runs_and_resume_restores(qtbot, make_handle):
    engine = FakeEngine()
    handle = make_handle(engine, schedule="hourly")
    with qtbot.waitSignal(handle.status_changed, timeout=5000, check_params_cb=lambda s: s.state is WorkerState.PAUSED):
        handle.pause()
    handle.worker.scheduler.due.emit("schedule")  # as if the timer fired (queued to the worker)
    qtbot.wait(100)
    assert engine.calls == []
    with qtbot.waitSignal(handle.status_changed, timeout=5000, check_params_cb=lambda s: s.state is WorkerState.IDLE):
        handle.resume()


def test_shutdown_mid_cycle_finishes_the_batch_and_joins(qtbot, make_handle):
    gate = threading.Event()
    engine = FakeEngine(gate=gate, steps=50)
    handle = make_handle(engine)
    handle.sync_now()
    assert engine.entered.wait(5)
    threading.Timer(0.2, gate.set).start()
    assert handle.shutdown(5000)
    assert engine.cancelled_at is not None and engine.closed


def test_a_run_starts_soon_after_start_on_a_schedule(qtbot, make_handle):
    engine = FakeEngine()
    handle = make_handle(engine, schedule="hourly", start_delay=0.1)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        pass
    assert handle.status.reason == "start"
    qtbot.waitUntil(lambda: handle.status.next_sync is not None, timeout=2000)
    assert len(engine.calls) == 1


def test_a_fatal_the_engine_reported_itself_reaches_the_user_once(qtbot, make_handle):
    from app.sync.events import FatalIssue

    class ReportingEngine(FakeEngine):
        def run_cycle(self, *, observer=None, **kw):
            observer.issue(FatalIssue(FatalKind.AUTH, "Sign-in refused", "key revoked"))
            raise AuthError("key revoked")

    handle = make_handle(ReportingEngine())
    seen = []
    handle.fatal_issue.connect(seen.append)
    handle.sync_now()
    qtbot.waitUntil(lambda: handle.status.state is WorkerState.ERROR, timeout=5000)
    qtbot.wait(100)
    assert [f.kind for f in seen] == [FatalKind.AUTH]


def test_take_over_runs_a_cycle_right_away(qtbot, make_handle):
    class LeaseEngine(FakeEngine):
        def take_over_lease(self):
            self.commands.append(("take_over_lease", ()))

    engine = LeaseEngine()
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.take_over_lease()
    assert engine.commands == [("take_over_lease", ())] and len(engine.calls) == 1


def test_share_again_is_written_by_the_worker_then_a_cycle_runs(qtbot, make_handle):
    class SharingEngine(FakeEngine):
        def share_again(self, item):
            self.commands.append(("share_again", (item,)))

    engine = SharingEngine()
    handle = make_handle(engine)
    with qtbot.waitSignal(handle.cycle_finished, timeout=5000):
        handle.share_again("row")
    assert engine.commands == [("share_again", ("row",))] and len(engine.calls) == 1
