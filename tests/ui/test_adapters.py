"""The real-data adapters: JournalView over journal.reader dicts, ProfileEngine decisions."""
from __future__ import annotations

from app.runner.profile_engine import ProfileEngine
from app.runner.values import Choice, HoldDecision, Resolution
from app.ui import journal_view as jv

STATUS = {
    "last_sync_at": "2026-11-25T09:12:00+00:00", "last_sync_ok": True,
    "linked": {"person": 350, "task": 55, "meeting": 41}, "conflicts": 1,
    "errors": [{"item": "link-1", "kind": "person", "title": "Refused", "message": "bad address", "attempts": 3,
                "retry_after": "2026-11-25T10:00:00+00:00", "flagged": False}],
    "holds": [{"id": "h1", "kind": "person", "side": "outlook", "reason": "mass_delete", "planned": 280, "linked": 350}],
    "lease": {"holder_host": "PRIYA-LAPTOP", "heartbeat_at": "2026-11-25T09:10:00+00:00"},
}


def test_status_holds_and_issues_from_reader_dicts():
    s = jv.status_from_dict(STATUS)
    assert s.last_sync.hour == 9 and s.last_ok and s.conflicts == 1 and s.issues == 1 and s.holds == 1
    assert s.lease_holder == "PRIYA-LAPTOP"
    assert jv.holds_from_status(STATUS)[0].planned == 280
    issue = jv.issues_from_status(STATUS)[0]
    assert issue.item == "link-1" and issue.attempts == 3 and issue.next_retry.hour == 10
    assert jv.status_from_dict({}).last_sync is None


def test_conflict_and_history_from_reader_dicts():
    c = jv.conflict_from_dict({"id": "abcdef123", "kind": "person", "type": "field_clash", "label": "Jane Smith",
                               "differences": [{"field": "mobile_phone", "outlook": "1", "last_synced": "0",
                                                "workbooks": "2"}, {"field": "job_title", "outlook": "Head",
                                                                    "last_synced": None, "workbooks": None}],
                               "created_at": "2026-11-25T08:00:00+00:00"})
    assert c.rows[0].label == "Mobile phone" and c.rows[0].suggested is None
    assert c.rows[1].suggested == "outlook" and not c.first_sync
    run = jv.run_from_dict({"run_id": "r1", "at": "2026-11-25T09:00:00+00:00", "result": "ok",
                            "summary": {"seconds": 4.2, "created": {"crm": {"people": 1}, "outlook": {"contacts": 2}},
                                        "updated": {"crm": {}, "outlook": {"tasks": 5}}, "deleted": {},
                                        "unshared": {"crm": 0, "outlook": 1}, "email_links": 3, "errors": []},
                            "actions": [{"action": "update", "kind": "person", "item": "link-123456789",
                                         "direction": "to_outlook", "reason": "job title changed"}]})
    assert run.ok and run.counts == {"created": 3, "updated": 5, "linked": 3, "removed": 1, "failed": 0}
    assert run.actions[0].item == "link-123456789" and run.actions[0].action == "updated in Outlook"
    assert jv.action_text("trash", "to_outlook") == "moved to Deleted Items"
    assert "not linked" in jv.explain_text("x@y", [])


def test_absent_journal_reads_as_empty(tmp_path):
    view = jv.ReaderJournalView(tmp_path / "journal.sqlite3")
    assert view.conflicts() == [] and view.history() == [] and view.status().last_sync is None


def test_profile_engine_writes_decisions_in_the_journal_vocabulary(tmp_path):
    calls = []

    class J:
        def resolve_conflict(self, cid, keep, fields):
            calls.append(("resolve", cid, keep, fields))

        def decide_hold(self, hid, decision):
            calls.append(("hold", hid, decision))

    engine = ProfileEngine(paths=None, load_settings=lambda: None)  # type: ignore[arg-type]
    engine._journal = lambda action: action(J())  # no profile lock or database here
    engine.resolve_conflict("c1", Resolution(Choice.WORKBOOKS))
    engine.resolve_conflict("c2", Resolution(Choice.MERGED, (("mobile_phone", "workbooks"), ("job_title", "outlook"))))
    engine.resolve_conflict("c3", Resolution(Choice.LATER))
    engine.decide_hold("h1", HoldDecision.RESTORE)
    assert calls == [("resolve", "c1", "crm", None),
                     ("resolve", "c2", "merged", {"mobile_phone": "crm", "job_title": "outlook"}),
                     ("hold", "h1", "restore")]
