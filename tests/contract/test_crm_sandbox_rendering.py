"""Workbooks sandbox: the fast paths of a read answer exactly as the general ones.

A page's records are rendered by `Db.renderer` (each column's source and wire conversion worked
out once per request, a record's location looked up once) and keyset pages bisect the table's
ids kept in order (`Table`); here both are held against the column-by-column reading
(`Db.get` + `to_wire`) and the full evaluation, byte for byte where the JSON is concerned."""
from __future__ import annotations

import json
import random

import pytest

from app.sandbox.crm import start_crm_sandbox
from app.sandbox.crm.metadata import TYPES
from app.sandbox.crm.store import Table, to_wire
from tests.fixtures.crm_wire import Wire, batch, filters


@pytest.fixture(scope="module")
def env():
    server, box = start_crm_sandbox(people=120, seed=5)
    yield server, box, Wire(server.base_url, api_key=box.api_key)
    server.stop()


def reference(db, t, rec, user_id, columns=None, fmt=None):
    """One record as the columns read one by one render it."""
    names = list(t.fields) if columns is None else columns
    return {n: to_wire(t.fields[n], db.get(t, rec, n, user_id), fmt) for n in names if n in t.fields}


FORMATS = [None, {}, {"datetime": "%Y-%m-%d %H:%M:%S", "date": "%d/%m/%Y"}]


def test_every_record_of_every_type_renders_as_its_columns_read_one_by_one(env):
    _server, box, _w = env
    people = sorted(r["id"] for r in box.rows("people"))
    with box.lock:  # edge cases: a deleted main location, a person without any location
        db = box.db
        loc = db.tables["people"][people[0]].get("main_location_id")
        if loc is not None:
            db.tables["party_locations"][loc]["is_deleted"] = True
        db.tables["people"][people[1]].pop("main_location_id", None)
        db.tables["people"][people[1]].pop("_home_location_id", None)
    compared = 0
    with box.lock:
        for key, t in TYPES.items():
            rows = list(db.tables[key].values())
            picks = [None, ["id", "name", "main_location[email]", "home_location[town]", "watched", "updated_at",
                            "main_location[email_address_undeliverable]", "object_ref", "no_such_column"]]
            for columns in picks:
                for fmt in FORMATS:
                    render = db.renderer(t, box.user_id, columns, fmt)
                    for rec in rows:
                        want = reference(db, t, rec, box.user_id, columns, fmt)
                        got = render(rec)
                        assert json.dumps(got, default=str) == json.dumps(want, default=str), (key, rec["id"])
                        compared += 1
    assert compared > 1000


def test_a_page_on_the_wire_is_the_pages_records_rendered_column_by_column(env):
    """The exact JSON text of a people page (selected columns, a date format) against the records
    the sandbox holds, rendered column by column."""
    _server, box, w = env
    columns = ["id", "lock_version", "name", "main_location[email]", "main_location[town]", "home_location[email]",
               "watched", "assigned_to", "updated_at", "created_at", "is_deleted", "object_ref"]
    pairs = [("_select_columns[]", c) for c in columns] + [("_start", "10"), ("_limit", "25"),
                                                            ("_json_output_datetime_format", "%Y-%m-%dT%H:%M:%S")]
    got = w.get("crm/people", pairs).json
    with box.lock:
        db, t = box.db, TYPES["people"]
        live = sorted((r for r in db.tables["people"].values() if not r.get("is_deleted")), key=lambda r: r["id"])
        want = [reference(db, t, r, box.user_id, columns, {"datetime": "%Y-%m-%dT%H:%M:%S"}) for r in live[10:35]]
    assert json.dumps(got["data"], default=str) == json.dumps(json.loads(json.dumps(want, default=str)))


def test_keyset_pages_stay_exact_while_the_table_changes(env):
    """Creates (new highest ids), a batch rolled back, a row stored under a lower id and deletes:
    after each, keyset pages both ways give the rows of the full evaluation."""
    _server, box, w = env

    def check():
        ids = sorted(r["id"] for r in box.rows("people"))
        for op, direction, bounds in (("gt", "ASC", (ids[0], ids[len(ids) // 2], ids[-2])),
                                      ("lt", "DESC", (ids[1], ids[len(ids) // 2], ids[-1]))):
            for bound in bounds:
                base = filters(("id", op, bound)) + [("_sort", "id"), ("_dir", direction), ("_start", 0),
                                                      ("_limit", 40)]
                fast = w.get("crm/people", base + [("_skip_total_rows", "true")]).json
                full = w.get("crm/people", base + [("_skip_total_rows", "false")]).json
                assert fast["data"] == full["data"] and fast["data"], (op, bound)

    check()
    created = w.put("crm/people", batch([{"__method": "POST", "person_last_name": f"New {i}"} for i in range(3)]))
    assert created.json["success"]
    check()
    failed = w.put("crm/people", batch([{"__method": "POST", "person_last_name": "Kept out"},
                                        {"__method": "POST", "person_last_name": ""}])).json
    assert failed["success"] is False  # all or nothing: the first create is rolled back
    check()
    with box.lock:
        people = box.db.tables["people"]
        low = min(people) - 5
        people[low] = {**people[min(people)], "id": low, "name": "Lower"}
    check()
    for rid in sorted(r["id"] for r in box.rows("people"))[3:9]:
        box.soft_delete("people", rid)
    check()


def test_table_keeps_its_ids_in_order_through_every_change():
    rng = random.Random(4)
    table = Table({5: {}, 1: {}, 9: {}})
    plain: dict[int, dict] = dict(table)
    for _ in range(400):
        op = rng.choice(["set", "set", "replace", "pop", "del", "update", "setdefault", "sorted"])
        key = rng.randrange(0, 60)
        if op in ("set", "replace"):
            table[key] = plain[key] = {}
        elif op == "pop":
            assert table.pop(key, None) == plain.pop(key, None)
        elif op == "del" and key in plain:
            del table[key]
            del plain[key]
        elif op == "update":
            extra = {rng.randrange(0, 60): {} for _ in range(3)}
            table.update(extra)
            plain.update(extra)
        elif op == "setdefault":
            table.setdefault(key, {})
            plain.setdefault(key, {})
        assert table.sorted_ids() == sorted(plain)
    table.clear()
    assert table.sorted_ids() == []


def test_pages_sorted_by_id_alone_come_in_id_order(env):
    """Sorted by id only (or not sorted), a counted page takes one sort by id."""
    _server, box, w = env
    ids = sorted(r["id"] for r in box.rows("people"))
    for sort, want in (([], ids), ([("_sort", "id"), ("_dir", "ASC")], ids),
                       ([("_sort", "id"), ("_dir", "DESC")], ids[::-1]),
                       ([("_sort[]", "id"), ("_dir[]", "DESC"), ("_sort[]", "id"), ("_dir[]", "DESC")], ids[::-1])):
        got = [r["id"] for r in w.get("crm/people", sort + [("_start", 7), ("_limit", 30)]).json["data"]]
        assert got == want[7:37], sort
