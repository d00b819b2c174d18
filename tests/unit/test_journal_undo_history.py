"""History for "Undo last sync" (B9): before_json is kept seven days, history rows 30 days, and
the journal finds the latest run that changed something and reads its rows back."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.journal.repo import open_journal
from app.sync.state import Batch, HistoryEntry
from app.sync.undo import CHANGE_ACTIONS

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)
BEFORE = {"side": "outlook", "op": "update", "id": "e1", "version": "ck1", "fields": {"first_name": "A"},
          "left_version": "ck2"}


@pytest.fixture
def j(tmp_path):
    journal = open_journal(tmp_path / "j.sqlite3")
    yield journal
    journal.close()


def _row(run: str, at: datetime, action: str = "update", before=BEFORE) -> HistoryEntry:
    return HistoryEntry(run, at, action, "person", "l1", "to_outlook", "row 3", before=before)


def test_before_json_round_trips_with_its_run(j):
    j.write(Batch(history=[_row("r1", NOW), HistoryEntry("r1", NOW, "run", summary={"ok": True})]))
    rows = j.run_history("r1")
    assert [r.action for r in rows] == ["update", "run"]
    assert rows[0].before == BEFORE and rows[0].at == NOW


def test_prior_states_are_dropped_after_seven_days_and_rows_after_thirty(j):
    j.write(Batch(history=[_row("old", NOW - timedelta(days=31)), _row("week", NOW - timedelta(days=8)),
                           _row("fresh", NOW - timedelta(days=6))]))
    dropped = j.prune_history(NOW - timedelta(days=30))
    assert dropped == 1
    assert j.run_history("old") == []
    assert j.run_history("week")[0].before is None  # the row stays (history), its prior state goes
    assert j.run_history("fresh")[0].before == BEFORE


def test_latest_change_run_ignores_runs_that_changed_nothing(j):
    j.write(Batch(history=[_row("r1", NOW - timedelta(hours=2)),
                           HistoryEntry("r2", NOW - timedelta(hours=1), "plan", "person", "l1"),
                           HistoryEntry("r2", NOW - timedelta(hours=1), "run", summary={"ok": True}),
                           HistoryEntry("r3", NOW, "error", "person", "l1", result="failed")]))
    assert j.last_change_run(CHANGE_ACTIONS) == ("r1", NOW - timedelta(hours=2))


def test_no_change_run_yet(j):
    assert j.last_change_run(CHANGE_ACTIONS) is None
