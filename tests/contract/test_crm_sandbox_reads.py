"""Workbooks sandbox, raw wire: every filter operator, _fm expressions, _filter_json, sorting,
paging through 1,000 records, column selection, soft delete, formats."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from app.sandbox import seed
from app.sandbox.crm import Clock, start_crm_sandbox
from tests.fixtures.crm_wire import Wire, batch, filters, request

ORGS = [  # name, employees, category, website, revenue
    ("Alpha, Inc", 5, "Customer", "https://alpha.example", "100.00 GBP 0"),
    ("Beta", 10, "Prospect", None, "200.50 GBP 0"),
    ("Gamma", 15, "Customer", "https://gamma.example", None),
    ("alpha two", None, "Partner", "", "50.00 GBP 0"),
    ("Delta", 20, None, "https://delta.example", "75.00 GBP 0"),
]


@pytest.fixture(scope="module")
def env():
    data = seed.build(1000, 3)
    data.organisations = []
    clock = Clock(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc))
    server, box = start_crm_sandbox(data, clock=clock)
    w = Wire(server.base_url, api_key=box.api_key)
    recs = []
    for i, (name, emp, cat, web, rev) in enumerate(ORGS):
        rec = {"__method": "POST", "name": name, "organisation_num_employees": emp if emp is not None else None,
               "organisation_category": cat, "website": web, "organisation_annual_revenue": rev}
        recs.append(rec)
    r = w.put("crm/organisations", batch(recs)).json
    assert r["success"], r
    ids = {o["name"]: o["id"] for o in r["affected_objects"]}
    yield server, box, w, ids
    server.stop()


def names(resp) -> list[str]:
    assert resp.status == 200, resp.raw
    body = resp.json
    assert body["success"] is True, body
    return sorted(r["name"] for r in body["data"])


@pytest.mark.parametrize("field,op,crit,expected", [
    ("name", "eq", "beta", ["Beta"]),  # case-insensitive
    ("name", "eq", "Alpha\\, Inc,Gamma", ["Alpha, Inc", "Gamma"]),  # IN list with an escaped comma
    ("name", "ne", "Beta", ["Alpha, Inc", "Delta", "Gamma", "alpha two"]),
    ("name", "bg", "alp", ["Alpha, Inc", "alpha two"]),
    ("name", "nbg", "alp", ["Beta", "Delta", "Gamma"]),
    ("name", "ct", "ET", ["Beta"]),
    ("name", "nct", "a", []),
    ("organisation_num_employees", "gt", "10", ["Delta", "Gamma"]),
    ("organisation_num_employees", "ge", "10", ["Beta", "Delta", "Gamma"]),
    ("organisation_num_employees", "lt", "10", ["Alpha, Inc"]),
    ("organisation_num_employees", "le", "10", ["Alpha, Inc", "Beta"]),
    ("organisation_num_employees", "between", "[6,15]", ["Beta", "Gamma"]),
    ("organisation_num_employees", "not_between", "[6,15]", ["Alpha, Inc", "Delta", "alpha two"]),
    ("organisation_num_employees", "eq", "5,20", ["Alpha, Inc", "Delta"]),
    ("organisation_num_employees", "blank", "ignored", ["alpha two"]),
    ("organisation_num_employees", "not_blank", "", ["Alpha, Inc", "Beta", "Delta", "Gamma"]),
    ("website", "blank", "", ["Beta", "alpha two"]),
    ("organisation_category", "not_blank", "", ["Alpha, Inc", "Beta", "Gamma", "alpha two"]),
    ("organisation_annual_revenue", "ge", "100", ["Alpha, Inc", "Beta"]),
])
def test_operator(env, field, op, crit, expected):
    _server, _box, w, ids = env
    conds = filters((field, op, crit), ("id", "eq", ",".join(str(i) for i in ids.values())), match="and")
    assert names(w.get("crm/organisations", conds)) == sorted(expected)


def test_boolean_operators_and_criteria(env):
    _server, box, w, _ids = env
    expect = {r["id"] for r in box.rows("people") if r.get("email_opt_in")}
    for conds in (filters(("email_opt_in", "true", "")), filters(("email_opt_in", "eq", "1")),
                  filters(("email_opt_in", "eq", "true"))):
        body = w.get("crm/people", conds + [("_start", 0), ("_limit", 100), ("_skip_total_rows", "false")]).json
        assert body["total"] == len(expect)
    not_in = w.get("crm/people", filters(("email_opt_in", "false", "")) + [("__skip_total_rows", "")]).json
    assert not_in["total"] == 1000 - len(expect) or not_in["total"] <= 100
    body = w.get("crm/people", filters(("email_opt_in", "eq", "0"))).json
    assert body["total"] == 1000 - len(expect)


def test_watched_and_assigned_my_people(env):
    _server, box, w, _ids = env
    q = box.my_queues["Private::Crm::PersonQueue"]
    mine = [p for p in box.dataset.people if p.in_my_people]
    body = w.get("crm/people", filters(("assigned_to", "eq", q), ("watched", "true", ""), match="or")).json
    assert body["total"] == len(mine)


def test_date_and_datetime_criteria(env):
    _server, box, w, ids = env
    idf = ("id", "eq", ",".join(str(i) for i in ids.values()))
    # created today (frozen clock) - a bare date matches the whole day, in every accepted spelling
    for crit in ("2026-03-10", "Tue Mar 10 12:00:00 UTC 2026", "Tue March 10 12:00:00 UTC 2026", "10 Mar 2026"):
        op = "eq"
        assert len(names(w.get("crm/organisations", filters(("created_at", op, crit), idf, match="and")))) == 5, crit
    epoch = str(int(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()))
    assert len(names(w.get("crm/organisations", filters(("created_at", "ge", epoch), idf, match="and")))) == 5
    assert names(w.get("crm/organisations", filters(("created_at", "gt", "2026-03-10"), idf, match="and"))) == []
    assert len(names(w.get("crm/organisations", filters(("created_at", "le", "2026-03-10"), idf, match="and")))) == 5
    assert names(w.get("crm/organisations", filters(("created_at", "lt", "2026-03-10T12:00:00Z"), idf, match="and"))) == []
    for op, n in (("today", 5), ("ge_today", 5), ("le_today", 5), ("gt_today", 0), ("lt_today", 0)):
        assert len(names(w.get("crm/organisations", filters(("created_at", op, ""), idf, match="and")))) == n, op
    between = json.dumps(["2026-03-09", "2026-03-10"])
    assert len(names(w.get("crm/organisations", filters(("created_at", "between", between), idf, match="and")))) == 5
    # var_date_time due dates of tasks: seeded due dates lie in Jan-Mar 2026
    tasks = w.get("activity/tasks", filters(("due", "ge", "2026-02-01")) + [("_start", 0), ("_limit", 100)]).json
    assert tasks["data"] and all(datetime.fromisoformat(r["due"].split(",")[0].replace("Z", "+00:00")) >=
                                 datetime(2026, 2, 1, tzinfo=timezone.utc) for r in tasks["data"])
    row = tasks["data"][0]
    assert row["due"].endswith(",0,Europe/London") and row["due_date"].endswith(" 2026")


def test_fm_expressions_and_filter_json(env):
    _server, _box, w, ids = env
    idf = ("id", "eq", ",".join(str(i) for i in ids.values()))
    conds = filters(("name", "bg", "alpha"), ("organisation_category", "eq", "Customer"), idf)
    assert names(w.get("crm/organisations", conds + [("_fm", "(1 OR 2) AND 3")])) == ["Alpha, Inc", "Gamma", "alpha two"]
    assert names(w.get("crm/organisations", conds + [("_fm", "(1 xor 2) and 3")])) == ["Gamma", "alpha two"]
    assert names(w.get("crm/organisations", conds + [("_fm", "NOT 1 AND !2 AND 3")])) == ["Beta", "Delta"]
    assert names(w.get("crm/organisations", conds + [("_fm[]", "or")]))  # guide typo `_fm[]=or` means `_fm=or`
    fj = json.dumps([["name", "ct", "a"], ["organisation_num_employees", "ge", 15], list(idf)])
    assert names(w.get("crm/organisations", [("_filter_json", fj), ("_fm", "1 AND 2 AND 3")])) == ["Delta", "Gamma"]
    bad = w.get("crm/organisations", conds + [("_fm", "1 AND (4")])
    assert bad.status == 406 and bad.json["success"] is False
    bad_op = w.get("crm/organisations", filters(("name", "sounds_like", "x")))
    assert bad_op.status == 406


def test_bracketless_single_filter_and_unknown_params_ignored(env):
    _server, _box, w, ids = env
    r = w.get("crm/organisations", [("_ff", "id"), ("_ft", "eq"), ("_fc", ids["Beta"]), ("bogus", "1"), ("_xyz[]", "q")])
    assert names(r) == ["Beta"]


def test_paging_1000_records_sorting_and_caps(env):
    _server, box, w, _ids = env
    seen = []
    for start in range(0, 1100, 100):
        body = w.get("crm/people", [("_start", start), ("_limit", 100), ("_sort", "id"), ("_dir", "ASC"),
                                    ("_select_columns[]", "name")]).json
        assert body["total"] == 1000
        seen += [r["id"] for r in body["data"]]
        assert all(set(r) == {"id", "lock_version", "name"} for r in body["data"])
    assert seen == sorted(seen) and len(set(seen)) == 1000
    assert len(w.get("crm/people", [("_start", 0), ("_limit", 500)]).json["data"]) == 100  # page cap
    assert len(w.get("crm/people", [("_limit", 7)]).json["data"]) == 100  # _limit ignored without _start
    skip = w.get("crm/people", [("_start", 990), ("_limit", 100), ("_skip_total_rows", "true")]).json
    assert skip["total"] == 10
    skip2 = w.get("crm/people", [("_start", 0), ("_limit", 3), ("__skip_total_rows", "1")]).json
    assert skip2["total"] == 3
    # arrays of sort keys, DESC then ties by id ascending
    body = w.get("crm/people", [("_sort[]", "person_job_title"), ("_dir[]", "DESC"), ("_sort[]", "id"),
                                ("_dir[]", "ASC"), ("_start", 0), ("_limit", 100)]).json["data"]
    keys = [(r["person_job_title"], r["id"]) for r in body]
    assert keys == sorted(keys, key=lambda k: (tuple(-ord(c) for c in k[0].lower()), k[1]))
    ties = w.get("crm/people", [("_sort", "person_job_title"), ("_dir", "ASC"), ("_start", 0), ("_limit", 100)]).json["data"]
    first_title = [r["id"] for r in ties if r["person_job_title"] == ties[0]["person_job_title"]]
    assert first_title == sorted(first_title)


def test_soft_deleted_hidden_unless_filter_mentions_is_deleted(env):
    _server, box, w, _ids = env
    deleted = [r["id"] for r in box.rows("people", include_deleted=True) if r.get("is_deleted")]
    assert deleted
    visible = w.get("crm/people", filters(("id", "eq", deleted[0]))).json
    assert visible["total"] == 0
    r = w.get("crm/people", filters(("updated_at", "ge", "2020-01-01"), ("is_deleted", "true", ""),
                                     ("is_deleted", "false", ""), match="1 AND (2 OR 3)") + [("_start", 0), ("_limit", 1)]).json
    assert r["total"] == 1000 + len(deleted)


def test_select_columns_related_and_formats(env):
    server, box, w, ids = env
    r = w.get("crm/people", [("_select_columns[]", "main_location[email]"), ("_select_columns[]", "created_at"),
                             ("_select_columns[]", "employer[name]"), ("_start", 0), ("_limit", 1),
                             ("_json_output_datetime_format", "%s")]).json["data"][0]
    assert set(r) == {"id", "lock_version", "main_location[email]", "created_at", "employer[name]"}
    assert r["created_at"].isdigit()
    org = w.get("crm/organisations", filters(("id", "eq", ids["Beta"]))).json["data"][0]
    assert org["created_at"] == "Tue Mar 10 12:00:00 UTC 2026"
    assert org["object_url"] == f"{server.base_url}/link/=YzMxcDN/{org['object_ref']}"
    opp = w.get("crm/opportunities", [("_start", 0), ("_limit", 1)]).json["data"][0]
    assert len(opp["document_date"].split()) == 3 and opp["document_date"][:2].strip().isdigit()
    single = request(server.base_url, "GET", f"/crm/organisations/{ids['Beta']}.api", query=[("api_key", box.api_key)])
    assert single.status == 200 and single.json["data"][0]["name"] == "Beta"


def test_get_with_query_string_and_get_body(env):
    server, box, _w, ids = env
    q = [("api_key", box.api_key), ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", ids["Gamma"])]
    assert names(request(server.base_url, "GET", "/crm/organisations.api", query=q)) == ["Gamma"]
    body = "api_key=%s&_ff%%5B%%5D=id&_ft%%5B%%5D=eq&_fc%%5B%%5D=%d" % (box.api_key, ids["Delta"])
    r = request(server.base_url, "GET", "/crm/organisations.api", body=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert names(r) == ["Delta"]
    pretty = request(server.base_url, "GET", "/crm/organisations.api", query=q + [("json", "pretty")])
    assert b"\n" in pretty.raw
    jsonp = request(server.base_url, "GET", "/crm/organisations.api", query=q + [("callback", "cb")])
    assert jsonp.raw.startswith(b"cb(")


def test_output_options_u4_head_and_login_time_zone(env):
    server, box, w, ids = env
    q = [("api_key", box.api_key), ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", ids["alpha two"])]
    u4 = request(server.base_url, "GET", "/crm/organisations.api", query=q + [("json_utf8_encoding", "u4")])
    assert u4.raw.isascii()
    people = request(server.base_url, "GET", "/crm/people.api",
                     query=[("api_key", box.api_key), ("_ff[]", "cf_person_favourite_drink"), ("_ft[]", "ct"),
                            ("_fc[]", "☕"), ("_start", 0), ("_limit", 1)])
    assert "☕".encode() in people.raw  # raw UTF-8 by default
    head = request(server.base_url, "HEAD", "/crm/organisations.api", query=q)
    assert head.status == 200 and head.raw == b"" and int(head.header("Content-Length")) > 0
    # wall-clock input is read in the login's _time_zone; var_date_time keeps that zone
    lw = Wire(server.base_url)
    assert lw.login(box.username, box.password, _time_zone="America/Chicago").status == 200
    r = lw.put("activity/meetings", batch([{"__method": "POST", "name": "Zoned", "start": "2026-07-01 10:00",
                                            "finish": "2026-07-01 11:00"}])).json["affected_objects"][0]
    assert r["start"] == "2026-07-01T15:00:00.000Z,1,America/Chicago"
    assert r["start_datetime"] == "Wed Jul 01 15:00:00 UTC 2026" and r["scheduled_finish"] == "Wed Jul 01 16:00:00 UTC 2026"


def test_keyset_pages_answer_as_the_full_evaluation(env):
    """Pages "id > last, sorted by id, total skipped" take the sandbox's keyset path; the same
    query counting its total takes the full evaluation: both give the same rows, with further
    conditions, ge, offsets, a gap in the ids (soft-deleted rows) and the end of the table."""
    _server, box, w, _ids = env
    ids = sorted(r["id"] for r in box.rows("people"))
    cases = [
        (filters(("id", "gt", ids[0])), 0, 100),
        (filters(("person_job_title", "ct", "e"), ("id", "gt", ids[10])), 0, 50),
        (filters(("id", "ge", ids[20]), ("email_opt_in", "false", "")), 5, 30),
        (filters(("id", "gt", f"{ids[30]} "), ("name", "bg", "a"), match="and"), 0, 100),
        (filters(("id", "gt", ids[-3])), 0, 100),
        (filters(("id", "gt", ids[-1])), 0, 100),
    ]
    for conds, start, limit in cases:
        base = conds + [("_sort", "id"), ("_dir", "ASC"), ("_start", start), ("_limit", limit)]
        fast = w.get("crm/people", base + [("_skip_total_rows", "true")]).json
        full = w.get("crm/people", base + [("_skip_total_rows", "false")]).json
        assert [r["id"] for r in fast["data"]] == [r["id"] for r in full["data"]], conds
        assert fast["data"] == full["data"] and fast["total"] == len(fast["data"])
    assert full["data"] == [] and fast["total"] == 0


def test_descending_keyset_pages_answer_as_the_full_evaluation(env):
    """Pages "id < last, sorted by id descending, total skipped" (a listing read from its far end)
    take the keyset path too, with the same rows as the full evaluation."""
    _server, box, w, _ids = env
    ids = sorted(r["id"] for r in box.rows("people"))
    cases = [
        (filters(("id", "lt", ids[-1])), 0, 100),
        (filters(("person_job_title", "ct", "e"), ("id", "lt", ids[-10])), 0, 50),
        (filters(("id", "le", ids[-20]), ("email_opt_in", "false", "")), 5, 30),
        (filters(("id", "lt", ids[2])), 0, 100),
        (filters(("id", "lt", ids[0])), 0, 100),
    ]
    for conds, start, limit in cases:
        base = conds + [("_sort", "id"), ("_dir", "DESC"), ("_start", start), ("_limit", limit)]
        fast = w.get("crm/people", base + [("_skip_total_rows", "true")]).json
        full = w.get("crm/people", base + [("_skip_total_rows", "false")]).json
        assert [r["id"] for r in fast["data"]] == [r["id"] for r in full["data"]], conds
        assert fast["data"] == full["data"] and fast["total"] == len(fast["data"])
        assert [r["id"] for r in fast["data"]] == sorted((r["id"] for r in fast["data"]), reverse=True)
    assert full["data"] == [] and fast["total"] == 0
