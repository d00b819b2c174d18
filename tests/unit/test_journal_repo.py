"""JournalPort round trips: dataclasses in, dataclasses out; user decisions."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.domain.records import CrmRecord, Kind, OutlookItem, Sharing, Side
from app.errors import UsageError
from app.journal import reader
from app.journal.repo import open_journal
from app.sync.state import HELD, PENDING, Batch, Conflict, Hold, HistoryEntry, Link, OutboxOp, SharingRec, Staged

P = Kind.PERSON
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def j(tmp_path):
    journal = open_journal(tmp_path / "j.sqlite3")
    yield journal
    journal.close()


def test_link_round_trip(j):
    link = Link("l1", P, ews_item_id="e1", ews_change_key="ck", ews_hash="h", ews_fields={"first_name": "A"},
                crm_id="5", crm_lock_version="3", crm_fields={"first_name": "A"}, base={"first_name": "A"},
                crm_updated_at=NOW, last_synced_at=NOW, origin="crm")
    j.write(Batch(links=[link]))
    assert j.link("l1") == link


def test_staged_snapshots_round_trip(j):
    item = OutlookItem(P, "e1", "ck", {"first_name": "A"}, marker=Sharing.SHARED, categorised=True, crm_id="5", link_id="l1")
    rec = CrmRecord(P, "5", 2, {"first_name": "A"}, raw={"assigned_to": 7}, updated_at=NOW, emails=("a@x",))
    j.write(Batch(stage=[Staged(Side.OUTLOOK, P, "e1", "upsert", "ck", outlook=item),
                         Staged(Side.CRM, P, "5", "upsert", "2", crm=rec, in_scope=True)]))
    got = {s.side: s for s in j.load(P).staged}
    assert got[Side.OUTLOOK].outlook == item and got[Side.CRM].crm == rec and got[Side.CRM].in_scope is True
    j.write(Batch(unstage_if_version=[(("crm", "person", "5"), "1")]))
    assert len(j.load(P).staged) == 2  # version moved on: kept
    j.write(Batch(unstage_if_version=[(("crm", "person", "5"), "2")], unstage=[("outlook", "person", "e1")]))
    assert j.load(P).staged == ()


def test_outbox_order_and_holds(j):
    hold = Hold("h1", P, Side.CRM, "mass_delete", 60, 200, created_at=NOW)
    j.write(Batch(links=[Link("l1", P)], holds=[hold], outbox=[
        OutboxOp("o1", "l1", P, Side.CRM, "update", {"fields": {}}, "1"),
        OutboxOp("o2", "l1", P, Side.OUTLOOK, "trash", {}, "ck", state=HELD, hold_id="h1")]))
    assert [o.id for o in j.outbox([PENDING, HELD])] == ["o1", "o2"]
    assert reader.status(j.db)["holds"][0]["planned"] == 60
    j.decide_hold("h1", "apply")
    assert [o.id for o in j.outbox([PENDING])] == ["o1", "o2"]
    assert j.holds("open") == []


def test_resolve_conflict_and_listing(j):
    j.write(Batch(conflicts=[Conflict("c1", "l1", P, "both_changed", {"job_title": "A"}, {"job_title": "B"},
                                      {"job_title": "Z"}, ("job_title",), created_at=NOW)]))
    (row,) = reader.conflicts(j.db)
    assert row["differences"] == [{"field": "job_title", "outlook": "A", "last_synced": "Z", "workbooks": "B"}]
    with pytest.raises(UsageError):
        j.resolve_conflict("c1", "both")  # only first-sync conflicts
    j.resolve_conflict("c", "crm")  # unique prefix accepted
    assert reader.conflicts(j.db) == []
    with pytest.raises(UsageError):
        j.resolve_conflict("c1", "crm")


def test_history_and_explain(j):
    j.write(Batch(links=[Link("abc-link", P, ews_item_id="e1", crm_id="5", crm_fields={"email1": "ann@x.test"})],
                  history=[HistoryEntry("r1", NOW, "run", summary={"ok": True}),
                           HistoryEntry("r1", NOW, "update", "person", "abc-link", "to_crm", "row 2: changed in Outlook")],
                  sharing=[SharingRec(P, "unshared", "outlook_delete", crm_id="9", recreate_blocked=True)]))
    (run,) = reader.history(j.db)
    assert run["summary"] == {"ok": True} and run["actions"][0]["reason"].startswith("row 2")
    (hit,) = reader.explain(j.db, "ann@x.test")
    assert hit["link_id"] == "abc-link" and hit["history"][0]["action"] == "update"
    (blocked,) = reader.explain(j.db, "9")
    assert blocked["sharing"] == "unshared" and blocked["recreate_blocked"]


def test_reset_lost_state_forgets_links_and_cursors(j):
    j.write(Batch(links=[Link("l1", P)], cursors=[("outlook", "person", "5")]))
    j.reset_lost_state()
    assert j.links() == [] and j.cursor("outlook", "person") is None


def test_request_sharing(j):
    with pytest.raises(UsageError):
        j.request_sharing("l1", kind=P, state="unshare_requested")
    j.write(Batch(links=[Link("l1", P, ews_item_id="e1", crm_id="5")]))
    j.request_sharing("l1", kind=P, state="unshare_requested")
    (rec,) = j.load(P).sharing
    assert rec.state == "unshare_requested"


def test_big_batches_written_set_based_keep_order_and_last_write_wins(j):
    """Set-based writes (app/journal/bulk.py): more rows than one segment, a row written twice in a
    batch keeps the later values, an unstage after a stage in the same batch removes it, outbox
    sequence numbers continue from the stored ones and a stored op keeps its seq."""
    links = [Link(f"l{i}", P, crm_id=str(i), crm_lock_version="1", crm_fields={"first_name": f"N{i}"}) for i in range(700)]
    j.write(Batch(links=links + [Link("l3", P, crm_id="3", crm_lock_version="2")],
                  outbox=[OutboxOp(f"o{i}", f"l{i}", P, Side.OUTLOOK, "create", {"fields": {}}) for i in range(600)]))
    assert len(j.links(P)) == 700 and j.link("l3").crm_lock_version == "2" and j.link("l3").crm_fields is None
    seqs = {o.id: o.seq for o in j.outbox([PENDING])}
    assert sorted(seqs.values()) == list(range(1, 601)) and seqs["o0"] == 1
    rec = CrmRecord(P, "9", 1, {"first_name": "A"}, raw={}, updated_at=NOW)
    j.write(Batch(stage=[Staged(Side.CRM, P, "9", "upsert", "1", crm=rec)], unstage=[("crm", "person", "9")],
                  outbox=[OutboxOp("o5", "l5", P, Side.OUTLOOK, "create", {"fields": {}}, state="done"),
                          OutboxOp("new", "l1", P, Side.OUTLOOK, "update", {"fields": {}})]))
    assert j.load(P).staged == ()
    seqs = {o.id: o.seq for o in j.outbox([PENDING, "done"])}
    assert seqs["o5"] == 6 and seqs["new"] == 601


def test_crm_stamps_are_links_without_field_snapshots(j):
    j.write(Batch(links=[Link("l1", P, crm_id="5", crm_lock_version="3", crm_fields={"first_name": "A"}, in_scope=False),
                         Link("l2", P, ews_item_id="e2")]))
    j.write(Batch(gone_seen=[("l1", NOW)]))
    stamps = {s.id: s for s in j.crm_stamps(P)}
    assert (stamps["l1"].crm_id, stamps["l1"].crm_lock_version, stamps["l1"].in_scope) == ("5", "3", False)
    assert stamps["l1"].crm_gone_seen_at == NOW and stamps["l2"].crm_gone_seen_at is None
    assert stamps["l1"].crm_fields is None and stamps["l2"].crm_id is None and stamps["l2"].in_scope is True


def test_link_write_keeps_the_learnt_global_id_and_the_deletion_sighting(j):
    j.write(Batch(links=[Link("l1", P, crm_id="5", ews_global_id="G1")], gone_seen=[("l1", NOW)]))
    j.write(Batch(links=[Link("l1", P, crm_id="5", crm_lock_version="4")]))  # an older snapshot: no global id
    got = j.link("l1")
    assert (got.crm_lock_version, got.ews_global_id, got.crm_gone_seen_at) == ("4", "G1", NOW)
    j.write(Batch(links=[Link("l1", P, crm_id="5", ews_global_id="G2")]))
    assert j.link("l1").ews_global_id == "G2"
