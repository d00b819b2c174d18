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


def test_refused_outlook_folder_holds_its_kind_and_soft_deletes_nothing(world):
    raw = {"assigned_to": 7, "activity_status": "New"}
    recs = [world.crm.add(T, {"subject": f"Call {i}", "due_date": "2026-03-10", "status": "new",
                              "priority": "medium"}, raw=raw) for i in range(3)]
    world.crm.add(P, person(1))
    world.sync()
    world.mailbox.revoked.add(T)
    newcomer = world.crm.add(P, person(2))
    s = world.sync()
    assert [(h.kind, h.side, h.reason) for h in s.holds] == [("task", "crm", "collection_gone")]
    assert any(e.item == "tasks" for e in s.errors)
    assert not [w for w in world.crm.writes if w[0] == "delete"] and len(world.crm.live(T)) == 3
    assert any(i.crm_id == newcomer.id for i in world.mailbox.live(P)), "people still sync"
    world.mailbox.revoked.clear()
    s = world.sync()
    assert not s.holds and s.ok and len(world.crm.live(T)) == len(recs)


M = Kind.MEETING


def test_organiser_update_that_recreates_the_meeting_repoints_the_link(world):
    """B3 / row 20: the attendee's calendar item is replaced by a new ItemId carrying the same
    global meeting id and none of our properties: the link follows it, no second CRM meeting,
    no deletion."""
    from dataclasses import replace

    fields = {"subject": "Quarterly review", "start": "2026-03-10T10:00Z", "end": "2026-03-10T11:00Z",
              "all_day": False, "location": "Room 1"}
    item = world.mailbox.add(M, fields, categorised=True, has_attendees=True)
    item = world.mailbox._put(replace(item, global_id="040000008200E00074C5B7101A82E008-UID-1"))
    world.reconfigure(share_existing="all")
    s = world.sync()
    assert s.created["crm"]["meetings"] == 1
    (rec,) = world.crm.live(M)
    (link,) = world.journal.links(M)
    assert link.ews_global_id == item.global_id

    world.mailbox.user_delete(M, item.item_id)  # Exchange replaces the item on the organiser's update
    new = world.mailbox.add(M, {**fields, "location": "Room 2"}, has_attendees=True)
    new = world.mailbox._put(replace(new, global_id=item.global_id))
    s = world.sync()
    assert s.created["crm"]["meetings"] == 0 and s.deleted["crm"]["meetings"] == 0
    assert [r.id for r in world.crm.live(M)] == [rec.id]
    (link,) = world.journal.links(M)
    assert link.ews_item_id == new.item_id and link.crm_id == rec.id
    assert world.crm.get(M, rec.id).fields["location"] == "Room 2"
    assert world.mailbox.items[M][new.item_id].crm_id == rec.id  # our markers on the new item
    assert world.sync().created["crm"]["meetings"] == 0


def test_a_second_item_with_the_same_meeting_id_is_a_copy_not_a_move(world):
    from dataclasses import replace

    fields = {"subject": "Standup", "start": "2026-03-11T09:00Z", "end": "2026-03-11T09:15Z", "all_day": False}
    item = world.mailbox.add(M, fields, categorised=True)
    world.mailbox._put(replace(item, global_id="UID-2"))
    world.reconfigure(share_existing="all")
    world.sync()
    (link,) = world.journal.links(M)
    copy = world.mailbox.add(M, fields)
    world.mailbox._put(replace(copy, global_id="UID-2"))
    world.sync()
    (after,) = world.journal.links(M)
    assert after.ews_item_id == link.ews_item_id  # the live original keeps its link


def test_approved_held_trash_keeps_an_item_edited_since_as_unshared(make_world):
    from app.domain.records import Sharing
    from app.sync.config import Thresholds

    world = make_world(thresholds=Thresholds(max_deletions=2))
    recs = seed(world, 10)
    gone = recs[:3]
    items = {r.id: next(i for i in world.mailbox.live(P) if i.crm_id == r.id) for r in gone}
    for r in gone:
        world.crm.user_delete(P, r.id)
    assert world.sync().pending_deletions["people"] == 3
    s = world.sync()
    assert s.holds and s.holds[0].reason == "mass_delete" and s.deleted["outlook"]["contacts"] == 0
    edited = items[gone[0].id]
    world.mailbox.edit(P, edited.item_id, job_title="Still my contact")  # edited while the hold waits
    s = world.sync(allow_mass_delete=True)  # the user approves what the hold showed
    assert s.deleted["outlook"]["contacts"] == 2 and s.unshared["outlook"] == 1
    kept = world.mailbox.items[P][edited.item_id]
    assert kept.marker is Sharing.UNSHARED and kept.fields["job_title"] == "Still my contact"
    assert {items[r.id].item_id for r in gone[1:]} <= set(world.mailbox.deleted_items[P])
    assert not world.sync().holds


def test_a_side_that_suddenly_lists_nothing_is_held_not_emptied(world):
    world.reconfigure(reconcile_hours=0.01)  # every run re-lists the scope
    seed(world, 4)
    contacts = {i.item_id for i in world.mailbox.live(P)}
    for key in [k for k in world.crm.records if k[0] is P]:
        del world.crm.records[key]  # the listing and every lookup come back empty
    world.clock.advance(hours=1)
    s = world.sync()
    assert not s.holds and s.pending_deletions["people"] == 4 and s.deleted["outlook"]["contacts"] == 0
    world.clock.advance(hours=1)
    s = world.sync()
    assert s.holds and s.holds[0].kind == "person" and s.deleted["outlook"]["contacts"] == 0
    assert {i.item_id for i in world.mailbox.live(P)} == contacts
