"""Conflict policies chosen at configure time settle a both-sides edit without asking."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import configure_args
from tests.e2e.conftest_graph import backend, graph_cli, graph_sandboxes  # noqa: F401
from tests.e2e.test_sync_e2e import contact_for, my_people


@pytest.mark.parametrize("policy, winner", [("crm_wins", "crm"), ("person=outlook_wins", "outlook")])
def test_a_policy_settles_a_same_field_edit_without_a_conflict(backend, policy, winner):
    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    out = backend.configure("--conflict-policy", "task=ask", "--conflict-policy", policy)
    assert out.returncode == 0, out.stderr
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    person = my_people(sandboxes)[0]
    contact = contact_for(sandboxes, person["main_location[email]"].lower())
    sandboxes.crm.bump_version("people", person["id"], person_job_title="CRM title")
    mailbox.edit(contact["id"], job_title="Outlook title")

    code, summary = cli.json("sync", "--json")

    assert code == 0 and summary["conflicts"] == 0, summary
    expected = "CRM title" if winner == "crm" else "Outlook title"
    assert mailbox.get(contact["id"], "job_title") == expected
    assert sandboxes.crm.get_record("people", person["id"])["person_job_title"] == expected
    code, listing = cli.json("conflicts", "--json")
    assert listing["conflicts"] == []


def test_an_unknown_policy_is_a_usage_error_and_saves_nothing(cli, sandboxes):
    # one backend is enough: the option is refused before any mailbox is contacted
    out = cli(*configure_args(sandboxes, "--conflict-policy", "person=loudest_wins"))
    assert out.returncode == 64, out.stderr
    assert "crm_wins" in out.stderr and "Traceback" not in out.stderr
    assert not (cli.home / "config.toml").exists()


def test_one_way_people_keep_outlook_edits_out_of_workbooks(backend):
    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    out = backend.configure("--direction", "person=to_outlook", "--direction", "meeting=off")
    assert out.returncode == 0, out.stderr
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["created"]["outlook"]["meetings"] == 0, first
    person = my_people(sandboxes)[0]
    contact = contact_for(sandboxes, person["main_location[email]"].lower())
    mailbox.edit(contact["id"], job_title="Outlook only")
    code, summary = cli.json("sync", "--json")
    assert code == 0 and summary["updated"]["crm"]["people"] == 0, summary
    assert sandboxes.crm.get_record("people", person["id"])["person_job_title"] != "Outlook only"

    sandboxes.crm.bump_version("people", person["id"], employer_name="Source Ltd")
    code, summary = cli.json("sync", "--json")
    assert code == 0 and summary["updated"]["outlook"]["contacts"] == 1, summary
    assert mailbox.get(contact["id"], "company") == "Source Ltd"
    assert mailbox.get(contact["id"], "job_title") == "Outlook only"
