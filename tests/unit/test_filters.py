from __future__ import annotations

import pytest

from app.domain import filters as f
from app.errors import ConfigError


def test_my_people_is_assigned_or_watched():
    flt = f.resolve(f.my_people(), 6)
    assert f.evaluate(flt, {"assigned_to": 6, "watched": False})
    assert f.evaluate(flt, {"assigned_to": 9, "watched": True})
    assert not f.evaluate(flt, {"assigned_to": 9, "watched": False})


def test_open_activities_expression():
    flt = f.resolve(f.open_activities(), 7)
    assert f.evaluate(flt, {"assigned_to": 7, "activity_status": "New"})
    assert not f.evaluate(flt, {"assigned_to": 7, "activity_status": "Complete"})


@pytest.mark.parametrize("criterion", ["2026-13-45", "2026-02-30", "not a date"])
def test_impossible_dates_never_crash(criterion):
    for op in ("gt", "eq", "le"):
        flt = f.Filter((f.Condition("x", op, criterion),))
        assert f.evaluate(flt, {"x": "abc"}) in (True, False)
    assert f.evaluate(f.Filter((f.Condition("d", "eq", criterion),)), {"d": "2026-01-01"}) is False


def test_in_list_with_escaped_comma():
    flt = f.Filter((f.Condition("name", "eq", r"Acme\, Ltd,Globex"),))
    assert f.evaluate(flt, {"name": "Acme, Ltd"}) and f.evaluate(flt, {"name": "globex"})


def test_bad_json_and_bad_expression_are_config_errors():
    with pytest.raises(ConfigError):
        f.Filter.from_json("{nope")
    with pytest.raises(ConfigError):
        f.Filter.from_json('{"match": "(1 OR", "conditions": [["a", "eq", "1"]]}')
    with pytest.raises(ConfigError):
        f.Condition("a", "like", "x")


def test_unresolved_queue_is_a_clear_error():
    with pytest.raises(ConfigError):
        f.resolve(f.my_people(), None)


def test_json_round_trip():
    flt = f.open_activities()
    assert f.Filter.from_json(flt.to_json()) == flt
