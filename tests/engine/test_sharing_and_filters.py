"""Sharing commands, hold decisions and filter changes."""
from __future__ import annotations

from app.domain.filters import everything, my_people
from app.domain.records import Kind, Sharing
from app.journal import reader

P = Kind.PERSON


def person(i, **kw):
    return {"first_name": f"Cy{i}", "last_name": "Dee", "email1": f"cy{i}@dee.test", **kw}


def test_unshare_command_keeps_both_and_share_again_relinks(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    (link,) = reader.find_links(world.journal.db, "cy1@dee.test")
    world.journal.request_sharing(link["link_id"], kind=P, state="unshare_requested")
    s = world.sync()
    (item,) = world.mailbox.live(P)
    assert s.unshared["outlook"] == 1 and item.marker is Sharing.UNSHARED and not item.categorised
    world.crm.edit(P, rec.id, job_title="Not pushed")
    world.sync()
    assert world.mailbox.live(P)[0].fields.get("job_title") is None and len(world.mailbox.live(P)) == 1
    (found,) = reader.explain(world.journal.db, "cy1@dee.test")  # `share QUERY` finds the unshared contact
    assert found["link_id"] is None and found["ews_item_id"] == item.item_id and found["sharing"] == "unshared"
    world.journal.request_sharing(None, kind=P, state="share_requested", ews_item_id=found["ews_item_id"],
                                  crm_id=found["crm_id"])
    world.sync()
    (item,) = world.mailbox.live(P)
    assert item.marker is Sharing.SHARED and item.crm_id == rec.id and item.fields["job_title"] == "Not pushed"
    n = len(world.mailbox.writes) + len(world.crm.writes)
    world.sync()
    assert len(world.mailbox.writes) + len(world.crm.writes) == n


def test_restoring_held_deletions_recreates_the_contacts(world):
    recs = [world.crm.add(P, person(i)) for i in range(10)]
    world.sync()
    for item in world.mailbox.live(P)[:6]:
        world.mailbox.user_delete(P, item.item_id)
    s = world.sync()
    (hold,) = s.holds
    world.journal.decide_hold(hold.hold_id, "restore")
    s = world.sync()
    assert not s.holds and s.created["outlook"]["contacts"] == 6
    assert sorted(i.crm_id for i in world.mailbox.live(P)) == sorted(r.id for r in recs)


def test_widening_the_filter_brings_more_people(world):
    world.crm.add(P, person(1))
    world.crm.add(P, person(2), raw={"assigned_to": 99})
    world.sync()
    assert len(world.mailbox.live(P)) == 1
    world.reconfigure(filters={P: everything(), Kind.TASK: world.config.filter_for(Kind.TASK),
                               Kind.MEETING: world.config.filter_for(Kind.MEETING)})
    world.sync()
    assert len(world.mailbox.live(P)) == 2


def test_narrowing_the_filter_unshares_and_widening_again_relinks(world):
    world.reconfigure(filters={P: everything()})
    mine = world.crm.add(P, person(1))
    other = world.crm.add(P, person(2), raw={"assigned_to": 99})
    world.sync()
    world.reconfigure(filters={P: my_people()})
    s = world.sync()
    assert s.unshared["outlook"] == 1 and s.deleted["outlook"]["contacts"] == 0
    kept = [i for i in world.mailbox.live(P) if i.crm_id == other.id]
    assert kept and kept[0].marker is Sharing.UNSHARED
    # the record comes back into scope by itself: the same contact is re-linked, not duplicated
    world.crm.edit(P, other.id, raw={"assigned_to": 7}, job_title="Back")
    world.sync()
    again = [i for i in world.mailbox.live(P) if i.crm_id == other.id]
    assert len(again) == 1 and again[0].marker is Sharing.SHARED and again[0].fields["job_title"] == "Back"
    assert len(world.mailbox.live(P)) == 2 and mine.id in {i.crm_id for i in world.mailbox.live(P)}


def test_status_and_history_after_a_run(world):
    world.crm.add(P, person(1))
    world.sync()
    st = reader.status(world.journal.db)
    assert st["linked"]["person"] == 1 and st["last_sync_ok"] is True and st["conflicts"] == 0
    (run,) = reader.history(world.journal.db, limit=5)
    assert run["summary"]["created"]["outlook"]["contacts"] == 1
    assert any(a["action"] == "create" for a in run["actions"])
    (hit,) = reader.explain(world.journal.db, "cy1@dee.test")
    assert hit["state"] == "shared" and hit["error"] is None


def test_membership_is_reconciled_daily_not_every_cycle(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    world.crm.calls.clear()
    world.sync()
    assert "list_scope" not in world.crm.calls
    # a change that left scope without touching updated_at (e.g. a watcher removed elsewhere)
    key = (P, rec.id)
    world.crm.records[key] = world.crm.records[key].__class__(**{**world.crm.records[key].__dict__,
                                                                "raw": {"assigned_to": 99}})
    world.clock.advance(hours=25)
    s = world.sync()
    assert world.crm.calls.get("list_scope") == 3 and s.unshared["outlook"] == 1  # once per kind


def test_share_again_recreates_a_contact_the_user_deleted_in_outlook(world):
    rec = world.crm.add(P, person(7))
    world.sync()
    (item,) = world.mailbox.live(P)
    world.mailbox.user_delete(P, item.item_id)
    world.sync()
    world.sync()
    assert world.mailbox.live(P) == []  # blocked: the user deleted it
    (found,) = [r for r in reader.unshared(world.journal.db) if r["crm_id"] == rec.id]
    assert found["reason"] == "outlook_delete" and found["removed_from_outlook"]

    # `share QUERY` and "Share again" pass what explain found: the deleted item's id and the CRM id
    world.journal.request_sharing(None, kind=P, state="share_requested", ews_item_id=found["ews_item_id"],
                                  crm_id=rec.id)
    s = world.sync()

    (again,) = world.mailbox.live(P)
    assert s.created["outlook"]["contacts"] == 1
    assert again.marker is Sharing.SHARED and again.crm_id == rec.id and again.item_id != item.item_id
    assert [r for r in reader.unshared(world.journal.db) if r["crm_id"] == rec.id] == []
    n = len(world.mailbox.writes) + len(world.crm.writes)
    world.sync()
    assert len(world.mailbox.writes) + len(world.crm.writes) == n  # settled: not fetched or created again


def test_share_request_for_an_item_that_vanished_settles_back_to_unshared(world):
    native = world.mailbox.add(P, {"first_name": "Gone", "last_name": "Soon", "email1": "gone@soon.test"})
    world.sync()
    world.journal.request_sharing(None, kind=P, state="share_requested", ews_item_id=native.item_id)
    world.mailbox.user_delete(P, native.item_id)
    world.sync()
    assert world.journal.sharing_rows(P, "share_requested") == []
    fetches = world.mailbox.calls.get("fetch", 0)
    world.sync()
    assert world.mailbox.calls.get("fetch", 0) == fetches  # not looked up at every sync from now on
