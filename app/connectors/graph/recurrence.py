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
    """The Series of a seriesMaster's JSON; None for anything else or a recurrence this reader
    does not know (the item is then skipped like any unreadable one)."""
    rec = data.get("recurrence")
    if str(data.get("type") or "") != "seriesMaster" or not isinstance(rec, dict):
        return None
    p, r = rec.get("pattern") or {}, rec.get("range") or {}
    if p.get("type") not in PATTERNS:
        raise ValueError(f"unknown recurrence pattern {p.get('type')!r}")
    name = iana_name(r.get("recurrenceTimeZone")) or iana_name(data.get("originalStartTimeZone")) or "UTC"
    start, end = parse_dtz(data.get("start")), parse_dtz(data.get("end"))
    if start is None or end is None:
        raise ValueError("a series master without start or end")
    if data.get("isAllDay"):  # floating midnights: the series' own zone
        start = local_part(data.get("start")).replace(tzinfo=zone(name))  # type: ignore[union-attr]
        end = local_part(data.get("end")).replace(tzinfo=zone(name))  # type: ignore[union-attr]
    pattern = Pattern(
        PATTERNS[p["type"]], int(p.get("interval") or 1),
        frozenset(DAYS.index(str(d).lower()) for d in p.get("daysOfWeek") or [] if str(d).lower() in DAYS),
        int(p["dayOfMonth"]) if p.get("dayOfMonth") else None, INDEX.get(str(p.get("index") or "first")),
        int(p["month"]) if p.get("month") else None,
        DAYS.index(str(p.get("firstDayOfWeek") or "sunday").lower()) if str(
            p.get("firstDayOfWeek") or "sunday").lower() in DAYS else 6)
    kind = r.get("type")
    return Series(
        pattern, name, start, end,
        range_start=dt.date.fromisoformat(str(r["startDate"])) if r.get("startDate") else None,
        range_end=dt.date.fromisoformat(str(r["endDate"])) if kind == "endDate" and r.get("endDate") else None,
        count=int(r["numberOfOccurrences"]) if kind == "numbered" and r.get("numberOfOccurrences") else None,
        all_day=bool(data.get("isAllDay")))


def occurrence_of(data: Mapping[str, Any], series_zone: str) -> Occurrence | None:
    """One instance (read with outlook.timezone UTC) as an Occurrence; None when it carries no
    originalStart (it cannot be given a stable identity then)."""
    original = utc_time(data.get("originalStart"))
    if original is None or str(data.get("type") or "") not in INSTANCE_TYPES:
        return None
    if data.get("isAllDay"):  # floating midnights: dated in the series' zone
        tz = zone(series_zone)
        start, end = (local_part(data.get(k)).replace(tzinfo=tz) for k in ("start", "end"))  # type: ignore[union-attr]
    else:
        start, end = parse_dtz(data.get("start")), parse_dtz(data.get("end"))
    if start is None or end is None:
        return None
    exception = data.get("type") == "exception"
    subject = str(data.get("subject") or "").strip() or None
    return Occurrence(original, start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc), exception,
                      subject if exception else None)
