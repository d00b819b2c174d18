"""Issue 6 item 6 (R18, design.md 6.1 last row), end to end through `configure` + `sync --json`:
each synced contact's notes end with the "Related in Workbooks" block (Organisation, open
Opportunities, Cases, Sales Leads of its Person), for both mailbox backends. The block is
refreshed when the related records change, never reaches the CRM, never makes a change or a
conflict, and the user's own notes around it are kept."""
from __future__ import annotations

import pytest

from app.domain.notes import BLOCK_END, BLOCK_START, split_block
from tests.e2e.conftest import configure_args
from tests.e2e.conftest_graph import Mailbox, graph_cli, graph_configure_args, graph_sandboxes  # noqa: F401

WRITES = ("created", "updated", "deleted")


def writes(summary: dict) -> int:
    return sum(n for key in WRITES for side in summary[key].values() for n in side.values())


@pytest.fixture(params=["ews", "graph"])
def backend(request):
    if request.param == "graph":
        boxes = request.getfixturevalue("graph_sandboxes")
        return request.getfixturevalue("graph_cli"), boxes, graph_configure_args(boxes)
    boxes = request.getfixturevalue("sandboxes")
    return request.getfixturevalue("cli"), boxes, configure_args(boxes)


def notes(boxes, item_id: str) -> str:
    if getattr(boxes, "graph", None) is not None:
        return boxes.graph.describe(item_id)["data"].get("personalNotes") or ""
    body = boxes.ews.describe(item_id)["props"].get("Body") or ""
    return body if isinstance(body, str) else str(body.get("text") or body.get("value") or body)


def set_notes(boxes, item_id: str, text: str) -> None:
    if getattr(boxes, "graph", None) is not None:
        boxes.graph.edit_item(item_id, personalNotes=text)
    else:
        boxes.ews.edit_item(item_id, Body=text)


def my_people(boxes) -> list[dict]:
    queue = boxes.crm.my_queues["Private::Crm::PersonQueue"]
    rows = [boxes.crm.get_record("people", r["id"]) for r in boxes.crm.rows("people")]
    return [r for r in rows if r.get("assigned_to") == queue or r.get("watched") is True]


def open_opportunity_for(boxes, person: dict) -> dict:
    """An open Opportunity naming `person` (the seeded ones may all be closed or name others)."""
    opp = boxes.crm.rows("opportunities")[0]
    boxes.crm.bump_version("opportunities", opp["id"], opportunity_contact_ids=f"[{person['id']}]",
                           opportunity_stage="Prospecting")
    return boxes.crm.get_record("opportunities", opp["id"])


def test_contacts_show_related_records_and_follow_their_changes(backend):
    cli, boxes, args = backend
    mailbox = Mailbox(boxes)
    person = next(p for p in my_people(boxes) if p.get("employer_name"))
    opp = open_opportunity_for(boxes, person)
    assert cli(*args).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["errors"] == [], first
    contact = mailbox.contact_for(person["main_location[email]"])
    text = notes(boxes, contact["id"])
    user, block = split_block(text)
    assert BLOCK_START in text and BLOCK_END in text, text
    assert f"Opportunity: {opp['name']}" in block and opp["object_ref"] in block
    assert f"Organisation: {person['employer_name']}" in block
    with_block = [c for c in mailbox.shared() if BLOCK_START in notes(boxes, c["id"])]
    assert len(with_block) > 1  # every related contact, not just one

    # nothing changed: no writes, the blocks are not rewritten (same ChangeKey/notes)
    before = {c["id"]: notes(boxes, c["id"]) for c in with_block}
    code, again = cli.json("sync", "--json")
    assert code == 0 and writes(again) == 0 and again["conflicts"] == 0, again
    assert {c["id"]: notes(boxes, c["id"]) for c in with_block} == before

    # the related record changes in the CRM: the block follows, the Person is not touched
    boxes.crm.bump_version("opportunities", opp["id"], name="Renamed deal for the block")
    code, third = cli.json("sync", "--json")
    assert code == 0 and writes(third) == 0 and third["conflicts"] == 0, third
    _user, block = split_block(notes(boxes, contact["id"]))
    assert "Opportunity: Renamed deal for the block" in block and opp["name"] not in block

    # the user writes notes in Outlook: they reach the CRM without the block; the block stays
    set_notes(boxes, contact["id"], "Met at the fair.\n\n" + notes(boxes, contact["id"]))
    code, fourth = cli.json("sync", "--json")
    assert code == 0 and fourth["conflicts"] == 0, fourth
    assert fourth["updated"]["crm"]["people"] == 1 and fourth["updated"]["outlook"]["contacts"] == 0, fourth
    crm_notes = str(boxes.crm.get_record("people", person["id"]).get("party_notes") or "")
    assert "Met at the fair." in crm_notes and BLOCK_START not in crm_notes and "Renamed deal" not in crm_notes
    user, block = split_block(notes(boxes, contact["id"]))
    assert user == "Met at the fair." and "Renamed deal for the block" in block

    # the opportunity is won: it leaves the block
    boxes.crm.bump_version("opportunities", opp["id"], opportunity_stage="Closed Won")
    code, fifth = cli.json("sync", "--json")
    assert code == 0 and fifth["conflicts"] == 0, fifth
    user, block = split_block(notes(boxes, contact["id"]))
    assert user == "Met at the fair." and "Renamed deal" not in (block or "")
