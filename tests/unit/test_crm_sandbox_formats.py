"""The Workbooks sandbox's default date-time text, written from the fields, is the strftime text
it replaced, for any instant and zone."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.sandbox.crm.formats import DAYS, MONTHS, fmt_datetime


def strftime_form(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return f"{DAYS[value.weekday()]} {MONTHS[value.month - 1]} {value.day:02d} {value:%H:%M:%S} UTC {value.year}"


def test_default_datetime_text_is_the_strftime_text():
    rng = random.Random(8)
    zones = [timezone.utc, ZoneInfo("Europe/London"), ZoneInfo("America/St_Johns"), timezone(timedelta(hours=14))]
    start = datetime(2, 1, 1, tzinfo=timezone.utc)
    for _ in range(3000):
        instant = start + timedelta(seconds=rng.randrange(315 * 10 ** 9), microseconds=rng.randrange(10 ** 6))
        value = instant.astimezone(rng.choice(zones))
        assert fmt_datetime(value) == strftime_form(value)
    assert fmt_datetime(datetime(2026, 1, 5, 9, 4, 7, tzinfo=timezone.utc)) == "Mon Jan 05 09:04:07 UTC 2026"
