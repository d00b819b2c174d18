"""explain_address (app/journal/email_store.py): for one address, the records it belongs to, the
sent emails recorded and linked through it, and why; or why nothing is recorded."""
from __future__ import annotations

import pytest

from app.domain.records import RefKind
from app.journal.email_store import explain_address, open_email_store
from app.sync.emails import EmailOptions, run_email_phase
from tests.fixtures.email_fakes import FakeEmailCrm, FakeSentItems, FixedClock


@pytest.fixture
def world():
    crm = FakeEmailCrm()
    crm.add_ref(RefKind.ORGANISATION, "200001", "ORG-1", "Acme Ltd", emails=("info@acme.example",))
    crm.add_person("100001", "Ann Adams", "ann@acme.example", employer="200001")
    crm.add_ref(RefKind.CASE, "500001", "CASE-12", "Broken widget", person_ids=("100001",), status="Open")
    crm.add_lead("400001", "lead@leadco.example", "Lena Lead")
    store = open_email_store(None)
    yield crm, FakeSentItems(), store, FixedClock()
    store.close()


def why(email, target_type):
    return {ln["why"] for e in email["emails"] for ln in e["links"] if ln["type"] == target_type}


def test_person_address_with_employer_and_subject_reference(world):
    crm, mb, store, clock = world
    mb.send(["ann@acme.example"], subject="About CASE-12")
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    got = explain_address(store.db, " ANN@acme.example ")
    assert got["status"] == "linked" and got["emails_linked"] == 1 and got["emails_waiting"] == 0
    assert [(o["type"], o["id"]) for o in got["owners"]] == [("person", "100001")]
    assert why(got, "organisation") == {"employer of a person the mail went to"}
    assert why(got, "case") == {"its reference is in the subject"}
    assert all(ln["in_workbooks"] for e in got["emails"] for ln in e["links"])


def test_sales_lead_contact_details_waiting_and_never_recorded(world):
    crm, mb, store, clock = world
    mb.send(["lead@leadco.example"])
    mb.send(["nobody@new.example"])
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert why(explain_address(store.db, "lead@leadco.example"), "sales_lead") == {"matched the Sales Lead's address"}
    waiting = explain_address(store.db, "nobody@new.example")
    assert waiting["status"] == "waiting" and waiting["emails_waiting"] == 1
    assert waiting["explanation"] == "waiting: no CRM record has this address yet"
    crm.add_contact_email("100001", "nobody@new.example")
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    late = explain_address(store.db, "nobody@new.example")
    assert late["status"] == "linked" and late["emails_waiting"] == 0
    assert {ln["late"] for e in late["emails"] for ln in e["links"]} == {True}
    never = explain_address(store.db, "x@secret.example", never_record=("@secret.example",))
    assert never["explanation"] == "never recorded: on the never-log list"
    own = explain_address(store.db, "colleague@ourco.example", own_domains=("ourco.example",))
    assert own["status"] == "never_recorded"


def test_a_person_outside_the_sync_is_explained_without_guessing_which_address(world):
    crm, mb, store, clock = world
    mb.send(["ann@acme.example"])
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    (owner,) = explain_address(store.db, "ann@acme.example")["owners"]
    assert owner["why"] == "matched one of the person's addresses (main, alternate, home or Contact Details)"
