"""The journal's big reads decode many rows' JSON as one document; deletes run on the driver.

Each read here is compared with what decoding each row on its own gives (the values, their
types, None for NULL), including rows written by hand as an older writer would have left them
and a damaged row, whose error must stay the one a single read gives.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from app.domain.records import CrmRecord, Kind, OutlookItem, Side
from app.journal import bulk, models as m, repo
from app.journal.repo import _loads, _loads_many
from app.sync.state import PENDING, Batch, ItemErrorRec, Link, OutboxOp, Staged

P = Kind.PERSON


def _sql(path, statement, *params):
    con = sqlite3.connect(path)
    try:
        con.execute(statement, params)
        con.commit()
    finally:
        con.close()


def test_many_texts_decode_as_each_alone():
    texts = ['{"a": 1, "b": [1, 2.5, "x"], "c": {"a": null}}', None, '[]', '"s"', '{"a": true}', 'NaN', '{}']
    got = _loads_many(texts)
    want = [None if t is None else json.loads(t) for t in texts]
    assert repr(got) == repr(want)  # NaN compares unequal to itself; its repr does not
    assert [type(v) for v in got] == [type(v) for v in want]
    assert _loads_many([]) == [] and _loads_many([None]) == [None]


@pytest.mark.parametrize("bad", ['{"a": 1', '1, 2', '{"a": 1}]', ''])
def test_a_damaged_text_fails_as_it_would_alone(bad):
    """A text that is not one JSON value (cut short, two values, a stray bracket) cannot shift
    or swallow its neighbours: the read fails with the error decoding it alone gives."""
    with pytest.raises(json.JSONDecodeError) as alone:
        json.loads(bad)
    with pytest.raises(json.JSONDecodeError) as many:
        _loads_many(['{"x": 1}', bad, '{"y": 2}'])
    assert str(many.value) == str(alone.value)


def _op(i, payload):
    return OutboxOp(f"o{i}", f"l{i}", P, Side.OUTLOOK, "create", payload)


def test_outbox_reads_many_rows_as_each_alone(j, path, monkeypatch):
    """More rows than one decoded document holds, one of them left by an older writer: every op
    reads as a single-row read of it does."""
    monkeypatch.setattr(repo, "DECODE_ROWS", 3)
    ops = [_op(i, {"fields": {"first_name": f"N{i}", "n": i, "ok": i % 2 == 0}, "row": i, "final": True})
           for i in range(8)]
    j.write(Batch(outbox=ops))
    _sql(path, "UPDATE outbox SET payload_json = ? WHERE id = 'o4'", '{"final":true,  "row":4}')
    got = j.outbox([PENDING])
    with j.engine.connect() as con:
        alone = [repo.op_from_row(r) for r in bulk.select_rows(con, m.Outbox.__table__, "1 = 1", (), order_by="seq")]
    assert got == alone and len(got) == 8
    assert got[4].payload == {"final": True, "row": 4}
    assert [type(o.payload["fields"]["ok"]) for o in got if "fields" in o.payload] == [bool] * 7


def test_equal_payload_snapshots_become_one_dict_but_never_change_a_type(j, path):
    """An op's fields, base and source copies that encode alike are one dict after the read (as
    the planner made them); ones equal only by == (1 and True, 1 and 1.0) stay apart. (Read by
    another journal: the writer itself hands back the payloads it wrote.)"""
    same = {"first_name": "Ann", "age": 3}
    writer = repo.open_journal(path)
    writer.write(Batch(outbox=[
        _op(1, {"fields": dict(same), "base": dict(same), "source": {"crm": {"fields": dict(same), "version": "2"}}}),
        _op(2, {"fields": {"flag": True, "n": 1}, "base": {"flag": 1, "n": 1.0},
                "source": {"outlook": {"fields": {"flag": True, "n": 1}}}}),
    ]))
    writer.close()
    one, two = j.outbox([PENDING])
    p = one.payload
    assert p["fields"] is p["base"] is p["source"]["crm"]["fields"] and p["fields"] == same
    q = two.payload
    assert q["fields"] is q["source"]["outlook"]["fields"]
    assert q["base"] is not q["fields"]
    assert type(q["base"]["flag"]) is int and type(q["base"]["n"]) is float
    assert type(q["fields"]["flag"]) is bool and type(q["fields"]["n"]) is int


def test_links_and_staged_read_many_rows_as_each_alone(j, path, monkeypatch):
    monkeypatch.setattr(repo, "DECODE_ROWS", 2)
    snap = {"first_name": "Ann", "country": "United Kingdom"}
    links = [Link(f"l{i}", P, ews_item_id=f"e{i}", ews_fields=snap, crm_id=str(i), crm_fields={**snap, "i": i},
                  base=snap if i % 2 else None) for i in range(5)]
    rec = CrmRecord(P, "7", 3, {"first_name": "Bo"}, raw={"status": "Active", "n": 2})
    item = OutlookItem(P, "e9", "ck", {"first_name": "Cy"})
    staged = [Staged(Side.CRM, P, "7", "upsert", "3", crm=rec, in_scope=True), Staged(Side.OUTLOOK, P, "e9", "upsert", "ck", outlook=item),
              Staged(Side.CRM, P, "8", "delete")]
    j.write(Batch(links=links, stage=staged))
    _sql(path, "UPDATE item_link SET crm_json = ? WHERE id = 'l3'", '{"first_name":"Ann","country":"United Kingdom","i":3}')
    state = j.load(P)
    with j.engine.connect() as con:
        alone_links = [repo.link_from_row(r) for r in bulk.select_rows(con, m.ItemLink.__table__, "1 = 1", ())]
        alone_staged = [repo.staged_from_row(r) for r in bulk.select_rows(con, m.StagedChange.__table__, "1 = 1", ())]
    assert sorted(state.links, key=lambda l: l.id) == sorted(alone_links, key=lambda l: l.id) and len(state.links) == 5
    assert sorted(state.staged, key=lambda s: s.key) == sorted(alone_staged, key=lambda s: s.key) and len(state.staged) == 3
    by_id = j.links_by_id(["l1", "l2", "nope"])
    assert set(by_id) == {"l1", "l2"} and by_id["l1"] == next(l for l in alone_links if l.id == "l1")
    # short values are shared as _loads shares them (memory of a plan's ten thousand records)
    crm = next(s for s in state.staged if s.crm is not None).crm
    assert crm.raw["status"] is _loads('{"s": "Active"}')["s"]


def test_deletes_run_on_the_driver_and_delete_what_sqlalchemy_would(j, path):
    """Staged rows (a composite key, with and without the version condition) and error rows are
    deleted by a driver statement, not one SQLAlchemy execution per row."""
    stage = [Staged(Side.CRM, P, str(i), "upsert", str(i)) for i in range(6)]
    j.write(Batch(stage=stage, errors=[_error("x"), _error("y")]))
    j.write(Batch(unstage=[("crm", "person", "0"), ("crm", "person", "nope")],
                  unstage_if_version=[(("crm", "person", "1"), "1"), (("crm", "person", "2"), "old")],
                  clear_errors=["x"]))
    con = sqlite3.connect(path)
    try:
        left = sorted(r[0] for r in con.execute("SELECT remote_id FROM staged_change"))
        errors = [r[0] for r in con.execute('SELECT "key" FROM item_error')]
    finally:
        con.close()
    assert left == ["2", "3", "4", "5"] and errors == ["y"]
    for names in (("k_side", "k_kind", "k_remote_id"), ("k_side", "k_kind", "k_remote_id", "k_version")):
        assert bulk._COMPILED[("delete", "staged_change", names)] is not None
    assert bulk._COMPILED[("delete", "item_error", ("k_key",))] is not None


def _error(key):
    return ItemErrorRec(key=key, kind=P, op="create", error_class="TransientError", title="t", message="m", attempts=1,
                        last_try_at=None, retry_after=None)


def test_deletes_are_skipped_only_when_the_table_is_empty_within_the_write(j, path):
    """A settle's deletes of staged and error rows are skipped when their table holds no row at all,
    asked inside the write: a row staged earlier in the same batch, or recorded by another
    connection (the app window muting an error) since this journal last wrote, is still deleted."""
    j.write(Batch(clear_errors=["none yet"], unstage=[("crm", "person", "none yet")]))  # both tables empty
    j.write(Batch(stage=[Staged(Side.CRM, P, "1", "upsert", "1")], unstage=[("crm", "person", "1")]))
    _sql(path, "INSERT INTO item_error (\"key\", kind, op, error_class, title, message, attempts, last_try_version, "
               "muted) VALUES ('elsewhere', 'person', 'create', 'E', 't', 'm', 1, '', 1)")
    j.write(Batch(clear_errors=["elsewhere", "never"], unstage=[("crm", "person", "2")]))
    j.write(Batch(clear_errors=["again"], errors=[_error("again")]))  # cleared first, then recorded
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT COUNT(*) FROM staged_change").fetchone() == (0,)
        assert [r[0] for r in con.execute('SELECT "key" FROM item_error')] == ["again"]
    finally:
        con.close()


def test_a_staged_record_reads_back_alike_from_its_text_and_from_an_older_sorted_one(j, path):
    """Staged CRM records are encoded in their own key order now; the record read back equals the
    one staged, and equals what the older sorted encoding of the same row reads as."""
    from datetime import datetime, timezone

    from app.domain.codec import crm_to_dict

    at = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
    rec = CrmRecord(P, "7", 3, {"last_name": "Zed", "first_name": "Åsa", "age": 3}, raw={"watched": True, "when": at},
                    updated_at=at, emails=("a@x.test",), owned_by_me=True)
    j.write(Batch(stage=[Staged(Side.CRM, P, "7", "upsert", "3", crm=rec, in_scope=True),
                         Staged(Side.CRM, P, "8", "upsert", "3", crm=rec, in_scope=True)]))
    _sql(path, "UPDATE staged_change SET payload_json = ? WHERE remote_id = '8'",
         json.dumps(crm_to_dict(rec), sort_keys=True, default=str))
    got = {s.remote_id: s for s in j.load(P).staged}
    assert got["7"].crm == got["8"].crm
    assert got["7"].crm.fields == rec.fields and got["7"].crm.emails == rec.emails and got["7"].crm.updated_at == at
    assert got["7"].crm.raw == {"watched": True, "when": crm_to_dict(rec)["raw"]["when"]}


def test_the_writer_reads_back_the_payloads_it_wrote_as_stored(j, path):
    """The ops a journal has just written (a first sync's plan) read back with the very payload
    objects it wrote, the stored state, seq and order; a row another writer has changed since, or
    one this journal never wrote, is decoded from its text."""
    ops = [_op(i, {"fields": {"first_name": f"N{i}", "n": i}, "row": i}) for i in range(7)]
    j.write(Batch(outbox=ops))
    j.write(Batch(outbox=[replace(ops[1], state="in_flight", attempts=1)]))  # a narrow state change
    _sql(path, "UPDATE outbox SET payload_json = ? WHERE id = 'o4'", '{"row": 40}')
    _sql(path, "INSERT INTO outbox (id, seq, link_id, kind, side, op, payload_json, idempotency_key, state, attempts) "
               "VALUES ('x9', 99, 'l9', 'person', 'outlook', 'create', '{\"row\": 9}', 'x9', 'pending', 0)")
    got = j.outbox([PENDING, "in_flight"])
    assert [o.id for o in got] == ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "x9"]
    assert [o.seq for o in got] == [1, 2, 3, 4, 5, 6, 7, 99]
    assert got[1].state == "in_flight" and got[1].attempts == 1
    assert all(got[i].payload is ops[i].payload for i in (0, 1, 2, 3, 5, 6))
    assert got[4].payload == {"row": 40} and got[7].payload == {"row": 9}
    fresh = repo.open_journal(path)
    try:
        assert fresh.outbox([PENDING, "in_flight"]) == got  # what any reader of the file sees
    finally:
        fresh.close()


def test_a_failed_write_forgets_the_payloads_it_meant_to_store(j, monkeypatch):
    """A write that rolls back leaves the stored rows as they were: their payloads are read from
    the file again, not taken from the op the failed write carried."""
    first = _op(1, {"row": 1})
    j.write(Batch(outbox=[first]))
    changed = replace(first, payload={"row": 2})

    def broken(*_a, **_kw):
        raise RuntimeError("disk full")
    monkeypatch.setattr(repo.bulk, "insert_rows", broken)
    with pytest.raises(Exception):
        j.write(Batch(outbox=[changed], history=[repo.HistoryEntry("r", datetime.now(timezone.utc), "create", "person", "l1", "to_outlook", "")]))
    monkeypatch.undo()
    (got,) = j.outbox([PENDING])
    assert got.payload == {"row": 1}


def test_a_payload_its_text_would_change_is_read_back_from_the_text(j):
    """A payload whose JSON decodes to other types (a tuple becomes a list, a date a string, an
    int key a text key) is not handed back as written: the executor sees what any reader sees."""
    from datetime import date
    odd = [_op(1, {"changed": ("a", "b")}), _op(2, {"due": date(2026, 1, 2)}), _op(3, {"fields": {1: "x"}}),
           _op(4, {"fields": {"n": 1.5, "l": [1, None, True]}})]
    j.write(Batch(outbox=odd))
    got = j.outbox([PENDING])
    assert [o.payload for o in got[:3]] == [{"changed": ["a", "b"]}, {"due": "2026-01-02"}, {"fields": {"1": "x"}}]
    assert got[3].payload is odd[3].payload
