"""Issue 5, end to end: `configure` + `sync --json` as subprocesses against both sandboxes."""
from __future__ import annotations

import pytest

from app.sandbox.run import start_both
from tests.e2e.conftest import configure_args

WRITES = ("created", "updated", "deleted")


def writes(summary: dict) -> int:
    return sum(n for key in WRITES for side in summary[key].values() for n in side.values()) + sum(
        summary["unshared"].values()
    )


def shared_contacts(boxes):
    return [c for c in boxes.ews.items("contacts") if "Workbooks" in (c["props"].get("Categories") or [])]


def my_people(boxes):
    queue = boxes.crm.my_queues["Private::Crm::PersonQueue"]
    rows = [boxes.crm.get_record("people", r["id"]) for r in boxes.crm.rows("people")]
    return [r for r in rows if r.get("assigned_to") == queue or r.get("watched") is True]


def contact_for(boxes, email):
    for c in boxes.ews.items("contacts"):
        addrs = c["props"].get("EmailAddresses") or {}
        values = addrs.values() if isinstance(addrs, dict) else addrs
        if email in [str(v).lower() for v in values]:
            return c
    raise AssertionError(f"no contact with {email}")


def test_first_sync_brings_exactly_my_people_and_open_activities(cli, sandboxes, synced):
    people = my_people(sandboxes)
    contacts = shared_contacts(sandboxes)
    assert len(contacts) == len(people)
    for person in people:
        contact_for(sandboxes, person["main_location[email]"].lower())  # each one is there
    assert synced["created"]["outlook"]["tasks"] + synced["created"]["outlook"]["meetings"] > 0
    assert synced["errors"] == []


def test_second_sync_with_no_changes_makes_no_writes(cli, synced):
    code, again = cli.json("sync", "--json")
    assert code == 0 and writes(again) == 0, again


def test_edits_cross_in_both_directions(cli, sandboxes, synced):
    people = my_people(sandboxes)
    crm_side, outlook_side = people[0], people[1]
    sandboxes.crm.bump_version("people", crm_side["id"], person_job_title="Chief Tea Officer")
    contact = contact_for(sandboxes, crm_side["main_location[email]"].lower())
    other = contact_for(sandboxes, outlook_side["main_location[email]"].lower())
    sandboxes.ews.edit_item(other["id"], JobTitle="Head of Biscuits")
    code, summary = cli.json("sync", "--json")
    assert code == 0, summary
    assert summary["updated"]["outlook"]["contacts"] == 1 and summary["updated"]["crm"]["people"] == 1
    assert sandboxes.ews.describe(contact["id"])["props"]["JobTitle"] == "Chief Tea Officer"
    assert sandboxes.crm.get_record("people", outlook_side["id"])["person_job_title"] == "Head of Biscuits"


def test_same_field_both_sides_is_a_conflict_different_fields_merge(cli, sandboxes, synced):
    a, b = my_people(sandboxes)[2:4]
    ca = contact_for(sandboxes, a["main_location[email]"].lower())
    cb = contact_for(sandboxes, b["main_location[email]"].lower())
    sandboxes.crm.bump_version("people", a["id"], person_job_title="CRM title")
    sandboxes.ews.edit_item(ca["id"], JobTitle="Outlook title")
    sandboxes.crm.bump_version("people", b["id"], person_job_title="Merged title")
    sandboxes.ews.edit_item(cb["id"], CompanyName="Merged Company")
    code, summary = cli.json("sync", "--json")
    assert summary["conflicts"] == 1, summary
    code, listing = cli.json("conflicts", "--json")
    assert len(listing["conflicts"]) == 1
    assert [d["field"] for d in listing["conflicts"][0]["differences"]] == ["job_title"]
    assert sandboxes.ews.describe(cb["id"])["props"]["JobTitle"] == "Merged title"
    assert sandboxes.crm.get_record("people", b["id"])["employer_name"] == "Merged Company"
    # the conflicted item was left alone on both sides
    assert sandboxes.ews.describe(ca["id"])["props"]["JobTitle"] == "Outlook title"
    assert sandboxes.crm.get_record("people", a["id"])["person_job_title"] == "CRM title"
    out = cli("resolve", listing["conflicts"][0]["id"], "--keep", "crm")
    assert out.returncode == 0, out.stderr
    code, summary = cli.json("sync", "--json")
    assert code == 0, summary
    assert sandboxes.ews.describe(ca["id"])["props"]["JobTitle"] == "CRM title"


@pytest.fixture
def big():
    boxes = start_both(people=560, seed_value=11)
    try:
        yield boxes
    finally:
        boxes.stop()


def test_deleting_60_of_200_linked_contacts_trips_the_brake(tmp_path, big):
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
