"""Scheduler: intervals, the run soon after start, catch-up after sleep, back-off, manual."""
from __future__ import annotations

import pytest

from app.runner.scheduler import BACKOFF_SECONDS, Scheduler
from app.settings import SCHEDULE_SECONDS


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 1000.0

    def advance(self, seconds: float, *, asleep: bool = False) -> None:
        self.wall += seconds
        if not asleep:
            self.mono += seconds


@pytest.fixture
def clocks():
    return Clocks()


def make(clocks, schedule="hourly", **kw):
    s = Scheduler(schedule, wall=lambda: clocks.wall, mono=lambda: clocks.mono, start_delay=20, wake_delay=30, **kw)
    fired: list[str] = []
    s.due.connect(fired.append)
    s.start()
    return s, fired


def run_cycle(s, clocks, ok=True, retryable=True, seconds=5):
    s.cycle_started()
    clocks.advance(seconds)
    s.cycle_finished(ok, retryable)


@pytest.mark.parametrize("schedule", ["15min", "30min", "hourly", "twice-daily", "daily", "weekly"])
def test_runs_soon_after_start_then_at_the_interval(qtbot, clocks, schedule):
    s, fired = make(clocks, schedule)
    clocks.advance(10)
    s.check()
    assert fired == []
    clocks.advance(11)
    s.check()
    assert fired == ["start"]
    run_cycle(s, clocks)
    interval = SCHEDULE_SECONDS[schedule]
    for _ in range(int(interval // 30) - 1):
        clocks.advance(30)
        s.check()
    assert fired == ["start"]
    clocks.advance(30)
    s.check()
    assert fired == ["start", "schedule"]
    s.stop()


def test_manual_never_fires(qtbot, clocks):
    s, fired = make(clocks, "manual")
    for _ in range(10):
        clocks.advance(3600)
        s.check()
    assert fired == [] and s.next_due_datetime() is None
    s.stop()


def test_nothing_fires_while_a_cycle_runs(qtbot, clocks):
    s, fired = make(clocks, "15min")
    clocks.advance(25)
    s.check()
    s.cycle_started()
    for _ in range(100):  # a very long cycle
        clocks.advance(60)
        s.check()
    assert fired == ["start"]
    s.cycle_finished(True)
    assert s.next_due == pytest.approx(clocks.wall + 900)
    s.stop()


def test_catch_up_after_sleep_within_two_minutes(qtbot, clocks):
    s, fired = make(clocks, "hourly")
    clocks.advance(25)
    s.check()
    run_cycle(s, clocks)
    clocks.advance(30)
    s.check()
    clocks.advance(5 * 3600, asleep=True)  # lid closed for five hours: the due time passed
    s.check()
    assert fired == ["start"], "waits a moment for the network after waking"
    clocks.advance(30)
    s.check()
    assert fired == ["start", "wake"]
    s.stop()


def test_backoff_after_transient_failures_grows_but_stays_within_the_schedule(qtbot, clocks):
    s, fired = make(clocks, "daily")
    clocks.advance(25)
    s.check()
    delays = []
    for _ in range(4):
        run_cycle(s, clocks, ok=False, retryable=True, seconds=0)
        delays.append(s.next_due - clocks.wall)
    assert delays == list(BACKOFF_SECONDS[:4])
    s2, _ = make(clocks, "15min")
    for _ in range(5):
        run_cycle(s2, clocks, ok=False, retryable=True, seconds=0)
    assert s2.next_due - clocks.wall == 900
    run_cycle(s2, clocks, ok=True, seconds=0)
    assert s2.failures == 0
    s.stop(), s2.stop()


def test_failures_a_retry_cannot_fix_wait_at_least_the_schedule(qtbot, clocks):
    s, _ = make(clocks, "15min")
    for _ in range(6):
        run_cycle(s, clocks, ok=False, retryable=False, seconds=0)
    assert s.next_due - clocks.wall == BACKOFF_SECONDS[5]
    s.stop()


def test_paused_scheduler_emits_nothing(qtbot, clocks):
    s, fired = make(clocks, "15min")
    s.set_paused(True)
    clocks.advance(3600)
    s.check()
    assert fired == [] and s.next_due_datetime() is None
    s.set_paused(False)
    s.check()
    assert fired == ["start"]
    s.stop()


def test_schedule_change_brings_the_next_run_forward(qtbot, clocks):
    s, fired = make(clocks, "weekly")
    clocks.advance(25)
    s.check()
    run_cycle(s, clocks)
    s.set_schedule("15min")
    assert s.next_due - clocks.wall == pytest.approx(900)
    s.stop()


def test_network_return_catches_up_after_a_failure_or_a_missed_run(qtbot, clocks):
    s, fired = make(clocks, "hourly")
    clocks.advance(25)
    s.check()
    run_cycle(s, clocks, ok=False, retryable=True, seconds=0)  # offline: retry in a minute...
    clocks.advance(10)
    s.network_back()  # ...but the network is back now
    assert s.next_due - clocks.wall == pytest.approx(30)
    clocks.advance(30)
    s.check()
    assert fired == ["start", "wake"]
    run_cycle(s, clocks)
    s.network_back()  # nothing missed: the schedule stands
    assert s.next_due - clocks.wall == pytest.approx(3600)
    s.stop()
