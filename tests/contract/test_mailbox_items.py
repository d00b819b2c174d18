"""The EWS adapter against the sandbox: create/find/sync/update/trash of contacts, tasks and
calendar items, sent items, the bulk_update trap avoided, categories kept, busy back-off, and
the number of requests each step costs."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from app.domain.records import Kind, NewItem, Sharing, Update
from app.errors import ItemRejected, NotFound, StaleVersion, TransientError
from tests.fixtures.mailbox_sandbox import ews_sandbox

PERSON = {
    "first_name": "Ann", "middle_name": "B", "last_name": "Lee", "suffix": "Jr", "job_title": "CTO",
    "company": "Globex", "email1": "ann@globex.example", "email2": "ann.lee@mail.example",
    "email3": "ann@home.example", "business_phone": "+44 113 496 0000", "business_phone2": "+44 113 496 0001",
    "mobile_phone": "+44 7700 900000", "business_fax": "+44 113 496 0002", "home_phone": "+44 113 496 0003",
    "business_street": "1 Main St", "business_city": "Leeds", "business_state": "West Yorkshire",
    "business_postcode": "LS1 1AA", "business_country": "United Kingdom", "home_street": "2 High St",
    "home_city": "York", "home_state": "North Yorkshire", "home_postcode": "YO1 1AA", "home_country": "UK",
    "website": "https://globex.example", "spouse_name": "Sam", "notes": "Met at the fair.",
}


@pytest.fixture
def env():
    with ews_sandbox() as env:
        yield env


def _one(port, kind, fields, **kw):
    [stamp] = port.create(kind, [NewItem(fields, link_id=kw.pop("link_id", "link-1"), **kw)])
    assert not isinstance(stamp, Exception), stamp
    return stamp


def test_contact_every_field_round_trips_and_lands_as_exchange_stores_it(env):
    port = env.mailbox()
    stamp = _one(port, Kind.PERSON, PERSON, crm_id="42", related="Opportunity OPP-7: Big deal")
    [item] = port.fetch(Kind.PERSON, [stamp.id])
    assert dict(item.fields) == PERSON
    stored = env.sandbox.describe(stamp.id)
    assert stored["props"]["DisplayName"] == "Ann B Lee Jr"
    assert stored["props"]["Categories"] == ["Workbooks"]
    assert stored["props"]["EmailAddresses"]["EmailAddress3"] == "ann@home.example"
    assert "Opportunity OPP-7" in stored["props"]["Body"] and "Met at the fair." in stored["props"]["Body"]
    assert sorted(v for v in stored["ext"].values()) == ["42", "link-1", "shared"]


def test_contact_update_merges_indexed_fields_with_what_the_user_added(env):
    port = env.mailbox()
    stamp = _one(port, Kind.PERSON, {"first_name": "Ann", "email1": "a@x.example", "business_city": "Leeds"})
    # The user adds a third address, a car phone and an "Other" address in Outlook.
    env.sandbox.edit_item(stamp.id, EmailAddresses={"EmailAddress1": "a@x.example", "EmailAddress3": "h@x.example"},
                          PhoneNumbers={"CarPhone": "555"}, PhysicalAddresses={"Business": {"City": "Leeds"},
                                                                              "Other": {"City": "Paris"}})
    [current] = port.fetch(Kind.PERSON, [stamp.id])
    env.reset_stats()
    new = port.update(Kind.PERSON, Update(current.item_id, current.change_key,
                                          {"email1": "new@x.example", "mobile_phone": "777", "business_postcode": "LS1"},
                                          frozenset({"email1", "mobile_phone", "business_postcode"})))
    assert env.requests() == {"GetItem": 1, "UpdateItem": 1}
    props = env.sandbox.describe(new.id)["props"]
    assert props["EmailAddresses"] == {"EmailAddress1": "new@x.example", "EmailAddress3": "h@x.example"}
    assert props["PhoneNumbers"] == {"CarPhone": "555", "MobilePhone": "777"}
    assert props["PhysicalAddresses"] == {"Business": {"City": "Leeds", "PostalCode": "LS1"}, "Other": {"City": "Paris"}}


def test_simple_update_is_one_request_and_notes_keep_the_managed_block(env):
    port = env.mailbox()
    stamp = _one(port, Kind.PERSON, {"first_name": "Ann", "notes": "mine"}, related="Case CASE-1")
    env.reset_stats()
    s2 = port.update(Kind.PERSON, Update(stamp.id, stamp.version, {"job_title": "CEO"}, frozenset({"job_title"})))
    assert env.requests() == {"UpdateItem": 1}
    assert env.sandbox.describe(s2.id)["props"]["DisplayName"] == "Ann"  # untouched by a job title change
    s3 = port.update(Kind.PERSON, Update(s2.id, s2.version, {"notes": "changed"}, frozenset({"notes"})))
    body = env.sandbox.describe(s3.id)["props"]["Body"]
    assert body.startswith("changed") and "Case CASE-1" in body
    s4 = port.update(Kind.PERSON, Update(s3.id, s3.version, {}, frozenset(), related="Case CASE-2"))
    body = env.sandbox.describe(s4.id)["props"]["Body"]
    assert body.startswith("changed") and "CASE-2" in body and "CASE-1" not in body
    assert port.fetch(Kind.PERSON, [s4.id])[0].fields["notes"] == "changed"


def test_task_create_update_status_and_trash(env):
    port = env.mailbox()
    fields = {"subject": "Call Ann", "description": "deal", "start_date": "2025-03-29", "due_date": "2025-03-31",
              "status": "new", "priority": "high", "reminder_at": "2025-03-30T08:15Z"}
    stamp = _one(port, Kind.TASK, fields)
    [item] = port.fetch(Kind.TASK, [stamp.id])
    assert dict(item.fields) == fields
    s2 = port.update(Kind.TASK, Update(stamp.id, stamp.version, {**fields, "status": "complete"}, frozenset({"status"})))
    props = env.sandbox.describe(s2.id)["props"]
    assert (props["Status"], str(props["PercentComplete"])) == ("Completed", "100")
    assert port.fetch(Kind.TASK, [s2.id])[0].fields["status"] == "complete"
    assert port.trash(Kind.TASK, [s2.id]) == [None]
    assert env.sandbox.items("deleteditems")[0]["props"]["Subject"] == "Call Ann"
    assert env.sandbox.items("tasks") == []


def test_task_id_change_on_update_is_returned(env):
    port = env.mailbox()
    stamp = _one(port, Kind.TASK, {"subject": "Renamed", "status": "new"})
    env.sandbox.set_knob("UpdateItem", "task_id_change", True)
    new = port.update(Kind.TASK, Update(stamp.id, stamp.version, {"subject": "Renamed again"}, frozenset({"subject"})))
    assert new.id != stamp.id and new.version != stamp.version
    assert port.fetch(Kind.TASK, [new.id])[0].fields["subject"] == "Renamed again"


@pytest.mark.parametrize("zone,fields", [
    ("America/Chicago", {"all_day": False, "start": "2025-03-09T07:30Z", "end": "2025-03-09T08:30Z"}),
    ("Australia/Sydney", {"all_day": True, "start_date": "2025-04-05", "end_date": "2025-04-06"}),
    ("Europe/London", {"all_day": True, "start_date": "2025-03-30", "end_date": "2025-03-30"}),
])
def test_calendar_items_keep_exact_instants_and_days_across_dst(env, zone, fields):
    port = env.mailbox()
    full = {"subject": "Meet", "description": "agenda", "location": "Room 1", "reminder_minutes": 15,
            "timezone": zone, **fields}
    stamp = _one(port, Kind.MEETING, full)
    [item] = port.fetch(Kind.MEETING, [stamp.id])
    expected = {"start": None, "end": None, "start_date": None, "end_date": None, **full}
    assert dict(item.fields) == expected
    assert item.global_id and not item.has_attendees and item.organised_by_me


def test_calendar_writes_never_invite_and_attendee_meetings_report_read_only_fields(env):
    port = env.mailbox()
    stamp = _one(port, Kind.MEETING, {"subject": "Sync", "all_day": False, "start": "2025-06-01T09:00Z",
                                       "end": "2025-06-01T10:00Z", "timezone": "Europe/London"})
    # (The sandbox's edit helper cannot build an Organizer element yet; organiser mapping is unit-tested.)
    env.sandbox.edit_item(stamp.id, RequiredAttendees=["Bob@x.example"], OptionalAttendees=["c@x.example"])
    [item] = port.fetch(Kind.MEETING, [stamp.id])
    assert item.has_attendees and item.attendees == ("bob@x.example", "c@x.example")
    new = port.update(Kind.MEETING, Update(item.item_id, item.change_key, {"subject": "Sync 2"}, frozenset({"subject"})))
    assert port.fetch(Kind.MEETING, [new.id])[0].fields["subject"] == "Sync 2"
    sends = [r for r in env.sandbox.request_log if r["operation"] in ("CreateItem", "UpdateItem")]
    assert sends and all(r["outcome"] == "NoError" for r in sends)


def test_stale_change_key_fails_only_that_item(env):
    port = env.mailbox()
    stamps = port.create(Kind.PERSON, [NewItem({"first_name": f"P{i}"}, link_id=f"l{i}") for i in range(3)])
    env.sandbox.edit_item(stamps[1].id, JobTitle="edited in Outlook")
    results = []
    for s in stamps:
        try:
            results.append(port.update(Kind.PERSON, Update(s.id, s.version, {"job_title": "ours"}, frozenset({"job_title"}))))
        except StaleVersion as err:
            results.append(err)
    assert isinstance(results[1], StaleVersion)
    assert all(r.version != s.version for r, s in zip((results[0], results[2]), (stamps[0], stamps[2])))
    assert env.sandbox.describe(stamps[1].id)["props"]["JobTitle"] == "edited in Outlook"
    # A bare ChangeKey bump (Exchange housekeeping) is stale too: re-read, never overwrite blindly.
    env.sandbox.bump_change_key(stamps[0].id)
    with pytest.raises(StaleVersion):
        port.update(Kind.PERSON, Update(results[0].id, results[0].version, {"job_title": "x"}, frozenset({"job_title"})))


def test_sharing_keeps_the_users_other_categories(env):
    port = env.mailbox()
    stamp = _one(port, Kind.PERSON, {"first_name": "Ann"}, sharing=Sharing.SHARED)
    ck = env.sandbox.edit_item(stamp.id, Categories=["Red", "Workbooks", "Customers"])
    s2 = port.set_sharing(Kind.PERSON, stamp.id, ck, Sharing.UNSHARED, crm_id=None, link_id=None)
    assert env.sandbox.describe(s2.id)["props"]["Categories"] == ["Red", "Customers"]
    s3 = port.set_sharing(Kind.PERSON, s2.id, s2.version, Sharing.SHARED, crm_id="9", link_id=None)
    assert env.sandbox.describe(s3.id)["props"]["Categories"] == ["Red", "Customers", "Workbooks"]
    [item] = port.fetch(Kind.PERSON, [s3.id])
    assert (item.marker, item.crm_id, item.link_id) == (Sharing.SHARED, "9", "link-1")


def test_native_items_and_distribution_lists(env):
    env.sandbox.add_item("contacts", "Contact", {"GivenName": "Native", "DisplayName": "Native",
                                                 "EmailAddresses": {"EmailAddress1": "n@x.example"}})
    env.sandbox.add_item("contacts", "DistributionList", {"DisplayName": "Team"})
    port = env.mailbox()
    [page] = list(port.changes(Kind.PERSON, None))
    assert [c.item.fields["first_name"] for c in page.changes] == ["Native"]
    assert page.changes[0].item.marker is None and not page.changes[0].item.categorised


def test_no_change_sync_costs_one_request_per_folder(env):
    port = env.mailbox()
    port.create(Kind.PERSON, [NewItem({"first_name": "A"}, link_id="a")])
    port.create(Kind.TASK, [NewItem({"subject": "T"}, link_id="t")])
    port.create(Kind.MEETING, [NewItem({"subject": "M", "all_day": True, "start_date": "2025-01-01",
                                        "end_date": "2025-01-01"}, link_id="m")])
    tokens = {kind: list(port.changes(kind, None))[-1].token for kind in Kind}
    sent_token = list(port.sent_changes(None, None))[-1].token
    for kind in Kind:
        env.reset_stats()
        [page] = list(port.changes(kind, tokens[kind]))
        assert page.changes == () and page.done
        assert env.requests() == {"SyncFolderItems": 1}
    env.reset_stats()
    [page] = list(port.sent_changes(sent_token, None))
    assert page.messages == () and env.requests() == {"SyncFolderItems": 1}


def test_bulk_create_chunks_and_per_item_results(env):
    port = env.mailbox()
    items = [NewItem({"first_name": f"P{i}"}, link_id=f"l{i}") for i in range(250)]
    env.reset_stats()
    results = port.create(Kind.PERSON, items)
    assert env.requests() == {"CreateItem": 3}
    assert len(results) == 250 and sum(isinstance(r, Exception) for r in results) == 0
    bad = port.create(Kind.MEETING, [NewItem({"subject": "ok", "all_day": True, "start_date": "2025-01-01",
                                              "end_date": "2025-01-01"}, link_id="ok"),
                                     NewItem({"subject": "bad", "all_day": False, "start": "not a time"}, link_id="bad")])
    assert not isinstance(bad[0], Exception) and bad[1].ref == "bad"
    # a contact value the library's clean refuses (GivenName: at most 255 characters) fails only its item
    people = port.create(Kind.PERSON, [NewItem({"first_name": "ok"}, link_id="p-ok"),
                                       NewItem({"first_name": "x" * 256}, link_id="p-long")])
    assert not isinstance(people[0], Exception)
    assert isinstance(people[1], ItemRejected) and people[1].ref == "p-long" and "exceeds length 255" in str(people[1])


def test_sent_items_headers_since_and_body(env):
    sent = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    old = env.sandbox.add_item("sentitems", "Message", {"Subject": "old", "InternetMessageId": "<old@x>",
                                                        "ToRecipients": ["a@x.example"]}, sent=sent - dt.timedelta(days=30))
    new = env.sandbox.add_item("sentitems", "Message", {
        "Subject": "Quote", "Body": "Hello Ann", "InternetMessageId": "<q1@x>", "ToRecipients": ["Ann@X.example"],
        "CcRecipients": ["c@x.example"], "BccRecipients": ["b@x.example"], "From": ("Me", "user@example.com"),
        "Sensitivity": "Private"}, sent=sent)
    env.sandbox.add_item("sentitems", "MeetingRequest", {"Subject": "Invite"}, sent=sent)
    port = env.mailbox()
    pages = list(port.sent_changes(None, sent - dt.timedelta(days=1)))
    messages = [m for p in pages for m in p.messages]
    assert [m.item_id for m in messages] == [new]
    m = messages[0]
    assert (m.message_id, m.subject, m.to, m.cc, m.bcc, m.sent_at, m.private, m.sender) == (
        "<q1@x>", "Quote", ("ann@x.example",), ("c@x.example",), ("b@x.example",), sent, True, "user@example.com")
    assert m.size > 0
    assert port.message_body(new) == "Hello Ann"
    env.reset_stats()
    bodies = port.message_bodies([new, "AAMkAGI5bogus", new])
    assert bodies[0] == bodies[2] == "Hello Ann" and isinstance(bodies[1], Exception)
    assert env.requests() == {"GetItem": 1}
    env.sandbox.delete_item(old, "MoveToDeletedItems")
    [page] = list(port.sent_changes(pages[-1].token, None))
    assert page.deleted_ids == (old,) and page.messages == ()
    with pytest.raises(NotFound):
        port.message_body(old)


def test_server_busy_back_off_is_honoured(env):
    port = env.mailbox(max_wait=5)
    stamp = _one(port, Kind.PERSON, {"first_name": "Ann"})
    env.sandbox.fail_operation("GetItem", "busy", 2)
    started = time.monotonic()
    assert port.fetch(Kind.PERSON, [stamp.id])[0].fields["first_name"] == "Ann"
    assert time.monotonic() - started >= 0.05  # slept as the fault's BackOffMilliseconds asked
    assert env.requests()["GetItem"] == 3


@pytest.mark.parametrize("fault", ["busy", "http503", "http500", "drop"])
def test_transport_trouble_is_transient_under_fail_fast(env, fault):
    port = env.mailbox(fail_fast=True)
    env.sandbox.fail_operation("SyncFolderItems", fault, 1)
    with pytest.raises(TransientError) as caught:
        list(port.changes(Kind.PERSON, None))
    if fault == "busy":
        assert caught.value.retry_after is not None and caught.value.retry_after < 1
    assert list(port.changes(Kind.PERSON, None))[-1].done  # and it recovers


def test_missing_items(env):
    port = env.mailbox()
    stamp = _one(port, Kind.PERSON, {"first_name": "Ann"})
    env.sandbox.delete_item(stamp.id, "HardDelete")
    assert port.fetch(Kind.PERSON, [stamp.id]) == [None]
    assert port.trash(Kind.PERSON, [stamp.id]) == [None]
    with pytest.raises(NotFound):
        port.update(Kind.PERSON, Update(stamp.id, stamp.version, {"notes": "x"}, frozenset({"notes"})))


def test_same_state_with_more_to_come_ends_the_feed_and_replays_later(env):
    port = env.mailbox(page_size=2)
    stamps = port.create(Kind.TASK, [NewItem({"subject": f"T{i}"}, link_id=f"t{i}") for i in range(3)])
    token = list(port.changes(Kind.TASK, None))[-1].token
    for s in stamps:
        port.update(Kind.TASK, Update(s.id, s.version, {"subject": "changed"}, frozenset({"subject"})))
    env.sandbox.set_knob("SyncFolderItems", "same_state", True)
    env.reset_stats()
    pages = list(port.changes(Kind.TASK, token))
    assert len(pages) == 1 and pages[0].done and pages[0].token == token  # no endless loop
    assert env.requests()["SyncFolderItems"] == 1
    env.sandbox.set_knob("SyncFolderItems", "same_state", False)
    replay = [c.item_id for p in port.changes(Kind.TASK, token) for c in p.changes]
    assert set(replay) == {s.id for s in stamps}


def test_create_in_chunks_when_the_server_fails_keeps_per_item_results(env):
    port = env.mailbox(fail_fast=True)
    env.sandbox.fail_operation("CreateItem", "http503", 1)
    results = port.create(Kind.TASK, [NewItem({"subject": f"T{i}"}, link_id=f"t{i}") for i in range(150)])
    assert len(results) == 150 and all(isinstance(r, TransientError) for r in results)
    assert env.requests()["CreateItem"] == 1 and env.sandbox.items("tasks") == []  # chunk 2 never sent
    results = port.create(Kind.TASK, [NewItem({"subject": f"T{i}"}, link_id=f"t{i}") for i in range(150)])
    assert not [r for r in results if isinstance(r, Exception)] and len(env.sandbox.items("tasks")) == 150


def test_requests_sent_counts_what_the_server_answered(env):
    port = env.mailbox(auth="ntlm")  # NTLM handshake legs are not counted
    env.reset_stats()
    port.create(Kind.PERSON, [NewItem({"first_name": "A"}, link_id="a")])
    list(port.changes(Kind.PERSON, None))
    assert port.requests_sent == sum(env.requests().values()) == 3
