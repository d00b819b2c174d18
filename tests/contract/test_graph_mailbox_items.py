"""GraphMailbox against the Graph sandbox beyond the shared contract: field round trips per
kind, user categories kept, the EWS property names on the wire, sent items, resuming from a
mid-feed token, batching, throttling, auth failures, the meeting-cancellation guard, the lease."""
from __future__ import annotations

import datetime as dt

import pytest

from app.connectors.graph import GraphMailbox, StaticToken
from app.connectors.graph import properties as P
from app.connectors.graph.client import GraphClient
from app.domain.fields import MEETING_FIELDS, PERSON_FIELDS, TASK_FIELDS
from app.domain.records import Kind, Lease, NewItem, Sharing, Update
from app.errors import AuthError, ItemRejected, StaleVersion, TransientError
from app.sync.ports import InvalidSyncToken
from tests.fixtures.graph_sandbox import graph_sandbox

PERSON = {
    "first_name": "Zoë", "middle_name": "J", "last_name": "Ørsted", "suffix": "Jr", "job_title": "CFO",
    "company": "Acme Ltd", "email1": "zoe@acme.example", "email2": "z@home.example", "email3": "zj@mail.example",
    "business_phone": "+44 1", "business_phone2": "+44 2", "mobile_phone": "+44 7", "business_fax": "+44 9",
    "home_phone": "+44 3", "business_street": "1 High St", "business_city": "Leeds", "business_state": "W Yorks",
    "business_postcode": "LS1", "business_country": "UK", "home_street": "2 Low Rd", "home_city": "York",
    "home_state": "N Yorks", "home_postcode": "YO1", "home_country": "UK", "website": "https://acme.example",
    "spouse_name": "Sam", "notes": "Met at the fair.\nLikes tea.",
}
TASK = {"subject": "Send proposal", "description": "Draft v2", "start_date": "2025-02-01", "due_date": "2025-02-03",
        "status": "in_progress", "priority": "high", "reminder_at": "2025-02-02T09:30Z"}
MEETING = {"subject": "Review", "description": "Agenda", "all_day": False, "start": "2025-06-01T09:00Z",
           "end": "2025-06-01T10:30Z", "start_date": None, "end_date": None, "location": "Room 2",
           "reminder_minutes": 10, "timezone": "Europe/London"}
ALL_DAY = {**MEETING, "all_day": True, "start": None, "end": None, "start_date": "2025-07-01", "end_date": "2025-07-02",
           "reminder_minutes": None}


@pytest.fixture
def env():
    with graph_sandbox() as e:
        yield e


def _one(port, kind, fields, **kw):
    [stamp] = port.create(kind, [NewItem(dict(fields), link_id="link-1", crm_id="7", **kw)])
    assert not isinstance(stamp, Exception), stamp
    [item] = port.fetch(kind, [stamp.id])
    return stamp, item


@pytest.mark.parametrize("kind,fields", [(Kind.PERSON, PERSON), (Kind.TASK, TASK), (Kind.MEETING, MEETING),
                                         (Kind.MEETING, ALL_DAY)])
def test_every_canonical_field_round_trips(env, kind, fields):
    port = env.mailbox()
    _, item = _one(port, kind, fields)
    names = {Kind.PERSON: PERSON_FIELDS, Kind.TASK: TASK_FIELDS, Kind.MEETING: MEETING_FIELDS}[kind]
    assert {n: item.fields[n] for n in names} == {n: fields.get(n) for n in names}
    assert port.unsupported_fields(kind) == frozenset()


def test_related_block_kept_apart_from_notes(env):
    port = env.mailbox()
    [s] = port.create(Kind.PERSON, [NewItem(dict(PERSON), link_id="l", related="Org: Acme\nCase: C-1")])
    raw = env.sandbox.describe(s.id)["data"]["personalNotes"]
    assert "Met at the fair." in raw and "Case: C-1" in raw
    s2 = port.update(Kind.PERSON, Update(s.id, s.version, {**PERSON, "notes": "New notes"}, frozenset({"notes"})))
    [item] = port.fetch(Kind.PERSON, [s2.id])
    assert item.fields["notes"] == "New notes"
    assert "Case: C-1" in env.sandbox.describe(s.id)["data"]["personalNotes"]


def test_markers_use_the_ews_property_names_and_user_categories_survive(env):
    from app.connectors.ews import properties as ews_props  # the reference names (B18)

    assert P.PRODUCT_PROPERTY_SET_GUID == ews_props.PRODUCT_PROPERTY_SET_GUID
    assert (P.CRM_ID_NAME, P.LINK_ID_NAME, P.SHARING_NAME, P.LEASE_NAME) == (
        ews_props.CrmIdProperty.property_name, ews_props.LinkIdProperty.property_name,
        ews_props.SharingStateProperty.property_name, ews_props.LeaseDataProperty.property_name)
    port = env.mailbox()
    stamp, _ = _one(port, Kind.PERSON, {"first_name": "Ann"})
    ext = env.sandbox.describe(stamp.id)["ext"]
    assert ext[f"String {{{ews_props.PRODUCT_PROPERTY_SET_GUID}}} Name WorkbooksCrmId"] == "7"
    assert ext[f"String {{{ews_props.PRODUCT_PROPERTY_SET_GUID}}} Name WorkbooksSharing"] == "shared"
    assert any(c["displayName"] == "Workbooks" for c in env.sandbox.store.categories)
    etag = env.sandbox.edit_item(stamp.id, categories=["Red category", "Workbooks"])
    s = port.set_sharing(Kind.PERSON, stamp.id, etag, Sharing.UNSHARED, crm_id=None, link_id=None)
    assert env.sandbox.describe(s.id)["data"]["categories"] == ["Red category"]
    s = port.set_sharing(Kind.PERSON, s.id, s.version, Sharing.SHARED, crm_id=None, link_id=None)
    assert env.sandbox.describe(s.id)["data"]["categories"] == ["Red category", "Workbooks"]
    # An item shared over EWS (same named property) reads as shared here.
    other = env.sandbox.add_item("contact", {"givenName": "Via EWS", "categories": ["Workbooks"]},
                                 ext={P.SHARING: "shared", P.CRM_ID: "99"})
    [item] = port.fetch(Kind.PERSON, [other])
    assert (item.marker, item.crm_id, item.categorised) == (Sharing.SHARED, "99", True)


def test_task_markers_live_in_an_open_extension(env):
    port = env.mailbox()
    stamp, item = _one(port, Kind.TASK, TASK)
    desc = env.sandbox.describe(stamp.id)
    assert desc["ext"] == {} and desc["extensions"][P.EXTENSION_NAME]["crmId"] == "7"
    s = port.set_sharing(Kind.TASK, stamp.id, stamp.version, Sharing.UNSHARED, crm_id=None, link_id=None)
    [item] = port.fetch(Kind.TASK, [s.id])
    assert (item.marker, item.crm_id, item.link_id, item.categorised, item.change_key) == (
        Sharing.UNSHARED, "7", "link-1", False, s.version)
    # A status change keeps waitingOnOthers while the CRM still says "in progress".
    etag = env.sandbox.edit_item(s.id, status="waitingOnOthers")
    s2 = port.update(Kind.TASK, Update(s.id, etag, {**TASK, "priority": "low"}, frozenset({"status", "priority"})))
    assert env.sandbox.describe(s2.id)["data"]["status"] == "waitingOnOthers"


def test_resume_from_a_mid_feed_token_after_a_crash(env):
    port = env.mailbox(page_size=4)
    stamps = port.create(Kind.PERSON, [NewItem({"first_name": f"P{i}"}, link_id=f"l{i}") for i in range(10)])
    # This object met an empty Contacts folder, so it reads /me/contacts/delta; the next cycle's
    # object learns the folder id and refuses that token once (one harmless full re-read).
    old = list(port.changes(Kind.PERSON, None))[-1].token
    assert "/me/contacts/delta?" in old
    port = env.mailbox(page_size=4)
    with pytest.raises(InvalidSyncToken):
        list(port.changes(Kind.PERSON, old))
    feed = port.changes(Kind.PERSON, None)
    first = next(feed)
    feed.close()  # crash after committing the first page
    assert not first.done and first.token.startswith(env.sandbox.graph_url + "/me/contactFolders/")
    assert f"/{env.sandbox.folder_id('contacts')}/contacts/delta?$skiptoken=" in first.token
    env.sandbox.edit_item(stamps[0].id, jobTitle="changed meanwhile")
    rest = list(port.changes(Kind.PERSON, first.token))
    ids = [c.item_id for p in rest for c in p.changes]
    assert set(ids) == {s.id for s in stamps[4:]} | {stamps[0].id} and rest[-1].done
    assert "$deltatoken=" in rest[-1].token
    with pytest.raises(InvalidSyncToken):
        list(port.changes(Kind.PERSON, first.token.replace(env.sandbox.graph_url, "https://elsewhere.example/v1.0")))


def test_creates_are_batched_twenty_per_request(env):
    port = env.mailbox()
    env.server.stats.reset()
    stamps = port.create(Kind.TASK, [NewItem({"subject": f"T{i}", "status": "new", "priority": "medium"},
                                             link_id=f"l{i}") for i in range(45)])
    assert len({s.id for s in stamps}) == 45
    ops = env.requests()
    assert ops["POST $batch"] == 3 and env.sandbox.batch_ops["POST tasks"] == 45
    bad = port.create(Kind.MEETING, [NewItem({"subject": "no start", "all_day": False}, link_id="x")])
    assert isinstance(bad[0], ItemRejected)


def test_sent_items_since_cutoff_privacy_and_body(env):
    port = env.mailbox(page_size=2)
    t0 = dt.datetime(2026, 2, 1, 9, tzinfo=dt.timezone.utc)
    for n in range(4):
        env.sandbox.add_item("message", {
            "subject": f"S{n}", "sentDateTime": (t0 + dt.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "internetMessageId": f"<m{n}@x>", "body": {"contentType": "html", "content": f"<p>Hello {n}</p>"},
            "from": {"emailAddress": {"address": "User@Example.com"}},
            "toRecipients": [{"emailAddress": {"address": "Ann@X.example"}}], "isDraft": False,
        }, ext={P.SENSITIVITY: "2" if n == 3 else "0", P.SIZE: "1234"})
    pages = list(port.sent_changes(None, t0 + dt.timedelta(days=2)))
    msgs = [m for p in pages for m in p.messages]
    assert [m.message_id for m in msgs] == ["<m2@x>", "<m3@x>"] and [p.done for p in pages] == [False, True]
    assert msgs[0].to == ("ann@x.example",) and msgs[0].sender == "user@example.com" and msgs[0].size == 1234
    assert (msgs[0].private, msgs[1].private) == (False, True)
    assert port.message_body(msgs[0].item_id).strip() == "Hello 2"
    env.sandbox.delete_item(msgs[0].item_id)
    [page] = list(port.sent_changes(pages[-1].token, None))
    assert page.deleted_ids == (msgs[0].item_id,) and page.messages == ()


def test_throttling_is_waited_out_within_the_budget(env):
    waits = []
    client = GraphClient(env.sandbox.graph_url, env.tokens(), max_wait=3, sleep=waits.append)
    port = GraphMailbox(client, calendar_window=("2020-01-01", "2030-01-01"))
    env.sandbox.throttle(2, retry_after=1)
    assert port.identity() == env.sandbox.mailbox and waits == [1.0, 1.0]
    env.sandbox.throttle(5, status=503, retry_after=2)
    port._identity_checked = False
    with pytest.raises(TransientError):
        port.identity()
    assert sum(waits) <= 3 + 2
    env.sandbox.clear_faults()
    waits.clear()
    env.sandbox.throttle(1, inner=True, retry_after=1)  # one sub-request of the batch is throttled
    stamps = port.create(Kind.PERSON, [NewItem({"first_name": f"B{i}"}, link_id=f"b{i}") for i in range(3)])
    assert all(not isinstance(s, Exception) for s in stamps) and waits == [1.0]
    assert len(env.sandbox.items("contacts")) == 3  # the throttled create was re-sent once, not twice


def test_refused_tokens_refresh_once_then_auth_error(env):
    calls = []

    class Tokens:
        def token(self, *, force_refresh=False):
            calls.append(force_refresh)
            return env.sandbox.mint_token() if force_refresh else "stale-token"

    port = GraphMailbox(GraphClient(env.sandbox.graph_url, Tokens()))
    assert port.identity() == env.sandbox.mailbox and calls == [False, True]
    port2 = GraphMailbox(GraphClient(env.sandbox.graph_url, StaticToken("never-valid")))
    with pytest.raises(AuthError) as err:
        port2.identity()
    assert "never-valid" not in str(err.value) and "sign in again" in str(err.value)


def test_meetings_with_attendees_are_not_deleted_and_trash_keeps_items(env):
    port = env.mailbox()
    [mine, _] = port.create(Kind.MEETING, [NewItem(dict(MEETING), link_id="a"), NewItem(dict(MEETING), link_id="b")])
    invited = env.sandbox.add_item("event", {
        "subject": "Board", "start": {"dateTime": "2025-06-02T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-06-02T10:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "boss@x.example"}, "type": "required"}]})
    result = port.trash(Kind.MEETING, [mine.id, invited, "AAMkAGmissing"])
    assert result[0] is None and isinstance(result[1], ItemRejected) and result[2] is None
    assert [i["id"] for i in env.sandbox.items("deleteditems")] == [mine.id]
    [item] = port.fetch(Kind.MEETING, [invited])
    assert item.has_attendees and item.attendees == ("boss@x.example",)


def test_stale_update_changes_nothing(env):
    port = env.mailbox()
    stamp, _ = _one(port, Kind.MEETING, MEETING)
    env.sandbox.edit_item(stamp.id, subject="user edit")
    with pytest.raises(StaleVersion):
        port.update(Kind.MEETING, Update(stamp.id, stamp.version, {**MEETING, "location": "x"},
                                         frozenset({"location"})))
    assert env.sandbox.describe(stamp.id)["data"]["location"] == {"displayName": "Room 2"}


def test_lease_create_renew_and_races(env):
    a, b = env.lease(), env.lease()
    assert a.read_lease() is None
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    la = a.write_lease(Lease("m1", "host-a", now, "1.0"))
    assert la.version
    with pytest.raises(StaleVersion):
        b.write_lease(Lease("m2", "host-b", now))  # a lease exists already
    seen = b.read_lease()
    assert (seen.holder_machine_id, seen.version) == ("m1", la.version)
    la2 = a.write_lease(Lease("m1", "host-a", now + dt.timedelta(minutes=5), "1.0", version=la.version))
    assert la2.version != la.version
    with pytest.raises(StaleVersion):
        b.write_lease(Lease("m2", "host-b", now, version=la.version))  # stale etag
    folders = [f for f in env.sandbox.store.folders.values() if f.name == "Workbooks connector"]
    assert len(folders) == 1 and folders[0].hidden
