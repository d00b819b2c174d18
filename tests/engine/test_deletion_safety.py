"""Deletion safety (issue 5): lost access is never read as deletion (decision row 14, design 5.8),
and a CRM deletion counts only after two runs and a direct lookup agree (B7)."""
from __future__ import annotations

from datetime import timedelta

from app.domain.records import Kind

P, T = Kind.PERSON, Kind.TASK


def person(i: int):
    return {"first_name": f"Ann{i}", "last_name": "Lee", "company": "Acme", "email1": f"ann{i}@acme.test"}


def seed(world, n=3):
    recs = [world.crm.add(P, person(i)) for i in range(n)]
    world.sync()
    return recs


def test_revoked_people_hold_the_kind_delete_nothing_and_other_kinds_still_sync(world):
    recs = seed(world)
    contacts = {i.item_id for i in world.mailbox.live(P)}
    world.crm.revoked.add(P)
    task = world.crm.add(T, {"subject": "Call Ann", "due": (world.clock.now() + timedelta(days=2)).date().isoformat()})
    s = world.sync()
    assert [(h.kind, h.reason) for h in s.holds] == [("person", "collection_gone")]
    assert s.deleted["outlook"]["contacts"] == 0 and s.unshared["outlook"] == 0
    assert {i.item_id for i in world.mailbox.live(P)} == contacts
    assert any(e.item == "people" for e in s.errors)
    assert s.created["outlook"]["tasks"] == 1, "tasks are not held with people"
    assert [h.reason for h in world.journal.holds("open")] == ["collection_gone"]
    s = world.sync()
    assert len(s.holds) == 1 and len(world.journal.holds("open")) == 1  # one hold, not one per run
    world.crm.revoked.clear()
    s = world.sync()
    assert not s.holds and s.ok and world.journal.holds("open") == []
    assert {i.item_id for i in world.mailbox.live(P)} == contacts
    assert len(world.crm.live(P)) == len(recs) and task.id


def test_access_lost_between_sighting_and_confirmation_confirms_nothing(world):
    (rec, *_rest) = seed(world)
    item = next(i for i in world.mailbox.live(P) if i.crm_id == rec.id)
    world.crm.user_delete(P, rec.id)
    assert world.sync().pending_deletions["people"] == 1
    world.crm.revoked.add(P)
    s = world.sync()
    assert s.holds and s.deleted["outlook"]["contacts"] == 0
    assert item.item_id in world.mailbox.items[P]
    world.crm.revoked.clear()
    s = world.sync()  # access back: the lookup now confirms the deletion
    assert s.deleted["outlook"]["contacts"] == 1 and not s.holds
    assert item.item_id in world.mailbox.deleted_items[P]
