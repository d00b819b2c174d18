"""Issue 5 (deletion safety), end to end: `configure` + `sync --json` as subprocesses against both
sandboxes. B7: a CRM deletion reaches Outlook only after two runs and a direct lookup agree."""
from __future__ import annotations

import pytest

from tests.e2e.conftest_graph import backend, backend_synced, graph_cli, graph_sandboxes  # noqa: F401
from tests.e2e.test_sync_e2e import my_people, writes


def test_crm_person_deletion_waits_one_run_then_moves_contact_to_deleted_items(backend, backend_synced):
    cli, mailbox = backend.cli, backend.mailbox
    person = my_people(backend.boxes)[0]
    email = person["main_location[email]"].lower()
    contact = mailbox.contact_for(email)
    backend.crm.soft_delete("people", person["id"])

    code, first = cli.json("sync", "--json")
    assert code == 0, first
    assert first["deleted"]["outlook"]["contacts"] == 0
    assert first["pending_deletions"]["people"] == 1
    assert mailbox.contact_for(email)["id"] == contact["id"]  # still in Contacts, untouched
    code, status = cli.json("status", "--json")
    assert status["pending_deletions"]["person"] == 1
    out = cli("explain", email)
    assert "deletion seen once, waiting for confirmation" in out.stdout, out.stdout

    code, second = cli.json("sync", "--json")
    assert code == 0, second
    assert second["deleted"]["outlook"]["contacts"] == 1 and second["pending_deletions"]["people"] == 0
    with pytest.raises(AssertionError):
        mailbox.contact_for(email)  # gone from Contacts ...
    assert len(mailbox.trashed_with(email)) == 1  # ... moved to Deleted Items, never hard-deleted
    code, status = cli.json("status", "--json")
    assert status["pending_deletions"]["person"] == 0


def test_crm_deletion_undone_before_the_second_run_keeps_the_contact(backend, backend_synced):
    cli, mailbox = backend.cli, backend.mailbox
    person = my_people(backend.boxes)[1]
    email = person["main_location[email]"].lower()
    contact = mailbox.contact_for(email)
    backend.crm.soft_delete("people", person["id"])
    code, first = cli.json("sync", "--json")
    assert first["pending_deletions"]["people"] == 1
    backend.crm.restore("people", person["id"])
    code, second = cli.json("sync", "--json")
    assert code == 0, second
    assert second["deleted"]["outlook"]["contacts"] == 0
    assert mailbox.contact_for(email)["id"] == contact["id"]
    code, status = cli.json("status", "--json")
    assert status["pending_deletions"]["person"] == 0


def test_revoked_view_people_holds_people_deletes_nothing_and_clears_when_restored(backend, backend_synced):
    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    contacts_before = sorted(c["id"] for c in mailbox.shared())
    sandboxes.crm.set_permission("people", "index", False)  # the admin withdraws "View CRM People"

    code, summary = cli.json("sync", "--json")
    assert code == 3, summary  # held, nothing deleted (interfaces.md exit 3)
    assert [(h["kind"], h["reason"]) for h in summary["holds"]] == [("person", "collection_gone")]
    assert writes(summary) == 0 and summary["pending_deletions"]["people"] == 0
    assert any("crm/people" in e["message"] for e in summary["errors"]), summary["errors"]
    assert sorted(c["id"] for c in mailbox.shared()) == contacts_before
    code, status = cli.json("status", "--json")
    assert [h["reason"] for h in status["holds"]] == ["collection_gone"]

    code, again = cli.json("sync", "--json")  # still revoked: the same hold, still nothing deleted
    assert code == 3 and len(again["holds"]) == 1 and writes(again) == 0, again

    sandboxes.crm.set_permission("people", "index", True)
    code, back = cli.json("sync", "--json")
    assert code == 0, back
    assert "holds" not in back and writes(back) == 0 and back["pending_deletions"]["people"] == 0
    assert sorted(c["id"] for c in mailbox.shared()) == contacts_before
    code, status = cli.json("status", "--json")
    assert status["holds"] == []


def test_organiser_update_recreating_the_meeting_repoints_the_link(backend, backend_synced):
    """B3 / row 20: Exchange replaces the attendee's calendar item (new ItemId, same UID / Graph
    iCalUId, none of our properties). The link follows the UID: no second Workbooks meeting,
    nothing deleted."""
    from datetime import datetime, timedelta, timezone

    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    start = (datetime.now(timezone.utc) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    when = (start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    uid = "040000008200E00074C5B7101A82E00800000000B3E2E"
    old = mailbox.add_meeting("Quarterly review B3", "Room 1", *when, uid)
    code, shared = cli.json("sync", "--json")
    assert code == 0 and shared["created"]["crm"]["meetings"] == 1, shared

    def meetings():
        return [r for r in (sandboxes.crm.get_record("meetings", row["id"]) for row in sandboxes.crm.rows("meetings"))
                if r.get("name") == "Quarterly review B3"]

    (meeting,) = meetings()
    mailbox.hard_delete(old)
    new = mailbox.add_meeting("Quarterly review B3", "Room 2", *when, uid, shared=False)
    code, after = cli.json("sync", "--json")
    assert code == 0, after
    assert after["created"]["crm"]["meetings"] == 0 and after["deleted"]["crm"]["meetings"] == 0, after
    (again,) = meetings()
    assert again["id"] == meeting["id"] and not again.get("is_deleted")
    assert again["location"] == "Room 2"
    assert "Workbooks" in mailbox.categories_of(new)  # shared again
    code, quiet = cli.json("sync", "--json")
    assert code == 0 and writes(quiet) == 0, quiet
