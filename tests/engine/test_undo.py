"""Undo last sync (B9) end to end on the in-memory fakes and a real SQLite journal: every write of
a run records its prior state, the undo puts each item back through the outbox, skips what changed
since, survives a crash, and cannot be undone twice."""
from __future__ import annotations

import pytest

from app.domain.records import Kind, Sharing
from app.sync.state import PENDING
from app.sync.undo_apply import run_undo
from tests.engine.test_people_scenarios import person, seed
from tests.fixtures.fakes import Crash

P, T = Kind.PERSON, Kind.TASK


def contact_for(world, crm_id):
    (item,) = [i for i in world.mailbox.items[P].values() if i.crm_id == crm_id]
    return item


def undo(world, **kw):
    world.clock.advance(minutes=1)
    return run_undo(world.crm, world.mailbox, world.journal, world.clock, **kw)


def test_undo_restores_each_side_the_last_sync_wrote(world):
    a, b, _c = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")  # goes to Outlook
    world.mailbox.edit(P, contact_for(world, b.id).item_id, mobile_phone="+44 7700 900123")  # goes to Workbooks
    s = world.sync()
    assert s.updated["outlook"]["contacts"] == 1 and s.updated["crm"]["people"] == 1

    result = undo(world)

    assert result.ok and not result.skipped, result.as_json()
    assert {(i.side, i.action) for i in result.restored} == {("outlook", "restore"), ("crm", "restore")}
    assert contact_for(world, a.id).fields.get("job_title") in (None, "")
    assert world.crm.get(P, b.id).fields.get("mobile_phone") in (None, "")
    # the edits stay where the user made them; the two sides now differ, so each pair waits in
    # the conflict inbox: the next sync neither re-applies the undone edit nor reverts the other
    assert world.crm.get(P, a.id).fields["job_title"] == "Boss"
    assert result.conflicts == 2
    assert {c.fields for c in world.journal.conflicts()} == {("job_title",), ("mobile_phone",)}
    writes = len(world.crm.writes) + len(world.mailbox.writes)
    world.sync()
    world.sync()
    assert len(world.crm.writes) + len(world.mailbox.writes) == writes
    assert contact_for(world, a.id).fields.get("job_title") in (None, "")


def test_an_item_changed_since_the_sync_is_skipped_and_listed(world):
    a, _b, c = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.crm.edit(P, c.id, job_title="Chief")
    world.sync()
    edited = world.mailbox.edit(P, contact_for(world, c.id).item_id, job_title="Chief of staff")

    result = undo(world)

    assert [(i.label, i.action, i.side) for i in result.skipped] == [(c.object_ref, "changed", "outlook")]
    assert "changed in Outlook since that sync" in result.skipped[0].message
    assert contact_for(world, c.id).fields["job_title"] == "Chief of staff"
    assert contact_for(world, c.id).change_key == edited.change_key  # not written at all
    assert contact_for(world, a.id).fields.get("job_title") in (None, "")


def test_undo_of_an_outlook_create_moves_it_to_deleted_items_and_it_is_not_copied_again(world):
    seed(world, 1)
    new = world.crm.add(P, person(9))
    world.sync()
    created = contact_for(world, new.id)

    result = undo(world)

    assert [(i.side, i.action) for i in result.restored] == [("outlook", "trash")]
    assert created.item_id not in {i.item_id for i in world.mailbox.live(P)}
    assert world.crm.get(P, new.id).deleted is False
    world.sync()
    assert all(i.crm_id != new.id for i in world.mailbox.live(P))


def test_undo_of_a_crm_person_create_keeps_the_person_and_unshares_the_contact(world):
    seed(world, 1)
    item = world.mailbox.add(P, person(7), categorised=True)
    world.sync()
    (made,) = [r for r in world.crm.live(P) if r.fields.get("email1") == "ann7@acme.test"]

    result = undo(world)

    assert [(i.side, i.action) for i in result.restored] == [("outlook", "unshare")]
    assert world.crm.get(P, made.id).deleted is False  # People are never deleted
    after = world.mailbox.items[P][item.item_id]
    assert after.marker is Sharing.UNSHARED and not after.categorised
    writes = len(world.crm.writes) + len(world.mailbox.writes)
    world.sync()
    assert len(world.crm.writes) + len(world.mailbox.writes) == writes


def test_undo_of_a_crm_task_create_soft_deletes_it(world):
    seed(world, 1)
    task = world.mailbox.add(T, {"subject": "Call Ann", "due": "2030-01-02"}, categorised=True)
    world.sync()
    (made,) = [r for r in world.crm.live(T)]

    result = undo(world)

    assert result.ok, result.as_json()
    assert world.crm.get(T, made.id).deleted is True
    assert world.mailbox.items[T][task.item_id].marker is Sharing.UNSHARED


def test_an_undo_cannot_be_undone_and_a_run_is_undone_once(world):
    (a, *_rest) = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    assert undo(world).restored
    again = undo(world)
    assert not again.restored and "undo" in (again.nothing or "")
    world.sync()  # a sync with nothing to do does not make the old run undoable again
    assert "undo" in (undo(world).nothing or "")


def test_nothing_to_undo_after_seven_days(world):
    (a, *_rest) = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    world.clock.advance(days=8)
    result = undo(world)
    assert result.nothing and "more than 7 days ago" in result.nothing
    assert contact_for(world, a.id).fields["job_title"] == "Boss"


def test_dry_run_lists_without_writing(world):
    (a, *_rest) = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    writes = len(world.crm.writes) + len(world.mailbox.writes)
    result = undo(world, dry_run=True)
    assert [i.action for i in result.restored] == ["restore"]
    assert len(world.crm.writes) + len(world.mailbox.writes) == writes
    assert undo(world).restored  # the dry run did not use the undo up


def test_a_crash_during_the_undo_is_finished_by_the_next_undo(world):
    a, b, _c = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.crm.edit(P, b.id, job_title="Chief")
    world.sync()
    world.mailbox.crash_after.add("update")
    with pytest.raises(Crash):
        undo(world)
    world.reopen()
    assert [o for o in world.journal.outbox([PENDING, "in_flight"]) if o.payload.get("undo_of")]

    result = undo(world)

    assert result.resumed and result.ok, result.as_json()
    assert contact_for(world, a.id).fields.get("job_title") in (None, "")
    assert contact_for(world, b.id).fields.get("job_title") in (None, "")
    assert not [o for o in world.journal.outbox([PENDING, "in_flight"]) if o.payload.get("undo_of")]
    assert "undo" in (undo(world).nothing or "")


def test_an_interrupted_undo_finished_by_the_next_sync_still_cannot_be_undone(world):
    (a, *_rest) = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    world.mailbox.crash_after.add("update")
    with pytest.raises(Crash):
        undo(world)
    world.reopen()
    world.sync()  # runs every pending outbox row first, the undo's included

    assert contact_for(world, a.id).fields.get("job_title") in (None, "")
    assert [c.fields for c in world.journal.conflicts()] == [("job_title",)]
    world.sync()
    assert contact_for(world, a.id).fields.get("job_title") in (None, "")  # the pair waits for the user
    result = undo(world)
    assert not result.restored and "cannot be undone" in (result.nothing or ""), result.as_json()


def test_an_item_changed_between_the_check_and_the_write_is_skipped_and_its_conflict_dropped(world):
    from app.errors import StaleVersion

    (a, *_rest) = seed(world)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    world.mailbox.fail["update"] = [StaleVersion("ErrorIrresolvableConflict")]

    result = undo(world)

    assert not result.restored and [(i.action, i.side) for i in result.skipped] == [("changed", "outlook")]
    assert "changed since the check" in result.skipped[0].message and result.ok
    assert result.conflicts == 0 and world.journal.conflicts() == []
    assert contact_for(world, a.id).fields["job_title"] == "Boss"


def test_every_applied_write_records_its_prior_state(world):
    a, b = seed(world, 2)
    (first_run, _at) = world.journal.last_change_run(("create",))
    creates = [h.before for h in world.journal.run_history(first_run) if h.action == "create"]
    assert sorted(c["id"] for c in creates) == sorted(contact_for(world, r.id).item_id for r in (a, b))
    assert all(c["side"] == "outlook" and c["fields"] is None and c["left_version"] for c in creates)
    world.crm.edit(P, a.id, job_title="Boss")
    world.sync()
    (run_id, _at) = world.journal.last_change_run(("update",))
    (update,) = [h for h in world.journal.run_history(run_id) if h.action == "update"]
    contact = contact_for(world, a.id)
    assert update.before["side"] == "outlook" and update.before["id"] == contact.item_id
    assert update.before["fields"]["job_title"] in (None, "") and update.before["left_version"] == contact.change_key
    assert update.before["version"] and update.before["version"] != contact.change_key
    world.crm.user_delete(P, b.id)  # row 9: the Outlook copy goes to Deleted Items ...
    gone = contact_for(world, b.id)
    world.sync()
    assert world.journal.last_change_run(("trash",)) is None  # ... not at the first sighting (B7)
    world.sync()  # the second run's lookup confirms it
    (run_id, _at) = world.journal.last_change_run(("trash",))
    (trash,) = [h for h in world.journal.run_history(run_id) if h.action == "trash"]
    assert trash.before["id"] == gone.item_id and trash.before["fields"]["first_name"] == "Ann1"
    assert trash.before["left_version"] is None
