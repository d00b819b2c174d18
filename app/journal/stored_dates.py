"""Dates as the journal stores them, without SQLAlchemy's cost per value.

A date column (sqlmodel's UTCDateTime over SQLite's DATETIME) stores an aware value converted to
UTC, as text "YYYY-MM-DD HH:MM:SS.ffffff". SQLAlchemy gets there through two processors, one
building a dict of seven fields per value and %-formatting it; a settle binds four dates per
linked item (three distinct), a first sync some eighty thousand. `processor(slow)` formats the
common value, an aware datetime, directly (a value seen lately at once), and leaves everything
else (None, naive values, which UTCDateTime refuses, dates, other types) to `slow`, so errors
stay SQLAlchemy's. It is used only after it formats a set of probe values exactly as `slow`
does, so a different storage format (or a library that changes it) falls back to `slow` whole.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

UTC = timezone.utc
# Texts made, by (value, zone, fold), for every date column: a settled item's own instant is
# stored three times (its link's sync time, its history and its sharing rows), a plan's in
# every row. Cleared when full; the dict's own operations are safe on the engine's and the
# committer's threads at once.
MADE_KEPT = 4096
_made: dict[tuple[datetime, Any, int], str] = {}
_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def format_utc(value: datetime) -> str:
    """The stored text of an aware datetime (its utcoffset() is not None)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return _FORMAT % (value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def probes() -> list[datetime]:
    """Values the direct format must store as SQLAlchemy does before it is used: UTC with and
    without microseconds, other offsets across a day boundary, an early year, a fold."""
    east, west = timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))
    return [datetime(2026, 1, 5, 9, 3, 0, 12, tzinfo=UTC), datetime(2026, 1, 5, 9, 3, tzinfo=UTC),
            datetime(2026, 1, 1, 2, 0, 0, 999999, tzinfo=east), datetime(2025, 12, 31, 20, 1, 2, tzinfo=west),
            datetime(5, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=west)]


def processor(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`slow` (a date column's bind processor) with aware datetimes formatted directly."""
    try:
        same = all(slow(v) == format_utc(v) for v in probes())
    except Exception:  # noqa: BLE001 - a processor that refuses a probe is not the one this knows
        same = False
    if not same:
        return slow

    def process(value: Any) -> Any:
        # datetime subclasses, naive values and tzinfos without an offset go the long way
        if value.__class__ is not datetime or value.tzinfo is None:
            return slow(value)
        # equal in the same zone and fold: the same wall time there, and so the same UTC time
        key = (value, value.tzinfo, value.fold)
        text = _made.get(key)
        if text is None:
            if value.tzinfo is not UTC and value.utcoffset() is None:
                return slow(value)
            text = format_utc(value)
            if len(_made) >= MADE_KEPT:
                _made.clear()
            _made[key] = text
        return text

    return process
