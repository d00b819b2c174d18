"""Wire formats of the Workbooks API (workbooks-api.md §4.2, §4.6) and the sandbox clock.

Output is always the service's defaults unless a `_json_output_*_format` override is given:
datetime `%a %b %d %H:%M:%S UTC %Y` (UTC), date `%e %b %Y`, time `%H:%M:%S`, var_date_time
`<ISO>,<flag>,<IANA zone>`. Input is lenient: ISO, the defaults (short or full month names, with or
without weekday), `YYYY-MM-DD HH:MM` (wall time in the user's zone) and epoch seconds.

Internally datetimes are aware UTC `datetime`s truncated to the second, dates are `date`s and a
var_date_time is its wire string.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_INDEX = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
_MONTH_INDEX["sept"] = 9
DEFAULT_ZONE = "Europe/London"
TRUE_WORDS = frozenset({"true", "t", "on", "1", "yes", "y"})


class Clock:
    """Injectable clock: real time by default; `freeze`, `advance` and `unfreeze` for tests."""

    def __init__(self, frozen: datetime | None = None):
        self._lock = threading.Lock()
        self._frozen = frozen
        self._offset = 0.0

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            base = datetime.fromtimestamp(time.time() + self._offset, timezone.utc)
        return base.replace(microsecond=0)

    def today(self) -> date:
        return self.now().date()

    def freeze(self, at: datetime | None = None) -> None:
        at = at or self.now()
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        with self._lock:
            self._frozen = at.astimezone(timezone.utc).replace(microsecond=0)

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen.timestamp() - time.time()
            self._frozen = None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen = self._frozen + timedelta(seconds=seconds)
            else:
                self._offset += seconds


def as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def fmt_datetime(value: datetime, override: str | None = None) -> str:
    value = value.astimezone(timezone.utc)
    if override:
        return _strftime(value, override)
    # the time from its fields: strftime through format() was half of this, and every row of a
    # listing page carries a date-time or two
    return (f"{DAYS[value.weekday()]} {MONTHS[value.month - 1]} {value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} UTC {value.year}")


def fmt_date(value: date, override: str | None = None) -> str:
    if override:
        return _strftime(datetime(value.year, value.month, value.day, tzinfo=timezone.utc), override)
    return f"{value.day:2d} {MONTHS[value.month - 1]} {value.year}"


def _strftime(value: datetime, pattern: str) -> str:
    pattern = pattern.replace("%s", str(int(value.timestamp())))
    try:
        return value.strftime(pattern)
    except ValueError:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of that name; an unknown or malformed name falls back to Europe/London."""
    if not name or len(name) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name) or ".." in name:
        return ZoneInfo(DEFAULT_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo(DEFAULT_ZONE)


def zone_name(name: str | None) -> str:
    return zone(name).key


_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)
_TEXT = re.compile(
    r"^(?:[A-Za-z]{3,9},?\s+)?([A-Za-z]{3,9})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([A-Z]{1,5}|[+-]\d{4})\s+)?(\d{4})$"
)
_TEXT_DATE = re.compile(r"^(\d{1,2})\s+([A-Za-z]{3,9})\.?\s+(\d{4})$")
_TEXT_DATE2 = re.compile(r"^(?:[A-Za-z]{3,9},?\s+)?([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})$")
_EPOCH = re.compile(r"^-?\d{9,11}(\.\d+)?$")


def _month(word: str) -> int:
    key = word.lower()[:4] if word.lower().startswith("sept") else word.lower()[:3]
    if key not in _MONTH_INDEX:
        raise ValueError(f"unknown month {word!r}")
    return _MONTH_INDEX[key]


def parse_instant(text: str, tz_name: str | None = None) -> tuple[datetime, bool]:
    """Parse a date or datetime input. Returns (UTC datetime, has_time). A bare date is midnight
    UTC with has_time False. Raises ValueError when nothing fits."""
    try:
        return _parse_instant(text, tz_name)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"date out of range: {text!r}") from exc


def _parse_instant(text: str, tz_name: str | None) -> tuple[datetime, bool]:
    s = str(text).strip()
    if not s:
        raise ValueError("empty")
    if _EPOCH.match(s):
        return datetime.fromtimestamp(float(s), timezone.utc).replace(microsecond=0), True
    m = _ISO.match(s)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        if m[4] is None:
            return datetime(y, mo, d, tzinfo=timezone.utc), False
        hh, mm, ss = int(m[4]), int(m[5]), int(m[6] or 0)
        off = m[7]
        if off is None:  # wall time in the user's zone
            local = datetime(y, mo, d, hh, mm, ss, tzinfo=zone(tz_name))
            return local.astimezone(timezone.utc), True
        if off.upper() in ("Z", "UTC"):
            return datetime(y, mo, d, hh, mm, ss, tzinfo=timezone.utc), True
        sign = 1 if off[0] == "+" else -1
        digits = off[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return (datetime(y, mo, d, hh, mm, ss, tzinfo=timezone(sign * delta))).astimezone(timezone.utc), True
    m = _TEXT.match(s)
    if m:
        mo, d, hh, mi, ss = _month(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5] or 0)
        zone_word, y = m[6], int(m[7])
        value = datetime(y, mo, d, hh, mi, ss, tzinfo=timezone.utc)
        if zone_word and zone_word[0] in "+-":
            sign = 1 if zone_word[0] == "+" else -1
            value = value - sign * timedelta(hours=int(zone_word[1:3]), minutes=int(zone_word[3:]))
        return value, True
    m = _TEXT_DATE.match(s)
    if m:
        return datetime(int(m[3]), _month(m[2]), int(m[1]), tzinfo=timezone.utc), False
    m = _TEXT_DATE2.match(s)
    if m:
        return datetime(int(m[3]), _month(m[1]), int(m[2]), tzinfo=timezone.utc), False
    raise ValueError(f"cannot read {s!r} as a date or time")


def parse_datetime(text: str, tz_name: str | None = None) -> datetime:
    value, _ = parse_instant(text, tz_name)
    return value


def parse_date(text: str) -> date:
    value, has_time = parse_instant(text)
    return value.date()


def parse_time(text: str) -> str:
    m = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$", str(text).strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"cannot read {text!r} as a time")
    return f"{int(m[1]):02d}:{m[2]}:{m[3] or '00'}"


# --- var_date_time ------------------------------------------------------------------------------

def make_vdt(at: datetime, has_time: bool, tz_name: str | None) -> str:
    at = at.astimezone(timezone.utc)
    iso = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return f"{iso},{1 if has_time else 0},{zone_name(tz_name)}"


def parse_vdt_input(text: str, tz_name: str | None) -> str:
    """A var_date_time written by a client: its own wire form, or any date/datetime input."""
    s = str(text).strip()
    parts = s.split(",")
    if len(parts) == 3 and parts[1].strip() in ("0", "1"):
        at, _ = parse_instant(parts[0])
        return make_vdt(at, parts[1].strip() == "1", parts[2].strip() or tz_name)
    at, has_time = parse_instant(s, tz_name)
    if not has_time:  # a date-only value is midnight of that date in the user's zone
        local = datetime(at.year, at.month, at.day, tzinfo=zone(tz_name))
        return make_vdt(local, False, tz_name)
    return make_vdt(at, True, tz_name)


def vdt_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant(value.split(",")[0])[0]
    except ValueError:
        return None


def vdt_date(value: str | None) -> date | None:
    """The calendar date of a var_date_time, in its own zone."""
    at = vdt_instant(value)
    if at is None:
        return None
    parts = value.split(",")  # type: ignore[union-attr]
    tz = zone(parts[2] if len(parts) > 2 else None)
    return at.astimezone(tz).date()


def vdt_has_time(value: str | None) -> bool:
    return bool(value) and value.split(",")[1:2] == ["1"]  # type: ignore[union-attr]


def currency(text: str) -> str:
    """`"<amount> <ISO code> [flags]"`; a bare number gets GBP."""
    parts = str(text).split()
    if not parts:
        raise ValueError("empty currency")
    amount = float(parts[0])
    code = parts[1].upper() if len(parts) > 1 else "GBP"
    flags = parts[2] if len(parts) > 2 else "0"
    if not re.fullmatch(r"[A-Z]{3}|!!!", code):
        raise ValueError(f"bad currency code {code!r}")
    return f"{amount:.2f} {code} {flags}"
