"""Crashes between a call and its commit, failing records, stale versions, auth loss."""
from __future__ import annotations

import pytest

from app.domain.records import Kind
from app.errors import AuthError, ItemRejected, TransientError
from app.journal import reader
from tests.fixtures.fakes import Crash

P = Kind.PERSON


def person(i: int):
    return {"first_name": f"Bo{i}", "last_name": "Kay", "email1": f"bo{i}@kay.test"}


def crash_then_recover(world, **kw):
    with pytest.raises(Crash):
        world.sync(**kw)
    world.reopen()
    return world.sync()


OPEN = {"assigned_to": 7, "activity_status": "New"}  # an open activity of mine: in the default scope
RECORDS = {
    P: lambda i: (person(i), {}),
    Kind.TASK: lambda i: ({"subject": f"Call {i}", "due_date": "2026-03-10", "status": "new", "priority": "medium"},
                          {"raw": OPEN}),
    Kind.MEETING: lambda i: ({"subject": f"Review {i}", "start": "2026-03-10T10:00Z", "end": "2026-03-10T11:00Z",
                              "all_day": False}, {"raw": OPEN}),
}


@pytest.mark.parametrize("kind", list(RECORDS), ids=lambda k: k.value)
def test_crash_between_call_and_commit_does_not_duplicate(world, kind):
    for i in range(3):
        fields, extra = RECORDS[kind](i)
        world.crm.add(kind, fields, **extra)
    world.mailbox.crash_after.add("create")  # a batch create lands, the process dies before the commit
    crash_then_recover(world)
    assert len(world.mailbox.live(kind)) == 3
    assert len(world.crm.live(kind)) == 3
    assert len({i.link_id for i in world.mailbox.live(kind)}) == 3


def test_crash_after_crm_create_does_not_duplicate(world):
    world.crm.add(P, person(1))
    world.sync()
    native = world.mailbox.add(P, person(2), categorised=True)
    world.crm.crash_after.add("create")
    crash_then_recover(world)
    assert len([r for r in world.crm.live(P) if r.fields["first_name"] == "Bo2"]) == 1
    (rec,) = [r for r in world.crm.live(P) if r.fields["first_name"] == "Bo2"]
    assert world.mailbox.items[P][native.item_id].crm_id == rec.id


def test_crash_after_update_does_not_lose_or_repeat(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    (item,) = world.mailbox.live(P)
    world.mailbox.edit(P, item.item_id, job_title="Lead")
    world.crm.crash_after.add("update")
    crash_then_recover(world)
    assert world.crm.get(P, rec.id).fields["job_title"] == "Lead"
    n = len(world.crm.writes) + len(world.mailbox.writes)
    world.sync()
    assert len(world.crm.writes) + len(world.mailbox.writes) == n


def test_crash_after_outlook_update_does_not_lose_or_repeat(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    world.crm.edit(P, rec.id, job_title="Lead")
    world.mailbox.crash_after.add("update")
    crash_then_recover(world)
    (item,) = world.mailbox.live(P)
    assert item.fields["job_title"] == "Lead"
    n = len(world.crm.writes) + len(world.mailbox.writes)
    world.sync()
    assert len(world.crm.writes) + len(world.mailbox.writes) == n


def test_one_bad_record_never_blocks_the_rest(world):
    world.mailbox.fail["create"] = [ItemRejected("contact rejected")]
    for i in range(3):
        world.crm.add(P, person(i))
    s = world.sync()
    assert len(world.mailbox.live(P)) == 2
    assert len(s.errors) == 1 and not s.ok
    assert reader.status(world.journal.db)["errors"][0]["attempts"] == 1
    s = world.sync()  # five minutes later: back-off (1 min) has passed
    assert len(world.mailbox.live(P)) == 3 and s.ok
    assert reader.status(world.journal.db)["errors"] == []


def test_transient_failure_waits_for_back_off(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    (item,) = world.mailbox.live(P)
    world.mailbox.edit(P, item.item_id, job_title="X")
    world.crm.fail["update"] = [TransientError("503"), TransientError("503")]
    world.sync()
    world.sync()  # second failure: back-off is now 5 minutes
    assert world.crm.get(P, rec.id).fields.get("job_title") is None
    world.clock.advance(minutes=1)
    calls = world.crm.calls.get("update", 0)
    world.engine().run_cycle()  # within the back-off: skipped
    assert world.crm.calls.get("update", 0) == calls
    world.sync()
    assert world.crm.get(P, rec.id).fields["job_title"] == "X"


def test_stale_version_is_replanned_not_overwritten(world):
    rec = world.crm.add(P, person(1))
    world.sync()
    (item,) = world.mailbox.live(P)
    world.mailbox.edit(P, item.item_id, job_title="From Outlook")
    # the CRM record changes after our ingest but before our write: simulate via an update hook
    real_update = world.crm.update

    def racing_update(kind, updates):
        world.crm.edit(P, rec.id, business_city="York")
        world.crm.update = real_update
        return real_update(kind, updates)

    world.crm.update = racing_update
    world.sync()
    got = world.crm.get(P, rec.id).fields
    assert got["job_title"] == "From Outlook" and got["business_city"] == "York"
    assert world.mailbox.live(P)[0].fields["business_city"] == "York"


def test_auth_error_stops_the_cycle(world):
    world.crm.add(P, person(1))

    def refuse(*a, **k):
        raise AuthError("API key revoked")

    world.crm.list_scope = refuse
    with pytest.raises(AuthError):
        world.sync()
    assert world.mailbox.writes == []


def test_crash_between_first_read_and_plan_keeps_the_install_choice(make_world):
    """The kill test's rare duplicate (issue 8): the first contacts read was committed with its sync
    token, then the process died before planning. The next run resumed from the token and took the
    staged native contacts for new ones, so share_existing=matching was skipped and each matching
    CRM person got a second Outlook contact."""
    w = make_world(share_existing="matching")
    recs = [w.crm.add(P, person(i)) for i in (1, 2)]
    natives = [w.mailbox.add(P, person(i)) for i in (1, 2)]
    loner = w.mailbox.add(P, {"first_name": "No", "last_name": "Match"})
    real = w.crm.list_scope

    def dies(*a, **k):  # the CRM read comes after the committed Outlook read
        w.crm.list_scope = real
        raise Crash("list_scope")

    w.crm.list_scope = dies
    with pytest.raises(Crash):
        w.sync()
    assert w.journal.cursor("outlook", "person") is not None and w.mailbox.writes == []
    w.reopen()
    w.sync()
    assert len(w.mailbox.live(P)) == 3 and len(w.crm.live(P)) == 2
    for rec, native in zip(recs, natives):
        assert w.mailbox.items[P][native.item_id].crm_id == rec.id
    assert w.mailbox.items[P][loner.item_id].marker is None
    late = w.mailbox.add(P, person(3))  # after the first plan: a new contact, not an existing one
    w.crm.add(P, person(4))
    w.sync()
    assert w.mailbox.items[P][late.item_id].marker is None
