"""Lost collections on Microsoft Graph through the CLI (design.md 5.8, B7): when the Contacts
folder answers 403 and the To Do list 404 as a whole, `sync --json` holds those kinds as
collection_gone (exit 3) and deletes nothing, the calendar still syncs, and the holds clear
themselves once the folders answer again."""
from __future__ import annotations

from tests.e2e.conftest_graph import Mailbox, graph_cli, graph_configure_args, graph_sandboxes  # noqa: F401
from tests.e2e.test_sync_e2e import writes


def test_refused_contacts_and_todo_list_hold_their_kinds_and_clear(graph_cli, graph_sandboxes):
    cli, boxes = graph_cli, graph_sandboxes
    mailbox = Mailbox(boxes)
    assert cli(*graph_configure_args(boxes)).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["errors"] == [], first
    people = sorted(r["id"] for r in boxes.crm.rows("people"))
    tasks = sorted(r["id"] for r in boxes.crm.rows("tasks"))
    meeting = mailbox.shared("calendar")[0]

    boxes.graph.deny("contacts", 403)  # permission withdrawn
    boxes.graph.deny("defaultList", 404)  # list removed
    boxes.graph.edit_item(meeting["id"], location={"displayName": "Room 12"})
    code, held = cli.json("sync", "--json")
    assert code == 3, held
    assert sorted((h["kind"], h["reason"]) for h in held["holds"]) == [("person", "collection_gone"),
                                                                          ("task", "collection_gone")]
    assert held["updated"]["crm"]["meetings"] == 1 and writes(held) == 1, held  # the calendar still syncs
    assert any("Contacts folder" in e["message"] and "HTTP 403" in e["message"] for e in held["errors"]), held
    assert any("To Do list" in e["message"] and "HTTP 404" in e["message"] for e in held["errors"]), held
    assert sorted(r["id"] for r in boxes.crm.rows("people")) == people  # nothing deleted in Workbooks
    assert sorted(r["id"] for r in boxes.crm.rows("tasks")) == tasks

    boxes.graph.allow("contacts")
    boxes.graph.allow("defaultList")
    code, back = cli.json("sync", "--json")
    assert code == 0 and "holds" not in back and writes(back) == 0, back
    code, status = cli.json("status", "--json")
    assert status["holds"] == []
