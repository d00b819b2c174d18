"""`undo [--json] [--dry-run]`: exit codes and output of the command (the undo itself is driven
by tests/engine/test_undo.py and tests/e2e/test_undo_e2e.py)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from app.cli import main
from app.commands import undo as undo_cmd
from app.sync.events import ItemIssue
from app.sync.undo import UndoItem
from app.sync.undo_apply import UndoResult

AT = datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc)
RESTORED = [UndoItem("l1", "person", "PER-1", "outlook", "restore", "restored in Outlook as it was before that sync")]
SKIPPED = [UndoItem("l2", "person", "PER-2", "outlook", "changed", "changed in Outlook since that sync: left as it is")]


@pytest.fixture
def answer(monkeypatch, tmp_path):
    seen = {}

    def fake(paths, settings, *, dry_run=False, take_over=False):
        seen["dry_run"] = dry_run
        return seen["result"]

    monkeypatch.setattr(undo_cmd, "undo_once", fake)
    seen["args"] = ["--profile", str(tmp_path / "p")]
    return seen


def test_json_lists_restored_and_skipped_and_exits_0(answer, capsys):
    answer["result"] = UndoResult(dry_run=False, run_id="r1", run_at=AT, restored=RESTORED, skipped=SKIPPED)
    assert main([*answer["args"], "undo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["undo_of"] == {"run_id": "r1", "at": AT.isoformat()} and data["ok"] is True
    assert data["restored"][0] == {"item": "PER-1", "kind": "person", "side": "outlook", "action": "restore",
                                   "message": "restored in Outlook as it was before that sync"}
    assert data["skipped"][0]["action"] == "changed" and answer["dry_run"] is False


def test_dry_run_is_passed_on_and_said_in_words(answer, capsys):
    answer["result"] = UndoResult(dry_run=True, run_id="r1", run_at=AT, restored=RESTORED, skipped=SKIPPED)
    assert main([*answer["args"], "undo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert answer["dry_run"] is True
    assert "Would restore 1 item(s) changed by the sync of 2026-11-24 16:30 UTC." in out
    assert "PER-2 (person): changed in Outlook since that sync" in out


def test_a_failed_restore_exits_1_and_names_the_item(answer, capsys):
    answer["result"] = UndoResult(dry_run=False, run_id="r1", run_at=AT,
                                  errors=[ItemIssue("PER-3", "Workbooks refused the change")])
    assert main([*answer["args"], "undo"]) == 1
    assert "Failed: PER-3: Workbooks refused the change" in capsys.readouterr().err


def test_nothing_to_undo_exits_0_with_the_reason(answer, capsys):
    answer["result"] = UndoResult(dry_run=False, nothing="Nothing to undo: the last sync was undone already.")
    assert main([*answer["args"], "undo"]) == 0
    assert capsys.readouterr().out.strip() == "Nothing to undo: the last sync was undone already."
