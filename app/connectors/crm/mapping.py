"""Workbooks rows <-> canonical fields (shared/docs/design.md 6.1-6.3, app/domain/fields.py).

Reading: flat rows with bracketed keys (`main_location[email]`) become `CrmRecord`s whose
`fields` follow the value conventions of app.domain.fields (trimmed strings or None, lower-case
addresses, ISO dates, UTC instants to the minute). Writing: canonical fields become wire
fields; the batch writer encodes None, booleans and datetimes.

`var_date_time` values read and write as `"<ISO>,<flag>,<IANA zone>"` (flag 0 = date, 1 = datetime).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.records import CrmRecord, Kind

PERSON_CLASS = "Private::Crm::Person"

PERSON_MAP: dict[str, str] = {
    "first_name": "person_first_name",
    "middle_name": "person_middle_name",
    "last_name": "person_last_name",
    "suffix": "person_suffix",
    "job_title": "person_job_title",
    "company": "employer_name",
    "email1": "main_location[email]",
    "email2": "main_location[alternate_email]",
    "email3": "home_location[email]",
    "business_phone": "main_location[telephone]",
    "business_phone2": "main_location[alternate_telephone]",
    "mobile_phone": "main_location[mobile]",
    "business_fax": "main_location[fax]",
    "home_phone": "home_location[telephone]",
    "business_street": "main_location[street_address]",
    "business_city": "main_location[town]",
    "business_state": "main_location[county_province_state]",
    "business_postcode": "main_location[postcode]",
    "business_country": "main_location[country]",
    "home_street": "home_location[street_address]",
    "home_city": "home_location[town]",
    "home_state": "home_location[county_province_state]",
    "home_postcode": "home_location[postcode]",
    "home_country": "home_location[country]",
    "website": "website",
    "spouse_name": "spouse_name",
    "notes": "party_notes",
}
PERSON_EMAIL_COLUMNS = ("main_location[email]", "main_location[alternate_email]", "home_location[email]")

COMMON_COLUMNS = (
    "id", "lock_version", "object_ref", "updated_at", "is_deleted", "created_through_reference",
    "assigned_to", "watched", "owner_id", "name",
)
TASK_COLUMNS = (
    "description", "start", "due", "activity_status", "activity_priority", "reminder_enabled",
    "reminder_datetime", "completed", "activity_type", "primary_contact_id",
)
MEETING_COLUMNS = (
    "description", "start", "finish", "all_day", "location", "reminder_enabled", "reminder_minutes",
    "activity_status", "activity_type", "primary_contact_id",
)

STATUS_TO_CRM = {"new": "New", "in_progress": "In progress", "complete": "Complete"}
PRIORITY_TO_CRM = {"high": "High", "medium": "Medium", "low": "Low"}


@dataclass(frozen=True)
class TypeInfo:
    kind: Kind
    path: str  # controller path, e.g. "crm/people"
    class_name: str
    queue_class: str
    columns: tuple[str, ...]


TYPES: dict[Kind, TypeInfo] = {
    Kind.PERSON: TypeInfo(Kind.PERSON, "crm/people", PERSON_CLASS, "Private::Crm::PersonQueue",
                          COMMON_COLUMNS + tuple(PERSON_MAP.values())),
    Kind.TASK: TypeInfo(Kind.TASK, "activity/tasks", "Private::Activity::Task", "Private::Activity::ActivityQueue",
                        COMMON_COLUMNS + TASK_COLUMNS),
    Kind.MEETING: TypeInfo(Kind.MEETING, "activity/meetings", "Private::Activity::Meeting",
                           "Private::Activity::ActivityQueue", COMMON_COLUMNS + MEETING_COLUMNS),
}


# --- scalar conversions --------------------------------------------------------------------------
def text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    s = str(value).strip()
    return s or None


def email(value: Any) -> str | None:
    s = text(value)
    return s.lower() if s else None


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "t", "on", "1", "yes", "y")


def as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


_UTC = timezone.utc
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_EPOCH_RE = re.compile(r"\d{9,11}")
_DEFAULT_RE = re.compile(r"^\w+\s+([A-Za-z]+)\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\S+)\s+(\d{4})$")


def parse_datetime(value: Any) -> datetime | None:
    """Lenient UTC datetime parser: default text form (short or full month names), ISO, epoch."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    s = str(value).strip()
    if len(s) == 28 and s[19:24] == " UTC ":  # the API's own form, "Thu Nov 26 07:48:55 UTC 2026": by position
        read = _api_utc(s)
        if read is not None:
            return read[0]
    if _EPOCH_RE.fullmatch(s):
        return datetime.fromtimestamp(int(s), timezone.utc)
    m = _DEFAULT_RE.match(s)
    if m:
        mon = _MONTHS.get(m.group(1)[:3].lower())
        if mon:
            try:
                dt = datetime(int(m.group(7)), mon, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))
            except ValueError:  # "Fri Feb 31 25:61:00 UTC 2026": unreadable, like any other garbage
                return None
            zone = m.group(6)
            if zone.upper() not in ("UTC", "GMT", "Z"):
                try:
                    return dt.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
                except (ZoneInfoNotFoundError, ValueError):
                    pass
            return dt.replace(tzinfo=timezone.utc)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_API_UTC_RE = re.compile(r"[A-Za-z]{3} ([A-Za-z]{3}) (\d\d) (\d\d:\d\d:\d\d) UTC (\d{4})", re.ASCII)
_MONTH_DIGITS = {name: f"{number:02d}" for name, number in _MONTHS.items()}


def _api_utc(s: str) -> tuple[datetime, str] | None:
    """The API's own fixed-width UTC form (what a list of 10,000 people holds in every row) read,
    and the ISO text raw_for_filters makes of it ("2026-11-26T07:48:55Z"); None when `s` is not
    exactly that form, left to the general parse. The text is reordered as ISO and read by the C
    parser, which checks the ranges as datetime() does."""
    m = _API_UTC_RE.fullmatch(s)
    if m is None:
        return None
    month = _MONTH_DIGITS.get(m[1].lower())
    if month is None:
        return None
    iso = f"{m[4]}-{month}-{m[2]}T{m[3]}"
    try:
        at = datetime.fromisoformat(iso + "+00:00")
    except ValueError:  # "Fri Feb 31 ...": unreadable, as the general parse finds too
        return None
    return at, (iso + "Z" if at.year >= 1000 else _iso_z(at))


def parse_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    s = str(value).strip()
    try:
        m = re.match(r"(\d{4})-(\d{2})-(\d{2})", s)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = re.match(r"(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})$", s)  # "%e %b %Y"
        if m and _MONTHS.get(m[2][:3].lower()):
            return date(int(m[3]), _MONTHS[m[2][:3].lower()], int(m[1]))
    except ValueError:  # "2026-02-31": out of range reads as unreadable, not as a crash
        return None
    dt = parse_datetime(s)
    return dt.date() if dt else None


def instant(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def parse_instant(value: Any) -> datetime | None:
    """Canonical instant string ("YYYY-MM-DDTHH:MMZ") or datetime -> aware UTC datetime."""
    if value is None or value == "":
        return None
    return parse_datetime(value)


def _zone(name: str | None) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


@dataclass(frozen=True)
class VarDateTime:
    when: datetime | None  # UTC instant (datetime flag) or midnight UTC of the date
    day: date | None
    is_date: bool
    zone: str | None


def parse_vdt(value: Any) -> VarDateTime | None:
    """`"<ISO>,<flag>,<IANA zone>"`; a bare ISO value is accepted too."""
    s = text(value)
    if not s:
        return None
    parts = [p.strip() for p in s.split(",")]
    iso = parts[0]
    flag = parts[1] if len(parts) > 1 else ("0" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso) else "1")
    zone = parts[2] if len(parts) > 2 and parts[2] else None
    if flag == "0":
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            day = date.fromisoformat(iso)
        else:
            dt = parse_datetime(iso)
            if dt is None:
                return None
            # Midnight UTC means the date itself; otherwise the zone's midnight expressed in UTC.
            day = dt.date() if (dt.hour, dt.minute, dt.second) == (0, 0, 0) else dt.astimezone(_zone(zone)).date()
        return VarDateTime(datetime(day.year, day.month, day.day, tzinfo=timezone.utc), day, True, zone)
    dt = parse_datetime(iso)
    if dt is None:
        return None
    return VarDateTime(dt, dt.astimezone(_zone(zone)).date(), False, zone)


def vdt_datetime(value: datetime, zone: str | None) -> str:
    utc = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.000Z,1,{zone or 'UTC'}"


def vdt_date(day: date, zone: str | None) -> str:
    return f"{day.isoformat()}T00:00:00.000Z,0,{zone or 'UTC'}"


# --- rows -> records -----------------------------------------------------------------------------
_PERSON_CANON = tuple(PERSON_MAP)
_PERSON_COLUMNS = tuple(PERSON_MAP.values())
_PERSON_EMAILS = tuple(canon for canon in PERSON_MAP if canon.startswith("email"))


def person_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    # text()/email() inlined, the common cells (None, text) in one comprehension: this runs for
    # every column of every person read (a first sync reads all)
    out = dict(zip(_PERSON_CANON, [
        None if value is None else (value.strip() or None) if value.__class__ is str else text(value)
        for value in map(row.get, _PERSON_COLUMNS)]))
    for canon in _PERSON_EMAILS:
        address = out[canon]
        if address is not None:
            out[canon] = address.lower()
    return out


def task_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    start, due = parse_vdt(row.get("start")), parse_vdt(row.get("due"))
    reminder = parse_datetime(row.get("reminder_datetime")) if as_bool(row.get("reminder_enabled")) else None
    return {
        "subject": text(row.get("name")),
        "description": text(row.get("description")),
        "start_date": start.day.isoformat() if start and start.day else None,
        "due_date": due.day.isoformat() if due and due.day else None,
        "status": status_from_crm(row.get("activity_status")),
        "priority": priority_from_crm(row.get("activity_priority")),
        "reminder_at": instant(reminder),
    }


def meeting_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    start, finish = parse_vdt(row.get("start")), parse_vdt(row.get("finish"))
    all_day = as_bool(row.get("all_day")) if row.get("all_day") is not None else bool(start and start.is_date)
    minutes = as_int(row.get("reminder_minutes")) if as_bool(row.get("reminder_enabled")) else None
    zone = (start.zone if start else None) or (finish.zone if finish else None)
    return {
        "subject": text(row.get("name")),
        "description": text(row.get("description")),
        "all_day": all_day,
        "start": None if all_day or not start else instant(start.when),
        "end": None if all_day or not finish else instant(finish.when),
        "start_date": start.day.isoformat() if all_day and start and start.day else None,
        "end_date": finish.day.isoformat() if all_day and finish and finish.day else None,
        "location": text(row.get("location")),
        "reminder_minutes": minutes,
        "timezone": zone,
    }


def status_from_crm(value: Any) -> str | None:
    s = (text(value) or "").lower()
    if not s:
        return None
    if s in ("new", "not started", "open"):
        return "new"
    if s.startswith("complete") or s in ("done", "closed"):
        return "complete"
    return "in_progress"


def priority_from_crm(value: Any) -> str | None:
    s = (text(value) or "").lower()
    if s in ("high", "urgent"):
        return "high"
    if s in ("medium", "normal"):
        return "medium"
    if s == "low":
        return "low"
    return None


FIELD_READERS = {Kind.PERSON: person_fields, Kind.TASK: task_fields, Kind.MEETING: meeting_fields}


def row_to_record(kind: Kind, row: Mapping[str, Any], *, user_id: Any = None, my_queue: Any = None,
                  own_row: bool = False) -> CrmRecord:
    """`own_row`: the caller hands the row over (as decoded from an answer, held by nobody else);
    it becomes the record's `raw` instead of a copy of it (a listing holds pages of them)."""
    return RecordReader(kind, user_id=user_id, my_queue=my_queue).record(row, own_row=own_row)


class RecordReader:
    """`row_to_record` for the many rows of one kind read for one user (a listing's pages): the
    field reader and the ownership ids as text are settled once, not per row. A first sync reads
    every person this way on the listing's threads, where its CPU delays the engine's staging."""

    def __init__(self, kind: Kind, *, user_id: Any = None, my_queue: Any = None):
        self.kind = kind
        self._fields = FIELD_READERS[kind]
        self._user = None if user_id is None else str(user_id)
        self._queue = None if my_queue is None else str(my_queue)

    def records(self, rows: Iterable[dict[str, Any]]) -> tuple[CrmRecord, ...]:
        """Records of rows handed over (`own_row`): each row becomes its record's `raw`."""
        record = self.record
        return tuple([record(row, own_row=True) for row in rows])

    def record(self, row: Mapping[str, Any], *, own_row: bool = False) -> CrmRecord:
        get = row.get
        kind = self.kind
        fields = self._fields(row)
        emails: tuple[str, ...] = ()
        if kind is Kind.PERSON:  # the email fields are the PERSON_EMAIL_COLUMNS read as addresses
            emails = tuple(dict.fromkeys([e for e in (fields["email1"], fields["email2"], fields["email3"]) if e]))
        owner, assigned = get("owner_id"), get("assigned_to")
        owned = (self._user is not None and owner is not None and str(owner) == self._user) or (
            self._queue is not None and assigned is not None and str(assigned) == self._queue)
        stamp = get("updated_at")
        read = _api_utc(stamp) if stamp.__class__ is str and len(stamp) == 28 else None  # (the API's own form)
        updated_at = parse_datetime(stamp) if read is None else read[0]
        version = get("lock_version")
        deleted = get("is_deleted")
        # (a row handed over is converted in place by raw_for_filters before link_id and object_ref
        # are read from it, as it always was). The dataclass's own constructor: an instance made
        # otherwise (its __dict__ filled at once) is a third quicker to make but slower to read,
        # and the engine thread, where a first sync waits, reads records far more than we make them.
        return CrmRecord(
            kind, str(get("id")), (version if version.__class__ is int else as_int(version)) or 0, fields,
            raw_for_filters(row, {"updated_at": updated_at}, in_place=own_row,
                            ready=None if read is None else {"updated_at": read[1]}), updated_at,
            False if deleted is None else deleted if deleted.__class__ is bool else as_bool(deleted),
            text(get("created_through_reference")), text(get("object_ref")), owned, emails)


def raw_for_filters(row: Mapping[str, Any], parsed: Mapping[str, datetime | None] | None = None, *,
                    in_place: bool = False, ready: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The row as read, except datetimes in the API's default text form become ISO UTC
    ("2009-05-15T14:36:54Z"), so app.domain.filters.evaluate reads them like the server does.
    `parsed`: columns the caller has already parsed with parse_datetime (not parsed twice).
    `ready`: columns in the default form whose ISO text the caller has already made (`_api_utc`).
    `in_place`: the row itself becomes the result (a row nobody else holds: no second copy)."""
    out = row if in_place and isinstance(row, dict) else dict(row)
    # the default form always has a colon: most values (names, addresses, phones) are passed by it,
    # and most of the others are None or exactly str (isinstance is asked only of the rest)
    for key, value in [(k, v) for k, v in row.items()
                       if (v.__class__ is str or v is not None and isinstance(v, str)) and ":" in v]:
        if ready is not None and key in ready:
            out[key] = ready[key]
        elif _DEFAULT_RE.match(value.strip()):
            dt = parsed[key] if parsed is not None and key in parsed else parse_datetime(value)
            if dt is not None:
                out[key] = _iso_z(dt)
    return out


def _iso_z(dt: datetime) -> str:
    """`dt.strftime("%Y-%m-%dT%H:%M:%SZ")` of a UTC datetime, several times faster."""
    if dt.year < 1000:  # strftime does not pad such years
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


# --- canonical -> wire ---------------------------------------------------------------------------
def to_wire(kind: Kind, fields: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """Wire fields for the canonical `names` (all of the kind's fields when None).

    Values stay Python values (None, bool, int, str); the batch writer encodes them.
    """
    wanted = set(fields.keys() if names is None else names)
    out: dict[str, Any] = {}
    if kind is Kind.PERSON:
        for canon, col in PERSON_MAP.items():
            if canon in wanted:
                v = fields.get(canon)
                out[col] = (email(v) if canon.startswith("email") else text(v))
        return out
    if "subject" in wanted:
        out["name"] = text(fields.get("subject"))
    if "description" in wanted:
        out["description"] = fields.get("description") or None
    zone = text(fields.get("timezone")) or "UTC"
    if kind is Kind.TASK:
        for canon, col in (("start_date", "start"), ("due_date", "due")):
            if canon in wanted:
                d = parse_date(fields.get(canon))
                out[col] = vdt_date(d, zone) if d else None
        if "status" in wanted:
            status = str(fields.get("status") or "")
            out["activity_status"] = STATUS_TO_CRM.get(status, None)
            # "To complete a task, set completed and activity_status=Complete" (workbooks-api.md 5.4)
            out["completed"] = vdt_datetime(datetime.now(timezone.utc), zone) if status == "complete" else None
        if "priority" in wanted:
            out["activity_priority"] = PRIORITY_TO_CRM.get(str(fields.get("priority") or ""), None)
        if "reminder_at" in wanted:
            when = parse_instant(fields.get("reminder_at"))
            out["reminder_enabled"] = when is not None
            if when is not None:
                out["reminder_datetime"] = when
        return out
    # meetings: the scheduling fields travel together so all_day, start and finish agree
    if wanted & {"all_day", "start", "end", "start_date", "end_date", "timezone"}:
        if fields.get("all_day"):
            first = parse_date(fields.get("start_date"))
            last = parse_date(fields.get("end_date")) or first
            out["all_day"] = True
            out["start"] = vdt_date(first, zone) if first else None
            out["finish"] = vdt_date(last, zone) if last else None
        else:
            begin, end = parse_instant(fields.get("start")), parse_instant(fields.get("end"))
            out["all_day"] = False
            out["start"] = vdt_datetime(begin, zone) if begin else None
            out["finish"] = vdt_datetime(end or (begin + timedelta(hours=1) if begin else None), zone) if (end or begin) else None
    if "location" in wanted:
        out["location"] = text(fields.get("location"))
    if "reminder_minutes" in wanted:
        minutes = fields.get("reminder_minutes")
        out["reminder_enabled"] = minutes is not None
        if minutes is not None:
            out["reminder_minutes"] = int(minutes)
    return out
