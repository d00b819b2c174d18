"""Unit tests of the CRM connector's pure parts: filter translation, paging, mapping, batches."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.connectors.crm import batch, mapping as M, query as Q
from app.connectors.crm.errors import is_stale, judge
from app.domain import filters as F
from app.domain.filters import Condition, Filter
from app.domain.records import Kind
from app.errors import ItemRejected, StaleVersion, TransientError

STALE = "This record cannot be saved since it has already been updated elsewhere."


def test_my_people_translation_matches_the_documented_query():
    p = Q.filter_params(F.resolve(F.my_people(), 6))
    assert p == [("_ff[]", "assigned_to"), ("_ft[]", "eq"), ("_fc[]", "6"),
                 ("_ff[]", "watched"), ("_ft[]", "true"), ("_fc[]", ""), ("_fm", "or")]


def test_valueless_operators_send_empty_criterion_and_expressions_pass_through():
    flt = Filter((Condition("name", "blank", "ignored"), Condition("due", "ge_today"), Condition("a", "eq", "1")),
                 "NOT 1 or (2 xor 3)")
    p = Q.filter_params(flt)
    assert [v for k, v in p if k == "_fc[]"] == ["", "", "1"]
    assert p[-1] == ("_fm", "NOT 1 or (2 xor 3)")


def test_all_of_renumbers_and_parenthesises():
    a = F.resolve(F.open_activities(), 9)
    b = Filter((Condition("id", "gt", "5"), Condition("x", "eq", "1")), "or")
    f = Q.all_of(a, b)
    assert len(f.conditions) == 5 and f.match == "((1 OR 2) AND 3) AND (4 OR 5)"
    f.check()
    assert Q.all_of(Filter((Condition("a", "eq", "1"),)), Filter((Condition("b", "eq", "2"),))).match == "and"
    assert Q.all_of(None, Filter()).conditions == ()


def test_eq_lists_escape_commas():
    assert Q.eq_list(["a,b", "c"]) == "a\\,b,c"


def test_columns_always_include_id_and_lock_version_once():
    assert Q.column_params(["name", "id"]) == [("_select_columns[]", "id"), ("_select_columns[]", "lock_version"),
                                               ("_select_columns[]", "name")]


def test_scan_counts_once_then_skips_totals_and_stops_without_extra_request():
    calls = []

    def read(path, params):
        calls.append(params)
        start = len(calls) - 1
        rows = [{"id": start * 100 + i + 1} for i in range(100)] if start < 3 else []
        return {"success": True, "total": 300 if ("_skip_total_rows", "true") not in params else len(rows), "data": rows}

    def page_filter(last):
        return Filter() if last is None else Filter((Condition("id", "gt", str(last["id"])),))

    pages = list(Q.scan(read, "crm/people.api", columns=["name"], page_filter=page_filter, sort=[("id", "ASC")]))
    assert len(calls) == 3 and [d for _, d in pages] == [False, False, True]
    assert ("_skip_total_rows", "true") not in calls[0] and ("__skip_total_rows", "true") in calls[1]
    assert ("_start", "0") in calls[2] and ("_limit", "100") in calls[2] and ("_fc[]", "200") in calls[2]
    assert ("_sort[]", "id") in calls[0] and ("_dir[]", "ASC") in calls[0]


def test_person_mapping_round_trip():
    row = {"id": 4, "lock_version": 2, "person_first_name": " Åsa ", "person_last_name": "Ørsted",
           "main_location[email]": "Asa@Example.COM ", "home_location[email]": "", "home_location[town]": "York",
           "employer_name": "Acme", "updated_at": "Fri May 15 14:36:54 UTC 2009", "is_deleted": False,
           "created_through_reference": "link-1", "assigned_to": 6, "owner_id": 7}
    rec = M.row_to_record(Kind.PERSON, row, user_id=7, my_queue=6)
    assert rec.fields["first_name"] == "Åsa" and rec.fields["email1"] == "asa@example.com"
    assert rec.fields["email3"] is None and rec.fields["home_city"] == "York" and rec.fields["company"] == "Acme"
    assert rec.updated_at == datetime(2009, 5, 15, 14, 36, 54, tzinfo=timezone.utc)
    assert rec.link_id == "link-1" and rec.owned_by_me and rec.emails == ("asa@example.com",)
    wire = M.to_wire(Kind.PERSON, rec.fields, {"email1", "home_city", "last_name"})
    assert wire == {"main_location[email]": "asa@example.com", "home_location[town]": "York",
                    "person_last_name": "Ørsted"}


def test_var_date_time_parsing_and_writing():
    v = M.parse_vdt("2023-06-26T09:00:00.000Z,1,Europe/London")
    assert v.when == datetime(2023, 6, 26, 9, tzinfo=timezone.utc) and not v.is_date and v.zone == "Europe/London"
    assert M.parse_vdt("2023-06-26T00:00:00.000Z,0,America/Chicago").day == date(2023, 6, 26)
    assert M.parse_vdt("2023-06-25T23:00:00.000Z,0,Europe/London").day == date(2023, 6, 26)
    assert M.parse_vdt("2023-06-26,0,UTC").day == date(2023, 6, 26)
    assert M.vdt_datetime(datetime(2023, 6, 26, 9, tzinfo=timezone.utc), "Europe/London") == \
        "2023-06-26T09:00:00.000Z,1,Europe/London"
    assert M.parse_datetime("Fri September 1 16:30:00 UTC 2023") == datetime(2023, 9, 1, 16, 30, tzinfo=timezone.utc)
    assert M.parse_date(" 2 May 2010") == date(2010, 5, 2)


def test_task_and_meeting_mapping():
    task = M.task_fields({"name": "Call", "due": "2026-02-03T00:00:00.000Z,0,Europe/London",
                          "activity_status": "In progress", "activity_priority": "High",
                          "reminder_enabled": True, "reminder_datetime": "Mon Feb 02 09:00:00 UTC 2026"})
    assert task == {"subject": "Call", "description": None, "start_date": None, "due_date": "2026-02-03",
                    "status": "in_progress", "priority": "high", "reminder_at": "2026-02-02T09:00Z"}
    wire = M.to_wire(Kind.TASK, task)
    assert wire["due"] == "2026-02-03T00:00:00.000Z,0,UTC" and wire["activity_status"] == "In progress"
    assert wire["reminder_enabled"] is True and wire["completed"] is None
    done = M.to_wire(Kind.TASK, {**task, "status": "complete"}, {"status"})
    assert done["activity_status"] == "Complete" and done["completed"].endswith(",1,UTC")
    meet = M.meeting_fields({"name": "Lunch", "all_day": False, "start": "2026-03-01T12:00:00.000Z,1,Europe/London",
                             "finish": "2026-03-01T13:30:00.000Z,1,Europe/London", "reminder_enabled": "0"})
    assert meet["start"] == "2026-03-01T12:00Z" and meet["end"] == "2026-03-01T13:30Z"
    assert meet["timezone"] == "Europe/London" and meet["reminder_minutes"] is None and meet["start_date"] is None
    allday = M.meeting_fields({"all_day": True, "start": "2026-03-02T00:00:00.000Z,0,UTC",
                               "finish": "2026-03-03T00:00:00.000Z,0,UTC"})
    assert (allday["start_date"], allday["end_date"], allday["start"]) == ("2026-03-02", "2026-03-03", None)
    w = M.to_wire(Kind.MEETING, allday, {"start_date"})
    assert w == {"all_day": True, "start": "2026-03-02T00:00:00.000Z,0,UTC", "finish": "2026-03-03T00:00:00.000Z,0,UTC"}


def test_batch_encoding_is_square_and_sorted():
    ops = [batch.Op("POST", 0, 0, {"name": "Acme", "main_location[town]": "Reading"}),
           batch.Op("PUT", 1234, 5, {"name": "Renamed Ltd", "x": None}),
           batch.Op("DELETE", 5678, 2)]
    p = batch.encode(ops)
    get = lambda k: [v for kk, v in p if kk == k]  # noqa: E731
    assert get("_per_object_transactions") == ["true"] and get("_fm") == ["or"]
    assert get("_fc[]") == ["0", "1234", "5678"]
    assert get("__method[]") == ["POST", "PUT", "DELETE"] and get("id[]") == ["0", "1234", "5678"]
    assert get("lock_version[]") == ["0", "5", "2"]
    assert get("main_location[town][]") == ["Reading", ":no_value:", ":no_value:"]
    assert get("name[]") == ["Acme", "Renamed Ltd", ":no_value:"]
    assert get("x[]") == [":no_value:", ":null_value:", ":no_value:"]
    keys = [k for k, _ in p if k.endswith("[]") and not k.startswith("_")]
    assert keys.index("main_location[town][]") < keys.index("name[]") < keys.index("x[]")
    assert batch.encode_value(True) == "1" and batch.encode_value([1, 2]) == "[1,2]"
    assert batch.encode_value(datetime(2009, 5, 15, 14, 36, 54, tzinfo=timezone.utc)) == "Fri May 15 14:36:54 UTC 2009"


def test_per_object_results():
    ops = [batch.Op("PUT", 1, 1, ref="a"), batch.Op("PUT", 2, 1, ref="b"), batch.Op("PUT", 3, 1, ref="c")]
    body = {"success": True,
            "affected_objects": [{"id": 1, "lock_version": 2}, {"id": 2, "lock_version": 1}, {"id": 3, "lock_version": 2}],
            "affected_object_information": [{"success": True, "errors": [], "warnings": []},
                                            {"success": False, "errors": {"lock_version": STALE}},
                                            {"success": True, "errors": {}, "warnings": {}}]}
    res = batch.judge_chunk(body, ops, "crm/people.api")
    assert res[0]["lock_version"] == 2 and isinstance(res[1], StaleVersion) and res[2]["id"] == 3
    body = {"success": False, "errors": {"[]": {"refcode": "'X' is already used"}},
            "affected_object_errors": [{}, {"refcode": ["'X' is already used"]}, {}]}
    res = batch.judge_chunk(body, ops, "crm/people.api")
    assert isinstance(res[1], ItemRejected) and "already used" in str(res[1])
    assert isinstance(res[0], TransientError) and isinstance(res[2], TransientError)
    stale_whole = {"success": False, "failures": [STALE]}
    assert isinstance(batch.judge_chunk(stale_whole, ops[:1], "p")[0], StaleVersion)


def test_judge_and_stale():
    assert judge({"success": True, "data": []}) == "ok"
    assert judge({"success": True, "errors": {}}) == "ok"
    assert judge({"success": True, "failures": ["x"]}) == "not_ok"
    assert judge({"data": []}) == "failed"
    assert is_stale({"failures": [STALE]}) and not is_stale({"success": True})


@pytest.mark.parametrize("name,wire", [("a", "a[]"), ("a[b]", "a[b][]"), ("a[b[c]]", "a[b][c][]")])
def test_wire_keys(name, wire):
    assert batch.wire_key(name) == wire


def test_raw_columns_evaluate_locally_like_the_server():
    row = {"id": 1, "updated_at": "Fri May 15 14:36:54 UTC 2009", "assigned_to": 6, "watched": False,
           "due": "2026-02-03T00:00:00.000Z,0,UTC", "activity_status": "New"}
    raw = M.raw_for_filters(row)
    assert raw["updated_at"] == "2009-05-15T14:36:54Z" and raw["due"] == row["due"]
    assert F.evaluate(Filter((Condition("updated_at", "eq", "2009-05-15"),)), raw)
    assert F.evaluate(F.resolve(F.open_activities(), 6), raw)


def test_raw_columns_convert_every_default_form_datetime_and_nothing_else():
    row = {"updated_at": "Fri May 15 14:36:54 UTC 2009", "created_at": " Mon Jan 05 09:00:00 Europe/London 2026 ",
           "name": "Meeting at 10:30", "website": "https://example.com", "bad": "Fri Feb 31 25:61:00 UTC 2026",
           "person_first_name": " Åsa ", "count": 3}
    raw = M.raw_for_filters(row)
    assert raw["updated_at"] == "2009-05-15T14:36:54Z"
    assert raw["created_at"] == "2026-01-05T09:00:00Z"  # GMT in January: the same instant
    assert {k: raw[k] for k in ("name", "website", "bad", "person_first_name", "count")} == {
        k: row[k] for k in ("name", "website", "bad", "person_first_name", "count")}
    rec = M.row_to_record(Kind.PERSON, row)
    assert rec.raw == raw and rec.updated_at == datetime(2009, 5, 15, 14, 36, 54, tzinfo=timezone.utc)
    assert rec.fields["first_name"] == "Åsa" and rec.fields["middle_name"] is None


def test_default_form_read_by_position_agrees_with_the_general_parse():
    """`parse_datetime` reads the API's fixed-width UTC form by position; with " GMT " in place of
    " UTC " the same text takes the general parse: both agree, on odd texts too."""
    import random
    from datetime import datetime, timedelta, timezone

    from app.connectors.crm.mapping import _iso_z, parse_datetime
    from app.sandbox.crm.formats import fmt_datetime

    rng = random.Random(11)
    texts = [fmt_datetime(datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(10 ** 9)))
             for _ in range(300)]
    texts += ["Fri Feb 31 10:00:00 UTC 2026", "Thu Nov 26 25:61:00 UTC 2026", "Thu Xyz 26 07:48:55 UTC 2026",
              "Thu Nov 2607:48:55  UTC 2026", "Thu Nov +6 07:48:55 UTC 2026", "Thu Nov \u0662\u0666 07:48:55 UTC 2026",
              "Thursday Nov 26 07:48:55 UTC 2026", "Thu November 26 07:48:55 UTC 2026", "Thu Nov 26 07:48:55 UTC 0999",
              "123 Nov 26 07:48:55 UTC 2026", "Thu Nov 26 07-48-55 UTC 2026"]
    for text in texts:
        general = parse_datetime(text.replace(" UTC ", " GMT "))
        assert parse_datetime(text) == general, text
        if general is not None:
            assert _iso_z(general) == general.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_datetime(texts[0]) is not None and parse_datetime("Fri Feb 31 10:00:00 UTC 2026") is None


def test_a_row_handed_over_becomes_the_records_raw_with_the_same_record():
    row = {"id": 7, "lock_version": 2, "updated_at": "Thu Nov 26 07:48:55 UTC 2026", "person_first_name": " Ann ",
           "main_location[email]": "A@X.example", "website": "https://x.example", "is_deleted": False}
    kept = dict(row)
    copied = M.row_to_record(Kind.PERSON, row)
    assert row == kept  # by default the row is left as it was
    owned = M.row_to_record(Kind.PERSON, row, own_row=True)
    assert owned == copied and owned.raw is row
    assert row["updated_at"] == "2026-11-26T07:48:55Z" and row["website"] == "https://x.example"
