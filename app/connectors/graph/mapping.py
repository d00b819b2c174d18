"""Microsoft Graph JSON <-> canonical fields (app.domain.fields), mirroring the EWS mapper.

Pure functions: no requests. Readers normalise to the value conventions of `app.domain.fields`;
writers return the JSON properties to PATCH/POST.

Field gaps between the backends and how they are handled
--------------------------------------------------------
Every canonical field has a home in Graph (some through MAPI extended properties, see below), so
`UNSUPPORTED[kind]` is empty today. A field that ever lands there is left out of reads and
ignored by writes, and `GraphMailbox.unsupported_fields(kind)` names it, so the engine can keep it
out of comparisons: a value the backend cannot store is then never reported as a change. Lossy
mappings (slot compaction below) are listed so reviewers know where a round trip can differ.

Contacts (`contact`)
* email1..email3 <-> `emailAddresses[0..2]`: Graph keeps a list, not Exchange's three slots.
  Writes send the slots in order without gaps, and record which slots the entries came from in
  the extended property `WorkbooksSlots` ("email=2;phone=2"); reads put the entries back in those
  slots while the list still has as many entries, so an email2 without an email1 does not come
  back as email1 (which the engine would report as a change of two fields). When someone else
  adds or removes entries, the list is read compacted. Same for `businessPhones[0..1]`
  (business_phone, business_phone2); `homePhones[0]` has one slot.
* business_fax: no Graph property; read and written through the MAPI property
  PidTagBusinessFaxNumber as the extended property `String 0x3A24` (the same value Outlook shows).
* notes <-> `personalNotes` (plain text; the "Related in Workbooks" block lives there as in EWS).
* Everything else maps 1:1 (givenName, middleName, surname, generation, jobTitle, companyName,
  businessHomePage, spouseName, businessAddress/homeAddress street/city/state/postalCode/
  countryOrRegion).

To Do tasks (`todoTask`)
* No percentComplete (EWS writes 0/100 alongside status): progress maps to `status` only;
  waitingOnOthers and deferred read as in_progress (as in EWS) and are left alone unless the
  status really changes.
* No single-value extended properties in v1.0 (ews.md 9.2): our markers ride in an open
  extension `com.workbooks.connector` ({crmId, linkId, sharing}). A CrmId stamped over EWS on an
  Outlook task is therefore not visible here (ews.md 10, question 10): tasks relink through the
  journal or by content after a backend switch. Markers cannot be $filter-ed server-side, so
  `find_by_marker` for tasks reads the list and filters locally.
* start_date / due_date travel as midnight UTC dateTimeTimeZone values and are read by their
  date part; reminder_at <-> isReminderOn + reminderDateTime.

Meetings (`event`)
* Read in UTC (`Prefer: outlook.timezone="UTC"`), text bodies (`outlook.body-content-type`).
  `timezone` <-> originalStartTimeZone (Windows names mapped to IANA where known). New events are
  written in fields["timezone"]; existing ones keep the zone they have.
* reminder_minutes <-> isReminderOn + reminderMinutesBeforeStart (supported, no gap).
* Recurring series (recurrence.py): a `seriesMaster` is read with its recurrence as a master
  (`OutlookItem.series`), which app.sync.recurring turns into read-only occurrences as on EWS,
  taking the occurrences Graph expanded (`GraphMailbox.series_occurrences`). calendarView/delta
  reports occurrences and exceptions, never the master: the mailbox reads their
  `seriesMasterId` instead. An occurrence or exception read on its own is not synced as itself.
* calendarView/delta needs a fixed window (GraphSettings.calendar_window); meetings outside it are
  invisible, and moving the window starts a new delta round.
* Writes to a meeting with attendees that the user organises send updates/cancellations (Graph
  has no SendToNone): `trash` refuses to delete such meetings (ItemRejected), and the engine
  already treats their scheduling fields as Outlook-owned.

Deleting
* Graph v1.0 has no move for contacts, events or To Do tasks; DELETE (what `trash` sends) is
  Exchange's soft delete into Deleted Items, `permanentDelete` the hard delete (never used).
  Where a deleted To Do task ends up is to be verified against a real tenant.

Sent items (`message`)
* private <-> PidTagSensitivity `Integer 0x0036` (2 private, 3 confidential); size <->
  PidTagMessageSize `Integer 0x0E08`; both through extended properties (no v1.0 property).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Mapping

from app.domain.notes import BLOCK_END, BLOCK_START  # noqa: F401  (re-exported)
from app.domain.notes import join_block as join_notes  # noqa: F401
from app.domain.notes import split_block as split_notes  # noqa: F401
from app.domain.fields import MEETING_FIELDS, PERSON_FIELDS, TASK_FIELDS
from app.domain.normalise import html_to_text
from app.domain.records import SHARE_CATEGORY, Kind, OutlookItem, SentMessage, Sharing
from app.connectors.graph.times import (
    date_dtz, dtz, iana_name, instant_in, instant_out, local_part, parse_dtz, utc_time,
)
from app.connectors.graph.recurrence import series_of
from app.connectors.graph.properties import (
    CRM_ID, EXTENSION_NAME, FAX, LINK_ID, SENSITIVITY, SHARED, SHARING, SIZE, SLOTS, UNSHARED, same_id,
)

# Canonical fields this backend cannot store: never read, never written, never a change.
UNSUPPORTED: dict[Kind, frozenset[str]] = {Kind.PERSON: frozenset(), Kind.TASK: frozenset(), Kind.MEETING: frozenset()}

FIELDS_BY_KIND: dict[Kind, tuple[str, ...]] = {Kind.PERSON: PERSON_FIELDS, Kind.TASK: TASK_FIELDS,
                                             Kind.MEETING: MEETING_FIELDS + ("timezone",)}
PERSON_SIMPLE = {
    "first_name": "givenName", "middle_name": "middleName", "last_name": "surname", "suffix": "generation",
    "job_title": "jobTitle", "company": "companyName", "website": "businessHomePage", "spouse_name": "spouseName",
}
NAME_FIELDS = ("first_name", "middle_name", "last_name", "suffix")
EMAILS = ("email1", "email2", "email3")
BUSINESS_PHONES = ("business_phone", "business_phone2")
ADDRESS_PARTS = {"street": "street", "city": "city", "state": "state", "postcode": "postalCode",
                 "country": "countryOrRegion"}
ADDRESSES = {"business": "businessAddress", "home": "homeAddress"}

STATUS_IN = {"notStarted": "new", "inProgress": "in_progress", "waitingOnOthers": "in_progress",
             "deferred": "in_progress", "completed": "complete"}
STATUS_OUT = {"new": "notStarted", "in_progress": "inProgress", "complete": "completed"}
PRIORITY_IN = {"high": "high", "normal": "medium", "low": "low"}
PRIORITY_OUT = {v: k for k, v in PRIORITY_IN.items()}


# $select lists per kind (only what the mapper reads).
SELECT: dict[Kind, str] = {
    Kind.PERSON: ("givenName,middleName,surname,generation,displayName,jobTitle,companyName,emailAddresses,"
                  "businessPhones,homePhones,mobilePhone,businessAddress,homeAddress,businessHomePage,spouseName,"
                  "personalNotes,categories,lastModifiedDateTime,parentFolderId"),
    Kind.TASK: ("title,body,status,importance,isReminderOn,reminderDateTime,dueDateTime,startDateTime,categories,"
                "lastModifiedDateTime"),
    Kind.MEETING: ("subject,body,start,end,isAllDay,location,isReminderOn,reminderMinutesBeforeStart,organizer,"
                   "attendees,iCalUId,type,categories,originalStartTimeZone,isOrganizer,lastModifiedDateTime,"
                   "recurrence"),
}
SENT_SELECT = "subject,sentDateTime,internetMessageId,from,sender,toRecipients,ccRecipients,bccRecipients"


def expand(kind: Kind | str) -> str:
    if kind is Kind.TASK:
        return f"extensions($filter=id eq '{extension_id()}')"
    ids = [CRM_ID, LINK_ID, SHARING] + ([FAX, SLOTS] if kind is Kind.PERSON else [])
    if kind == "sent":
        ids = [SENSITIVITY, SIZE]
    return "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in ids) + ")"


def extension_id() -> str:
    return f"Microsoft.OutlookServices.OpenTypeExtension.{EXTENSION_NAME}"


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
    if not isinstance(body, dict):
        return clean_str(body) if isinstance(body, str) else None
    text = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() == "html":
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", text)
        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- markers ---------------------------------------------------------------------------------

def markers(kind: Kind, data: Mapping[str, Any]) -> dict[str, str | None]:
    """{"crm_id", "link_id", "sharing", "fax", "slots"} from extended properties or the task extension."""
    out: dict[str, str | None] = {"crm_id": None, "link_id": None, "sharing": None, "fax": None, "slots": None}
    if kind is Kind.TASK:
        for ext in data.get("extensions") or []:
            if str(ext.get("extensionName", "")).lower() == EXTENSION_NAME.lower() or \
                    str(ext.get("id", "")).lower() == extension_id().lower():
                out.update(crm_id=clean_str(ext.get("crmId")), link_id=clean_str(ext.get("linkId")),
                           sharing=clean_str(ext.get("sharing")))
        return out
    for prop in data.get("singleValueExtendedProperties") or []:
        pid, value = str(prop.get("id", "")), prop.get("value")
        for key, wanted in (("crm_id", CRM_ID), ("link_id", LINK_ID), ("sharing", SHARING), ("fax", FAX),
                            ("slots", SLOTS)):
            if same_id(pid, wanted):
                out[key] = clean_str(value)
    return out


def sharing_of(value: str | None) -> Sharing | None:
    text = (value or "").strip().lower()
    return Sharing.SHARED if text == SHARED else Sharing.UNSHARED if text == UNSHARED else None


def has_category(categories: Iterable[str] | None) -> bool:
    return any(str(c).strip().casefold() == SHARE_CATEGORY.casefold() for c in categories or ())


def with_category(categories: Iterable[str] | None, present: bool) -> list[str]:
    kept = [c for c in categories or () if str(c).strip().casefold() != SHARE_CATEGORY.casefold()]
    return kept + [SHARE_CATEGORY] if present else kept


def marker_props(sharing: Sharing, crm_id: str | None, link_id: str | None) -> list[dict[str, str]]:
    """singleValueExtendedProperties for a write (Graph cannot delete one: NATIVE writes "")."""
    value = SHARED if sharing is Sharing.SHARED else UNSHARED if sharing is Sharing.UNSHARED else ""
    props = [{"id": SHARING, "value": value}]
    if crm_id is not None:
        props.append({"id": CRM_ID, "value": crm_id})
    if link_id is not None:
        props.append({"id": LINK_ID, "value": link_id})
    return props


def marker_extension(sharing: Sharing, crm_id: str | None, link_id: str | None,
                     current: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    cur = current or {}
    return {"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": EXTENSION_NAME,
            "sharing": SHARED if sharing is Sharing.SHARED else UNSHARED if sharing is Sharing.UNSHARED else "",
            "crmId": crm_id if crm_id is not None else cur.get("crm_id") or "",
            "linkId": link_id if link_id is not None else cur.get("link_id") or ""}


def to_outlook_item(kind: Kind, data: Mapping[str, Any], mailbox: str) -> OutlookItem | None:
    """None for items this backend does not sync as themselves (occurrences and exceptions: they
    come from their series master, read with `series`)."""
    extra: dict[str, Any] = {}
    if kind is Kind.PERSON:
        fields = read_person(data)
    elif kind is Kind.TASK:
        fields = read_task(data)
    else:
        kind_of_event = str(data.get("type") or "singleInstance")
        if kind_of_event not in ("singleInstance", "seriesMaster"):
            return None
        fields, extra = read_meeting(data, mailbox)
        if kind_of_event == "seriesMaster":
            extra["series"] = series_of(data)
    m = markers(kind, data)
    return OutlookItem(
        kind=kind, item_id=str(data["id"]), change_key=str(data.get("@odata.etag") or ""), fields=fields,
        marker=sharing_of(m["sharing"]), categorised=has_category(data.get("categories")), crm_id=m["crm_id"],
        link_id=m["link_id"], last_modified=utc_time(data.get("lastModifiedDateTime")), **extra,
    )


# --- contacts --------------------------------------------------------------------------------

def slot_layout(value: str | None) -> dict[str, list[int]]:
    """"email=2;phone=1,2" -> {"email": [2], "phone": [1, 2]} (1-based slots, in list order)."""
    out: dict[str, list[int]] = {}
    for part in (value or "").split(";"):
        group, _, numbers = part.partition("=")
        try:
            out[group.strip()] = [int(n) for n in numbers.split(",") if n.strip()]
        except ValueError:
            continue
    return out


def format_layout(emails: list[Any], phones: list[Any]) -> str:
    def used(slots: list[Any]) -> str:
        return ",".join(str(n) for n, value in enumerate(slots, 1) if value)

    return f"email={used(emails)};phone={used(phones)}"


def place(values: list[Any], layout: list[int] | None, size: int) -> list[Any]:
    """The list's entries in their recorded slots, or compacted when the layout no longer fits."""
    fits = (layout is not None and len(layout) == len(values) and all(1 <= n <= size for n in layout)
            and layout == sorted(set(layout)))
    slots: list[Any] = [None] * size
    for n, value in enumerate(values[:size]):
        slots[(layout[n] - 1) if fits else n] = value  # type: ignore[index]
    return slots


def read_person(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: clean_str(data.get(prop)) for name, prop in PERSON_SIMPLE.items()}
    layout = slot_layout(markers(Kind.PERSON, data)["slots"])
    emails = [clean_email(e.get("address")) for e in data.get("emailAddresses") or [] if isinstance(e, dict)]
    for name, value in zip(EMAILS, place([e for e in emails if e], layout.get("email"), len(EMAILS))):
        out[name] = value
    phones = [clean_str(p) for p in data.get("businessPhones") or []]
    for name, value in zip(BUSINESS_PHONES, place([p for p in phones if p], layout.get("phone"),
                                                  len(BUSINESS_PHONES))):
        out[name] = value
    homes = list(data.get("homePhones") or [])
    out["home_phone"] = clean_str(homes[0]) if homes else None
    out["mobile_phone"] = clean_str(data.get("mobilePhone"))
    out["business_fax"] = markers(Kind.PERSON, data)["fax"]
    for prefix, prop in ADDRESSES.items():
        addr = data.get(prop) or {}
        for part, key in ADDRESS_PARTS.items():
            out[f"{prefix}_{part}"] = clean_str(addr.get(key)) if isinstance(addr, dict) else None
    out["notes"], _ = split_notes(body_text({"content": data.get("personalNotes") or "", "contentType": "text"}))
    return {name: out.get(name) for name in PERSON_FIELDS}


def display_name(fields: Mapping[str, Any]) -> str:
    parts = [clean_str(fields.get(n)) for n in NAME_FIELDS]
    name = " ".join(p for p in parts if p)
    return name or clean_str(fields.get("company")) or clean_str(fields.get("email1")) or "(no name)"


def write_person(current: Mapping[str, Any] | None, fields: Mapping[str, Any], changed: set[str],
                 related: str | None, replace_related: bool) -> dict[str, Any]:
    """JSON to PATCH (or POST when current is None) for the changed canonical fields."""
    cur = current or {}
    now = read_person(cur) if current is not None else {}
    patch: dict[str, Any] = {}
    for name, prop in PERSON_SIMPLE.items():
        if name in changed:
            patch[prop] = clean_str(fields.get(name))
    if changed & set(NAME_FIELDS) or current is None:
        patch["displayName"] = display_name({**now, **{n: fields.get(n) for n in changed}})
    email_slots = [clean_email(fields.get(n)) if n in changed else now.get(n) for n in EMAILS]
    phone_slots = [clean_str(fields.get(n)) if n in changed else now.get(n) for n in BUSINESS_PHONES]
    if changed & set(EMAILS):
        names = {clean_email(e.get("address")): e.get("name") for e in cur.get("emailAddresses") or []
                 if isinstance(e, dict)}
        patch["emailAddresses"] = [{"address": a, "name": names.get(a) or a} for a in email_slots if a]
    if changed & set(BUSINESS_PHONES):
        patch["businessPhones"] = [p for p in phone_slots if p]
    if changed & set(EMAILS + BUSINESS_PHONES):
        patch.setdefault("singleValueExtendedProperties", []).append(
            {"id": SLOTS, "value": format_layout(email_slots, phone_slots)})
    if "home_phone" in changed:
        rest = list(cur.get("homePhones") or [])[1:]
        patch["homePhones"] = [p for p in [clean_str(fields.get("home_phone"))] + rest if p]
    if "mobile_phone" in changed:
        patch["mobilePhone"] = clean_str(fields.get("mobile_phone"))
    for prefix, prop in ADDRESSES.items():
        names = {f"{prefix}_{part}" for part in ADDRESS_PARTS}
        if changed & names:
            addr = dict(cur.get(prop) or {})
            for part, key in ADDRESS_PARTS.items():
                if f"{prefix}_{part}" in changed:
                    addr[key] = clean_str(fields.get(f"{prefix}_{part}"))
            patch[prop] = {k: v for k, v in addr.items() if v is not None}
    if "business_fax" in changed:
        patch.setdefault("singleValueExtendedProperties", []).append(
            {"id": FAX, "value": clean_str(fields.get("business_fax")) or ""})
    if "notes" in changed or replace_related:
        notes, block = split_notes(cur.get("personalNotes") or None)
        if "notes" in changed:
            notes = clean_str(fields.get("notes"))
        if replace_related:
            block = related
        patch["personalNotes"] = join_notes(notes, block) or ""
    if current is None:
        patch = {k: v for k, v in patch.items() if v not in (None, [], {}, "")}
    return patch


# --- tasks -----------------------------------------------------------------------------------

def read_task(data: Mapping[str, Any]) -> dict[str, Any]:
    reminder = instant_out(parse_dtz(data.get("reminderDateTime"))) if data.get("isReminderOn") else None
    description, _ = split_notes(body_text(data.get("body")))
    return {
        "subject": clean_str(data.get("title")),
        "description": description,
        "start_date": _date_part(data.get("startDateTime")),
        "due_date": _date_part(data.get("dueDateTime")),
        "status": STATUS_IN.get(str(data.get("status") or "notStarted"), "in_progress"),
        "priority": PRIORITY_IN.get(str(data.get("importance") or "normal").lower(), "medium"),
        "reminder_at": reminder,
    }


def _date_part(value: Any) -> str | None:
    local = local_part(value)
    return local.date().isoformat() if local else None


def write_task(current: Mapping[str, Any] | None, fields: Mapping[str, Any], changed: set[str]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if "subject" in changed:
        patch["title"] = clean_str(fields.get("subject")) or "(no subject)"
    if "description" in changed:
        patch["body"] = {"contentType": "text", "content": clean_str(fields.get("description")) or ""}
    if "start_date" in changed:
        patch["startDateTime"] = date_dtz(fields.get("start_date"))
    if "due_date" in changed:
        patch["dueDateTime"] = date_dtz(fields.get("due_date"))
    if "status" in changed:
        wanted = fields.get("status") or "new"
        now = STATUS_IN.get(str((current or {}).get("status") or ""), None)
        if now != wanted:  # keep waitingOnOthers/deferred while CRM still says in progress
            patch["status"] = STATUS_OUT.get(wanted, "inProgress")
    if "priority" in changed:
        patch["importance"] = PRIORITY_OUT.get(fields.get("priority") or "medium", "normal")
    if "reminder_at" in changed:
        due = instant_in(fields.get("reminder_at"))
        patch["isReminderOn"] = due is not None
        if due is not None:
            patch["reminderDateTime"] = dtz(due, "UTC")
    if current is None:
        patch = {k: v for k, v in patch.items() if v is not None}
    return patch


# --- meetings --------------------------------------------------------------------------------

def read_meeting(data: Mapping[str, Any], mailbox: str) -> tuple[dict[str, Any], dict[str, Any]]:
    all_day = bool(data.get("isAllDay"))
    start, end = parse_dtz(data.get("start")), parse_dtz(data.get("end"))
    start_date = end_date = None
    if all_day:
        s_local, e_local = local_part(data.get("start")), local_part(data.get("end"))
        start_date = s_local.date().isoformat() if s_local else None
        if e_local:
            last = e_local.date() - dt.timedelta(days=1) if e_local.time() == dt.time(0) else e_local.date()
            end_date = last.isoformat()
    description, _ = split_notes(body_text(data.get("body")))
    minutes = data.get("reminderMinutesBeforeStart") if data.get("isReminderOn") else None
    location = data.get("location") or {}
    fields = {
        "subject": clean_str(data.get("subject")),
        "description": description,
        "all_day": all_day,
        "start": None if all_day else instant_out(start),
        "end": None if all_day else instant_out(end),
        "start_date": start_date,
        "end_date": end_date,
        "location": clean_str(location.get("displayName")) if isinstance(location, dict) else None,
        "reminder_minutes": int(minutes) if minutes is not None else None,
        "timezone": iana_name(data.get("originalStartTimeZone")),
    }
    attendees = tuple(sorted({clean_email((a.get("emailAddress") or {}).get("address"))
                              for a in data.get("attendees") or [] if (a.get("emailAddress") or {}).get("address")}))
    organiser = clean_email(((data.get("organizer") or {}).get("emailAddress") or {}).get("address"))
    extra = {
        "global_id": clean_str(data.get("iCalUId")),
        "has_attendees": bool(attendees),
        "attendees": attendees,
        "organised_by_me": bool(data.get("isOrganizer", True)) if organiser is None else
        organiser == mailbox.strip().lower() or bool(data.get("isOrganizer")),
    }
    return {name: fields.get(name) for name in FIELDS_BY_KIND[Kind.MEETING]}, extra


def write_meeting(current: Mapping[str, Any] | None, fields: Mapping[str, Any], changed: set[str],
                  default_zone: str) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if "subject" in changed:
        patch["subject"] = clean_str(fields.get("subject")) or ""
    if "location" in changed:
        patch["location"] = {"displayName": clean_str(fields.get("location")) or ""}
    if "description" in changed:
        patch["body"] = {"contentType": "text", "content": clean_str(fields.get("description")) or ""}
    if "reminder_minutes" in changed:
        minutes = fields.get("reminder_minutes")
        patch["isReminderOn"] = minutes is not None
        if minutes is not None:
            patch["reminderMinutesBeforeStart"] = int(minutes)
    if changed & {"all_day", "start", "end", "start_date", "end_date"} or current is None:
        tz = (iana_name((current or {}).get("originalStartTimeZone")) if current is not None else None) or \
            iana_name(fields.get("timezone")) or default_zone
        if fields.get("all_day"):
            first = dt.date.fromisoformat(str(fields.get("start_date")))
            last = dt.date.fromisoformat(str(fields.get("end_date") or fields.get("start_date")))
            patch["isAllDay"] = True
            patch["start"] = {"dateTime": f"{first.isoformat()}T00:00:00", "timeZone": tz}
            patch["end"] = {"dateTime": f"{(last + dt.timedelta(days=1)).isoformat()}T00:00:00", "timeZone": tz}
        else:
            start = instant_in(fields.get("start"))
            end = instant_in(fields.get("end")) or start
            if start is None:
                raise ValueError("a meeting needs a start time (or all_day with a start_date)")
            patch["isAllDay"] = False
            patch["start"] = dtz(start, tz)
            patch["end"] = dtz(end, tz)  # type: ignore[arg-type]
    return patch


# --- sent items ------------------------------------------------------------------------------

def read_sent(data: Mapping[str, Any]) -> SentMessage:
    def address(value: Any) -> str | None:
        return clean_email(((value or {}).get("emailAddress") or {}).get("address")) if isinstance(value, dict) else None

    def addresses(values: Any) -> tuple[str, ...]:
        return tuple(a for a in (address(v) for v in values or ()) if a)

    sensitivity = size = None
    for prop in data.get("singleValueExtendedProperties") or []:
        if same_id(str(prop.get("id", "")), SENSITIVITY):
            sensitivity = prop.get("value")
        elif same_id(str(prop.get("id", "")), SIZE):
            size = prop.get("value")
    return SentMessage(
        item_id=str(data["id"]),
        message_id=clean_str(data.get("internetMessageId")) or "",
        subject=clean_str(data.get("subject")) or "",
        sender=address(data.get("from")) or address(data.get("sender")) or "",
        to=addresses(data.get("toRecipients")), cc=addresses(data.get("ccRecipients")),
        bcc=addresses(data.get("bccRecipients")),
        sent_at=utc_time(data.get("sentDateTime")),
        private=str(sensitivity or "0").strip() in ("2", "3"),
        size=int(size) if str(size or "").strip().isdigit() else 0,
    )
