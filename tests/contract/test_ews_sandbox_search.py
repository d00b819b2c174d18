"""Searching: AQS query strings, ResolveNames, FindItem shapes."""
from __future__ import annotations

from exchangelib import Contact
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import Mailbox

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403


def test_query_string_search(account, ews):
    _server, sandbox = ews
    Contact(folder=account.contacts, given_name="Quinn", surname="Searchable", display_name="Quinn Searchable",
            company_name="Findme Ltd",
            email_addresses=[EmailAddress(email="quinn@findme.example", label="EmailAddress1")]).save()
    assert [c.display_name for c in account.contacts.filter("findme")] == ["Quinn Searchable"]
    assert [c.display_name for c in account.contacts.filter('"Quinn Searchable"')] == ["Quinn Searchable"]
    assert list(account.contacts.filter("nomatchanywhere")) == []
    subject = sandbox.items("sentitems")[0]["props"]["Subject"]
    hits = list(account.sent.filter(f'subject:"{subject}"').only("subject"))
    assert hits and all(subject.casefold() in h.subject.casefold() for h in hits)


def test_resolve_names(account, ews):
    _server, sandbox = ews
    Contact(folder=account.contacts, given_name="Res", surname="Olve", display_name="Res Olve",
            email_addresses=[EmailAddress(email="res.olve@x.example", label="EmailAddress1")]).save()
    (one,) = account.protocol.resolve_names(["res.olve"])
    assert isinstance(one, Mailbox) and one.email_address == "res.olve@x.example"
    (me,) = account.protocol.resolve_names(["user@example.com"])
    assert me.email_address == "user@example.com"
    Contact(folder=account.contacts, given_name="Res", surname="Two", display_name="Res Two",
            email_addresses=[EmailAddress(email="res.two@x.example", label="EmailAddress1")]).save()
    many = account.protocol.resolve_names(["res"])
    assert {m.email_address for m in many} == {"res.olve@x.example", "res.two@x.example"}
    assert [type(r).__name__ for r in account.protocol.resolve_names(["zzz-nobody"])] == ["ErrorNameResolutionNoResults"]
