"""The EWS adapter's batched writes and the echo-aware change feed against the sandbox:
`update_many`/`set_sharing_many` cost one GetItem + one UpdateItem per 100 items and keep the
other items' results when one ChangeKey is stale; `changes(known=...)` reads no item whose
version the caller holds."""
from __future__ import annotations

from app.domain.records import Kind, NewItem, Sharing, Update
from app.errors import AppError, StaleVersion
from tests.fixtures.mailbox_sandbox import ews_sandbox
from tests.unit.test_ews_create_xml import MEETING, TASK


def _people(port, n):
    stamps = port.create(Kind.PERSON, [NewItem({"first_name": f"P{i}", "email1": f"p{i}@x.example"}, link_id=f"l{i}")
                                       for i in range(n)])
    assert not any(isinstance(s, Exception) for s in stamps)
    return stamps


def test_update_many_is_one_request_per_batch_and_a_stale_key_fails_only_its_item():
    with ews_sandbox() as env:
        port = env.mailbox()
        stamps = _people(port, 5)
        env.sandbox.edit_item(stamps[2].id, JobTitle="Edited meanwhile")  # the stored key of item 2 is stale now
        env.reset_stats()
        ups = [Update(s.id, s.version, {"job_title": f"T{i}"}, frozenset({"job_title"})) for i, s in enumerate(stamps)]
        res = port.update_many(Kind.PERSON, ups)
        assert env.requests() == {"UpdateItem": 1}
        assert isinstance(res[2], StaleVersion)
        for i in (0, 1, 3, 4):
            assert not isinstance(res[i], Exception) and res[i].version != stamps[i].version
            assert env.sandbox.describe(stamps[i].id)["props"]["JobTitle"] == f"T{i}"
        assert env.sandbox.describe(stamps[2].id)["props"]["JobTitle"] == "Edited meanwhile"


def test_set_sharing_many_reads_and_writes_in_one_batch_each():
    with ews_sandbox() as env:
        port = env.mailbox()
        stamps = _people(port, 4)
        env.reset_stats()
        res = port.set_sharing_many(Kind.PERSON, [(s.id, s.version, Sharing.UNSHARED, None, f"l{i}")
                                                  for i, s in enumerate(stamps)])
        assert env.requests() == {"GetItem": 1, "UpdateItem": 1}
        got = port.fetch(Kind.PERSON, [s.id for s in stamps])
        assert [g.marker for g in got] == [Sharing.UNSHARED] * 4
        assert [r.version for r in res] == [g.change_key for g in got]


def test_changes_with_known_versions_reads_no_echo():
    with ews_sandbox() as env:
        port = env.mailbox()
        token = [p.token for p in port.changes(Kind.PERSON, None)][-1]
        stamps = _people(port, 30)
        held = {s.id: s.version for s in stamps}
        env.sandbox.edit_item(stamps[7].id, JobTitle="User edit")  # one real change among the echoes
        env.reset_stats()
        pages = list(port.changes(Kind.PERSON, token, known=lambda i, ck: held.get(i) == ck))
        assert env.requests() == {"SyncFolderItems": 1, "GetItem": 1}
        assert [c.item_id for p in pages for c in p.changes] == [stamps[7].id]
        env.reset_stats()
        again = list(port.changes(Kind.PERSON, pages[-1].token, known=lambda i, ck: held.get(i) == ck))
        assert env.requests() == {"SyncFolderItems": 1} and not any(p.changes for p in again)


def test_update_many_merges_what_it_read_and_a_refused_value_fails_only_its_item():
    with ews_sandbox() as env:
        port = env.mailbox()
        stamps = _people(port, 3)
        # a phone and an address the connector does not own, set by another client
        key = env.sandbox.edit_item(stamps[0].id, PhoneNumbers={"CarPhone": "555"},
                                    PhysicalAddresses={"Other": {"City": "Paris"}})
        env.reset_stats()
        ups = [Update(stamps[0].id, key, {"mobile_phone": "777", "business_city": "Leeds", "notes": "n & <m>"},
                      frozenset({"mobile_phone", "business_city", "notes"})),
               Update(stamps[1].id, stamps[1].version, {"middle_name": "x" * 300}, frozenset({"middle_name"})),
               Update(stamps[2].id, stamps[2].version, {"email2": "two@x.example", "job_title": "T"},
                      frozenset({"email2", "job_title"}))]
        res = port.update_many(Kind.PERSON, ups)
        assert env.requests() == {"GetItem": 1, "UpdateItem": 1}
        assert isinstance(res[1], AppError) and "middle_name" in res[1].message  # the library's refusal, this item only
        got = port.fetch(Kind.PERSON, [s.id for s in stamps])
        assert [g.change_key for g in got] == [res[0].version, stamps[1].version, res[2].version]
        assert (got[0].fields["mobile_phone"], got[0].fields["business_city"], got[0].fields["notes"]) == ("777", "Leeds", "n & <m>")
        props = env.sandbox.describe(stamps[0].id)["props"]
        assert "555" in str(props["PhoneNumbers"]) and "Paris" in str(props["PhysicalAddresses"])  # kept
        assert (got[2].fields["email1"], got[2].fields["email2"], got[2].fields["job_title"]) == ("p2@x.example", "two@x.example", "T")


def test_update_many_of_tasks_and_meetings_is_one_request_each():
    with ews_sandbox() as env:
        port = env.mailbox()
        for kind, fields, change in ((Kind.TASK, TASK, {"subject": "Renamed", "description": "d & <e>"}),
                                     (Kind.MEETING, MEETING, {"subject": "Moved", "start": "2025-06-02T11:00Z",
                                                              "end": "2025-06-02T12:00Z"})):
            stamps = port.create(kind, [NewItem(dict(fields, subject=f"S{i}"), link_id=f"{kind.value}{i}") for i in range(3)])
            env.reset_stats()
            res = port.update_many(kind, [Update(s.id, s.version, change, frozenset(change)) for s in stamps])
            assert not [r for r in res if isinstance(r, Exception)]
            assert env.requests().get("UpdateItem") == 1
            got = port.fetch(kind, [r.id for r in res])
            assert all(all(g.fields[k] == v for k, v in change.items()) for g in got)
