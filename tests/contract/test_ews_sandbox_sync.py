"""SyncFolderItems: from scratch, incremental, per-page checkpoints, net changes, errors."""
from __future__ import annotations

import pytest
from exchangelib import Contact
from exchangelib.errors import ErrorInvalidSyncStateData, ErrorSchemaValidation
from exchangelib.fields import FieldPath
from exchangelib.services import SyncFolderItems

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403


def _page(account, folder, state, page=100, ignore=None, names=("last_modified_time", "given_name")):
    fields = {FieldPath.from_string(n, folder=folder) for n in names}
    svc = SyncFolderItems(account=account)
    changes = list(svc.call(folder=folder, shape="IdOnly", additional_fields=fields, sync_state=state,
                            ignore=ignore, max_changes_returned=page, sync_scope=None))
    return changes, svc.sync_state, svc.includes_last_item_in_range


def _kinds(changes):
    out = []
    for kind, item in changes:
        out.append((kind, item.id if hasattr(item, "id") else item[0]))
    return out


def test_sync_items_from_scratch_then_incremental(account, ews):
    _server, sandbox = ews
    folder = account.contacts
    first = list(folder.sync_items())
    assert {k for k, _ in first} == {"create"} and len(first) == len(sandbox.items("contacts"))
    state = folder.item_sync_state
    assert state
    assert list(folder.sync_items()) == []  # nothing new
    c = Contact(folder=folder, given_name="New", display_name="New One")
    c.save()
    existing = first[0][1]
    sandbox.edit_item(existing.id, GivenName="Edited")
    changes = list(folder.sync_items())
    kinds = {(k, getattr(i, "id", None)) for k, i in changes}
    assert ("create", c.id) in kinds and ("update", existing.id) in kinds and len(changes) == 2
    c.delete()
    changes = list(folder.sync_items())
    assert [k for k, _ in changes] == ["delete"]


def test_net_changes_and_checkpoint_pages(empty_account, empty_ews):
    _server, sandbox = empty_ews
    folder = empty_account.contacts
    ids = [sandbox.add_item("contacts", "Contact", {"GivenName": f"P{i}", "DisplayName": f"P{i}"}) for i in range(25)]
    # From scratch in pages of 10: 3 pages, every item exactly once, all as Create.
    state, seen, pages = None, [], 0
    while True:
        changes, state, last = _page(empty_account, folder, state, page=10)
        pages += 1
        seen += _kinds(changes)
        if last:
            break
    assert pages == 3 and sorted(i for _, i in seen) == sorted(ids) and {k for k, _ in seen} == {"create"}
    # Net changes: created-then-deleted -> nothing; updated twice -> one update; deleted -> delete.
    tmp = sandbox.add_item("contacts", "Contact", {"GivenName": "Tmp", "DisplayName": "Tmp"})
    sandbox.delete_item(tmp)
    sandbox.edit_item(ids[0], GivenName="A")
    sandbox.edit_item(ids[0], GivenName="B")
    sandbox.delete_item(ids[1])
    sandbox.mark_read(ids[2], False)
    changes, state2, last = _page(empty_account, folder, state)
    assert last
    got = _kinds(changes)
    assert ("update", ids[0]) in got and ("delete", ids[1]) in got and len(got) == 3
    assert [c for k, c in changes if k == "update"][0].given_name == "B"
    assert [k for k, _ in got if k not in ("update", "delete")] == ["read_flag_change"]
    changes, state3, last = _page(empty_account, folder, state2)
    assert changes == [] and last


def test_cut_page_never_hides_a_create(empty_account, empty_ews):
    _server, sandbox = empty_ews
    folder = empty_account.contacts
    a = sandbox.add_item("contacts", "Contact", {"GivenName": "A", "DisplayName": "A"})
    b = sandbox.add_item("contacts", "Contact", {"GivenName": "B", "DisplayName": "B"})
    sandbox.edit_item(a, GivenName="A2")  # a's last change now follows b's
    changes, state, last = _page(empty_account, folder, None, page=1)
    assert not last and _kinds(changes) == [("create", a)]
    changes, state, last = _page(empty_account, folder, state, page=1)
    assert _kinds(changes) == [("create", b)]
    changes, state, last = _page(empty_account, folder, state, page=5)
    assert last and all(k != "create" for k, _ in _kinds(changes))


def test_ignore_and_own_writes(empty_account, empty_ews):
    _server, sandbox = empty_ews
    folder = empty_account.contacts
    _changes, state, _ = _page(empty_account, folder, None)
    a = Contact(folder=folder, given_name="Mine", display_name="Mine")
    a.save()
    b = sandbox.add_item("contacts", "Contact", {"GivenName": "Theirs", "DisplayName": "Theirs"})
    changes, _state, _ = _page(empty_account, folder, state, ignore=[a])
    assert _kinds(changes) == [("create", b)]


def test_bad_states_and_limits(empty_account, empty_ews):
    _server, sandbox = empty_ews
    folder = empty_account.contacts
    _changes, state, _ = _page(empty_account, folder, None)
    tampered = state[:40] + ("A" if state[40] != "A" else "B") + state[41:]
    with pytest.raises(ErrorInvalidSyncStateData):
        _page(empty_account, folder, tampered)
    with pytest.raises(ErrorInvalidSyncStateData):
        _page(empty_account, folder, "bm90IGEgc3RhdGU=")
    with pytest.raises(ErrorInvalidSyncStateData):
        _page(empty_account, empty_account.tasks, state, names=("subject",))  # another folder's state
    with pytest.raises(ErrorSchemaValidation):
        _page(empty_account, folder, None, page=513)
    with pytest.raises(ValueError):
        _page(empty_account, folder, None, page=0)  # refused by exchangelib itself
    changes, _s, last = _page(empty_account, folder, None, page=512)
    assert last


def test_moves_and_deletes_reach_both_folders(account, ews):
    _server, sandbox = ews
    contacts, trash = account.contacts, account.trash
    list(contacts.sync_items())
    list(trash.sync_items())
    a, b, c = [Contact(folder=contacts, given_name=n, display_name=n) for n in ("T1", "T2", "T3")]
    for x in (a, b, c):
        x.save()
    list(contacts.sync_items())
    a.move_to_trash()
    b.soft_delete()
    c.move(trash)
    assert {k for k, _ in contacts.sync_items()} == {"delete"}
    in_trash = [i for k, i in trash.sync_items() if k == "create"]
    assert sorted(i.given_name for i in in_trash) == ["T1", "T3"]
    assert a.id not in {i.id for i in in_trash}  # moves give new ids
    deletions = sandbox.items("recoverableitemsdeletions")
    assert [d["props"]["GivenName"] for d in deletions] == ["T2"]


def test_two_thousand_changes_resume_from_the_last_checkpoint(empty_account, empty_ews):
    _server, sandbox = empty_ews
    folder = empty_account.contacts
    ids = {sandbox.add_item("contacts", "Contact", {"GivenName": f"N{i}", "DisplayName": f"N{i}"})
           for i in range(2000)}
    checkpoint, seen = None, []
    for _ in range(7):  # then the process "dies": only the checkpoint survives
        changes, checkpoint, last = _page(empty_account, folder, checkpoint, page=100)
        seen += [i for _k, i in _kinds(changes)]
        assert not last
    pages, state = 0, checkpoint
    while True:
        changes, state, last = _page(empty_account, folder, state, page=100)
        pages += 1
        seen += [i for _k, i in _kinds(changes)]
        if last:
            break
    assert pages == 13 and len(seen) == 2000 and set(seen) == ids
