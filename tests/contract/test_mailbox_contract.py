"""What the engine relies on from any MailboxPort, run against the in-memory fake and the real
adapter over the EWS sandbox (exchangelib, real sockets): versions change on every write, stale
writes raise StaleVersion and change nothing, trash is recoverable, tokens resume, markers are
searchable, our writes echo back with the version we were given."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.domain.records import Kind, NewItem, SentMessage, Sharing, Update
from app.errors import StaleVersion
from app.sync.ports import InvalidSyncToken
from tests.fixtures.mailbox_fake import SENT, FakeMailbox
from tests.fixtures.mailbox_sandbox import ews_sandbox

PAGE = 3
KINDS = {
    Kind.PERSON: ({"first_name": "Ann", "last_name": "Lee", "email1": "ann@x.example"}, "job_title", "CTO"),
    Kind.TASK: ({"subject": "Call Ann", "status": "new", "priority": "medium"}, "subject", "Call Ann back"),
    Kind.MEETING: ({"subject": "Review", "all_day": False, "start": "2025-06-01T09:00Z", "end": "2025-06-01T10:00Z",
                    "timezone": "Europe/London"}, "location", "Room 2"),
}


class FakeHarness:
    name = "fake"

    def __init__(self):
        self.port = FakeMailbox(page_size=PAGE)

    def user_edit(self, kind, item_id):
        field = KINDS[kind][1]
        return self.port.user_edit(kind, item_id, **{field: "edited elsewhere"})

    def trashed_count(self, kind):
        return len(self.port.trashed(kind))

    def add_sent(self, message_id, to, sent_at, body):
        return self.port.add_sent(SentMessage("", message_id, "Hello", "user@example.com", (to,), sent_at=sent_at), body)

    def user_delete_sent(self, item_id):
        self.port.user_delete(SENT, item_id)


class SandboxHarness:
    name = "sandbox"
    ELEMENT = {Kind.PERSON: "JobTitle", Kind.TASK: "Subject", Kind.MEETING: "Location"}

    def __init__(self, env):
        self.env = env
        self.port = env.mailbox(page_size=PAGE)

    def user_edit(self, kind, item_id):
        return self.env.sandbox.edit_item(item_id, **{self.ELEMENT[kind]: "edited elsewhere"})

    def trashed_count(self, kind):
        return len(self.env.sandbox.items("deleteditems"))

    def add_sent(self, message_id, to, sent_at, body):
        return self.env.sandbox.add_item("sentitems", "Message", {
            "Subject": "Hello", "Body": body, "InternetMessageId": message_id, "ToRecipients": [to],
            "From": ("Me", "user@example.com")}, sent=sent_at)

    def user_delete_sent(self, item_id):
        self.env.sandbox.delete_item(item_id, "MoveToDeletedItems")


@pytest.fixture(params=["fake", "sandbox"])
def harness(request):
    if request.param == "fake":
        yield FakeHarness()
    else:
        with ews_sandbox() as env:
            yield SandboxHarness(env)


def _create(port, kind, n=1, **markers):
    fields = KINDS[kind][0]
    stamps = port.create(kind, [NewItem(dict(fields), link_id=f"link-{i}", crm_id=f"{100 + i}", **markers)
                                for i in range(n)])
    assert all(not isinstance(s, Exception) for s in stamps), stamps
    return stamps


@pytest.mark.parametrize("kind", list(Kind))
def test_create_then_read_carries_markers_and_category(harness, kind):
    port = harness.port
    [stamp] = _create(port, kind)
    [item] = port.fetch(kind, [stamp.id])
    assert item.stamp == stamp
    assert (item.marker, item.categorised, item.crm_id, item.link_id) == (Sharing.SHARED, True, "100", "link-0")
    for name, value in KINDS[kind][0].items():
        assert item.fields[name] == value


@pytest.mark.parametrize("kind", list(Kind))
def test_versions_change_on_every_write_and_stale_writes_change_nothing(harness, kind):
    port = harness.port
    [stamp] = _create(port, kind)
    _, field, value = KINDS[kind]
    fields = {**KINDS[kind][0], field: value}
    s2 = port.update(kind, Update(stamp.id, stamp.version, fields, frozenset({field})))
    assert s2.version != stamp.version
    with pytest.raises(StaleVersion):
        port.update(kind, Update(stamp.id, stamp.version, {**fields, field: "stale"}, frozenset({field})))
    [item] = port.fetch(kind, [s2.id])
    assert item.fields[field] == value and item.change_key == s2.version
    s3 = port.set_sharing(kind, s2.id, s2.version, Sharing.UNSHARED, crm_id=None, link_id=None)
    assert s3.version not in (stamp.version, s2.version)
    with pytest.raises(StaleVersion):
        port.set_sharing(kind, s2.id, s2.version, Sharing.SHARED, crm_id=None, link_id=None)


def test_stale_after_a_user_edit_only_for_that_item(harness):
    port = harness.port
    a, b = _create(port, Kind.PERSON, 2)
    harness.user_edit(Kind.PERSON, a.id)
    fields = {**KINDS[Kind.PERSON][0], "job_title": "Mine"}
    with pytest.raises(StaleVersion):
        port.update(Kind.PERSON, Update(a.id, a.version, fields, frozenset({"job_title"})))
    assert port.update(Kind.PERSON, Update(b.id, b.version, fields, frozenset({"job_title"}))).version != b.version
    [item_a] = port.fetch(Kind.PERSON, [a.id])
    assert item_a.fields["job_title"] == "edited elsewhere"


def test_unshare_keeps_ids_and_share_again_restores_category(harness):
    port = harness.port
    [s] = _create(port, Kind.PERSON)
    s = port.set_sharing(Kind.PERSON, s.id, s.version, Sharing.UNSHARED, crm_id=None, link_id=None)
    [item] = port.fetch(Kind.PERSON, [s.id])
    assert (item.marker, item.categorised, item.crm_id, item.link_id) == (Sharing.UNSHARED, False, "100", "link-0")
    s = port.set_sharing(Kind.PERSON, s.id, s.version, Sharing.SHARED, crm_id="200", link_id=None)
    [item] = port.fetch(Kind.PERSON, [s.id])
    assert (item.marker, item.categorised, item.crm_id) == (Sharing.SHARED, True, "200")


@pytest.mark.parametrize("kind", list(Kind))
def test_trash_is_recoverable_and_missing_is_not_an_error(harness, kind):
    port = harness.port
    stamps = _create(port, kind, 2)
    before = harness.trashed_count(kind)
    assert port.trash(kind, [stamps[0].id, stamps[0].id]) == [None, None]
    assert port.fetch(kind, [stamps[0].id, stamps[1].id])[0] is None
    assert port.fetch(kind, [stamps[1].id])[0] is not None
    assert harness.trashed_count(kind) == before + 1  # in Deleted Items, not hard-deleted


@pytest.mark.parametrize("kind", list(KINDS))
def test_markers_are_searchable(harness, kind):
    """Crash recovery of a create (executor.verify_in_flight) finds every item of a batch create by
    its link id, whatever its place in the batch, for each kind."""
    port = harness.port
    stamps = _create(port, kind, 3)
    for n, stamp in enumerate(stamps):
        found = port.find_by_marker(kind, link_id=f"link-{n}")
        assert [i.item_id for i in found] == [stamp.id] and found[0].link_id == f"link-{n}"
    assert [i.item_id for i in port.find_by_marker(kind, crm_id="102")] == [stamps[2].id]
    assert port.find_by_marker(kind, crm_id="nope") == []


def test_tokens_resume_and_replay_harmlessly(harness):
    port = harness.port
    stamps = _create(port, Kind.PERSON, 7)
    pages = list(port.changes(Kind.PERSON, None))
    assert [len(p.changes) for p in pages] == [3, 3, 1] and [p.done for p in pages] == [False, False, True]
    assert {c.item_id for p in pages for c in p.changes} == {s.id for s in stamps}
    assert all(c.op == "upsert" and c.item.stamp in stamps for p in pages for c in p.changes)
    # Resume after the first committed page: only the rest arrives.
    rest = list(port.changes(Kind.PERSON, pages[0].token))
    assert [c.item_id for p in rest for c in p.changes] == [c.item_id for p in pages[1:] for c in p.changes]
    # Nothing new: one empty, final page.
    [empty] = list(port.changes(Kind.PERSON, pages[-1].token))
    assert empty.changes == () and empty.done
    # Our own write echoes back as an upsert with the version we were handed; deletes by id.
    s = port.update(Kind.PERSON, Update(stamps[0].id, stamps[0].version, {"job_title": "x"}, frozenset({"job_title"})))
    port.trash(Kind.PERSON, [stamps[1].id])
    [page] = list(port.changes(Kind.PERSON, empty.token))
    ops = {c.item_id: c for c in page.changes}
    assert ops[s.id].op == "upsert" and ops[s.id].item.change_key == s.version
    assert ops[stamps[1].id].op == "delete" and ops[stamps[1].id].item is None
    # Replaying from an older token is harmless: same items, current data.
    replay = [c for p in port.changes(Kind.PERSON, pages[1].token) for c in p.changes]
    assert {c.item_id for c in replay} >= {s.id}


def test_foreign_or_tampered_token_is_refused(harness):
    port = harness.port
    _create(port, Kind.TASK)
    token = list(port.changes(Kind.TASK, None))[-1].token
    with pytest.raises(InvalidSyncToken):
        list(port.changes(Kind.PERSON, token))  # another folder's token
    with pytest.raises(InvalidSyncToken):
        list(port.changes(Kind.TASK, _tamper(token)))


def _tamper(token):
    mid = len(token) // 2
    return token[:mid] + ("B" if token[mid] == "A" else "A") + token[mid + 1:]


def test_sent_items_feed_since_cutoff_bodies_and_deletes(harness):
    t0 = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
    old = harness.add_sent("<old@x>", "a@x.example", t0 - timedelta(days=10), "old body")
    ids = [harness.add_sent(f"<m{i}@x>", f"p{i}@x.example", t0 + timedelta(minutes=i), f"body {i}") for i in range(4)]
    port = harness.port
    pages = list(port.sent_changes(None, t0))
    assert [p.done for p in pages][-1] and len(pages) == 2  # 5 messages, pages of 3; the old one dropped
    messages = [m for p in pages for m in p.messages]
    assert [m.message_id for m in messages] == [f"<m{i}@x>" for i in range(4)]
    assert [m.to for m in messages] == [(f"p{i}@x.example",) for i in range(4)] and messages[0].sent_at == t0
    assert port.message_body(ids[2]) == "body 2"
    bodies = port.message_bodies([ids[0], old])
    assert bodies == ["body 0", "old body"]
    harness.user_delete_sent(ids[1])
    [page] = list(port.sent_changes(pages[-1].token, t0))
    assert page.deleted_ids == (ids[1],) and page.messages == ()
    assert isinstance(port.message_bodies([ids[1]])[0], Exception)
