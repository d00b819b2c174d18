"""The journal's faster row builders store byte for byte what the plain definitions store.

The plain definitions: every JSON column is json.dumps(value, sort_keys=True, default=str), every
date column is what SQLAlchemy's own bind processor makes of the value, every boolean what its
Boolean processor binds. Each test feeds the shortcuts (stored_dates, bulk._driver_params,
_Texts.dumps, _decodes_as_itself, the segmented plan write) values chosen to trip them up and
compares with those definitions.
"""
from __future__ import annotations

import enum
import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlmodel import SQLModel

from app.domain.records import Kind, Side
from app.journal import bulk, models as m, stored_dates
from app.journal.repo import WHOLE_BATCH_ROWS, _decodes_as_itself, _Texts
from app.sync.state import Batch, HistoryEntry, Link, OutboxOp, SharingRec

P = Kind.PERSON
UTC = timezone.utc
NY = ZoneInfo("America/New_York")
IST = timezone(timedelta(hours=5, minutes=30))
DIALECT = sqlite_dialect.dialect()


def plain(value):
    return json.dumps(value, sort_keys=True, default=str)


def sqlalchemy_processor(column):
    return column.type.dialect_impl(DIALECT).bind_processor(DIALECT)


SLOW_DATE = sqlalchemy_processor(m.ItemLink.__table__.c.crm_updated_at)


class Later(datetime):
    """A datetime subclass (as some libraries hand out): left to SQLAlchemy."""


def tricky_dates():
    """Values in the order a column might hold them: equal instants in other zones and folds
    next to each other (the fast processor remembers the value before), microseconds 0 and not."""
    ambiguous = datetime(2026, 11, 1, 1, 30, tzinfo=NY)  # 1:30 happens twice that night in New York
    return [
        datetime(2026, 1, 5, 9, 3, tzinfo=UTC), datetime(2026, 1, 5, 9, 3, tzinfo=UTC),
        datetime(2026, 1, 5, 14, 33, tzinfo=IST),  # the same instant in another zone
        datetime(2026, 1, 5, 14, 33, 0, 1, tzinfo=IST), datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        ambiguous, ambiguous.replace(fold=1), ambiguous.replace(fold=1), ambiguous,
        datetime(2026, 3, 8, 2, 30, tzinfo=NY),  # in the spring-forward gap
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-11))),
        Later(2026, 1, 5, 9, 3, tzinfo=IST), None, datetime(2026, 1, 5, 9, 3, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, 0, 500000, tzinfo=ZoneInfo("Europe/Berlin")),
    ]


@pytest.mark.parametrize("kept", [stored_dates.MADE_KEPT, 2])
def test_dates_are_stored_as_sqlalchemy_stores_them(kept, monkeypatch):
    monkeypatch.setattr(stored_dates, "MADE_KEPT", kept)  # also while the texts made are dropped
    monkeypatch.setattr(stored_dates, "_made", {})
    fast = stored_dates.processor(SLOW_DATE)
    assert fast is not SLOW_DATE  # the direct format is in use (else this test proves nothing)
    values = tricky_dates()
    assert [fast(v) for v in values] == [SLOW_DATE(v) for v in values]
    assert [fast(v) for v in reversed(values)] == [SLOW_DATE(v) for v in reversed(values)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.datetimes(timezones=st.timezones() | st.just(UTC), allow_imaginary=True), max_size=6))
def test_any_aware_dates_are_stored_as_sqlalchemy_stores_them(values):
    fast = stored_dates.processor(SLOW_DATE)
    values = values + [v.replace(fold=1 - v.fold) for v in values]  # each also in its other fold
    assert [fast(v) for v in values] == [SLOW_DATE(v) for v in values]


@pytest.mark.parametrize("value", [datetime(2026, 1, 5, 9, 3), date(2026, 1, 5), "2026-01-05", 5])
def test_dates_it_does_not_format_get_sqlalchemys_answer_or_error(value):
    fast = stored_dates.processor(SLOW_DATE)
    try:
        want = SLOW_DATE(value)
    except Exception as exc:  # noqa: BLE001 - the same error, whichever it is
        with pytest.raises(type(exc), match=str(exc)[:40]):
            fast(value)
    else:
        assert fast(value) == want


def test_a_different_storage_format_is_left_to_sqlalchemy():
    def seconds_only(value):
        return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    assert stored_dates.processor(seconds_only) is seconds_only


def test_rows_are_bound_as_sqlalchemys_processors_bind_them():
    """bulk._driver_params (column by column, the dates and booleans by lookup) against each
    column type's own processor, value by value."""
    dates = tricky_dates()
    rows = [{"key": f"k{i}", "kind": "person", "link_id": None, "ews_item_id": "e", "crm_id": str(i), "state": "shared",
             "reason": "", "recreate_blocked": (True, False, 1, 0, None)[i % 5], "changed_at": at, "label": "Å"}
            for i, at in enumerate(dates)]
    table = m.SharingRow.__table__
    order = tuple(rows[0])
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        got = bulk._driver_params(conn, table, order, rows)
        procs = [sqlalchemy_processor(table.c[n]) for n in order]
        want = [tuple(p(r[n]) if p else r[n] for n, p in zip(order, procs)) for r in rows]
        assert got == want
        assert [list(map(type, r)) for r in got] == [list(map(type, r)) for r in want]
        with pytest.raises(TypeError, match="Not a boolean value"):
            bulk._driver_params(conn, table, order, [{**rows[0], "recreate_blocked": "yes"}])
        with pytest.raises(ValueError, match="timezone information"):
            bulk._driver_params(conn, table, order, [{**rows[0], "changed_at": datetime(2026, 1, 1)}])
        assert bulk._driver_params(conn, table, order, []) == []


class Colour(str, enum.Enum):
    RED = "red"


def test_texts_splice_snapshots_into_exactly_the_plain_encoding():
    snap = {"first_name": "Ann", "n": 1, "x": None, "when": datetime(2026, 1, 5, tzinfo=IST)}
    known = {"a": 1.5, "b": [1, "two"]}
    marks = {"m": "\x00", "n": ["\x00"]}  # the splice mark inside values
    payloads = [
        {"fields": snap, "base": snap, "source": {"crm": {"fields": snap}}, "row": 3},  # one snapshot twice
        {"fields": snap, "base": dict(snap), "other": snap, "known": known, "empty": {}, "t": (1, 2)},
        {"fields": snap, "base": snap, "label": "\x00"},  # the mark in the skeleton: encoded plainly
        {"fields": marks, "base": marks}, {"known": known, "also": known},
        {1: snap, 2: snap, 10: known},  # keys that are not text (sorted as numbers, stored as text)
        MappingProxyType({"fields": snap, "base": snap, "c": Colour.RED}), {}, {"x": {}, "y": {}},
    ]
    texts = _Texts()
    texts.remember(known, plain(known))
    for p in payloads:
        assert texts.dumps(p) == plain(dict(p))
    assert texts.known(snap) == plain(snap)  # made once, then reused by the next rows
    fresh = _Texts()
    assert fresh.dumps({"b": snap, "a": snap}) == plain({"a": snap, "b": snap})


def _types_survive(value, decoded):
    if type(value) is not type(decoded):
        return False
    if type(value) is dict:
        return list(value) == list(decoded) and all(_types_survive(value[k], decoded[k]) for k in value)
    if type(value) is list:
        return len(value) == len(decoded) and all(map(_types_survive, value, decoded))
    return value == decoded or value != value  # NaN comes back NaN


def decodes_as_itself_by_definition(value):
    try:
        return _types_survive(value, json.loads(json.dumps(value, default=str)))
    except (TypeError, ValueError):
        return False


json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
    | st.sampled_from([Colour.RED, (1,), datetime(2026, 1, 1), b"x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2) | st.integers(0, 3), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(json_ish)
def test_decodes_as_itself_means_what_it_says(value):
    assert _decodes_as_itself(value) == decodes_as_itself_by_definition(value)
    shared = {"fields": value, "base": value, "list": [value, value]}  # one object in several places
    assert _decodes_as_itself(shared) == decodes_as_itself_by_definition(shared)


def test_a_segmented_plan_stores_the_plain_texts_and_dates(tmp_path):
    """A plan big enough to be written in segments (links and outbox ops a segment each in turn):
    payloads that share their link's snapshot near it and far from it, others of their own;
    every stored text, date and seq is what the plain definitions give, and the deletion
    sighting written after the links still finds the last one."""
    from app.journal.repo import open_journal

    n = 900
    dates = [d for d in tricky_dates() if type(d) is datetime]
    links, ops, history = [], [], []
    for i in range(n):
        snap = {"first_name": f"N{i}", "n": i, "vip": i % 2 == 0, "score": i / 7, "tags": ["a", str(i)]}
        links.append(Link(f"l{i}", P, crm_id=str(i), crm_fields=snap, ews_fields=None if i % 3 else dict(snap),
                          base=snap if i % 4 == 0 else None, crm_updated_at=dates[i % len(dates)],
                          last_synced_at=dates[-1] if i % 2 else None, in_scope=i % 5 != 0))
    for i in range(n + 100):
        link = links[(i * 7) % n]  # ops far from their links too
        payload = ({"fields": link.crm_fields, "base": link.crm_fields, "row": i, "source": {}} if i % 6
                   else {"fields": {"first_name": "x\x00"}, "row": i, "at": dates[i % len(dates)]})
        ops.append(OutboxOp(f"o{i}", link.id, P, Side.OUTLOOK, "create", payload, run_id="r"))
    for i in range(n):
        history.append(HistoryEntry("r", dates[i % len(dates)], "plan", "person", f"l{i}",
                                    before={"fields": links[i].crm_fields, "id": i} if i % 2 else None))
    sharing = [SharingRec(P, "shared", "filter", crm_id=str(i), link_id=f"l{i}", changed_at=dates[i % len(dates)])
               for i in range(50)]
    batch = Batch(links=links, outbox=ops, history=history, sharing=sharing, gone_seen=[(f"l{n - 1}", dates[2])])
    assert len(links) + len(ops) + len(history) > WHOLE_BATCH_ROWS  # the segmented path
    path = tmp_path / "j.sqlite3"
    j = open_journal(path)
    j.write(batch)
    j.close()
    con = sqlite3.connect(path)
    try:
        got_links = {r[0]: r[1:] for r in con.execute(
            "SELECT id, ews_json, crm_json, base_json, crm_updated_at, last_synced_at, in_scope, crm_gone_seen_at "
            "FROM item_link")}
        got_ops = con.execute("SELECT id, payload_json FROM outbox ORDER BY seq").fetchall()
        got_history = con.execute("SELECT link_id, at, before_json FROM history ORDER BY id").fetchall()
        got_sharing = dict(con.execute("SELECT key, changed_at FROM sharing").fetchall())
    finally:
        con.close()
    for v in links:
        assert got_links[v.id] == (
            None if v.ews_fields is None else plain(v.ews_fields), plain(v.crm_fields),
            None if v.base is None else plain(v.base), SLOW_DATE(v.crm_updated_at), SLOW_DATE(v.last_synced_at),
            int(v.in_scope), SLOW_DATE(dates[2]) if v.id == f"l{n - 1}" else None)
    assert got_ops == [(op.id, plain(op.payload)) for op in ops]
    assert got_history == [(h.link_id, SLOW_DATE(h.at), None if h.before is None else plain(h.before))
                           for h in history]
    assert got_sharing == {sh.key: SLOW_DATE(sh.changed_at) for sh in sharing}


@settings(max_examples=150, deadline=None)
@given(json_ish)
def test_the_encoder_made_once_encodes_as_json_dumps(value):
    from app.journal import json_text

    for fast, options in ((json_text.encode, {"sort_keys": True}), (json_text.encode_unsorted, {})):
        assert not isinstance(getattr(fast, "__self__", None), json.JSONEncoder)  # the C encoder made once is in use
        try:
            want = json.dumps(value, default=str, **options)
        except Exception as exc:  # noqa: BLE001 - mixed key types cannot be sorted: the same error
            with pytest.raises(type(exc)):
                fast(value)
        else:
            assert fast(value) == want


def test_a_value_that_holds_itself_gets_jsons_error():
    from app.journal import json_text

    loop: dict = {"a": [1]}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        json_text.encode(loop)
    assert json_text.encode({"a": [1]}) == '{"a": [1]}'  # and the encoder is fine afterwards


def test_batches_prepared_ahead_and_written_together_store_what_plain_writes_store(tmp_path):
    """The committer's form (SqlJournal.prepare on the engine thread, then several batches in one
    transaction) against a plain write of each batch: every table byte for byte the same, with
    links read back first (their stored texts reused) and snapshots shared by links, history and
    payloads."""
    from app.journal.repo import PreparedBatch, open_journal

    dates = [d for d in tricky_dates() if type(d) is datetime]

    def batches():
        out = []
        for k in range(3):
            links, history, sharing = [], [], []
            for i in range(k * 40, k * 40 + 40):
                snap = {"first_name": f"N{i}", "n": i, "vip": i % 2 == 0, "note": "é\x00" if i % 7 == 0 else None}
                links.append(Link(f"l{i}", P, crm_id=str(i), ews_item_id=f"e{i}" if k else None, crm_fields=snap,
                                  ews_fields=snap if i % 3 else dict(snap), base=snap if i % 4 else None,
                                  crm_updated_at=dates[i % len(dates)], last_synced_at=dates[-1]))
                history.append(HistoryEntry("r", dates[i % len(dates)], "create", "person", f"l{i}",
                                            summary={"id": i}, before={"fields": snap, "id": i} if i % 2 else None))
                sharing.append(SharingRec(P, "shared", "filter", crm_id=str(i), link_id=f"l{i}",
                                          changed_at=dates[(i + 1) % len(dates)]))
            out.append(Batch(links=links, history=history, sharing=sharing, clear_errors=[f"x{k}"]))
        return out

    def dump(path):
        con = sqlite3.connect(path)
        try:
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("item_link", "history", "sharing")}
        finally:
            con.close()

    plain_path, prepared_path = tmp_path / "plain.sqlite3", tmp_path / "prepared.sqlite3"
    first, *rest = batches()
    j = open_journal(plain_path)
    j.write(first)
    j.links_by_id([link.id for link in first.links])
    for b in rest:
        j.write(b)
    j.close()
    first, *rest = batches()
    j = open_journal(prepared_path)
    j.write(j.prepare(first))
    j.links_by_id([link.id for link in first.links])  # their texts reused by the next write
    ready = [j.prepare(b) for b in rest]
    assert all(isinstance(r, PreparedBatch) for r in ready)
    j.write_together(ready)
    j.close()
    assert dump(prepared_path) == dump(plain_path)
    assert len(dump(plain_path)["history"]) == 120


def test_a_batch_written_in_segments_is_not_prepared(tmp_path):
    from app.journal.repo import open_journal

    links = [Link(f"l{i}", P, crm_id=str(i), crm_fields={"n": i}) for i in range(WHOLE_BATCH_ROWS + 1)]
    j = open_journal(tmp_path / "j.sqlite3")
    try:
        big = Batch(links=links)
        assert j.prepare(big) is big  # made a segment at a time when written, in bounded memory
    finally:
        j.close()
