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
