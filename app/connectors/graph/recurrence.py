"""Graph recurring series -> app.domain.recurrence values (pure; product.md B11, design.md 6.3).

A `seriesMaster` event becomes a domain `Series` (its pattern, range and zone), which marks it as
a series for the recurring-meetings adapter (app.sync.recurring) and carries the zone all-day
occurrences are dated in. The occurrences themselves are not expanded here: Graph expands them
(`/events/{id}/instances`, calendarView), moved and retitled ones included, and `occurrence_of`
reads each instance as a domain `Occurrence` keyed by its `originalStart` (with the master's id,
its stable identity across runs, as on EWS).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from app.connectors.graph.times import iana_name, local_part, parse_dtz, utc_time, zone
from app.domain.recurrence import (
    ABSOLUTE_MONTHLY, ABSOLUTE_YEARLY, DAILY, LAST, RELATIVE_MONTHLY, RELATIVE_YEARLY, WEEKLY, Occurrence, Pattern,
    Series,
)

PATTERNS = {"daily": DAILY, "weekly": WEEKLY, "absoluteMonthly": ABSOLUTE_MONTHLY,
            "relativeMonthly": RELATIVE_MONTHLY, "absoluteYearly": ABSOLUTE_YEARLY, "relativeYearly": RELATIVE_YEARLY}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": LAST}
INSTANCE_TYPES = ("occurrence", "exception")


def series_of(data: Mapping[str, Any]) -> Series | None:
    """The Series of a seriesMaster's JSON; None for any other event. ValueError for a master
    whose recurrence cannot be read (the mailbox then skips it like any unreadable item, rather
    than syncing the series as one meeting)."""
    if str(data.get("type") or "") != "seriesMaster":
        return None
    rec = data.get("recurrence")
    if not isinstance(rec, dict) or not isinstance(rec.get("pattern"), dict) or not isinstance(rec.get("range"), dict):
        raise ValueError("a series master without a readable recurrence")
    p, r = rec["pattern"], rec["range"]
    if p.get("type") not in PATTERNS:
        raise ValueError(f"unknown recurrence pattern {p.get('type')!r}")
    name = iana_name(r.get("recurrenceTimeZone")) or iana_name(data.get("originalStartTimeZone")) or "UTC"
    start, end = _times(data, name)
    if start is None or end is None:
        raise ValueError("a series master without start or end")
    pattern = Pattern(
        PATTERNS[p["type"]], int(p.get("interval") or 1),
        frozenset(DAYS.index(d) for d in (str(x).lower() for x in p.get("daysOfWeek") or []) if d in DAYS),
        int(p["dayOfMonth"]) if p.get("dayOfMonth") else None,
        INDEX.get(str(p.get("index") or "first")) if p["type"].startswith("relative") else None,
        int(p["month"]) if p.get("month") else None, _weekday(p.get("firstDayOfWeek"), default=6))
    kind = r.get("type")
    return Series(
        pattern, name, start, end,
        range_start=dt.date.fromisoformat(str(r["startDate"])) if r.get("startDate") else None,
        range_end=dt.date.fromisoformat(str(r["endDate"])) if kind == "endDate" and r.get("endDate") else None,
        count=int(r["numberOfOccurrences"]) if kind == "numbered" and r.get("numberOfOccurrences") else None,
        all_day=bool(data.get("isAllDay")))


def occurrence_of(data: Mapping[str, Any], series_zone: str) -> Occurrence | None:
    """One instance (read with outlook.timezone UTC) as an Occurrence; None when it carries no
    originalStart (it cannot be given a stable identity then) or no times."""
    original = utc_time(data.get("originalStart"))
    if original is None or str(data.get("type") or "") not in INSTANCE_TYPES:
        return None
    start, end = _times(data, series_zone)
    if start is None or end is None:
        return None
    exception = data.get("type") == "exception"
    subject = str(data.get("subject") or "").strip() or None
    return Occurrence(original, start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc), exception,
                      subject if exception else None)


def _times(data: Mapping[str, Any], series_zone: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    if not data.get("isAllDay"):
        return parse_dtz(data.get("start")), parse_dtz(data.get("end"))
    # All-day events are floating midnights: they are dated in the series' own zone.
    tz = zone(series_zone)
    start, end = local_part(data.get("start")), local_part(data.get("end"))
    return (start.replace(tzinfo=tz) if start else None), (end.replace(tzinfo=tz) if end else None)


def _weekday(name: Any, *, default: int) -> int:
    text = str(name or "").lower()
    return DAYS.index(text) if text in DAYS else default
