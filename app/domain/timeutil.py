"""Time helpers: UTC instants, ISO dates, IANA zones, all-day ranges. Pure: no clock reads."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_instant(value: datetime) -> str:
    """Canonical instant text: UTC to the minute, 'YYYY-MM-DDTHH:MMZ'."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%MZ")


def parse_instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def iso_date(value: date) -> str:
    return value.isoformat()


def parse_date(text: str) -> date:
    return date.fromisoformat(text.strip()[:10])


def local(value: datetime, zone: str) -> datetime:
    """The instant as wall-clock time in an IANA zone."""
    return as_utc(value).astimezone(ZoneInfo(zone))


def all_day_outlook_end(last_day: date) -> date:
    """Outlook's exclusive end of an all-day item whose last (inclusive) day is `last_day`."""
    return last_day + timedelta(days=1)


def all_day_last_day(outlook_end: date) -> date:
    """Inclusive last day of an all-day Outlook item ending (exclusively) at `outlook_end`."""
    return outlook_end - timedelta(days=1)


def to_json_time(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def from_json_time(text: str | None) -> datetime | None:
    return None if not text else as_utc(datetime.fromisoformat(text))
