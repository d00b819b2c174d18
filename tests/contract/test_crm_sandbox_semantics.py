"""Workbooks sandbox, raw wire, property-based: on string columns the sandbox's filters agree with
the project's reference evaluation (app.domain.filters.evaluate), including IN lists, escapes and
_fm expressions."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.filters import Condition, Filter, evaluate
from app.sandbox import seed
from app.sandbox.crm import start_crm_sandbox
from tests.fixtures.crm_wire import Wire, batch, filters

VALUE = st.one_of(
    st.text(alphabet="abAB01 ,.-", max_size=6),
    st.integers(-20, 20).map(str),
    st.sampled_from(["", "1.0", " 1", "2026-01-05", "2026-01-05 note", "Zoë", "ß", "a\\,b"]),
)
STRING_OPS = ["eq", "ne", "bg", "nbg", "ct", "nct", "gt", "ge", "lt", "le", "blank", "not_blank"]


@pytest.fixture(scope="module")
def env():
    data = seed.build(0, 5)
    data.organisations = []
    server, box = start_crm_sandbox(data)
    yield Wire(server.base_url, api_key=box.api_key)
    server.stop()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(VALUE, min_size=1, max_size=4), conds=st.lists(st.tuples(st.sampled_from(STRING_OPS), VALUE),
                                                                      min_size=1, max_size=3),
       match=st.sampled_from(["and", "or", "1 OR NOT 2", "(1 XOR 2) or 3"]))
def test_string_filters_agree_with_reference(env, values, conds, match):
    w = env
    created = w.put("crm/organisations", batch([{"__method": "POST", "name": "P", "industry": v} for v in values])).json
    assert created["success"], created
    ids = [o["id"] for o in created["affected_objects"]]
    try:
        n = len(conds)
        if match not in ("and", "or"):
            match = match if n >= 3 else ("and" if n == 1 else match.replace("(1 XOR 2) or 3", "1 XOR 2"))
        flt = Filter(tuple(Condition("industry", op, v) for op, v in conds), match)
        expected = sorted(i for i, v in zip(ids, values) if evaluate(flt, {"industry": v}))
        pairs = filters(*[("industry", op, v) for op, v in conds]) + [("_fm", match)]
        got = w.get("crm/organisations", pairs + [("_start", 0), ("_limit", 100)]).json
        assert got["success"], got
        assert sorted(r["id"] for r in got["data"] if r["id"] in ids) == expected
    finally:
        w.put("crm/organisations", batch([{"__method": "DELETE", "id": i, "lock_version": 0} for i in ids]))


OPS = st.lists(st.tuples(st.sampled_from(["create", "update", "delete", "stale", "bad"]),
                         st.integers(0, 5), st.sampled_from(["a", "b", "c", "a"])), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(OPS, st.booleans()), min_size=1, max_size=4))
def test_batches_match_a_simple_model(env, batches):
    """All-or-nothing and per-object batches against a model of {id: (name, lock_version)}."""
    w = env
    seed_objs = w.put("crm/organisations", batch([{"__method": "POST", "name": "m0"}, {"__method": "POST", "name": "m1"}]))
    model = {o["id"]: [o["name"], o["lock_version"]] for o in seed_objs.json["affected_objects"]}
    created: list[int] = list(model)
    for ops, per_object in batches:
        live = [i for i in created if i in model]
        records, outcome = [], []
        touched: set[int] = set()
        for kind, pick, name in ops:
            target = live[pick % len(live)] if live else None
            if kind in ("update", "delete", "stale") and (target is None or target in touched):
                kind = "create"
            if kind == "create":
                records.append({"__method": "POST", "name": name})
                outcome.append(("create", None, name))
            elif kind == "bad":
                records.append({"__method": "POST", "name": "x", "organisation_num_employees": "many"})
                outcome.append(("bad", None, None))
            else:
                touched.add(target)
                ver = model[target][1] + (1 if kind == "stale" else 0)
                rec = {"__method": "DELETE" if kind == "delete" else "PUT", "id": target, "lock_version": ver}
                if kind != "delete":
                    rec["name"] = name
                records.append(rec)
                outcome.append((kind, target, name))
        pairs = batch(records) + ([("_per_object_transactions", "1")] if per_object else [])
        body = w.put("crm/organisations", pairs).json
        ok = [k not in ("bad", "stale") for k, _, _ in outcome]
        if not per_object and not all(ok):
            assert body["success"] is False and "errors" in body
            continue
        assert body["success"] is True and "errors" not in body
        for (kind, target, name), good, obj, info in zip(outcome, ok, body["affected_objects"],
                                                         body["affected_object_information"]):
            assert info["success"] is good
            if not good:
                continue
            if kind == "create":
                model[obj["id"]] = [name, 0]
                created.append(obj["id"])
            elif kind == "delete":
                del model[target]
            else:
                changed = model[target][0] != name
                model[target] = [name, model[target][1] + (1 if changed else 0)]
                assert obj["lock_version"] == model[target][1]
    got = w.get("crm/organisations", filters(("id", "eq", ",".join(map(str, created)))) + [("_start", 0), ("_limit", 100)]).json
    assert {r["id"]: [r["name"], r["lock_version"]] for r in got["data"]} == model
