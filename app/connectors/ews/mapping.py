"""exchangelib items <-> canonical fields (design.md section 6, fields.py).

Pure functions over exchangelib item objects: no requests are sent here. Readers normalise to the
conventions of `app.domain.fields`; writers set attributes on an item and return the exchangelib
field names to pass as `update_fields`, merging indexed fields (addresses, phones, postal
addresses) into the entries the item already has so nothing outside our slots is deleted
(ews.md 4.2).
"""
from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from typing import Any, Iterable, Mapping

from exchangelib import Body, CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone, HTMLBody, Message, Task
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from app.domain.notes import BLOCK_END, BLOCK_START, split_block
from app.domain.notes import join_block as join_notes  # noqa: F401  (the mapper's name for it)
from app.domain import recurrence as rec
from app.domain.fields import MEETING_FIELDS, PERSON_FIELDS, TASK_FIELDS
from app.domain.records import SHARE_CATEGORY, Kind, OutlookItem, SentMessage, Sharing
from app.connectors.ews.properties import SHARED, UNSHARED

UTC = EWSTimeZone("UTC")
MARKER_FIELDS = ["crm_id", "link_id", "sharing_state", "categories", "last_modified_time"]

# GetItem field lists: only what the mapper reads (ews.md 2.3: never everything).
ONLY_FIELDS: dict[Kind, list[str]] = {
    Kind.PERSON: [
        "display_name", "given_name", "middle_name", "surname", "generation", "job_title", "company_name",
        "email_addresses", "phone_numbers", "physical_addresses", "business_homepage", "spouse_name", "body",
    ] + MARKER_FIELDS,
    Kind.TASK: [
        "subject", "body", "start_date", "due_date", "status", "percent_complete", "importance",
        "reminder_is_set", "reminder_due_by",
    ] + MARKER_FIELDS,
    Kind.MEETING: [
        "subject", "body", "is_all_day", "start", "end", "_start_timezone", "_end_timezone", "location",
        "reminder_is_set", "reminder_minutes_before_start", "organizer", "required_attendees",
        "optional_attendees", "uid", "type", "recurrence", "modified_occurrences", "deleted_occurrences",
    ] + MARKER_FIELDS,
}
SENT_FIELDS = [
    "subject", "datetime_sent", "message_id", "sender", "author", "to_recipients", "cc_recipients",
    "bcc_recipients", "sensitivity", "size",
]
MODEL: dict[Kind, type] = {Kind.PERSON: Contact, Kind.TASK: Task, Kind.MEETING: CalendarItem}
FIELDS_BY_KIND: dict[Kind, tuple[str, ...]] = {Kind.PERSON: PERSON_FIELDS, Kind.TASK: TASK_FIELDS,
                                             Kind.MEETING: MEETING_FIELDS + ("timezone",)}

EMAIL_SLOTS = {"email1": "EmailAddress1", "email2": "EmailAddress2", "email3": "EmailAddress3"}
PHONE_SLOTS = {
    "business_phone": "BusinessPhone", "business_phone2": "BusinessPhone2", "mobile_phone": "MobilePhone",
    "business_fax": "BusinessFax", "home_phone": "HomePhone",
}
ADDRESS_PARTS = {"street": "street", "city": "city", "state": "state", "postcode": "zipcode", "country": "country"}
ADDRESS_SLOTS = {
    f"{prefix}_{part}": (label, attr)
    for prefix, label in (("business", "Business"), ("home", "Home"))
    for part, attr in ADDRESS_PARTS.items()
}
PERSON_SIMPLE = {
    "first_name": "given_name", "middle_name": "middle_name", "last_name": "surname", "suffix": "generation",
    "job_title": "job_title", "company": "company_name", "website": "business_homepage",
    "spouse_name": "spouse_name",
}
NAME_FIELDS = ("first_name", "middle_name", "last_name", "suffix")
STATUS_IN = {"NotStarted": "new", "InProgress": "in_progress", "WaitingOnOthers": "in_progress",
             "Deferred": "in_progress", "Completed": "complete"}
STATUS_OUT = {"new": "NotStarted", "in_progress": "InProgress", "complete": "Completed"}
PRIORITY_IN = {"High": "high", "Normal": "medium", "Low": "low"}
PRIORITY_OUT = {v: k for k, v in PRIORITY_IN.items()}



# --- scalars ---------------------------------------------------------------------------------

def clean_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def clean_email(value: Any) -> str | None:
    text = clean_str(value)
    return text.lower() if text else None


def body_text(body: Any) -> str | None:
    """Body or HTMLBody as plain text (CRLF normalised)."""
    if body is None:
        return None
    text = str(body)
    if isinstance(body, HTMLBody):
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", text)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_notes(body: Any) -> tuple[str | None, str | None]:
    """Body -> (user notes outside the managed block, managed block content)."""
    return split_block(body_text(body))


def instant_out(value: Any) -> str | None:
    """Aware datetime -> canonical UTC instant "YYYY-MM-DDTHH:MMZ"."""
    if value is None:
        return None
    return to_utc(value).strftime("%Y-%m-%dT%H:%MZ")


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware (EWS)datetime -> plain aware UTC datetime."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError("an aware datetime is expected")
    return dt.datetime.fromtimestamp(value.timestamp(), dt.timezone.utc)


def instant_in(value: str | None) -> EWSDateTime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    utc = parsed.astimezone(dt.timezone.utc)
    return EWSDateTime.from_datetime(utc.replace(tzinfo=None)).replace(tzinfo=UTC)


def date_out(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat()


def date_in(value: str | None) -> EWSDate | None:
    return EWSDate.from_date(dt.date.fromisoformat(value)) if value else None


def zone(name: str | None, default: EWSTimeZone) -> EWSTimeZone:
    return EWSTimeZone(name) if name else default


# --- markers ---------------------------------------------------------------------------------

def _sharing(value: Any) -> Sharing | None:
    text = (clean_str(value) or "").lower()
    if text == SHARED:
        return Sharing.SHARED
    if text == UNSHARED:
        return Sharing.UNSHARED
    return None


def has_category(categories: Iterable[str] | None) -> bool:
    return any(str(c).strip().casefold() == SHARE_CATEGORY.casefold() for c in categories or ())


def with_category(categories: Iterable[str] | None, present: bool) -> list[str]:
    kept = [c for c in categories or () if str(c).strip().casefold() != SHARE_CATEGORY.casefold()]
    return kept + [SHARE_CATEGORY] if present else kept


def to_outlook_item(kind: Kind, item: Any, mailbox: str) -> OutlookItem:
    if kind is Kind.PERSON:
        fields, extra = read_person(item), {}
    elif kind is Kind.TASK:
        fields, extra = read_task(item), {}
    else:
        fields, extra = read_meeting(item, mailbox)
    return OutlookItem(
        kind=kind,
        item_id=item.id,
        change_key=item.changekey,
        fields=fields,
        marker=_sharing(getattr(item, "sharing_state", None)),
        categorised=has_category(getattr(item, "categories", None)),
        crm_id=clean_str(getattr(item, "crm_id", None)),
        link_id=clean_str(getattr(item, "link_id", None)),
        last_modified=_plain_utc(getattr(item, "last_modified_time", None)),
        **extra,
    )


def apply_markers(item: Any, *, sharing: Sharing, crm_id: str | None, link_id: str | None) -> list[str]:
    item.sharing_state = SHARED if sharing is Sharing.SHARED else UNSHARED if sharing is Sharing.UNSHARED else None
    item.categories = with_category(item.categories, sharing is Sharing.SHARED) or None
    names = ["sharing_state", "categories"]
    if crm_id is not None:
        item.crm_id = crm_id
        names.append("crm_id")
    if link_id is not None:
        item.link_id = link_id
        names.append("link_id")
    return names


# --- Person <-> Contact ----------------------------------------------------------------------

def read_person(item: Contact) -> dict[str, Any]:
    out: dict[str, Any] = {name: clean_str(getattr(item, attr, None)) for name, attr in PERSON_SIMPLE.items()}
    emails = {e.label: e.email for e in item.email_addresses or ()}
    for name, label in EMAIL_SLOTS.items():
        out[name] = clean_email(emails.get(label))
    phones = {p.label: p.phone_number for p in item.phone_numbers or ()}
    for name, label in PHONE_SLOTS.items():
        out[name] = clean_str(phones.get(label))
    addresses = {a.label: a for a in item.physical_addresses or ()}
    for name, (label, attr) in ADDRESS_SLOTS.items():
        out[name] = clean_str(getattr(addresses.get(label), attr, None))
    out["notes"], _ = split_notes(item.body)
    return {name: out.get(name) for name in PERSON_FIELDS}


def display_name(fields: Mapping[str, Any]) -> str:
    parts = [clean_str(fields.get(n)) for n in NAME_FIELDS]
    name = " ".join(p for p in parts if p)
    return name or clean_str(fields.get("company")) or clean_str(fields.get("email1")) or "(no name)"


def write_person(item: Contact, fields: Mapping[str, Any], changed: Iterable[str], related: str | None,
                 *, replace_related: bool) -> list[str]:
    """Set the changed canonical fields on `item` (which holds the current values); return update_fields."""
    changed = set(changed)
    names: list[str] = []
    for name, attr in PERSON_SIMPLE.items():
        if name in changed:
            setattr(item, attr, clean_str(fields.get(name)))
            names.append(attr)
    if changed & set(NAME_FIELDS) or (item.id is None and not item.display_name):
        # Existing items come here with their current values read (names need the other parts).
        item.display_name = display_name({**read_person(item), **{n: fields.get(n) for n in changed}})
        names.append("display_name")
    if changed & EMAIL_SLOTS.keys():
        entries = {e.label: e.email for e in item.email_addresses or ()}
        for name in changed & EMAIL_SLOTS.keys():
            entries[EMAIL_SLOTS[name]] = clean_email(fields.get(name))
        item.email_addresses = [EmailAddress(label=k, email=v) for k, v in sorted(entries.items()) if v] or None
        names.append("email_addresses")
    if changed & PHONE_SLOTS.keys():
        entries = {p.label: p.phone_number for p in item.phone_numbers or ()}
        for name in changed & PHONE_SLOTS.keys():
            entries[PHONE_SLOTS[name]] = clean_str(fields.get(name))
        item.phone_numbers = [PhoneNumber(label=k, phone_number=v) for k, v in sorted(entries.items()) if v] or None
        names.append("phone_numbers")
    if changed & ADDRESS_SLOTS.keys():
        entries = {a.label: {attr: getattr(a, attr) for attr in ADDRESS_PARTS.values()}
                   for a in item.physical_addresses or ()}
        for name in changed & ADDRESS_SLOTS.keys():
            label, attr = ADDRESS_SLOTS[name]
            entries.setdefault(label, {})[attr] = clean_str(fields.get(name))
        item.physical_addresses = [
            PhysicalAddress(label=label, **parts) for label, parts in sorted(entries.items()) if any(parts.values())
        ] or None
        names.append("physical_addresses")
    names += _write_body(item, "notes", fields, changed, related, replace_related)
    return names


def _write_body(item: Any, name: str, fields: Mapping[str, Any], changed: set[str], related: str | None,
                replace_related: bool) -> list[str]:
    if name not in changed and not replace_related:
        return []
    notes, block = split_notes(item.body)
    if name in changed:
        notes = clean_str(fields.get(name))
    if replace_related:
        block = related
    text = join_notes(notes, block)
    item.body = Body(text) if text else None
    return ["body"]


# --- Task ------------------------------------------------------------------------------------

def read_task(item: Task) -> dict[str, Any]:
    reminder = instant_out(item.reminder_due_by) if item.reminder_is_set and item.reminder_due_by else None
    description, _ = split_notes(item.body)
    return {
        "subject": clean_str(item.subject),
        "description": description,
        "start_date": date_out(item.start_date),
        "due_date": date_out(item.due_date),
        "status": STATUS_IN.get(item.status or "NotStarted", "in_progress"),
        "priority": PRIORITY_IN.get(item.importance or "Normal", "medium"),
        "reminder_at": reminder,
    }


def write_task(item: Task, fields: Mapping[str, Any], changed: Iterable[str]) -> list[str]:
    changed = set(changed) & set(TASK_FIELDS)
    names: list[str] = []
    if "subject" in changed:
        item.subject = clean_str(fields.get("subject"))
        names.append("subject")
    for name in ("start_date", "due_date"):
        if name in changed:
            setattr(item, name, date_in(fields.get(name)))
            names.append(name)
    if "status" in changed:
        status = fields.get("status") or "new"
        item.status = STATUS_OUT.get(status, "InProgress")
        current = item.percent_complete if item.percent_complete is not None else Decimal(0)
        if status == "complete":
            item.percent_complete = Decimal(100)
        elif status == "new" or current >= Decimal(100):
            item.percent_complete = Decimal(0)
        else:
            item.percent_complete = current
        names += ["status", "percent_complete"]
    if "priority" in changed:
        item.importance = PRIORITY_OUT.get(fields.get("priority") or "medium", "Normal")
        names.append("importance")
    if "reminder_at" in changed:
        due = instant_in(fields.get("reminder_at"))
        item.reminder_is_set = due is not None
        names.append("reminder_is_set")
        if due is not None:
            item.reminder_due_by = due
            names.append("reminder_due_by")
    names += _write_body(item, "description", fields, changed, None, False)
    return names


# --- Meeting <-> CalendarItem ----------------------------------------------------------------

def read_meeting(item: CalendarItem, mailbox: str) -> tuple[dict[str, Any], dict[str, Any]]:
    all_day = bool(item.is_all_day)
    start, end = item.start, item.end
    if all_day:
        # Server values are local midnights, the end exclusive: convert to the item's zone first,
        # then step back one calendar day (never 24 hours, which breaks across DST changes).
        tz = item._start_timezone or UTC
        if isinstance(start, dt.datetime):
            start = start.astimezone(tz).date()
        if isinstance(end, dt.datetime):
            local_end = end.astimezone(item._end_timezone or tz)
            end = local_end.date() - dt.timedelta(days=1) if local_end.time() == dt.time(0) else local_end.date()
    description, _ = split_notes(item.body)
    minutes = item.reminder_minutes_before_start if item.reminder_is_set else None
    fields = {
        "subject": clean_str(item.subject),
        "description": description,
        "all_day": all_day,
        "start": None if all_day else instant_out(start),
        "end": None if all_day else instant_out(end),
        "start_date": date_out(start) if all_day else None,
        "end_date": date_out(end) if all_day else None,
        "location": clean_str(item.location),
        "reminder_minutes": int(minutes) if minutes is not None else None,
        "timezone": getattr(item._start_timezone, "key", None),
    }
    attendees = tuple(
        sorted({clean_email(a.mailbox.email_address) for a in (item.required_attendees or []) + (item.optional_attendees or [])
                if a.mailbox is not None and a.mailbox.email_address})
    )
    organiser = clean_email(item.organizer.email_address) if item.organizer is not None else None
    extra = {
        "global_id": clean_str(item.uid),
        "has_attendees": bool(attendees),
        "attendees": attendees,
        "organised_by_me": organiser is None or organiser == mailbox.strip().lower(),
        "series": read_series(item),
    }
    return {name: fields.get(name) for name in MEETING_FIELDS + ("timezone",)}, extra


# --- recurring masters (ews.md "Time zones and recurrence") -----------------------------------

# exchangelib's enum values are 1-based: weekdays Monday..Sunday then Day, Weekday, WeekendDay;
# week numbers First..Fourth, Last; months January..December.
_DAY_SETS = {8: frozenset(range(7)), 9: frozenset(range(5)), 10: frozenset({5, 6})}
_PATTERNS = {
    "DailyPattern": rec.DAILY, "WeeklyPattern": rec.WEEKLY, "AbsoluteMonthlyPattern": rec.ABSOLUTE_MONTHLY,
    "RelativeMonthlyPattern": rec.RELATIVE_MONTHLY, "AbsoluteYearlyPattern": rec.ABSOLUTE_YEARLY,
    "RelativeYearlyPattern": rec.RELATIVE_YEARLY,
}


def _weekdays(values: Any) -> frozenset[int]:
    days: set[int] = set()
    for v in values if isinstance(values, (list, tuple)) else [values] if values else []:
        days |= _DAY_SETS.get(int(v), {int(v) - 1})
    return frozenset(days)


def _plain_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else dt.date(value.year, value.month, value.day)


def read_series(item: CalendarItem) -> rec.Series | None:
    """A RecurringMaster's pattern, range and exceptions; None for single items, occurrences and
    patterns the domain does not expand (task regeneration patterns never occur on calendar items).
    Exception subjects are not on the master: the adapter reads them by their ids."""
    r = getattr(item, "recurrence", None)
    if getattr(item, "type", None) != "RecurringMaster" or r is None or item.start is None or item.end is None:
        return None
    kind = _PATTERNS.get(type(r.pattern).__name__)
    if kind is None:
        return None
    p = r.pattern
    days = getattr(p, "weekdays", None) if kind == rec.WEEKLY else getattr(p, "weekday", None)
    pattern = rec.Pattern(
        kind, interval=int(getattr(p, "interval", None) or 1), days_of_week=_weekdays(days),
        day_of_month=getattr(p, "day_of_month", None), week_index=getattr(p, "week_number", None),
        month=getattr(p, "month", None),
        first_day_of_week=int(getattr(p, "first_day_of_week", None) or 7) - 1,
    )
    boundary = r.boundary
    tz = item._start_timezone
    start, end = item.start, item.end
    if item.is_all_day and not isinstance(start, dt.datetime):
        zone_ = tz or UTC
        start = dt.datetime.combine(start, dt.time(0), zone_)
        end = dt.datetime.combine(end, dt.time(0), zone_) if not isinstance(end, dt.datetime) else end
    return rec.Series(
        pattern=pattern, zone=getattr(tz, "key", None) or "UTC", start=to_utc(start), end=to_utc(end),
        range_start=_plain_date(getattr(boundary, "start", None)),
        range_end=_plain_date(getattr(boundary, "end", None)),
        count=getattr(boundary, "number", None),
        deleted=frozenset(to_utc(d.start) for d in item.deleted_occurrences or () if d.start is not None),
        modified=tuple(
            rec.Modified(to_utc(o.original_start), to_utc(o.start), to_utc(o.end), item_id=o.id)
            for o in item.modified_occurrences or () if o.original_start and o.start and o.end
        ),
        all_day=bool(item.is_all_day),
    )


def write_meeting(item: CalendarItem, fields: Mapping[str, Any], changed: Iterable[str],
                  default_zone: EWSTimeZone) -> list[str]:
    """Set changed meeting fields. New items are written in fields["timezone"] (else the user's
    zone); existing items keep the zone they already have."""
    changed = set(changed) & set(MEETING_FIELDS)
    names: list[str] = []
    if "subject" in changed:
        item.subject = clean_str(fields.get("subject"))
        names.append("subject")
    if "location" in changed:
        item.location = clean_str(fields.get("location"))
        names.append("location")
    if "reminder_minutes" in changed:
        minutes = fields.get("reminder_minutes")
        item.reminder_is_set = minutes is not None
        names.append("reminder_is_set")
        if minutes is not None:
            item.reminder_minutes_before_start = int(minutes)
            names.append("reminder_minutes_before_start")
    if changed & {"all_day", "start", "end", "start_date", "end_date"}:
        tz = item._start_timezone if item.id and item._start_timezone else zone(fields.get("timezone"), default_zone)
        item._start_timezone = tz
        item._end_timezone = item._end_timezone if item.id and item._end_timezone else tz
        if fields.get("all_day"):
            item.is_all_day = True
            item.start = date_in(fields.get("start_date"))
            item.end = date_in(fields.get("end_date") or fields.get("start_date"))
        else:
            start = instant_in(fields.get("start"))
            end = instant_in(fields.get("end")) or start
            if start is None:
                raise ValueError("a meeting needs a start time (or all_day with a start_date)")
            item.is_all_day = False
            item.start = start.astimezone(tz)
            item.end = end.astimezone(item._end_timezone)
        names += ["start", "end", "is_all_day"]
    names += _write_body(item, "description", fields, changed, None, False)
    return names


# --- creates ---------------------------------------------------------------------------------

def new_item(kind: Kind, fields: Mapping[str, Any], *, related: str | None, default_zone: EWSTimeZone,
             account: Any = None, folder: Any = None) -> Any:
    item = MODEL[kind](account=account, folder=folder)
    present = {k for k, v in fields.items() if v is not None}
    if kind is Kind.PERSON:
        item.body = None
        write_person(item, fields, present & set(PERSON_FIELDS), related, replace_related=related is not None)
    elif kind is Kind.TASK:
        item.body = None
        write_task(item, fields, present | {"status", "priority"})
    else:
        item.body = None
        write_meeting(item, fields, present | {"all_day", "start"}, default_zone)
    return item


# --- sent items ------------------------------------------------------------------------------

def _address(mailbox: Any) -> str | None:
    return clean_email(getattr(mailbox, "email_address", None)) if mailbox is not None else None


def read_sent(item: Message) -> SentMessage:
    def addresses(values: Any) -> tuple[str, ...]:
        return tuple(a for a in (_address(m) for m in values or ()) if a)

    return SentMessage(
        item_id=item.id,
        message_id=clean_str(item.message_id) or "",
        subject=clean_str(item.subject) or "",
        sender=_address(item.author) or _address(item.sender) or "",
        to=addresses(item.to_recipients),
        cc=addresses(item.cc_recipients),
        bcc=addresses(item.bcc_recipients),
        sent_at=to_utc(item.datetime_sent) if item.datetime_sent else None,
        private=(item.sensitivity or "Normal") in ("Private", "Confidential"),
        size=int(item.size or 0),
    )


def _plain_utc(value: Any) -> dt.datetime | None:
    """Domain records carry plain aware datetimes, never exchangelib's EWSDateTime."""
    return None if value is None else to_utc(value)
