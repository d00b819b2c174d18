"""The email phase (app/sync/emails.py) over in-memory fakes and EmailStore on an in-memory or temp journal."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.records import RefKind, SentMessage
from app.errors import AuthError
from app.journal.email_store import EmailStore, open_email_store
from app.sync.emails import (
    EXCLUDED, PENDING, EmailOptions, NeverRecord, classify, run_email_phase, short_ref,
)
from tests.fixtures.email_fakes import T0, FakeEmailCrm, FakeSentItems, FixedClock


@pytest.fixture
def crm():
    c = FakeEmailCrm()
    c.add_ref(RefKind.ORGANISATION, "200001", "ORG-200001", "Acme Ltd", emails=("info@acme.example",))
    c.add_ref(RefKind.ORGANISATION, "200002", "ORG-200002", "Globex plc", emails=("hello@globex.example",))
    c.add_person("100001", "Ann Adams", "ann@acme.example", "ann.alt@mail.example", employer="200001")
    c.add_person("100002", "Bob Brown", "bob@globex.example", company="Globex plc")
    c.add_ref(RefKind.CASE, "500001", "CASE-12", "Broken widget", person_ids=("100001",), status="Open")
    c.add_ref(RefKind.OPPORTUNITY, "600001", "OPP-7", "Big deal", person_ids=("100002",), status="Proposal")
    c.add_lead("400001", "lead@leadco.example", "Lena Lead")
    return c


@pytest.fixture
def mb():
    return FakeSentItems()


@pytest.fixture
def store():
    s = open_email_store(None)
    yield s
    s.close()


@pytest.fixture
def clock():
    return FixedClock()


def run(crm, mb, store, clock, **opts):
    return run_email_phase(crm, mb, store, EmailOptions(**opts), clock)


# --- matching --------------------------------------------------------------------------------------

def test_address_matching_ignores_case_whitespace_and_display_names(crm, mb, store, clock):
    m1 = mb.send(["  Ann Adams <ANN@Acme.Example>  "])
    m2 = mb.send([], cc=["Ann.Alt@MAIL.example"])
    res = run(crm, mb, store, clock)
    assert res.emails_created == 2
    assert crm.targets_of(m1.message_id) == {("person", "100001"), ("organisation", "200001")}
    assert crm.targets_of(m2.message_id) == {("person", "100001"), ("organisation", "200001")}
    assert res.email_links == 4


def test_contact_details_address_links_the_person(crm, mb, store, clock):
    crm.add_contact_email("100002", "bob.home@home.example")
    m = mb.send(["bob.home@home.example"])
    run(crm, mb, store, clock)
    assert ("person", "100002") in crm.targets_of(m.message_id)


def test_employer_found_by_company_name_when_the_person_has_no_employer_link(crm, mb, store, clock):
    m = mb.send(["bob@globex.example"])
    run(crm, mb, store, clock)
    assert crm.targets_of(m.message_id) == {("person", "100002"), ("organisation", "200002")}


def test_sales_lead_and_person_in_one_email_recorded_once_linked_to_both(crm, mb, store, clock):
    m = mb.send(["ann@acme.example"], cc=["lead@leadco.example"], subject="Proposal")
    res = run(crm, mb, store, clock)
    assert res.emails_created == 1 and len(crm.emails) == 1
    assert crm.targets_of(m.message_id) == {("person", "100001"), ("organisation", "200001"), ("sales_lead", "400001")}
    eid, rec = crm.email_by_mid(m.message_id)
    assert rec["to"] == ("ann@acme.example",) and rec["cc"] == ("lead@leadco.example",)
    assert rec["status"] == "SENT" and rec["body"] == "body text" and rec["sent_at"] == m.sent_at


def test_object_ref_in_subject_links_that_record(crm, mb, store, clock):
    m = mb.send(["unknown@nowhere.example"], subject="Re: your issue CASE-12 and OPP-7")
    res = run(crm, mb, store, clock)
    assert res.emails_created == 1
    assert crm.targets_of(m.message_id) == {("case", "500001"), ("opportunity", "600001")}


def test_organisation_by_domain_only_when_enabled(crm, mb, store, clock):
    m = mb.send(["someone.else@globex.example"])
    run(crm, mb, store, clock)
    assert crm.email_by_mid(m.message_id) is None
    s2 = open_email_store(None)
    m2 = mb.send(["another@globex.example"])
    run(crm, mb, s2, clock, link_organisation_by_domain=True)
    assert crm.targets_of(m2.message_id) == {("organisation", "200002")}


# --- exclusions --------------------------------------------------------------------------------------

def test_exclusions_private_internal_never_record_and_capture_start(crm, mb, store, clock):
    private = mb.send(["ann@acme.example"], private=True)
    internal = mb.send(["colleague@ourco.example"])
    never = mb.send(["ann@acme.example"], cc=["x@blocked.example"])
    old = mb.send(["ann@acme.example"], sent_at=T0 - timedelta(days=40))
    ok = mb.send(["ann@acme.example"], cc=["colleague@ourco.example"])
    res = run(crm, mb, store, clock, never_record=("ann@acme.example", "blocked.example"),
              capture_since=T0 - timedelta(days=1))
    assert res.emails_created == 0  # `ok` goes only to a never-record address plus an internal one
    for m in (private, internal, never, old, ok):
        assert crm.email_by_mid(m.message_id) is None
    res = run(crm, mb, store, clock)  # nothing re-examined
    assert res.emails_created == 0 and res.staged == 0


def test_private_allowed_and_bcc_only_when_enabled(crm, mb, store, clock):
    p = mb.send(["ann@acme.example"], private=True)
    b = mb.send(["stranger@nowhere.example"], bcc=["bob@globex.example"])
    res = run(crm, mb, store, clock, allow_private=True)
    assert crm.email_by_mid(p.message_id) is not None
    assert crm.email_by_mid(b.message_id) is None and res.emails_created == 1
    s2 = open_email_store(None)
    crm2 = FakeEmailCrm()
    crm2.add_person("100002", "Bob Brown", "bob@globex.example")
    run(crm2, mb, s2, clock, record_bcc=True)
    _eid, rec = crm2.email_by_mid(b.message_id)
    assert rec["bcc"] == ("bob@globex.example",)


def test_classify_and_never_record_list():
    never = NeverRecord.build(["Boss@Ourco.example", "@partner.example", "sub.example"])
    assert "boss@ourco.example" in never and "a@partner.example" in never and "a@x.sub.example" in never
    assert "a@other.example" not in never
    msg = SentMessage("i", "<x>", "s", "me@ourco.example", ("a@partner.example",), ("b@partner.example",))
    assert classify(msg, EmailOptions(), ("ourco.example",), never).state == EXCLUDED
    msg2 = SentMessage("i", "<y>", "s", "me@ourco.example", ("a@partner.example", "c@client.example"))
    st = classify(msg2, EmailOptions(), ("ourco.example",), never)
    assert st.state == PENDING and st.addresses == ("c@client.example",)


def test_own_domain_comes_from_the_mailbox_identity(crm, mb, store, clock):
    crm.add_person("100009", "Col League", "col@ourco.example")
    m = mb.send(["col@ourco.example"])
    res = run(crm, mb, store, clock)
    assert crm.email_by_mid(m.message_id) is None and res.excluded == 1


# --- dedup -----------------------------------------------------------------------------------------

def test_second_run_records_nothing_new(crm, mb, store, clock):
    for _ in range(5):
        mb.send(["ann@acme.example"])
    assert run(crm, mb, store, clock).emails_created == 5
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and res.email_links == 0 and len(crm.emails) == 5


def test_lost_journal_records_nothing_twice(crm, mb, tmp_path, clock):
    for _ in range(3):
        mb.send(["ann@acme.example"])
    first = open_email_store(tmp_path / "a.sqlite3")
    assert run(crm, mb, first, clock).emails_created == 3
    links = len(crm.links)
    fresh = open_email_store(tmp_path / "b.sqlite3")  # reinstall: empty journal, same mailbox
    res = run(crm, mb, fresh, clock)
    assert res.emails_created == 0 and res.adopted == 3
    assert len(crm.emails) == 3 and len(crm.links) == links
    assert run(crm, mb, fresh, clock).adopted == 0


def test_same_message_id_twice_in_sent_items_is_one_record(crm, mb, store, clock):
    mb.send(["ann@acme.example"], mid="<dup@x>")
    mb.send(["ann@acme.example"], mid="<dup@x>")
    assert run(crm, mb, store, clock).emails_created == 1


def test_crash_between_record_and_commit_keeps_links(crm, mb, store, clock):
    m = mb.send(["ann@acme.example"])
    real = store.save_recorded
    calls = {"n": 0}

    def crash(outcomes):
        calls["n"] += 1
        raise RuntimeError("power cut")

    store.save_recorded = crash
    with pytest.raises(RuntimeError):
        run(crm, mb, store, clock)
    store.save_recorded = real
    assert len(crm.emails) == 1 and not crm.links
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and res.adopted == 1 and len(crm.emails) == 1
    assert crm.targets_of(m.message_id) == {("person", "100001"), ("organisation", "200001")}


# --- retroactive linking -----------------------------------------------------------------------------

def test_unknown_address_is_held_then_linked_with_original_dates(crm, mb, store, clock):
    sent = [mb.send(["new.client@prospect.example"], subject=f"mail {k}") for k in range(3)]
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and res.pending == 3 and not crm.emails
    assert store.counts()["pending_match"] == 3
    clock.advance(days=7)
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0  # still nobody
    crm.add_person("100077", "Outside Filters", "other@elsewhere.example")
    crm.add_contact_email("100077", "new.client@prospect.example")
    clock.advance(days=1)
    res = run(crm, mb, store, clock)
    assert res.emails_created == 3 and res.retroactive_links == 3
    for m in sent:
        _eid, rec = crm.email_by_mid(m.message_id)
        assert rec["sent_at"] == m.sent_at and rec["to"] == ("new.client@prospect.example",)
        assert crm.targets_of(m.message_id) == {("person", "100077")}
    assert store.counts()["pending_match"] == 0


def test_recorded_email_gains_a_link_when_a_cc_address_is_added_later(crm, mb, store, clock):
    m = mb.send(["ann@acme.example"], cc=["late@later.example"])
    run(crm, mb, store, clock)
    assert crm.targets_of(m.message_id) == {("person", "100001"), ("organisation", "200001")}
    crm.add_lead("400009", "late@later.example")
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and res.email_links == 1 and res.retroactive_links == 1
    assert ("sales_lead", "400009") in crm.targets_of(m.message_id)
    assert run(crm, mb, store, clock).email_links == 0


def test_message_deleted_before_any_match_stops_being_watched(crm, mb, store, clock):
    m = mb.send(["gone@nowhere.example"])
    run(crm, mb, store, clock)
    mb.delete(m.item_id)
    run(crm, mb, store, clock)
    crm.add_person("100050", "Late Gone", "gone@nowhere.example")
    assert run(crm, mb, store, clock).emails_created == 0


# --- failures --------------------------------------------------------------------------------------

def test_one_bad_email_never_blocks_the_rest_and_backs_off(crm, mb, store, clock):
    bad = mb.send(["ann@acme.example"], subject="REJECT ME")
    good = [mb.send(["ann@acme.example"]) for _ in range(3)]
    body_fail = mb.send(["bob@globex.example"])
    mb.body_fail.add(body_fail.item_id)
    crm.reject_subjects.add("REJECT ME")
    res = run(crm, mb, store, clock)
    assert res.emails_created == 3
    assert {i.item for i in res.issues} == {short_ref(bad.message_id), short_ref(body_fail.message_id)}
    assert all("REJECT" not in i.message and "@" not in i.item for i in res.issues)
    for m in good:
        assert crm.email_by_mid(m.message_id) is not None
    crm.reject_subjects.clear()
    mb.body_fail.clear()
    assert run(crm, mb, store, clock).emails_created == 0  # backing off (1 minute)
    clock.advance(minutes=2)
    res = run(crm, mb, store, clock)
    assert res.emails_created == 2 and not res.issues
    assert store.email_errors() == {}


def test_dedup_lookup_failure_records_nothing_and_retries(crm, mb, store, clock):
    mb.send(["ann@acme.example"])
    crm.fail_find = True
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and res.issues
    crm.fail_find = False
    assert run(crm, mb, store, clock).emails_created == 1


def test_auth_error_is_fatal(crm, mb, store, clock):
    mb.send(["ann@acme.example"])

    def refuse(_emails):
        raise AuthError("signed out")

    crm.record_emails = refuse
    with pytest.raises(AuthError):
        run(crm, mb, store, clock)


def test_too_large_recorded_without_attachments_with_a_note(crm, mb, store, clock):
    m = mb.send(["ann@acme.example"], size=30 * 1024 * 1024)
    run(crm, mb, store, clock, attachments=True)
    _eid, rec = crm.email_by_mid(m.message_id)
    assert "attachments not recorded" in rec["body"]
    assert store.counts()["too_large"] == 1


def test_disabled_does_nothing(crm, mb, store, clock):
    mb.send(["ann@acme.example"])
    res = run(crm, mb, store, clock, enabled=False)
    assert res.emails_created == 0 and not crm.calls and not mb.calls


# --- request counts ---------------------------------------------------------------------------------

def test_thousand_emails_with_a_bounded_number_of_crm_calls(crm, mb, store, clock):
    for k in range(30):
        crm.add_person(str(110000 + k), f"P {k}", f"p{k}@client{k % 5}.example", employer="200001")
    for k in range(1000):
        to = [f"p{k % 30}@client{(k % 30) % 5}.example"]
        cc = [f"unknown{k % 40}@nowhere.example"] if k % 3 == 0 else []
        mb.send(to, cc, subject=f"Mail {k}" + (" CASE-12" if k % 100 == 0 else ""))
    res = run(crm, mb, store, clock)
    assert res.emails_created == 1000 and not res.issues
    assert crm.calls["owners_of_addresses"] == 1 and crm.calls["fetch"] == 1
    assert crm.calls["find_emails"] == 1
    assert crm.calls["record_emails"] == 10 and crm.calls["link_emails"] == 21  # 2,010 links, 100 per call
    before = dict(crm.calls)
    res = run(crm, mb, store, clock)  # nothing new: one probe for the watched addresses only
    assert res.emails_created == 0
    assert crm.calls["owners_of_addresses"] == before["owners_of_addresses"] + 1
    assert crm.addresses_asked[-1] == 40
    for name in ("fetch", "find_emails", "record_emails", "link_emails"):
        assert crm.calls[name] == before[name]


def test_known_addresses_are_not_asked_again(crm, mb, store, clock):
    mb.send(["ann@acme.example"])
    run(crm, mb, store, clock)
    mb.send(["ann@acme.example"])
    mb.send(["bob@globex.example"])
    run(crm, mb, store, clock)
    assert crm.addresses_asked == [1, 1]  # ann once, then only bob


def test_sent_token_committed_per_page(crm, mb, store, clock):
    mb.page_size = 3
    for _ in range(7):
        mb.send(["ann@acme.example"])
    pages = []
    real = store.stage_page

    def spy(token, staged, gone, now, expires):
        pages.append((token, len(staged)))
        return real(token, staged, gone, now, expires)

    store.stage_page = spy
    run(crm, mb, store, clock)
    assert pages == [("3", 3), ("6", 3), ("7", 1)]
    assert store.sent_token() == "7"


def test_email_store_over_the_engine_journal_file(tmp_path, crm, mb, clock):
    from app.journal.repo import open_journal

    journal = open_journal(tmp_path / "journal.sqlite3")
    store = EmailStore(journal.db)
    mb.send(["ann@acme.example"])
    assert run(crm, mb, store, clock).emails_created == 1
    assert journal.cursor("outlook", "sentitems") == "1"
    journal.close()


def test_rejected_sent_items_token_rereads_without_duplicates(crm, mb, store, clock):
    from app.sync.ports import InvalidSyncToken

    mb.send(["ann@acme.example"])
    run(crm, mb, store, clock)
    mb.send(["ann@acme.example"])
    real = mb.sent_changes

    def picky(token, since):
        if token is not None:
            raise InvalidSyncToken("ErrorInvalidSyncStateData")
        return real(token, since)

    mb.sent_changes = picky
    res = run(crm, mb, store, clock)
    assert res.emails_created == 1 and len(crm.emails) == 2


def test_mailbox_down_mid_feed_is_an_issue_not_a_crash(crm, mb, store, clock):
    from app.errors import TransientError

    mb.send(["ann@acme.example"])

    def down(token, since):
        raise TransientError("ErrorServerBusy")
        yield  # pragma: no cover

    mb.sent_changes = down
    res = run(crm, mb, store, clock)
    assert res.emails_created == 0 and [i.item for i in res.issues] == ["sent items"]


def test_person_ref_in_subject_links_a_person_already_known(crm, mb, store, clock):
    mb.send(["ann@acme.example"])
    run(crm, mb, store, clock)  # Ann (PERS-100001) is read once
    m = mb.send(["nobody@nowhere.example"], subject="Notes on pers-100001")
    run(crm, mb, store, clock)
    assert crm.targets_of(m.message_id) == {("person", "100001"), ("organisation", "200001")}
