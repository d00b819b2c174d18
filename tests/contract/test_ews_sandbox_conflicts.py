"""ChangeKeys, conflict resolution, bulk results and deletes (ews.md section 4)."""
from __future__ import annotations

import pytest
from exchangelib import Contact
from exchangelib.errors import ErrorInvalidChangeKey, ErrorIrresolvableConflict, ErrorInvalidIdMalformed
from exchangelib.items import ALWAYS_OVERWRITE, MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SOFT_DELETE

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403


def _contact(account, name="Cee"):
    c = Contact(folder=account.contacts, given_name=name, display_name=name)
    c.save()
    return c


def test_every_change_gets_a_new_change_key_and_keeps_the_id(account):
    c = _contact(account)
    keys = {c.changekey}
    for title in ("A", "B", "C"):
        c.job_title = title
        c.save(update_fields=["job_title"], conflict_resolution=NEVER_OVERWRITE)
        keys.add(c.changekey)
    assert len(keys) == 4
    assert account.contacts.get(id=c.id).changekey == c.changekey


def test_stale_change_key_conflicts_under_never_overwrite_and_auto_resolve(account, ews):
    _server, sandbox = ews
    c = _contact(account)
    sandbox.edit_item(c.id, JobTitle="Set in Outlook")
    c.job_title = "Set by CRM"
    with pytest.raises(ErrorIrresolvableConflict):
        c.save(update_fields=["job_title"], conflict_resolution=NEVER_OVERWRITE)
    with pytest.raises(ErrorIrresolvableConflict):
        c.save(update_fields=["job_title"])  # AutoResolve, exchangelib's default
    assert sandbox.describe(c.id)["props"]["JobTitle"] == "Set in Outlook"
    c.save(update_fields=["job_title"], conflict_resolution=ALWAYS_OVERWRITE)
    assert sandbox.describe(c.id)["props"]["JobTitle"] == "Set by CRM"
    # After a re-read the update goes through.
    fresh = account.contacts.get(id=c.id)
    fresh.job_title = "Merged"
    fresh.save(update_fields=["job_title"], conflict_resolution=NEVER_OVERWRITE)
    assert sandbox.describe(c.id)["props"]["JobTitle"] == "Merged"


def test_bare_change_key_bump_conflicts_too(account, ews):
    _server, sandbox = ews
    c = _contact(account)
    sandbox.bump_change_key(c.id)
    c.job_title = "x"
    with pytest.raises(ErrorIrresolvableConflict):
        c.save(update_fields=["job_title"], conflict_resolution=NEVER_OVERWRITE)


def test_bulk_update_trap_reproduces(account, ews):
    _server, sandbox = ews
    a, b, d = _contact(account, "A1"), _contact(account, "B1"), _contact(account, "D1")
    sandbox.edit_item(b.id, GivenName="B-outlook")
    for x in (a, b, d):
        x.job_title = "bulk"
    with pytest.raises(ErrorIrresolvableConflict):
        account.bulk_update([(x, ["job_title"]) for x in (a, b, d)], conflict_resolution=NEVER_OVERWRITE)
    # Independent ItemChanges: the first and third landed anyway (section 4.3).
    assert sandbox.describe(a.id)["props"]["JobTitle"] == "bulk"
    assert sandbox.describe(d.id)["props"]["JobTitle"] == "bulk"
    assert "JobTitle" not in sandbox.describe(b.id)["props"]


def test_delete_with_stale_key_is_accepted_malformed_is_not(account, ews):
    _server, sandbox = ews
    a, b = _contact(account, "S1"), _contact(account, "S2")
    sandbox.edit_item(a.id, JobTitle="edited meanwhile")
    res = account.bulk_delete([(a.id, a.changekey), (b.id, "not-a-change-key!"), ("garbage", None)],
                              delete_type=MOVE_TO_DELETED_ITEMS)
    assert res[0] is True
    assert isinstance(res[1], ErrorInvalidChangeKey)
    assert isinstance(res[2], ErrorInvalidIdMalformed)
    trashed = sandbox.items("deleteditems")
    assert [t["props"]["GivenName"] for t in trashed] == ["S1"] and trashed[0]["id"] != a.id
    res = account.bulk_delete([(b.id, b.changekey)], delete_type=SOFT_DELETE)
    assert res == [True] and [i["props"]["GivenName"] for i in sandbox.items("recoverableitemsdeletions")] == ["S2"]


def test_get_item_needs_well_formed_not_current_key(account, ews):
    _server, sandbox = ews
    c = _contact(account)
    old = c.changekey
    sandbox.edit_item(c.id, JobTitle="new")
    got = list(account.fetch(ids=[(c.id, old)]))
    assert got[0].job_title == "new" and got[0].changekey != old
    got = list(account.fetch(ids=[(c.id, "%%%")]))
    assert isinstance(got[0], ErrorInvalidChangeKey)


def test_move_to_trash_then_restore_by_move(account, ews):
    _server, sandbox = ews
    c = _contact(account, "Mover")
    old_id = c.id
    c.move_to_trash()
    assert c.id is None  # DeleteItem does not return the new id
    trashed = account.trash.get(given_name="Mover")
    assert trashed.id != old_id and sandbox.describe(trashed.id)["folder"] == "deleteditems"
    trashed.move(account.contacts)
    assert sandbox.describe(trashed.id)["folder"] == "contacts"
    assert account.contacts.get(given_name="Mover").id == trashed.id
