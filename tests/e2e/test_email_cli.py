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


def test_explain_an_address_and_history_show_the_sent_mail(cli, sandboxes):
    unknown = "prospect0@newclient.example"
    out = cli(*configure_args(sandboxes, "--email-capture-days", "30", "--never-record", "secret.example"))
    assert out.returncode == 0, out.stderr
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["created"]["crm"]["emails"] > 0, first

    # an address that linked: the records, the emails and why
    link = next(r for r in sandboxes.crm.rows("email_links") if r["resource_type"] == "Private::Crm::Person"
                or r["resource_type"] == "person")
    person = sandboxes.crm.get_record("people", int(link["resource_id"]))
    address = person["main_location[email]"].lower()
    code, why = cli.json("explain", address, "--json")
    assert code == 0, why
    email = why["email"]
    assert email["status"] == "linked" and email["emails_linked"] >= 1, email
    assert {"type": "person", "id": str(person["id"])}.items() <= email["owners"][0].items()
    assert email["owners"][0]["why"] == "matched the person's main, alternate or home address"
    linked_to_person = [ln for e in email["emails"] for ln in e["links"] if ln["id"] == str(person["id"])]
    assert linked_to_person and all(ln["in_workbooks"] for ln in linked_to_person)
    text = cli("explain", address)
    assert text.returncode == 0 and "recorded and linked" in text.stdout and "main, alternate or home" in text.stdout

    # an address nobody has yet: waiting, with the mail that waits for it
    code, why = cli.json("explain", unknown, "--json")
    assert why["email"]["status"] == "waiting" and why["email"]["emails_waiting"] >= 1, why
    assert "waiting: no CRM record has this address yet" in cli("explain", unknown).stdout

    # a never-record domain
    code, why = cli.json("explain", "someone@secret.example", "--json")
    assert why["email"]["explanation"] == "never recorded: on the never-log list", why

    # the address gains a Contact Details row: linked late, and explained as such
    sandboxes.crm.add_contact_email(person["id"], unknown)
    code, late = cli.json("sync", "--json")
    assert code == 0 and late["email_links"] >= 1, late
    code, why = cli.json("explain", unknown, "--json")
    assert why["email"]["status"] == "linked", why
    assert why["email"]["owners"][0]["why"] == "matched an address in the person's Contact Details"

    # history: per run the emails recorded and the links made
    code, hist = cli.json("history", "--json")
    assert code == 0
    newest, oldest = hist["runs"][0], hist["runs"][-1]
    assert oldest["emails"] == {"recorded": first["created"]["crm"]["emails"], "links": first["email_links"]}
    assert newest["emails"] == {"recorded": late["created"]["crm"]["emails"], "links": late["email_links"]}
    lines = cli("history").stdout.splitlines()
    assert f"emails recorded {first['created']['crm']['emails']}, email links {first['email_links']}" in lines[-1]
