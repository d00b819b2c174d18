"""The decision table of design.md 5.3: one case per row (row number in the test id), plus echoes,
version-only churn and a filter exit with a pending change."""
from __future__ import annotations

import pytest

from app.domain.records import Kind, Side
from app.sync.config import CRM_WINS, TRASH_UNCHANGED
from app.sync.planner import CState, OState, PairView, decide

P, T, M = Kind.PERSON, Kind.TASK, Kind.MEETING
BASE = {"first_name": "Ann", "last_name": "Lee", "job_title": "Buyer", "business_city": "York"}


def v(o, c, *, kind=P, linked=True, base=BASE, of=None, cf=None, **kw):
    return PairView(kind=kind, outlook=o, crm=c, linked=linked, base=base if linked else None,
                    outlook_fields=of if of is not None else (dict(BASE) if o not in (OState.DELETED, OState.MISSING) else None),
                    crm_fields=cf if cf is not None else (dict(BASE) if c not in (CState.DELETED, CState.MISSING) else None), **kw)


def edited(**kw):
    d = dict(BASE)
    d.update(kw)
    return d


ROWS = [
    (1, v(OState.UNCHANGED, CState.UNCHANGED), ()),
    (2, v(OState.CHANGED, CState.UNCHANGED, of=edited(job_title="CTO")), (("update", Side.CRM),)),
    (3, v(OState.UNCHANGED, CState.CHANGED, cf=edited(job_title="CEO")), (("update", Side.OUTLOOK),)),
    (4, v(OState.CHANGED, CState.CHANGED, of=edited(job_title="CTO"), cf=edited(job_title="CTO")), (("restamp", None),)),
    (5, v(OState.CHANGED, CState.CHANGED, of=edited(job_title="CTO"), cf=edited(business_city="Leeds")),
     (("update", Side.OUTLOOK), ("update", Side.CRM))),
    (6, v(OState.CHANGED, CState.CHANGED, of=edited(job_title="CTO"), cf=edited(job_title="CEO")), (("conflict", None),)),
    (7, v(OState.DELETED, CState.UNCHANGED), (("release", Side.OUTLOOK), ("block_recreate", None))),
    (8, v(OState.DELETED, CState.UNCHANGED, kind=T, base={"subject": "x"}, cf={"subject": "x"}, owned_by_me=True),
     (("soft_delete", Side.CRM),)),
    (9, v(OState.UNCHANGED, CState.DELETED), (("trash", Side.OUTLOOK),)),
    (10, v(OState.DELETED, CState.CHANGED, cf=edited(job_title="CEO")), (("create", Side.OUTLOOK),)),
    (11, v(OState.CHANGED, CState.DELETED, of=edited(job_title="CTO")), (("unshare", Side.OUTLOOK),)),
    (12, v(OState.DELETED, CState.DELETED), (("release", None),)),
    (13, v(OState.UNCHANGED, CState.LEFT_SCOPE), (("unshare", Side.OUTLOOK),)),
    (14, v(OState.UNCHANGED, CState.INACCESSIBLE), (("access_lost", Side.CRM),)),
    (15, v(OState.CATEGORY_REMOVED, CState.CHANGED, cf=edited(job_title="CEO")), (("unshare", Side.OUTLOOK),)),
    (16, v(OState.NEW, CState.MISSING, linked=False, share=True), (("create", Side.CRM), ("share", Side.OUTLOOK))),
    (17, v(OState.MISSING, CState.NEW, linked=False), (("create", Side.OUTLOOK),)),
    (18, v(OState.NEW, CState.NEW, linked=False, matches=1, needs_marker=True), (("link", None), ("share", Side.OUTLOOK))),
    (19, v(OState.NEW, CState.NEW, linked=False, matches=2), (("conflict", None),)),
    (20, v(OState.MOVED, CState.UNCHANGED), (("relink", Side.OUTLOOK),)),
    (21, v(OState.CHANGED, CState.CHANGED, of=edited(job_title="CTO"), open_conflict=True), ()),
    (22, v(OState.CHANGED, CState.UNCHANGED, of=edited(job_title="CTO"), backoff=True), ()),
]


@pytest.mark.parametrize("row,view,expected", ROWS, ids=[f"row{r[0]:02d}" for r in ROWS])
def test_decision_table_row(row, view, expected):
    d = decide(view)
    assert d.row == row
    assert tuple((a.op, a.side) for a in d.actions) == expected


def test_row06_policy_crm_wins_writes_crm_value():
    d = decide(v(OState.CHANGED, CState.CHANGED, of=edited(job_title="CTO"), cf=edited(job_title="CEO"),
                 conflict_policy=CRM_WINS))
    assert d.row == 6 and d.base["job_title"] == "CEO"
    assert [(a.op, a.side) for a in d.actions] == [("update", Side.OUTLOOK)]


def test_row08_activity_not_mine_only_unlinks():
    d = decide(v(OState.DELETED, CState.UNCHANGED, kind=T, base={"subject": "x"}, cf={"subject": "x"}, owned_by_me=False))
    assert d.row == 8 and d.ops == ("release",)


def test_row09_keep_policy_unshares_instead_of_trashing():
    d = decide(v(OState.UNCHANGED, CState.DELETED, crm_delete_policy="keep"))
    assert d.row == 9 and d.ops == ("unshare",)


def test_row13_filter_exit_with_pending_change_applies_it_first():
    d = decide(v(OState.UNCHANGED, CState.LEFT_SCOPE, kind=T, base={"subject": "x", "status": "new"},
                 of={"subject": "x", "status": "new"}, cf={"subject": "x", "status": "complete"}, crm_changed=True))
    assert d.row == 13
    assert [(a.op, a.side) for a in d.actions] == [("update", Side.OUTLOOK), ("unshare", Side.OUTLOOK)]
    assert d.actions[0].fields["status"] == "complete" and d.actions[0].changed == {"status"}


def test_row13_trash_policy_only_for_unchanged_connector_copies():
    d = decide(v(OState.UNCHANGED, CState.LEFT_SCOPE, leave_policy=TRASH_UNCHANGED, created_by_connector=True))
    assert d.ops == ("trash",)
    d = decide(v(OState.UNCHANGED, CState.LEFT_SCOPE, leave_policy=TRASH_UNCHANGED, created_by_connector=False))
    assert d.ops == ("unshare",)


def test_row16_native_item_is_left_alone():
    assert decide(v(OState.NEW, CState.MISSING, linked=False, share=False)).actions == ()


def test_row17_blocked_recreate_creates_nothing():
    assert decide(v(OState.MISSING, CState.NEW, linked=False, recreate_blocked=True)).actions == ()


def test_row18_different_values_are_first_sync_conflict():
    d = decide(v(OState.NEW, CState.NEW, linked=False, matches=1, of=edited(job_title="A"), cf=edited(job_title="B")))
    assert d.row == 18 and d.conflict_kind == "first_sync_mismatch" and d.conflict_fields == ("job_title",)


def test_row18_one_sided_fields_fill_both_sides():
    d = decide(v(OState.NEW, CState.NEW, linked=False, matches=1, of={"first_name": "Ann", "mobile_phone": "1"},
                 cf={"first_name": "Ann", "job_title": "Buyer"}))
    ops = [(a.op, a.side, tuple(sorted(a.changed))) for a in d.actions]
    assert ops == [("link", None, ()), ("update", Side.OUTLOOK, ("job_title",)), ("update", Side.CRM, ("mobile_phone",))]


def test_echo_of_our_write_is_unchanged():
    # the classifier turns an echo (same version stamp) into UNCHANGED; the table then does nothing
    assert decide(v(OState.UNCHANGED, CState.UNCHANGED)).actions == ()


def test_version_only_churn_restamps_nothing_written():
    # a new ChangeKey with the same content hash is UNCHANGED (restamp flag handled by the classifier)
    d = decide(v(OState.UNCHANGED, CState.UNCHANGED, of=dict(BASE), cf=dict(BASE)))
    assert d.row == 1 and not d.writes


def test_whitespace_and_case_only_difference_is_no_change():
    d = decide(v(OState.CHANGED, CState.UNCHANGED, of=edited(job_title="  Buyer ")))
    assert not d.writes


def test_meeting_with_attendees_outlook_owns_schedule():
    base = {"subject": "R", "start": "2026-03-10T10:00Z", "end": "2026-03-10T11:00Z"}
    d = decide(PairView(kind=M, outlook=OState.UNCHANGED, crm=CState.CHANGED, linked=True, base=base,
                        outlook_fields=dict(base), crm_fields={**base, "start": "2026-03-10T12:00Z"}, has_attendees=True))
    assert [(a.op, a.side) for a in d.actions] == [("update", Side.CRM)]
    assert d.base["start"] == "2026-03-10T10:00Z"


def test_row06_newest_wins_uses_the_later_edit_and_asks_without_times():
    from app.sync.config import NEWEST_WINS
    view = dict(of=edited(job_title="CTO"), cf=edited(job_title="CEO"), conflict_policy=NEWEST_WINS)
    assert decide(v(OState.CHANGED, CState.CHANGED, newest=Side.OUTLOOK, **view)).base["job_title"] == "CTO"
    assert decide(v(OState.CHANGED, CState.CHANGED, newest=Side.CRM, **view)).base["job_title"] == "CEO"
    assert decide(v(OState.CHANGED, CState.CHANGED, **view)).conflict_kind == "both_changed"
