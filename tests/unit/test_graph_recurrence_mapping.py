"""app/connectors/graph/recurrence.py: Graph's patternedRecurrence and instances read as the
domain's Series and Occurrence (pure, no requests)."""
from __future__ import annotations

import datetime as dt

import pytest

from app.connectors.graph import mapping
from app.connectors.graph.recurrence import occurrence_of, series_of
from app.domain import recurrence as rec
from app.domain.records import Kind

UTC = dt.timezone.utc


def master(**over):
    data = {"id": "M1", "type": "seriesMaster", "subject": "Board", "isAllDay": False,
            "start": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-02T10:00:00.0000000", "timeZone": "UTC"},
            "originalStartTimeZone": "W. Europe Standard Time",
            "recurrence": {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["Monday", "thursday"],
                                       "firstDayOfWeek": "monday"},
                           "range": {"type": "endDate", "startDate": "2026-03-02", "endDate": "2026-04-30",
                                     "recurrenceTimeZone": "W. Europe Standard Time"}}}
    data.update(over)
    return data


def test_series_master_reads_pattern_range_and_zone():
    series = series_of(master())
    assert series.pattern == rec.Pattern(rec.WEEKLY, 2, frozenset({0, 3}), first_day_of_week=0)
    assert (series.zone, series.range_start, series.range_end, series.count) == (
        "Europe/Berlin", dt.date(2026, 3, 2), dt.date(2026, 4, 30), None)
    item = mapping.to_outlook_item(Kind.MEETING, master(), "me@example.com")
    assert item.series == series and item.fields["subject"] == "Board"


def test_other_events_are_no_series_and_unreadable_masters_are_refused():
    assert series_of(master(type="singleInstance")) is None
    with pytest.raises(ValueError):
        series_of(master(recurrence=None))  # never synced as one meeting
    with pytest.raises(ValueError):
        series_of(master(recurrence={"pattern": {"type": "hourly"}, "range": {"type": "noEnd"}}))
    assert mapping.to_outlook_item(Kind.MEETING, master(type="occurrence"), "me@example.com") is None


def test_all_day_series_and_instances_are_dated_in_the_series_zone():
    data = master(isAllDay=True, start={"dateTime": "2026-03-02T00:00:00.0000000", "timeZone": "UTC"},
                  end={"dateTime": "2026-03-03T00:00:00.0000000", "timeZone": "UTC"})
    series = series_of(data)
    assert series.all_day and series.start.isoformat() == "2026-03-02T00:00:00+01:00"
    occ = occurrence_of({"type": "occurrence", "isAllDay": True, "originalStart": "2026-03-04T23:00:00Z",
                         "start": data["start"] | {"dateTime": "2026-03-05T00:00:00"},
                         "end": data["end"] | {"dateTime": "2026-03-06T00:00:00"}}, series.zone)
    assert (occ.start, occ.end) == (dt.datetime(2026, 3, 4, 23, tzinfo=UTC), dt.datetime(2026, 3, 5, 23, tzinfo=UTC))


def test_instances_keep_their_original_start_and_an_exceptions_subject():
    times = {"start": {"dateTime": "2026-03-06T08:00:00.0000000", "timeZone": "UTC"},
             "end": {"dateTime": "2026-03-06T09:00:00.0000000", "timeZone": "UTC"}}
    moved = occurrence_of({"type": "exception", "subject": "Board (Friday)", "originalStart": "2026-03-05T08:00:00Z",
                           **times}, "Europe/Berlin")
    assert (moved.key, moved.start, moved.modified, moved.subject) == (
        "20260305T0800Z", dt.datetime(2026, 3, 6, 8, tzinfo=UTC), True, "Board (Friday)")
    plain = occurrence_of({"type": "occurrence", "subject": "Board", "originalStart": "2026-03-06T08:00:00Z",
                           **times}, "UTC")
    assert (plain.modified, plain.subject) == (False, None)
    assert occurrence_of({"type": "occurrence", **times}, "UTC") is None  # no identity without originalStart
