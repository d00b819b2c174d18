"""People <-> contacts: situations users actually hit, named after them."""
from __future__ import annotations

from dataclasses import replace

from app.domain.records import Kind, Sharing
from app.journal import reader
from tests.fixtures.fakes import MY_QUEUE_ID

P = Kind.PERSON


def person(i: int, **extra):
    f = {"first_name": f"Ann{i}", "last_name": "Lee", "company": "Acme", "email1": f"ann{i}@acme.test"}
    f.update(extra)
    return f


def seed(world, n=3):
    recs = [world.crm.add(P, person(i)) for i in range(n)]
    world.sync()
    return recs


def contact_for(world, crm_id):
    (item,) = [i for i in world.mailbox.live(P) if i.crm_id == crm_id]
    return item


def writes(world):
    return len(world.crm.writes) + len(world.mailbox.writes)


def test_first_sync_brings_exactly_my_people_into_outlook(world):
    mine = world.crm.add(P, person(1))
    watched = world.crm.add(P, person(2), raw={"assigned_to": 99, "watched": True})
    world.crm.add(P, person(3), raw={"assigned_to": 99, "watched": False})
    s = world.sync()
    assert s.created["outlook"]["contacts"] == 2
    assert {i.crm_id for i in world.mailbox.live(P)} == {mine.id, watched.id}
    for item in world.mailbox.live(P):
        assert item.marker is Sharing.SHARED and item.categorised and item.link_id


def test_second_sync_with_no_changes_makes_no_writes(world):
    seed(world, 5)
    before = writes(world)
    world.crm.calls.clear()
    world.mailbox.calls.clear()
    s = world.sync()
    assert writes(world) == before
    assert s.created == s.updated == s.deleted or not any(v for d in (s.created, s.updated, s.deleted) for side in d.values() for v in side.values())
    # one request per CRM kind and one per Outlook folder
    assert world.crm.calls == {"changes_since": 3}
    assert world.mailbox.calls == {"changes": 3}
    assert s.requests == {"workbooks": 3, "ews": 3}


def test_outlook_edit_reaches_crm(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.edit(P, item.item_id, job_title="CTO")
    s = world.sync()
    assert s.updated["crm"]["people"] == 1
    assert world.crm.get(P, rec.id).fields["job_title"] == "CTO"
    assert world.sync().updated["outlook"]["contacts"] == 0  # the echo is suppressed


def test_crm_edit_reaches_outlook(world):
    (rec, *_rest) = seed(world)
    world.crm.edit(P, rec.id, mobile_phone="+44 7700 900123")
    s = world.sync()
    assert s.updated["outlook"]["contacts"] == 1
    assert contact_for(world, rec.id).fields["mobile_phone"] == "+44 7700 900123"
    before = writes(world)
    world.sync()
    assert writes(world) == before


def test_different_fields_merge(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.edit(P, item.item_id, job_title="CTO")
    world.crm.edit(P, rec.id, business_city="Leeds")
    s = world.sync()
    assert s.conflicts == 0
    crm_now, out_now = world.crm.get(P, rec.id).fields, contact_for(world, rec.id).fields
    assert crm_now["job_title"] == out_now["job_title"] == "CTO"
    assert crm_now["business_city"] == out_now["business_city"] == "Leeds"


def test_both_sides_edit_same_field_is_conflict(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.edit(P, item.item_id, job_title="CTO")
    world.crm.edit(P, rec.id, job_title="CEO")
    s = world.sync()
    assert s.conflicts == 1
    assert world.crm.get(P, rec.id).fields["job_title"] == "CEO"
    assert contact_for(world, rec.id).fields["job_title"] == "CTO"
    (conf,) = reader.conflicts(world.journal.db)
    assert conf["fields"] == ["job_title"]
    before = writes(world)
    assert world.sync().conflicts == 0  # not raised twice, and the item is left alone
    assert writes(world) == before
    world.journal.resolve_conflict(conf["id"], "crm")
    world.sync()
    assert contact_for(world, rec.id).fields["job_title"] == "CEO"
    assert reader.conflicts(world.journal.db) == []
    before = writes(world)
    world.sync()
    assert writes(world) == before


def test_contact_deleted_in_outlook_unshares(world):
    (rec, *_rest) = seed(world)
    world.mailbox.user_delete(P, contact_for(world, rec.id).item_id)
    s = world.sync()
    assert s.unshared["outlook"] == 1 and s.deleted["crm"]["people"] == 0
    assert not world.crm.get(P, rec.id).deleted
    # not re-created while the Person stays in scope, even when it changes
    world.crm.edit(P, rec.id, job_title="New")
    world.sync()
    assert [i for i in world.mailbox.live(P) if i.crm_id == rec.id] == []


def test_deleting_60_of_200_trips_brake(world):
    recs = seed(world, 200)
    for rec in recs[:60]:
        world.mailbox.user_delete(P, contact_for(world, rec.id).item_id)
    world.crm.edit(P, recs[100].id, job_title="Still syncs")
    s = world.sync()
    assert s.holds and s.holds[0].reason == "mass_delete" and s.holds[0].planned == 60 and s.holds[0].linked == 200
    assert s.unshared["outlook"] == 0
    assert contact_for(world, recs[100].id).fields["job_title"] == "Still syncs"  # everything else proceeds
    assert world.sync().holds  # still held until decided
    s = world.sync(allow_mass_delete=True)
    assert s.unshared["outlook"] == 60 and not s.holds
    assert all(not world.crm.get(P, r.id).deleted for r in recs)


def test_native_contact_untouched(world):
    seed(world, 2)
    native = world.mailbox.add(P, {"first_name": "Nat", "last_name": "Ive", "email1": "nat@home.test"})
    world.sync()
    world.mailbox.edit(P, native.item_id, job_title="Chef")
    world.sync()
    assert world.mailbox.items[P][native.item_id].marker is None
    assert not any(w[2] == native.item_id for w in world.mailbox.writes)
    assert all(r.fields.get("first_name") != "Nat" for r in world.crm.live(P))


def test_category_added_shares_native_contact_and_links_by_address(world):
    (rec, *_rest) = seed(world)
    other = world.crm.add(P, person(9), raw={"assigned_to": 99})  # not in my filter
    native = world.mailbox.add(P, {"first_name": "Ann9", "last_name": "Lee", "email1": "ANN9@acme.test"})
    fresh = world.mailbox.add(P, {"first_name": "Zed", "last_name": "New", "email1": "zed@new.test"})
    world.sync()
    world.mailbox.set_category(P, native.item_id, True)
    world.mailbox.set_category(P, fresh.item_id, True)
    s = world.sync()
    assert s.created["crm"]["people"] == 1  # Zed; Ann9 linked to the existing Person, not duplicated
    assert world.mailbox.items[P][native.item_id].crm_id == other.id
    zed = [r for r in world.crm.live(P) if r.fields.get("first_name") == "Zed"]
    assert len(zed) == 1 and world.mailbox.items[P][fresh.item_id].crm_id == zed[0].id


def test_category_removed_unshares_nothing_deleted(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.set_category(P, item.item_id, False)
    s = world.sync()
    assert s.unshared["outlook"] == 1
    assert world.mailbox.items[P][item.item_id].marker is Sharing.UNSHARED
    world.crm.edit(P, rec.id, job_title="Ignored")
    world.sync()
    assert world.mailbox.items[P][item.item_id].fields.get("job_title") is None
    assert len(world.mailbox.live(P)) == 3  # no second copy
    # adding the category again re-links to the same Person
    world.mailbox.set_category(P, item.item_id, True)
    world.sync()
    assert world.mailbox.items[P][item.item_id].fields.get("job_title") == "Ignored"
    assert len(world.crm.live(P)) == 3


def test_person_deleted_in_crm_moves_contact_to_deleted_items(world):
    """B7: the first run only notes the deletion; the next run's lookup confirms it."""
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.crm.user_delete(P, rec.id)
    s = world.sync()
    assert s.deleted["outlook"]["contacts"] == 0 and s.pending_deletions["people"] == 1
    assert item.item_id in world.mailbox.items[P]
    assert world.journal.link(_link_id(world, rec.id)).crm_gone_seen_at is not None
    world.crm.calls.clear()
    s = world.sync()
    assert world.crm.calls.get("fetch") == 1  # the direct lookup that confirms it
    assert s.deleted["outlook"]["contacts"] == 1 and s.pending_deletions["people"] == 0
    assert item.item_id in world.mailbox.deleted_items[P]
    assert world.mailbox.hard_deletes == 0
    assert world.sync().deleted["outlook"]["contacts"] == 0


def _link_id(world, crm_id):
    (link,) = [l for l in world.journal.links(P) if l.crm_id == crm_id]
    return link.id


def test_crm_deletion_undone_before_the_next_run_deletes_nothing(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.crm.user_delete(P, rec.id)
    assert world.sync().pending_deletions["people"] == 1
    restored = world.crm.get(P, rec.id)
    world.crm.records[(P, rec.id)] = replace(restored, deleted=False)  # undeleted without a new updated_at
    s = world.sync()
    assert s.deleted["outlook"]["contacts"] == 0 and s.pending_deletions["people"] == 0
    assert item.item_id in world.mailbox.items[P]
    assert world.journal.link(_link_id(world, rec.id)).crm_gone_seen_at is None
    world.crm.calls.clear()
    s = world.sync()  # the mark is gone: no more lookups, nothing deleted
    assert "fetch" not in world.crm.calls and s.deleted["outlook"]["contacts"] == 0


def test_record_gone_from_listing_and_lookup_is_deleted_only_on_the_second_run(world):
    world.reconfigure(reconcile_hours=0.01)  # every run re-lists the scope
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    del world.crm.records[(P, rec.id)]  # purged: no longer listed, and a lookup finds nothing
    world.clock.advance(hours=1)
    s = world.sync()
    assert s.deleted["outlook"]["contacts"] == 0 and s.pending_deletions["people"] == 1
    assert item.item_id in world.mailbox.items[P]
    world.clock.advance(hours=1)
    s = world.sync()
    assert s.deleted["outlook"]["contacts"] == 1
    assert item.item_id in world.mailbox.deleted_items[P]


def test_dry_run_does_not_count_as_the_first_sighting(world):
    (rec, *_rest) = seed(world)
    world.crm.user_delete(P, rec.id)
    assert world.sync(dry_run=True).pending_deletions["people"] == 1
    assert world.journal.link(_link_id(world, rec.id)).crm_gone_seen_at is None
    s = world.sync()
    assert s.deleted["outlook"]["contacts"] == 0 and s.pending_deletions["people"] == 1


def test_edit_in_outlook_beats_crm_deletion(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.edit(P, item.item_id, job_title="Mine now")
    world.crm.user_delete(P, rec.id)
    world.sync()
    kept = world.mailbox.items[P][item.item_id]
    assert kept.marker is Sharing.UNSHARED and kept.fields["job_title"] == "Mine now"


def test_lost_journal_relinks_without_duplicates(world):
    recs = seed(world, 4)
    world.drop_journal()
    s = world.sync()
    assert len(world.mailbox.live(P)) == 4 and len(world.crm.live(P)) == 4
    assert s.created["outlook"]["contacts"] == 0 and s.created["crm"]["people"] == 0
    before = writes(world)
    world.crm.edit(P, recs[0].id, job_title="After rebuild")
    world.sync()
    assert contact_for(world, recs[0].id).fields["job_title"] == "After rebuild"
    assert writes(world) == before + 1


def test_rejected_sync_token_relinks_without_duplicates(world):
    seed(world, 3)
    world.mailbox.invalid_tokens = True
    world.sync()
    world.mailbox.invalid_tokens = False
    assert len(world.mailbox.live(P)) == 3 and len(world.crm.live(P)) == 3


def test_version_only_churn_writes_nothing(world):
    recs = seed(world, 3)
    before = writes(world)
    for r in recs:
        world.mailbox.churn(P, contact_for(world, r.id).item_id)
    world.sync()
    world.sync()
    assert writes(world) == before


def test_dry_run_changes_nothing_anywhere(world):
    world.crm.add(P, person(1))
    s = world.sync(dry_run=True)
    assert s.dry_run and s.created["outlook"]["contacts"] == 1
    assert [p["op"] for p in s.plan] == ["create"]
    assert "Ann1" not in str(s.plan)  # no content in the plan
    assert world.mailbox.live(P) == [] and world.mailbox.writes == []
    assert world.journal.cursor("crm", "person") is None and world.journal.cursor("outlook", "person") is None
    s = world.sync()
    assert s.created["outlook"]["contacts"] == 1


def test_first_sync_links_existing_contact_by_address(make_world):
    w = make_world(share_existing="matching")
    rec = w.crm.add(P, person(1, job_title="Buyer"))
    native = w.mailbox.add(P, {"first_name": "Ann1", "last_name": "Lee", "email1": "ann1@acme.test", "mobile_phone": "07700"})
    loner = w.mailbox.add(P, {"first_name": "No", "last_name": "Match"})
    w.sync()
    assert len(w.mailbox.live(P)) == 2 and len(w.crm.live(P)) == 1
    linked = w.mailbox.items[P][native.item_id]
    assert linked.crm_id == rec.id and linked.marker is Sharing.SHARED
    assert linked.fields["job_title"] == "Buyer"  # one-sided fields filled both ways
    assert w.crm.get(P, rec.id).fields["mobile_phone"] == "07700"
    assert w.mailbox.items[P][loner.item_id].marker is None


def test_ambiguous_match_is_conflict_never_duplicate(make_world):
    w = make_world(share_existing="matching")
    w.crm.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme"})
    w.crm.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme", "job_title": "Other"})
    w.mailbox.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme"})
    s = w.sync()
    assert s.conflicts == 1
    assert len(w.mailbox.live(P)) == 1 or len(w.mailbox.live(P)) == 2
    assert len(w.crm.live(P)) == 2
    w.sync()
    assert len(w.crm.live(P)) == 2


def test_moved_contact_relinks_without_delete_or_create(world):
    (rec, *_rest) = seed(world)
    item = contact_for(world, rec.id)
    world.mailbox.move(P, item.item_id)
    before = writes(world)
    s = world.sync()
    assert writes(world) == before and s.unshared["outlook"] == 0
    world.crm.edit(P, rec.id, job_title="Moved")
    world.sync()
    assert contact_for(world, rec.id).fields["job_title"] == "Moved"


def test_namesake_of_a_person_matched_by_address_still_gets_a_contact(world):
    """Two People share a name and employer; the user's existing contact carries the first one's
    address. The first links to it by address, the second gets a contact of its own in the same
    first sync (found when seeded data had such namesakes: they appeared one sync late)."""
    first = world.crm.add(P, person(1, first_name="Dev", last_name="O'Brien", email1="dev.1@acme.test"))
    second = world.crm.add(P, person(2, first_name="Dev", last_name="O'Brien", email1="dev.2@acme.test"))
    native = world.mailbox.add(P, {"first_name": "Dev", "last_name": "O'Brien", "company": "Acme",
                                   "email1": "dev.1@acme.test"})
    s = world.sync()
    assert s.created["outlook"]["contacts"] == 1 and s.conflicts == 0
    assert world.mailbox.items[P][native.item_id].crm_id == first.id
    assert {i.crm_id for i in world.mailbox.live(P) if i.crm_id} == {first.id, second.id}
    again = world.sync()
    assert again.created["outlook"]["contacts"] == 0
