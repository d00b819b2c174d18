"""A contact the user deleted in Outlook stays away until shared again; `share` brings it back once."""
from __future__ import annotations

from tests.e2e.conftest_graph import backend, backend_synced, graph_cli, graph_sandboxes  # noqa: F401
from tests.e2e.test_sync_e2e import contact_for, my_people, shared_contacts, writes


def test_share_brings_back_a_contact_deleted_in_outlook_exactly_once(backend, backend_synced):
    cli, sandboxes = backend.cli, backend.boxes
    person = my_people(sandboxes)[0]
    email = person["main_location[email]"].lower()
    backend.mailbox.trash(contact_for(sandboxes, email)["id"])
    code, summary = cli.json("sync", "--json")
    assert code == 0 and summary["unshared"]["outlook"] == 1, summary
    before = len(shared_contacts(sandboxes))
    code, again = cli.json("sync", "--json")
    assert writes(again) == 0 and len(shared_contacts(sandboxes)) == before  # not re-created on its own

    out = cli("share", email)
    assert out.returncode == 0, out.stderr
    code, summary = cli.json("sync", "--json")

    assert code == 0 and summary["created"]["outlook"]["contacts"] == 1, summary
    assert len(shared_contacts(sandboxes)) == before + 1
    contact_for(sandboxes, email)
    code, quiet = cli.json("sync", "--json")
    assert writes(quiet) == 0 and quiet["requests"] == again["requests"], (quiet, again)  # settled: no look-ups
