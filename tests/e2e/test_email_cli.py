"""Issue 6 through the public command line: sent mail recorded and linked, late linking, no repeats."""
from __future__ import annotations

from tests.e2e.conftest import configure_args


def test_sent_mail_is_recorded_linked_and_late_linked(cli, sandboxes):
    out = cli(*configure_args(sandboxes, "--email-capture-days", "30"))
    assert out.returncode == 0, out.stderr
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    outbox = sandboxes.crm.rows("emails")
    recorded = {row.get("message_id") for row in outbox}
    known = [m for m in sandboxes.ews.items("sentitems")]
    assert first["created"]["crm"]["emails"] == len(recorded) > 0
    assert first["email_links"] >= first["created"]["crm"]["emails"]
    assert all(row.get("status") == "SENT" for row in outbox)  # never SEND: nothing leaves the machine
    # mail to addresses nobody knows is held back, not recorded
    unknown = "prospect0@newclient.example"
    assert not any(unknown in (row.get("to_addresses") or "") for row in outbox)

    code, again = cli.json("sync", "--json")
    assert code == 0 and again["created"]["crm"]["emails"] == 0 and again["email_links"] == 0, again

    # the address is added to a person's Contact Details later: the earlier mail is linked then
    person = sandboxes.crm.rows("people")[-1]
    sandboxes.crm.add_contact_email(person["id"], unknown)
    code, late = cli.json("sync", "--json")
    assert code == 0, late
    assert late["created"]["crm"]["emails"] == 1 and late["email_links"] >= 1, late
    row = [r for r in sandboxes.crm.rows("emails") if unknown in (r.get("to_addresses") or "")][0]
    links = [link for link in sandboxes.crm.rows("email_links") if link.get("email_id") == row["id"]]
    assert any(str(link.get("resource_id")) == str(person["id"]) for link in links)
    assert len(known) >= len(recorded)
