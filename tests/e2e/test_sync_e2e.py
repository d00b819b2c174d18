"""Issue 5, end to end: `configure` + `sync --json` as subprocesses against both sandboxes, written
against the `backend` face of either mailbox backend (EWS, Microsoft Graph: issue 10). The helpers
here (`my_people`, `contact_for`, `shared_contacts`, `writes`) serve the other e2e modules."""
from __future__ import annotations

import pytest

from app.sandbox.run import start_both
from tests.e2e.conftest import configure_args
from tests.e2e.conftest_graph import Mailbox, backend, backend_synced, graph_cli, graph_sandboxes  # noqa: F401

WRITES = ("created", "updated", "deleted")


def writes(summary: dict) -> int:
    return sum(n for key in WRITES for side in summary[key].values() for n in side.values()) + sum(
        summary["unshared"].values()
    )


def shared_contacts(boxes):
    return Mailbox(boxes).shared("contacts")


def my_people(boxes):
    queue = boxes.crm.my_queues["Private::Crm::PersonQueue"]
    rows = [boxes.crm.get_record("people", r["id"]) for r in boxes.crm.rows("people")]
    return [r for r in rows if r.get("assigned_to") == queue or r.get("watched") is True]


def contact_for(boxes, email):
    return Mailbox(boxes).contact_for(email)


def test_first_sync_brings_exactly_my_people_and_open_activities(backend, backend_synced):
    people = my_people(backend.boxes)
    contacts = backend.mailbox.shared("contacts")
    assert len(contacts) == len(people)
    for person in people:
        backend.mailbox.contact_for(person["main_location[email]"].lower())  # each one is there
    assert backend_synced["created"]["outlook"]["tasks"] + backend_synced["created"]["outlook"]["meetings"] > 0
    assert backend_synced["errors"] == []


def test_second_sync_with_no_changes_makes_no_writes(backend, backend_synced):
    code, again = backend.cli.json("sync", "--json")
    assert code == 0 and writes(again) == 0, again


def test_edits_cross_in_both_directions(backend, backend_synced):
    crm, mailbox = backend.crm, backend.mailbox
    people = my_people(backend.boxes)
    crm_side, outlook_side = people[0], people[1]
    crm.bump_version("people", crm_side["id"], person_job_title="Chief Tea Officer")
    contact = mailbox.contact_for(crm_side["main_location[email]"].lower())
    other = mailbox.contact_for(outlook_side["main_location[email]"].lower())
    mailbox.edit(other["id"], job_title="Head of Biscuits")
    code, summary = backend.cli.json("sync", "--json")
    assert code == 0, summary
    assert summary["updated"]["outlook"]["contacts"] == 1 and summary["updated"]["crm"]["people"] == 1
    assert mailbox.get(contact["id"], "job_title") == "Chief Tea Officer"
    assert crm.get_record("people", outlook_side["id"])["person_job_title"] == "Head of Biscuits"


def test_same_field_both_sides_is_a_conflict_different_fields_merge(backend, backend_synced):
    cli, crm, mailbox = backend.cli, backend.crm, backend.mailbox
    a, b = my_people(backend.boxes)[2:4]
    ca = mailbox.contact_for(a["main_location[email]"].lower())
    cb = mailbox.contact_for(b["main_location[email]"].lower())
    crm.bump_version("people", a["id"], person_job_title="CRM title")
    mailbox.edit(ca["id"], job_title="Outlook title")
    crm.bump_version("people", b["id"], person_job_title="Merged title")
    mailbox.edit(cb["id"], company="Merged Company")
    code, summary = cli.json("sync", "--json")
    assert summary["conflicts"] == 1, summary
    code, listing = cli.json("conflicts", "--json")
    assert len(listing["conflicts"]) == 1
    assert [d["field"] for d in listing["conflicts"][0]["differences"]] == ["job_title"]
    assert mailbox.get(cb["id"], "job_title") == "Merged title"
    assert crm.get_record("people", b["id"])["employer_name"] == "Merged Company"
    # the conflicted item was left alone on both sides
    assert mailbox.get(ca["id"], "job_title") == "Outlook title"
    assert crm.get_record("people", a["id"])["person_job_title"] == "CRM title"
    out = cli("resolve", listing["conflicts"][0]["id"], "--keep", "crm")
    assert out.returncode == 0, out.stderr
    code, summary = cli.json("sync", "--json")
    assert code == 0, summary
    assert mailbox.get(ca["id"], "job_title") == "CRM title"


@pytest.fixture
def big():
    boxes = start_both(people=560, seed_value=11)
    try:
        yield boxes
    finally:
        boxes.stop()


def test_deleting_60_of_200_linked_contacts_trips_the_brake(tmp_path, big):
    # EWS only, for the suite's time budget (a 560-person first sync): the brake is the engine's,
    # and Outlook deletions over Graph (delta @removed) are covered by test_share_again_e2e.
    from tests.e2e.conftest import Cli
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("WBC_TEST_")}
    env.update(WBC_TEST_KEY=big.crm.api_key, WBC_TEST_EWS_PW=big.ews.password,
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    cli = Cli(tmp_path / "profile", env)
    assert cli(*configure_args(big)).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    linked = shared_contacts(big)
    assert len(linked) >= 200
    for c in linked[:60]:
        big.ews.delete_item(c["id"], how="MoveToDeletedItems")
    people_before = len(big.crm.rows("people"))
    code, summary = cli.json("sync", "--json")
    assert code == 3, summary
    assert summary["unshared"] == {"crm": 0, "outlook": 0} and writes(summary) == 0
    assert summary["holds"][0]["planned"] == 60
    assert len(big.crm.rows("people")) == people_before
    code, summary = cli.json("sync", "--json", "--allow-mass-delete")
    assert code == 0, summary
    assert summary["unshared"]["outlook"] + summary["unshared"]["crm"] == 60
    assert len(big.crm.rows("people")) == people_before  # an Outlook deletion never deletes a Person
