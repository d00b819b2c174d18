"""The sandbox's change log and net-change sync, driven directly (no HTTP): a client replaying
pages of any size, interleaved with random edits, always converges on the folder's contents."""
from __future__ import annotations

import random

import pytest

from app.sandbox.ews.seeding import add_item
from app.sandbox.ews.soap import EwsError
from tests.fixtures.ews_sandbox_store import empty_mailbox, random_contact_edits


def _apply(client: dict, changes, mb):
    for kind, item_id, item in changes:
        if kind == "create":
            assert item_id not in client, "Create for an item the client already has"
            client[item_id] = item.change_key
        elif kind == "update":
            assert item_id in client, "Update for an item the client never saw created"
            client[item_id] = item.change_key
        elif kind == "read":
            assert item_id in client
            client[item_id] = item.change_key
        else:
            assert item_id in client, "Delete for an item the client never saw"
            del client[item_id]


@pytest.mark.parametrize("seed", range(12))
def test_random_edits_and_page_sizes_converge(seed):
    rng = random.Random(seed)
    mb = empty_mailbox()
    contacts = mb.distinguished["contacts"]
    client: dict[str, str] = {}
    state, unseen = 0, []
    for _round in range(30):
        random_contact_edits(mb, rng, rng.randrange(0, 12), update_below=0.65,
                             moves=("deleteditems", "recoverableitemsdeletions", "contacts"))
        # sync a few pages (maybe not to the end), edits may follow before the next round
        for _ in range(rng.randrange(1, 4)):
            changes, state, last, unseen = mb.net_changes(contacts, state, rng.randrange(1, 8), unseen=unseen)
            assert len({c[1] for c in changes}) == len(changes), "one entry per item"
            _apply(client, changes, mb)
            if last:
                break
    while True:
        changes, state, last, unseen = mb.net_changes(contacts, state, 5, unseen=unseen)
        _apply(client, changes, mb)
        if last:
            break
    current = {i.id: i.change_key for i in mb.items.values() if i.folder_id == contacts}
    assert client == current


def test_states_are_bound_to_folder_mailbox_and_kind():
    mb = empty_mailbox()
    contacts, tasks = mb.distinguished["contacts"], mb.distinguished["tasks"]
    token = mb.encode_state(contacts, 0, "NormalItems")
    assert mb.decode_state(token, contacts) == 0
    for bad in (lambda: mb.decode_state(token, tasks), lambda: empty_mailbox().decode_state(token, contacts),
                lambda: mb.decode_state(token, contacts, ("Hierarchy",)), lambda: mb.decode_state("x" + token, contacts)):
        with pytest.raises(EwsError) as info:
            bad()
        assert info.value.code == "ErrorInvalidSyncStateData"


def test_ids_and_change_keys_look_like_exchange():
    import base64

    mb = empty_mailbox()
    item = add_item(mb, "contacts", "Contact", {"GivenName": "Id"})
    assert 140 <= len(item.id) <= 160 and item.id.startswith("AAMk")
    assert set(item.id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert base64.b64decode(item.change_key)[:4] == b"\x09\x00\x00\x00"
    old_id, old_ck = item.id, item.change_key
    mb.updated(item)
    assert item.id == old_id and item.change_key != old_ck
    moved = mb.move_item(item, mb.distinguished["deleteditems"])
    assert moved.id != old_id
