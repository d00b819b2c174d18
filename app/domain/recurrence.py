"""Recurring series -> the occurrences inside a calendar window (product.md B11, design.md 6.3).

Workbooks activities have no recurrence fields (workbooks-api.md; the sandbox's activity metadata
has none either), so a series cannot travel as a series: each occurrence inside the calendar
window is recorded as its own read-only meeting. This module is the pure expansion both mailbox
backends share: a `Series` (pattern, range, the master's start/end and zone, deleted and modified
occurrences) in, `Occurrence`s out. No I/O, no clock reads.

Occurrences keep the master's wall-clock start time in the series' IANA zone, so a 09:00 weekly
meeting stays at 09:00 local across daylight-saving changes (its UTC instant moves), exactly as
Exchange and iCalendar expand them.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from app.domain.timeutil import UTC, as_utc

DAILY, WEEKLY = "daily", "weekly"
ABSOLUTE_MONTHLY, RELATIVE_MONTHLY = "absolute_monthly", "relative_monthly"
ABSOLUTE_YEARLY, RELATIVE_YEARLY = "absolute_yearly", "relative_yearly"
PATTERNS = (DAILY, WEEKLY, ABSOLUTE_MONTHLY, RELATIVE_MONTHLY, ABSOLUTE_YEARLY, RELATIVE_YEARLY)
LAST = 5  # week_index of "Last" (First..Fourth are 1..4)
MAX_DAYS = 100 * 366  # a series is walked at most this far from its start (malformed data stays bounded)


@dataclass(frozen=True)
class Pattern:
    kind: str  # one of PATTERNS
    interval: int = 1
    days_of_week: frozenset[int] = frozenset()  # 0 = Monday ... 6 = Sunday
    day_of_month: int | None = None
    week_index: int | None = None  # 1..4 or LAST, relative patterns
    month: int | None = None  # 1..12, yearly patterns
    first_day_of_week: int = 6  # weeks of a weekly interval start on this day (Sunday by default)

    def __post_init__(self) -> None:
        if self.kind not in PATTERNS:
            raise ValueError(f"unknown recurrence pattern {self.kind!r}")


@dataclass(frozen=True)
class Modified:
    """An occurrence moved or edited on its own (an EWS Exception, a Graph exception instance)."""

    original_start: datetime  # aware; identifies the occurrence
    start: datetime
    end: datetime
    subject: str | None = None  # None: the master's subject
    item_id: str | None = None  # the mailbox's id of the exception (to read its own subject)


@dataclass(frozen=True)
class Series:
    pattern: Pattern
    zone: str  # IANA name; occurrences keep the master's wall-clock time here
    start: datetime  # the master's (first occurrence's) aware start
    end: datetime  # the master's aware end: gives the duration
    range_start: date | None = None  # None: the master's local start date
    range_end: date | None = None  # inclusive, in the series' zone (EndDateRecurrence)
    count: int | None = None  # NumberedRecurrence; deleted occurrences still count, as in Outlook
    deleted: frozenset[datetime] = frozenset()  # original starts (aware)
    modified: tuple[Modified, ...] = ()
    all_day: bool = False


@dataclass(frozen=True)
class Occurrence:
    original_start: datetime  # aware UTC: with the series' global id, the occurrence's identity
    start: datetime  # aware UTC
    end: datetime
    modified: bool = False
    subject: str | None = None  # a modified occurrence's own subject

    @property
    def key(self) -> str:
        return original_key(self.original_start)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def around(cls, now: datetime, days_back: int, days_ahead: int) -> "Window":
        return cls(as_utc(now) - timedelta(days=days_back), as_utc(now) + timedelta(days=days_ahead))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return as_utc(end) > self.start and as_utc(start) < self.end or as_utc(start) == as_utc(end) == self.start


def original_key(original_start: datetime) -> str:
    """The occurrence part of a stable identity: its original start, UTC to the minute."""
    return as_utc(original_start).strftime("%Y%m%dT%H%MZ")


def occurrences(series: Series, window: Window) -> list[Occurrence]:
    """The series' occurrences overlapping the window, in order of original start, with deleted
    occurrences left out and modified ones at their own times (and subjects)."""
    tz = _zone(series.zone)
    local_start = series.start.astimezone(tz)
    local_end = series.end.astimezone(tz)
    # Wall-clock duration: a 1-hour meeting is 1 hour local on the DST day too.
    wall = local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None)
    deleted = {original_key(d) for d in series.deleted}
    modified = {original_key(m.original_start): m for m in series.modified}
    # Walk past the window's end only as far as an exception moved into the window from later.
    horizon = max([window.end] + [as_utc(m.original_start) + timedelta(minutes=1) for m in series.modified
                                  if window.overlaps(m.start, m.end)])
    out: list[Occurrence] = []
    for day in dates(series.pattern, series.range_start or local_start.date(), series.range_end, series.count):
        if series.all_day:
            original = datetime.combine(day, time(0), tz)
            end = datetime.combine(day + timedelta(days=max(1, wall.days)), time(0), tz)
        else:
            original = datetime.combine(day, local_start.time(), tz)
            end = _localise(original.replace(tzinfo=None) + wall, tz)
            original = _localise(original.replace(tzinfo=None), tz)
        if as_utc(original) >= horizon:
            break
        key = original_key(original)
        if key in deleted:
            continue
        change = modified.get(key)
        if change is not None:
            occ = Occurrence(as_utc(original), as_utc(change.start), as_utc(change.end), True, change.subject)
        else:
            occ = Occurrence(as_utc(original), as_utc(original), as_utc(end))
        if window.overlaps(occ.start, occ.end):
            out.append(occ)
    return out


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time in `tz`; a time skipped by a DST jump moves forward by the gap (as Outlook
    shows a 02:30 meeting at 03:30 on the spring-forward day)."""
    aware = naive.replace(tzinfo=tz)
    round_trip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != naive:  # in the gap: fold=0 gave the pre-transition offset
        return aware.astimezone(UTC).astimezone(tz)
    return aware


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone expands in UTC rather than failing the read
        return ZoneInfo("UTC")


def dates(pattern: Pattern, start: date, end: date | None, count: int | None) -> Iterator[date]:
    """Occurrence dates of a pattern from `start` (inclusive), up to `end` (inclusive) or `count`
    dates; endless when neither is given (the caller stops)."""
    produced = 0
    interval = max(1, int(pattern.interval or 1))
    week_origin = _week_start(start, pattern.first_day_of_week)
    day = start
    for _ in range(MAX_DAYS):
        if end is not None and day > end or count is not None and produced >= count:
            return
        if _hits(pattern, interval, start, week_origin, day):
            produced += 1
            yield day
        day += timedelta(days=1)


def _week_start(day: date, first_day_of_week: int) -> date:
    return day - timedelta(days=(day.weekday() - first_day_of_week) % 7)


def _hits(p: Pattern, interval: int, start: date, week_origin: date, day: date) -> bool:
    if p.kind == DAILY:
        return (day - start).days % interval == 0
    if p.kind == WEEKLY:
        days = p.days_of_week or frozenset({start.weekday()})
        return day.weekday() in days and ((day - week_origin).days // 7) % interval == 0
    months = (day.year - start.year) * 12 + day.month - start.month
    if p.kind in (ABSOLUTE_MONTHLY, RELATIVE_MONTHLY) and months % interval:
        return False
    if p.kind in (ABSOLUTE_YEARLY, RELATIVE_YEARLY):
        if day.month != (p.month or start.month) or (day.year - start.year) % interval:
            return False
    if p.kind in (ABSOLUTE_MONTHLY, ABSOLUTE_YEARLY):
        wanted = p.day_of_month or start.day
        # Outlook: a day past the month's end (31st, 30 February) falls on the month's last day.
        return day.day == min(wanted, calendar.monthrange(day.year, day.month)[1])
    return day == _relative_day(day.year, day.month, p.days_of_week or frozenset({start.weekday()}),
                                p.week_index or 1)


def _relative_day(year: int, month: int, days: frozenset[int], week_index: int) -> date | None:
    """The first..fourth or last day of the month whose weekday is in `days` (a set such as
    Monday-Friday counts each matching day, so "first weekday" is the month's first workday)."""
    last = calendar.monthrange(year, month)[1]
    matching = [date(year, month, d) for d in range(1, last + 1) if date(year, month, d).weekday() in days]
    if not matching:
        return None
    if week_index >= LAST:
        return matching[-1]
    return matching[week_index - 1] if week_index - 1 < len(matching) else None

