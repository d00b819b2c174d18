"""The journal's cheaper write paths store exactly what the plain ones did.

An outbox op that only changes state is updated without its payload; a link's equal field
snapshots share one JSON text; the set-based statements run on the driver with SQLAlchemy's own
bind processors. Each test here fails if one of those shortcuts changes what is stored.
"""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel

from app.domain.records import CrmRecord, Kind, Side
from app.journal import bulk, models as m
from app.journal.repo import open_journal
from app.sync.state import CANCELLED, DONE, IN_FLIGHT, PENDING, Batch, HistoryEntry, Link, OutboxOp, SharingRec, Staged

P = Kind.PERSON
NOW = datetime(2026, 3, 2, 9, 0, 1, 250, tzinfo=timezone.utc)


def _row(path, op_id):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT seq, payload_json, state, attempts, run_id, last_error FROM outbox WHERE id = ?",
                           (op_id,)).fetchone()
    finally:
        con.close()


def _op(i, **kw):
    return OutboxOp(f"o{i}", f"l{i}", P, Side.OUTLOOK, "create", {"fields": {"first_name": f"N{i}"}, "final": True}, **kw)


def test_state_changes_of_a_read_op_keep_its_payload_text(j, path):
    j.write(Batch(outbox=[_op(1), _op(2)]))
    # as an older writer left it: the same payload, other spacing; a state change leaves the text alone
    con = sqlite3.connect(path)
    con.execute("UPDATE outbox SET payload_json = ? WHERE id = 'o1'", ('{"final":true,"fields":{"first_name":"N1"}}',))
    con.commit()
    con.close()
    op, other = j.outbox([PENDING])
    flying = replace(op, state=IN_FLIGHT, attempts=op.attempts + 1, run_id="r1")
    j.write(Batch(outbox=[flying]))
    assert _row(path, "o1") == (1, '{"final":true,"fields":{"first_name":"N1"}}', IN_FLIGHT, 1, "r1", None)
    j.write(Batch(outbox=[replace(flying, state=DONE), replace(other, state="failed", last_error="Boom: no")]))
    assert _row(path, "o1")[2:] == (DONE, 1, "r1", None)
    assert _row(path, "o2") == (2, '{"fields": {"first_name": "N2"}, "final": true}', "failed", 0, None, "Boom: no")
    assert j.outbox([PENDING, IN_FLIGHT]) == []


def test_an_op_whose_row_is_gone_is_written_whole(j, path):
    j.write(Batch(outbox=[_op(1), _op(2)]))
    op1, op2 = j.outbox([PENDING])
    other = open_journal(path)  # another writer resets the outbox meanwhile
    other.reset_lost_state()
    other.close()
    j.write(Batch(outbox=[replace(op1, state=IN_FLIGHT, attempts=1), replace(op2, state=CANCELLED)]))
    got = {o.id: o for o in j.outbox([IN_FLIGHT, CANCELLED])}
    assert got["o1"].payload == op1.payload and got["o1"].attempts == 1 and got["o1"].seq == op1.seq
    assert got["o2"].state == CANCELLED and got["o2"].payload == op2.payload


def test_a_changed_payload_or_operation_is_written(j, path):
    j.write(Batch(outbox=[_op(1)]))
    (op,) = j.outbox([PENDING])
    unshare = replace(op, op="unshare", payload={**op.payload, "note": "crm_delete"})  # as guards.recheck_held_trash
    j.write(Batch(outbox=[unshare]))
    (got,) = j.outbox([PENDING])
    assert got.op == "unshare" and got.payload["note"] == "crm_delete"
    j.write(Batch(outbox=[replace(unshare, state=IN_FLIGHT)]))  # the older object: still written whole
    (got,) = j.outbox([IN_FLIGHT])
    assert got.op == "unshare" and got.payload["note"] == "crm_delete"
    mutated = replace(got, link_id="l9", state=PENDING)
    j.write(Batch(outbox=[mutated]))
    assert j.outbox([PENDING])[0].link_id == "l9"


def test_the_same_op_twice_in_one_batch_keeps_the_later_state(j):
    j.write(Batch(outbox=[_op(1)]))
    (op,) = j.outbox([PENDING])
    j.write(Batch(outbox=[replace(op, state=IN_FLIGHT, attempts=1), replace(op, state=DONE, attempts=1)]))
    (got,) = j.outbox([DONE])
    assert got.attempts == 1 and got.payload == op.payload


def test_equal_snapshots_share_text_but_types_survive(j, path):
    fields = {"first_name": "A", "private": True, "n": 1}
    j.write(Batch(links=[Link("l1", P, ews_fields=fields, crm_fields=dict(fields), base=dict(fields)),
                         Link("l2", P, ews_fields={"n": 1}, crm_fields={"n": True}, base={"n": 1.0}),
                         Link("l3", P, ews_fields={"n": 0.0}, crm_fields={"n": -0.0}, base=None)]))
    con = sqlite3.connect(path)
    texts = {r[0]: r[1:] for r in con.execute("SELECT id, ews_json, crm_json, base_json FROM item_link")}
    con.close()
    assert len(set(texts["l1"])) == 1 and texts["l1"][0] == '{"first_name": "A", "n": 1, "private": true}'
    assert texts["l2"] == ('{"n": 1}', '{"n": true}', '{"n": 1.0}')
    assert texts["l3"] == ('{"n": 0.0}', '{"n": -0.0}', None)
    got = j.link("l2")
    assert [type(x["n"]) for x in (got.ews_fields, got.crm_fields, got.base)] == [int, bool, float]
    same = j.links_by_id(["l1"])["l1"]  # read back: one decoded snapshot, equal to each written one
    assert same.ews_fields == same.crm_fields == same.base == fields and same.crm_fields is same.base
    assert j.link("l3").crm_fields == {"n": -0.0} and str(j.link("l3").crm_fields["n"]) == "-0.0"


def test_a_link_written_back_after_a_read_stores_its_new_snapshots(j, path):
    j.write(Batch(links=[Link("l1", P, crm_id="5", crm_fields={"n": 1, "a": "x"}, base={"n": 1, "a": "x"})]))
    prior = j.links_by_id(["l1"])["l1"]
    j.write(Batch(links=[replace(prior, ews_fields={"a": "x", "n": 1}, crm_fields={"n": True, "a": "x"},
                                 base={"n": 2, "a": "x"})]))
    con = sqlite3.connect(path)
    texts = con.execute("SELECT ews_json, crm_json, base_json FROM item_link").fetchone()
    con.close()
    assert texts == ('{"a": "x", "n": 1}', '{"a": "x", "n": true}', '{"a": "x", "n": 2}')
    again = j.links_by_id(["l1"])["l1"]
    assert (again.ews_fields["n"], again.crm_fields["n"], again.base["n"]) == (1, True, 2)
    assert type(again.crm_fields["n"]) is bool
    # the same content in another key order (as canonical() makes it) is the same text
    j.write(Batch(links=[replace(again, ews_fields={"n": 1, "a": "x"}, crm_fields={"n": 1, "a": "x"})]))
    con = sqlite3.connect(path)
    texts = con.execute("SELECT ews_json, crm_json, base_json FROM item_link").fetchone()
    con.close()
    assert texts == ('{"a": "x", "n": 1}', '{"a": "x", "n": 1}', '{"a": "x", "n": 2}')


def _dump(engine, table):
    cols = [c.name for c in table.columns if c.name != "id" or table.name != "history"]
    sel = ", ".join(f"{c}, typeof({c})" for c in cols)
    with engine.connect() as con:
        return sorted(map(tuple, con.exec_driver_sql(f"SELECT {sel} FROM {table.name}")))


def test_driver_statements_store_what_the_core_statements_store():
    """Rows of every big table, with aware dates in another zone, bools and NULLs, written by the
    driver path and by the plain SQLAlchemy statement: the stored values and types are equal."""
    from app.journal.repo import _history_values, _link_values, _sharing_values, _staged_values

    cet = timezone(timedelta(hours=1))
    at = datetime(2026, 5, 1, 12, 30, 5, 7, tzinfo=cet)
    rec = CrmRecord(P, "9", 3, {"first_name": "Å"}, raw={"x": 1}, updated_at=at)
    tables = {
        m.ItemLink.__table__: [_link_values(Link("l1", P, crm_id="9", crm_updated_at=at, last_synced_at=NOW, in_scope=False,
                                                 crm_fields={"first_name": "Å"})),
                               _link_values(Link("l2", P, ews_item_id="e2", ews_global_id="G"))],
        m.StagedChange.__table__: [_staged_values(Staged(Side.CRM, P, "9", "upsert", "3", crm=rec, in_scope=True), at),
                                   _staged_values(Staged(Side.OUTLOOK, P, "e1", "delete"), NOW)],
        m.SharingRow.__table__: [_sharing_values(SharingRec(P, "unshared", "user", crm_id="9", recreate_blocked=True,
                                                            changed_at=at), NOW)],
        m.History.__table__: [_history_values(HistoryEntry("r", at, "create", "person", "l1", summary={"a": 1}), NOW)],
    }
    engines = []
    for driver in (True, False):
        engine = create_engine("sqlite://")
        SQLModel.metadata.create_all(engine)
        with engine.begin() as con:
            for table, rows in tables.items():
                if table is m.History.__table__:
                    bulk.insert_rows(con, table, rows) if driver else con.execute(insert(table), rows)
                elif driver:
                    bulk.upsert(con, table, rows)
                    bulk.upsert(con, table, rows)  # the update branch too
                else:
                    stmt = sqlite_insert(table)
                    pk = [c.name for c in table.primary_key.columns]
                    stmt = stmt.on_conflict_do_update(index_elements=pk, set_={
                        n: stmt.excluded[n] for n in rows[0] if n not in pk})
                    con.execute(stmt, rows)
                    con.execute(stmt, rows)
        engines.append(engine)
    for table in tables:
        driven, plain = (_dump(e, table) for e in engines)
        assert driven == plain and driven
    assert "2026-05-01 11:30:05.000007" in str(_dump(engines[0], m.ItemLink.__table__))


def test_driver_reads_give_what_the_core_select_gives(j):
    """select_rows (the plan's and the executor's reads) against a plain Core select: the same
    values of the same types, dates aware in UTC, booleans as bools, NULLs as None."""
    from sqlalchemy import select

    at = datetime(2026, 5, 1, 12, 30, 5, 7, tzinfo=timezone(timedelta(hours=2)))
    rec = CrmRecord(P, "9", 3, {"first_name": "Å"}, raw={"x": 1}, updated_at=at)
    j.write(Batch(links=[Link("l1", P, crm_id="9", crm_updated_at=at, last_synced_at=NOW, in_scope=False,
                              crm_fields={"first_name": "Å"}), Link("l2", P, ews_item_id="e2")],
                  gone_seen=[("l1", at)], stage=[Staged(Side.CRM, P, "9", "upsert", "3", crm=rec, in_scope=False)],
                  outbox=[_op(1), _op(2, state="held")]))
    for table, where, params in ((m.ItemLink.__table__, "kind = ?", ("person",)),
                                 (m.StagedChange.__table__, "kind = ?", ("person",)),
                                 (m.Outbox.__table__, "state IN (?, ?)", ("pending", "held"))):
        with j.engine.connect() as con:
            plain = [tuple(r) for r in con.execute(select(table).order_by(*table.primary_key.columns))]
            driven = sorted((tuple(r) for r in bulk.select_rows(con, table, where, params)),
                            key=lambda r: tuple(r[i] for i, c in enumerate(table.columns) if c.primary_key))
        assert driven == plain and driven
        assert [list(map(type, r)) for r in driven] == [list(map(type, r)) for r in plain]
    assert j.link("l1").crm_updated_at == at and j.link("l1").crm_gone_seen_at.tzinfo is not None


def test_payloads_and_history_reuse_snapshot_texts_byte_for_byte(j, path):
    """The planner's link, op payload and history share snapshot dicts; the texts spliced in are
    exactly what encoding the whole value gives, also when a value holds the splice marks."""
    import json

    from app.journal.repo import _Texts

    snap = {"first_name": "Ann", "n": 1, "x": None}
    odd = {"a": "\x000\x00", "b": ["\x001\x00"]}  # the marks themselves inside the values
    payloads = [{"fields": snap, "base": snap, "source": {"crm": {"fields": dict(snap)}}, "row": 3, "when": NOW},
                {"fields": snap, "note": odd, "label": "\x000\x00"}, {}, {"fields": {"n": 1.5}}]
    texts = _Texts()
    texts.remember(snap, json.dumps(snap, sort_keys=True, default=str))
    texts.remember(odd, json.dumps(odd, sort_keys=True, default=str))
    for p in payloads:
        assert texts.dumps(p) == json.dumps(p, sort_keys=True, default=str)
    link = Link("l1", P, crm_id="5", crm_fields=snap, base=snap)
    op = OutboxOp("o1", "l1", P, Side.OUTLOOK, "create", payloads[0])
    j.write(Batch(links=[link], outbox=[op],
                  history=[HistoryEntry("r", NOW, "create", "person", "l1", before={"base": snap, "id": None})]))
    assert _row(path, "o1")[1] == json.dumps(payloads[0], sort_keys=True, default=str)
    (hist,) = j.run_history("r")
    assert hist.before == {"base": snap, "id": None}
    assert j.outbox([PENDING])[0].payload["when"] == str(NOW)


def test_an_equal_snapshot_written_back_keeps_its_stored_text_across_chunks(j, path):
    """The pipelined executor reads the next chunk's links before it writes the previous chunk's:
    each read link's stored texts stay known until it is written back (then they are used up)."""
    j.write(Batch(links=[Link("l1", P, crm_id="1", crm_fields={"a": "x"}), Link("l2", P, crm_id="2")]))
    con = sqlite3.connect(path)
    con.execute("UPDATE item_link SET crm_json = '{\"a\":\"x\"}' WHERE id = 'l1'")  # as an older writer spaced it
    con.commit()
    first = j.links_by_id(["l1"])["l1"]
    j.links_by_id(["l2"])
    j.write(Batch(links=[replace(first, crm_fields={"a": "x"}, base={"a": "x"})]))
    assert con.execute("SELECT crm_json, base_json FROM item_link WHERE id = 'l1'").fetchone() == ('{"a":"x"}',) * 2
    j.write(Batch(links=[replace(first, crm_fields={"a": "x"}, base=None)]))  # used up: encoded afresh
    assert con.execute("SELECT crm_json, base_json FROM item_link WHERE id = 'l1'").fetchone() == ('{"a": "x"}', None)
    con.close()
