"""Activities <-> Outlook tasks and calendar items."""
from __future__ import annotations

from app.domain.records import Kind

T, M = Kind.TASK, Kind.MEETING
OPEN = {"assigned_to": 7, "activity_status": "New"}


def task(i: int, **extra):
    f = {"subject": f"Call {i}", "due_date": "2026-03-10", "status": "new", "priority": "medium"}
    f.update(extra)
    return f


def test_task_completed_in_crm_reaches_outlook_before_unlink(world):
    rec = world.crm.add(T, task(1), raw=OPEN)
    world.sync()
    (item,) = world.mailbox.live(T)
    world.crm.edit(T, rec.id, raw={"assigned_to": 7, "activity_status": "Complete"}, status="complete")
    s = world.sync()
    kept = world.mailbox.items[T][item.item_id]
    assert kept.fields["status"] == "complete"
    assert kept.marker.value == "unshared"
    assert s.deleted["outlook"]["tasks"] == 0
    # no further writes: it is unlinked, not re-created
    n = len(world.mailbox.writes)
    world.crm.edit(T, rec.id, description="late note")
    world.sync()
    assert len(world.mailbox.writes) == n and len(world.mailbox.live(T)) == 1


def test_task_deleted_in_outlook_soft_deletes_my_activity(world):
    rec = world.crm.add(T, task(1), raw=OPEN, owned_by_me=True)
    world.sync()
    (item,) = world.mailbox.live(T)
    world.mailbox.user_delete(T, item.item_id)
    s = world.sync()
    assert s.deleted["crm"]["tasks"] == 1 and world.crm.get(T, rec.id).deleted


def test_task_deleted_in_outlook_not_mine_only_unlinks(world):
    rec = world.crm.add(T, task(1), raw=OPEN, owned_by_me=False)
    world.sync()
    (item,) = world.mailbox.live(T)
    world.mailbox.user_delete(T, item.item_id)
    world.sync()
    assert not world.crm.get(T, rec.id).deleted


def test_task_deleted_in_outlook_but_edited_in_crm_is_recreated(world):
    rec = world.crm.add(T, task(1), raw=OPEN)
    world.sync()
    (item,) = world.mailbox.live(T)
    world.mailbox.user_delete(T, item.item_id)
    world.crm.edit(T, rec.id, subject="Call 1 (moved)")
    world.sync()
    (again,) = world.mailbox.live(T)
    assert again.fields["subject"] == "Call 1 (moved)" and again.crm_id == rec.id


def test_outlook_task_shared_by_category_becomes_crm_task(world):
    item = world.mailbox.add(T, task(5), categorised=True)
    s = world.sync()
    assert s.created["crm"]["tasks"] == 1
    (rec,) = world.crm.live(T)
    assert world.mailbox.items[T][item.item_id].crm_id == rec.id


def test_meeting_with_attendees_keeps_outlook_schedule(world):
    rec = world.crm.add(M, {"subject": "Review", "start": "2026-03-10T10:00Z", "end": "2026-03-10T11:00Z",
                            "all_day": False}, raw=OPEN)
    world.sync()
    (item,) = world.mailbox.live(M)
    world.mailbox.items[M][item.item_id] = item.__class__(**{**item.__dict__, "has_attendees": True})
    world.mailbox.edit(M, item.item_id, description="agenda")
    world.crm.edit(M, rec.id, start="2026-03-10T12:00Z", end="2026-03-10T13:00Z")
    s = world.sync()
    assert s.conflicts == 0
    assert world.mailbox.live(M)[0].fields["start"] == "2026-03-10T10:00Z"
    assert world.crm.get(M, rec.id).fields["start"] == "2026-03-10T10:00Z"
    assert world.crm.get(M, rec.id).fields["description"] == "agenda"


def test_meeting_time_edit_syncs_as_utc_instant(world):
    rec = world.crm.add(M, {"subject": "1:1", "start": "2026-03-29T09:00Z", "end": "2026-03-29T09:30Z",
                            "all_day": False, "timezone": "Europe/London"}, raw=OPEN)
    world.sync()
    (item,) = world.mailbox.live(M)
    world.mailbox.edit(M, item.item_id, start="2026-03-29T08:00:00+00:00", end="2026-03-29T08:30Z")
    world.sync()
    assert world.crm.get(M, rec.id).fields["start"] == "2026-03-29T08:00:00+00:00"
    n = len(world.crm.writes) + len(world.mailbox.writes)
    world.sync()
    assert len(world.crm.writes) + len(world.mailbox.writes) == n
