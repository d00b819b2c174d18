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
        at = _default_utc(s)
        if at is not None:
            return at
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


def _default_utc(s: str) -> datetime | None:
    """A fixed-width default-form UTC text read by position (what a list of 10,000 people holds in
    every row); None when it is not exactly that form, left to the general parse."""
    mon = _MONTHS.get(s[4:7].lower())
    digits = s[8:10] + s[11:13] + s[14:16] + s[17:19] + s[24:28]
    if mon is None or not (digits.isascii() and digits.isdigit()) or s[3] != " " or s[7] != " " or s[10] != " " \
            or s[13] != ":" or s[16] != ":" or not s[:3].isalpha() or not s[:3].isascii():
        return None
    try:
        return datetime(int(s[24:28]), mon, int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]),
                        tzinfo=timezone.utc)
    except ValueError:  # "Fri Feb 31 ...": unreadable, as the general parse finds too
        return None


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
_PERSON_READ = tuple((canon, col, canon.startswith("email")) for canon, col in PERSON_MAP.items())


def person_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    # text()/email() inlined: this runs for every column of every person read (a first sync reads all)
    out: dict[str, Any] = {}
    get = row.get
    for canon, col, is_email in _PERSON_READ:
        value = get(col)
        if value is None or isinstance(value, (dict, list)):
            out[canon] = None
            continue
        s = (value if type(value) is str else str(value)).strip()
        out[canon] = (s.lower() if is_email else s) if s else None
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
    fields = FIELD_READERS[kind](row)
    emails: tuple[str, ...] = ()
    if kind is Kind.PERSON:  # the email fields are the PERSON_EMAIL_COLUMNS read as addresses
        emails = tuple(dict.fromkeys(e for e in (fields["email1"], fields["email2"], fields["email3"]) if e))
    owner = row.get("owner_id")
    owned = (user_id is not None and owner is not None and str(owner) == str(user_id)) or (
        my_queue is not None and row.get("assigned_to") is not None and str(row.get("assigned_to")) == str(my_queue)
    )
    updated_at = parse_datetime(row.get("updated_at"))
    return CrmRecord(
        kind=kind,
        id=str(row.get("id")),
        lock_version=as_int(row.get("lock_version")) or 0,
        fields=fields,
        raw=raw_for_filters(row, {"updated_at": updated_at}, in_place=own_row),
        updated_at=updated_at,
        deleted=as_bool(row.get("is_deleted")) if row.get("is_deleted") is not None else False,
        link_id=text(row.get("created_through_reference")),
        object_ref=text(row.get("object_ref")),
        owned_by_me=owned,
        emails=emails,
    )


def raw_for_filters(row: Mapping[str, Any], parsed: Mapping[str, datetime | None] | None = None, *,
                    in_place: bool = False) -> dict[str, Any]:
    """The row as read, except datetimes in the API's default text form become ISO UTC
    ("2009-05-15T14:36:54Z"), so app.domain.filters.evaluate reads them like the server does.
    `parsed`: columns the caller has already parsed with parse_datetime (not parsed twice).
    `in_place`: the row itself becomes the result (a row nobody else holds: no second copy)."""
    out = row if in_place and isinstance(row, dict) else dict(row)
    for key, value in list(row.items()) if out is row else row.items():
        # the default form always has a colon: most values (names, addresses, phones) are passed by it
        if isinstance(value, str) and ":" in value and _DEFAULT_RE.match(value.strip()):
            dt = parsed[key] if parsed is not None and key in parsed else parse_datetime(value)
            if dt is not None:
                out[key] = _iso_z(dt)
    return out


def _iso_z(dt: datetime) -> str:
    """`dt.strftime("%Y-%m-%dT%H:%M:%SZ")` of a UTC datetime, several times faster."""
    if dt.year < 1000:  # strftime does not pad such years; isoformat does
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


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
