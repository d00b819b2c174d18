"""Graph date-time values (dateTimeTimeZone) and zone names <-> aware datetimes and canonical
instants/dates. Windows zone names (what Outlook usually stores) map to IANA where known."""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc

WINDOWS_TO_IANA = {
    "utc": "UTC", "gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
    "w. europe standard time": "Europe/Berlin", "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest", "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau", "fle standard time": "Europe/Kiev",
    "gtb standard time": "Europe/Bucharest", "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago", "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles", "tokyo standard time": "Asia/Tokyo",
    "india standard time": "Asia/Kolkata", "china standard time": "Asia/Shanghai",
    "singapore standard time": "Asia/Singapore", "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland", "south africa standard time": "Africa/Johannesburg",
}


def parse_dtz(value: Any) -> dt.datetime | None:
    """dateTimeTimeZone -> aware datetime (None when absent)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"]).strip().rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=zone(value.get("timeZone"))) if parsed.tzinfo is None else parsed


def local_part(value: Any) -> dt.datetime | None:
    """dateTimeTimeZone -> naive wall-clock datetime as written."""
    parsed = parse_dtz(value)
    return parsed.replace(tzinfo=None) if parsed else None


def zone(name: str | None) -> dt.tzinfo:
    iana = iana_name(name)
    try:
        return ZoneInfo(iana) if iana else UTC
    except Exception:  # noqa: BLE001 - unknown names fall back to UTC rather than failing the read
        return UTC


def iana_name(name: str | None) -> str | None:
    if not name:
        return None
    return WINDOWS_TO_IANA.get(name.strip().lower(), name.strip())


def instant_out(value: dt.datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") if value else None


def instant_in(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def dtz(value: dt.datetime, tz_name: str) -> dict[str, str]:
    local = value.astimezone(zone(tz_name)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": tz_name}


def date_dtz(text: str | None) -> dict[str, str] | None:
    return {"dateTime": f"{dt.date.fromisoformat(text).isoformat()}T00:00:00", "timeZone": "UTC"} if text else None


def utc_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
