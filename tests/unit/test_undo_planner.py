"""The pure undo planner (app/sync/undo.py): history rows + links + current versions in, outbox
operations and skipped items out."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from app.domain.normalise import canonical
from app.domain.records import Kind, Side
from app.sync.state import HistoryEntry, Link
from app.sync.undo import divergence, items_to_check, plan_undo, unavailable_reason

P, T = Kind.PERSON, Kind.TASK
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)
OLD = canonical(P, {"first_name": "Ann", "last_name": "Lee", "job_title": "Clerk"})
NEW = canonical(P, {"first_name": "Ann", "last_name": "Lee", "job_title": "Boss"})


def ids():
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def update_row(side="outlook", link_id="l1", left="ck2", fields=OLD, kind=P, label="PER-1"):
    before = {"side": side, "op": "update", "label": label, "id": "e1" if side == "outlook" else "c1",
              "version": "ck1", "fields": fields, "base": OLD, "left_version": left}
    return HistoryEntry("r1", NOW, "update", kind.value, link_id, f"to_{side}", "row 3", before=before)


def linked(**kw):
    values = dict(ews_item_id="e1", ews_change_key="ck2", ews_fields=NEW, crm_id="c1", crm_lock_version="7",
                  crm_fields=NEW, base=NEW)
    values.update(kw)
    return Link("l1", P, **values)


def plan(rows, links, current):
    return plan_undo("r1", NOW, rows, links, current, undo_run_id="u1", new_id=ids())


def test_an_update_is_restored_with_the_version_the_run_left():
    rows = [update_row()]
    links = {"l1": linked()}
    assert items_to_check(rows, links) == [("outlook", "person", "e1")]
    p = plan(rows, links, {("outlook", "person", "e1"): "ck2"})
    (op,) = p.ops
    assert (op.side, op.op, op.expected_version, op.run_id) == (Side.OUTLOOK, "update", "ck2", "u1")
    assert op.payload["fields"] == OLD and op.payload["changed"] == ["job_title"]
    assert op.payload["final"] and op.payload["base"] == OLD and op.payload["undo_of"] == "r1"
    assert [(i.label, i.action) for i in p.restore] == [("PER-1", "restore")] and not p.skipped
    # Workbooks keeps the edit the sync had carried over: the pair will differ, so it waits for the user
    (conf,) = p.conflicts
    assert (conf.link_id, conf.fields, conf.outlook["job_title"], conf.crm["job_title"]) == (
        "l1", ("job_title",), "Clerk", "Boss")


def test_an_item_changed_since_is_skipped_and_listed_not_written():
    p = plan([update_row()], {"l1": linked()}, {("outlook", "person", "e1"): "ck3"})
    assert not p.ops and not p.restore
    (skip,) = p.skipped
    assert (skip.label, skip.side, skip.action) == ("PER-1", "outlook", "changed")
    assert "changed in Outlook since that sync" in skip.message


def test_an_item_gone_since_is_skipped():
    p = plan([update_row(side="crm", left="7")], {"l1": linked()}, {("crm", "person", "c1"): None})
    assert not p.ops and p.skipped[0].action == "gone"


def test_an_outlook_create_becomes_a_move_to_deleted_items_that_blocks_recreation():
    before = {"side": "outlook", "op": "create", "label": "PER-2", "id": "e9", "version": None, "fields": None,
              "base": None, "left_version": "ck1"}
    rows = [HistoryEntry("r1", NOW, "create", "person", "l1", "to_outlook", "row 17", before=before)]
    links = {"l1": linked(ews_item_id="e9", ews_change_key="ck1")}
    p = plan(rows, links, {("outlook", "person", "e9"): "ck1"})
    (op,) = p.ops
    assert (op.side, op.op, op.expected_version) == (Side.OUTLOOK, "trash", "ck1")
    assert op.payload["after"] == "release" and op.payload["sharing"]["blocked"] is True


def test_a_crm_person_create_is_never_deleted_only_unshared():
    before = {"side": "crm", "op": "create", "id": "c9", "left_version": "1"}
    rows = [HistoryEntry("r1", NOW, "create", "person", "l1", "to_crm", "row 16", before=before)]
    links = {"l1": linked(crm_id="c9", crm_lock_version="1")}
    current = {("crm", "person", "c9"): "1", ("outlook", "person", "e1"): "ck2"}
    p = plan(rows, links, current)
    assert [(o.side, o.op) for o in p.ops] == [(Side.OUTLOOK, "unshare")]
    assert "never deleted" in p.restore[0].message


def test_a_crm_activity_create_is_soft_deleted_then_unshared():
    before = {"side": "crm", "op": "create", "id": "c9", "left_version": "1"}
    rows = [HistoryEntry("r1", NOW, "create", "task", "l1", "to_crm", "row 16", before=before)]
    links = {"l1": Link("l1", T, ews_item_id="e1", ews_change_key="ck2", crm_id="c9", crm_lock_version="1")}
    current = {("crm", "task", "c9"): "1", ("outlook", "task", "e1"): "ck2"}
    p = plan(rows, links, current)
    assert [(o.side, o.op, o.expected_version) for o in p.ops] == [(Side.CRM, "soft_delete", "1"),
                                                                    (Side.OUTLOOK, "unshare", "ck2")]


def test_deletions_and_unshares_of_the_run_are_listed_not_undone():
    before = {"side": "outlook", "op": "trash", "id": "e1", "left_version": None, "label": "PER-3"}
    rows = [HistoryEntry("r1", NOW, "trash", "person", "l1", "to_outlook", "row 9", before=before)]
    p = plan(rows, {}, {})
    assert not p.ops and p.skipped[0].action == "not_undoable" and "Deleted Items" in p.skipped[0].message


def test_rows_without_a_prior_state_or_that_failed_are_ignored():
    failed = HistoryEntry("r1", NOW, "error", "person", "l1", result="failed")
    bare = HistoryEntry("r1", NOW, "update", "person", "l2")
    p = plan([failed, bare], {}, {})
    assert not p.ops and not p.skipped and not p.restore


def test_availability_reasons():
    assert "no sync" in unavailable_reason(None, is_undo=False, undone=False, now=NOW)
    last = ("r1", NOW - timedelta(days=1))
    assert unavailable_reason(last, is_undo=False, undone=False, now=NOW) is None
    assert "cannot be undone" in unavailable_reason(last, is_undo=True, undone=False, now=NOW)
    assert "undone already" in unavailable_reason(last, is_undo=False, undone=True, now=NOW)
    assert "7 days" in unavailable_reason(("r1", NOW - timedelta(days=8)), is_undo=False, undone=False, now=NOW)


def test_a_restored_pair_whose_sides_differ_becomes_a_conflict():
    conf = divergence(linked(ews_fields=OLD), label="PER-1", conflict_id="c", now=NOW)
    assert conf is not None and conf.fields == ("job_title",) and conf.status == "open"
    assert divergence(linked(), label="PER-1", conflict_id="c", now=NOW) is None
