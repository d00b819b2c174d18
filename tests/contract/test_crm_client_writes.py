"""Contract tests: batch writes through CrmStore/WorkbooksClient against the real sandbox:
CRUD of every type, stale lock_version, a batch of 100 with one bad record, emails."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from app.connectors.crm import batch
from app.domain.records import EmailRecord, HighWater, Kind, LinkTarget, NewItem, RefKind, Stamp, Update
from app.errors import AppError, ItemRejected, NotFound, StaleVersion
from tests.fixtures.crmclient_sandbox import key_client, password_client, sandbox, store

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def env():
    with sandbox(people=30) as (server, sb):
        sb.strict_protocol = True  # ragged arrays or a missing id filter would be refused
        sb.strict_attributes_default = True  # as the vendor bindings default: unknown attributes are errors
        client = password_client(server, sb)
        yield server, sb, client, store(client)
        client.close()


PERSON = {
    "first_name": "Zoë", "last_name": "Ørsted 🚀", "job_title": "Buyer", "company": "Acme Ltd",
    "email1": "zoe.orsted@acme.example", "email2": "zoe@mail.example", "email3": "zoe@home.example",
    "business_phone": "+44 118 000 0000", "mobile_phone": "+44 7700 000000", "business_city": "Reading",
    "home_city": "York", "home_postcode": "YO1 1AA", "website": "https://acme.example", "notes": "Met at the fair",
}
TASK = {"subject": "Call back", "description": "About the quote", "start_date": "2026-02-01",
        "due_date": "2026-02-03", "status": "in_progress", "priority": "high", "reminder_at": "2026-02-02T09:00Z"}
MEETING = {"subject": "Lunch", "description": "Quarterly", "all_day": False, "start": "2026-03-01T12:00Z",
           "end": "2026-03-01T13:30Z", "start_date": None, "end_date": None, "location": "Café Rouge",
           "reminder_minutes": 15, "timezone": "Europe/London"}
ALLDAY = {"subject": "Offsite", "description": None, "all_day": True, "start": None, "end": None,
          "start_date": "2026-03-02", "end_date": "2026-03-03", "location": None, "reminder_minutes": None,
          "timezone": "Europe/London"}


def _only(results):
    assert len(results) == 1
    assert not isinstance(results[0], AppError), results[0]
    return results[0]


@pytest.mark.parametrize("kind,fields", [(Kind.PERSON, PERSON), (Kind.TASK, TASK), (Kind.MEETING, MEETING),
                                         (Kind.MEETING, ALLDAY)], ids=["person", "task", "meeting", "allday"])
def test_create_read_update_round_trip(env, kind, fields):
    _server, sb, _client, st = env
    link = str(uuid.uuid4())
    rec = _only(st.create(kind, [NewItem(fields, link)]))
    assert rec.lock_version == 0 and rec.link_id == link and rec.object_ref
    assert str(rec.raw.get("assigned_to")) == str(st.my_queues()[{Kind.PERSON: "Private::Crm::PersonQueue"}.get(
        kind, "Private::Activity::ActivityQueue")])
    (back,) = st.fetch(kind, [rec.id])
    for name, value in fields.items():
        expected = value.lower() if name.startswith("email") else value
        assert back.fields.get(name) == expected, name
    assert st.find_by_link(kind, [link])[0].id == rec.id
    changed = {"notes": "Changed", "first_name": "Zoe"} if kind is Kind.PERSON else {"subject": "Renamed"}
    new_fields = {**fields, **changed}
    stamp = _only(st.update(kind, [Update(rec.id, str(back.lock_version), new_fields, frozenset(changed))]))
    assert stamp == Stamp(rec.id, str(back.lock_version + 1))
    (again,) = st.fetch(kind, [rec.id])
    assert {k: again.fields[k] for k in changed} == changed
    assert again.lock_version == back.lock_version + 1


def test_soft_delete_of_activities_and_people_never(env):
    _server, _sb, _client, st = env
    task = _only(st.create(Kind.TASK, [NewItem(TASK, str(uuid.uuid4()))]))
    assert st.delete(Kind.TASK, [task.stamp]) == [None]
    (gone,) = st.fetch(Kind.TASK, [task.id])
    assert gone.deleted and gone.lock_version == task.lock_version + 1
    person = _only(st.create(Kind.PERSON, [NewItem(PERSON, str(uuid.uuid4()))]))
    assert isinstance(st.delete(Kind.PERSON, [person.stamp])[0], ItemRejected)
    assert not st.fetch(Kind.PERSON, [person.id])[0].deleted
    # the delta sees the soft-deleted task
    seen = [r for p in st.changes_since(Kind.TASK, HighWater(gone.updated_at, 0)) for r in p.records]
    assert any(r.id == task.id and r.deleted for r in seen)


def test_raw_batch_create_update_delete_of_every_type(env):
    """The generic batch writer against each controller, including the read-only reference types."""
    _server, _sb, client, st = env
    people = st.create(Kind.PERSON, [NewItem(PERSON, str(uuid.uuid4()))])
    pid = people[0].id
    samples = {
        "crm/organisations.api": {"name": "Org 🚀", "industry": "Retail", "main_location[town]": "Leeds"},
        "crm/people.api": {"person_first_name": "Raw", "person_last_name": "Person", "main_location[email]": "raw@x.example"},
        "crm/party_locations.api": {"party_id": pid, "location_name": "Other", "email": "other@x.example"},
        "crm/sales_leads.api": {"name": "Lead", "person_lead_party[name]": "Lee Lead",
                                "person_lead_party[main_location[email]]": "lead@x.example"},
        "crm/cases.api": {"name": "Broken widget", "problem": "<p>It broke</p>", "contact_person_id": pid},
        "crm/opportunities.api": {"name": "Big deal", "description": "Deal", "opportunity_contact_ids": [pid]},
        "activity/tasks.api": {"name": "T", "activity_status": "New"},
        "activity/meetings.api": {"name": "M", "start": "2026-03-01T12:00:00.000Z,1,UTC",
                                  "finish": "2026-03-01T13:00:00.000Z,1,UTC"},
        "activity/activity_links.api": None,
    }
    task_id = None
    for path, fields in samples.items():
        if fields is None:
            fields = {"activity_id": task_id, "activity_type": "Private::Activity::Task",
                      "resource_id": pid, "resource_type": "Private::Crm::Person"}
        created = batch.run(client, path, [batch.Op("POST", 0, 0, fields)])[0]
        assert not isinstance(created, AppError), (path, created)
        if path == "activity/tasks.api":
            task_id = created["id"]
        assert created["lock_version"] == 0
        name_field = next(iter(fields))
        upd = batch.run(client, path, [batch.Op("PUT", created["id"], 0, {name_field: fields[name_field]})])[0]
        assert upd["lock_version"] == 0, path  # no real change: no version bump
        dele = batch.run(client, path, [batch.Op("DELETE", created["id"], 0)])[0]
        assert not isinstance(dele, AppError) and dele["lock_version"] == 1, (path, dele)


def test_stale_lock_version_is_stale_version_and_changes_nothing(env):
    _server, _sb, _client, st = env
    rec = _only(st.create(Kind.PERSON, [NewItem(PERSON, str(uuid.uuid4()))]))
    ok = _only(st.update(Kind.PERSON, [Update(rec.id, "0", {"job_title": "CFO"}, frozenset({"job_title"}))]))
    assert ok.version == "1"
    res = st.update(Kind.PERSON, [Update(rec.id, "0", {"job_title": "CEO"}, frozenset({"job_title"}))])
    assert isinstance(res[0], StaleVersion)
    (now,) = st.fetch(Kind.PERSON, [rec.id])
    assert now.fields["job_title"] == "CFO" and now.lock_version == 1


def test_batch_of_100_with_one_bad_record_gives_per_object_results(env):
    _server, _sb, client, st = env
    items = [NewItem({**TASK, "subject": f"Bulk {i}"}, str(uuid.uuid4())) for i in range(100)]
    before = client.requests_sent
    created = st.create(Kind.TASK, items)
    assert client.requests_sent - before == 1
    assert all(not isinstance(r, AppError) for r in created)
    updates = [Update(r.id, str(r.lock_version), {"subject": f"Bulk {i} v2"}, frozenset({"subject"}))
               for i, r in enumerate(created)]
    updates[37] = Update(updates[37].id, "9", updates[37].fields, updates[37].changed)  # stale
    _server, sb, _c, _s = env
    sb.inject_error("tasks", int(created[60].id), "name", "is not acceptable here")  # a validation failure
    before = client.requests_sent
    res = st.update(Kind.TASK, updates)
    assert client.requests_sent - before == 1
    assert isinstance(res[37], StaleVersion)
    assert isinstance(res[60], ItemRejected) and "not acceptable" in str(res[60])
    good = [i for i in range(100) if i not in (37, 60)]
    assert all(isinstance(res[i], Stamp) and res[i].version == "1" for i in good)
    fetched = {r.id: r for r in st.fetch(Kind.TASK, [r.id for r in created])}
    assert fetched[created[37].id].fields["subject"] == "Bulk 37"
    assert fetched[created[60].id].fields["subject"] == "Bulk 60"
    assert fetched[created[5].id].fields["subject"] == "Bulk 5 v2"


def test_create_batch_with_one_invalid_record(env):
    _server, sb, client, st = env
    items = [NewItem({**TASK, "subject": f"New {i}"}, str(uuid.uuid4())) for i in range(10)]
    items[4] = NewItem({**TASK, "subject": None}, str(uuid.uuid4()))  # a task needs a name
    res = st.create(Kind.TASK, items)
    assert isinstance(res[4], ItemRejected) and "blank" in str(res[4])
    assert all(not isinstance(r, AppError) for i, r in enumerate(res) if i != 4)
    assert st.find_by_link(Kind.TASK, [items[4].link_id]) == []
    assert [r.id for r in st.find_by_link(Kind.TASK, [items[3].link_id])] == [res[3].id]


def test_more_than_100_are_chunked(env):
    _server, _sb, client, st = env
    items = [NewItem({**TASK, "subject": f"Chunk {i}"}, str(uuid.uuid4())) for i in range(150)]
    before = client.requests_sent
    created = st.create(Kind.TASK, items)
    assert client.requests_sent - before == 2 and len(created) == 150
    assert all(not isinstance(r, AppError) for r in created)


def test_emails_are_recorded_sent_linked_and_found(env):
    server, sb, client, st = env
    person = _only(st.create(Kind.PERSON, [NewItem({**PERSON, "email1": "mailme@acme.example"}, str(uuid.uuid4()))]))
    mid = f"<{uuid.uuid4()}@example.com>"
    msg = EmailRecord(mid, "Quote", "user@example.com", ("mailme@acme.example",), ("cc@x.example",),
                      sent_at=datetime(2026, 2, 1, 10, 0, tzinfo=timezone.utc), body="Hello")
    (email_id,) = st.record_emails([msg])
    assert isinstance(email_id, str)
    assert st.find_emails([mid, "<other@x>"]) == {mid: email_id}
    row = client.read("email/emails.api", [("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", email_id),
                                           ("_select_columns[]", "status"), ("_select_columns[]", "to_addresses")])
    assert row["data"][0]["status"] == "SENT"
    (link_id,) = st.link_emails([(email_id, LinkTarget("person", person.id))])
    assert isinstance(link_id, str)
    bad = st.link_emails([(email_id, LinkTarget("planet", "1"))])
    assert isinstance(bad[0], AppError)
    links = client.read("email/email_links.api", [("_ff[]", "email_id"), ("_ft[]", "eq"), ("_fc[]", email_id),
                                                  ("_select_columns[]", "resource_id")])
    assert [str(r["resource_id"]) for r in links["data"]] == [person.id]

    # B36: the live links with their versions, and a removal that deletes the link, not the email
    (live,) = st.email_links_of([email_id])
    assert (live.id, live.email_id, live.target) == (link_id, email_id, LinkTarget("person", person.id))
    assert st.unlink_emails([live]) == [link_id]
    assert st.email_links_of([email_id]) == [] and st.find_emails([mid]) == {mid: email_id}
    assert isinstance(st.unlink_emails([live])[0], NotFound)  # already gone: the caller confirms it


def test_key_mode_writes_without_token(env):
    server, sb, _client, _st = env
    with key_client(server, sb) as client:
        st = store(client)
        rec = _only(st.create(Kind.TASK, [NewItem(TASK, str(uuid.uuid4()))]))
        assert rec.lock_version == 0
        refs = [r for b, _ in st.references_since(RefKind.CASE, None) for r in b]
        assert refs


def test_completing_a_task_sets_completed(env):
    _server, _sb, _client, st = env
    rec = _only(st.create(Kind.TASK, [NewItem(TASK, str(uuid.uuid4()))]))
    _only(st.update(Kind.TASK, [Update(rec.id, "0", {**TASK, "status": "complete"}, frozenset({"status"}))]))
    (done,) = st.fetch(Kind.TASK, [rec.id])
    assert done.fields["status"] == "complete"
    row = _client_row(st, rec.id)
    assert row["completed"] and row["activity_status"] == "Complete"


def _client_row(st, rid):
    body = st.client.read("activity/tasks.api", [("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", rid),
                                                 ("_select_columns[]", "completed"),
                                                 ("_select_columns[]", "activity_status")])
    return body["data"][0]


def test_zz_no_protocol_violations_or_sandbox_errors(env):
    _server, sb, _client, _st = env
    assert sb.violations == []
    assert sb.internal_errors == []
    writes = [r for r in sb.requests if r["method"] == "PUT"]
    assert writes and all(r["http_method"] == "POST" for r in sb.requests)
    for r in writes:
        keys = [k for k, _ in r["params"]]
        assert keys.count("_fm") == 1 and "_per_object_transactions" in keys
        assert ("_method", "PUT") in r["params"]
