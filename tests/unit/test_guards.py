from app.domain.records import Kind, Side
from app.sync import retry
from app.sync.config import Thresholds
from app.sync.guards import check
from datetime import datetime, timedelta, timezone

T = Thresholds()


def reason(planned, linked, gone=0):
    return check(Kind.PERSON, Side.OUTLOOK, planned, linked, gone, T).reason


def test_more_than_50_is_held():
    assert reason(51, 10_000) == "mass_delete"
    assert reason(50, 10_000) is None


def test_more_than_ten_percent_with_at_least_five():
    assert reason(5, 40) == "mass_delete"
    assert reason(4, 10) is None  # fewer than five affected
    assert reason(5, 50) is None  # exactly 10 %


def test_sixty_of_two_hundred():
    assert reason(60, 200) == "mass_delete"


def test_side_that_empties_is_held_whatever_the_numbers():
    assert reason(3, 3, gone=3) == "empty_side"
    assert reason(1, 1, gone=1) is None  # a single pair is not "a side emptying"


def test_nothing_planned_nothing_held():
    assert reason(0, 0) is None


def test_back_off_schedule():
    assert [retry.delay(n) for n in range(1, 8)] == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12),
        timedelta(days=1), timedelta(days=1)]


def test_retry_early_when_the_item_changes():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not retry.due(now, now + timedelta(minutes=5), "a|b", "a|b")
    assert retry.due(now, now + timedelta(minutes=5), "a|b", "a2|b")
    assert retry.due(now + timedelta(minutes=5), now + timedelta(minutes=5), "a|b", "a|b")


def test_approved_held_trash_is_rechecked_against_the_change_key():
    from app.domain.records import Side
    from app.sync.guards import recheck_held_trash
    from app.sync.state import OutboxOp

    def trash(i, ck):
        return OutboxOp(f"o{i}", f"l{i}", Kind.PERSON, Side.OUTLOOK, "trash", {"row": 9, "note": ""}, ck, hold_id="h")

    ops = [trash(1, "ck1"), trash(2, "ck2"), trash(3, "ck3")]
    keep, unshare = recheck_held_trash(ops, ["ck1", "ck2-edited", None])
    assert [o.id for o in keep] == ["o1", "o3"]  # unchanged, or already gone: still trashed
    (u,) = unshare
    assert (u.id, u.op, u.expected_version, u.payload["row"]) == ("o2", "unshare", "ck2-edited", 11)
    assert u.payload["sharing"] == {"state": "unshared", "reason": "crm_delete", "blocked": False}


def test_collection_gone_hold_is_reused_and_cleared():
    from datetime import datetime, timezone

    from app.domain.records import Side
    from app.sync.guards import collection_back, collection_gone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hold, new = collection_gone(Kind.PERSON, Side.OUTLOOK, 12, [], now)
    assert new and (hold.reason, hold.planned, hold.linked) == ("collection_gone", 12, 12)
    again, new = collection_gone(Kind.PERSON, Side.OUTLOOK, 12, [hold], now)
    assert again is hold and not new
    assert collection_back(Kind.TASK, [hold], now) == []
    (cleared,) = collection_back(Kind.PERSON, [hold], now)
    assert cleared.status == "cleared" and cleared.id == hold.id
