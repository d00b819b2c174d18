"""OData bits the Graph sandbox understands: $select, $expand, the $filter forms clients use,
item rendering and request-body validation per resource type.

Supported $filter clauses (joined by `and`): `singleValueExtendedProperties/any(ep: ep/id eq
'<id>' and ep/value eq '<v>')`, `categories/any(c: c eq '<v>')`, `<prop> eq '<v>'` on plain
string properties. Anything else is answered 400 like Graph's "Invalid filter clause".
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .store import Item, fmt_dtz, iso, parse_dtz

PROP_ID = re.compile(
    r"^(String|Integer|Boolean|SystemTime|Binary|Double|Long)\s+("
    r"\{[0-9a-fA-F-]{36}\}\s+Name\s+\S.*|\{[0-9a-fA-F-]{36}\}\s+Id\s+0x[0-9a-fA-F]{1,4}|0x[0-9a-fA-F]{4})$")

ODATA_TYPE = {"contact": "#microsoft.graph.contact", "event": "#microsoft.graph.event",
              "task": "#microsoft.graph.todoTask", "message": "#microsoft.graph.message"}
TYPE_NAME = {k: v[1:] for k, v in ODATA_TYPE.items()}
HAS_EXTENDED = {"contact", "event", "message"}  # todoTask has none in v1.0 (ews.md 9.2)

WRITABLE: dict[str, set[str]] = {
    "contact": {
        "givenName", "middleName", "surname", "generation", "displayName", "jobTitle", "companyName", "department",
        "emailAddresses", "businessPhones", "homePhones", "mobilePhone", "businessAddress", "homeAddress",
        "otherAddress", "businessHomePage", "spouseName", "personalNotes", "categories", "nickName", "title",
        "fileAs", "initials", "officeLocation", "profession", "manager", "assistantName", "imAddresses",
        "birthday", "children", "singleValueExtendedProperties", "extensions",
    },
    "event": {
        "subject", "body", "start", "end", "isAllDay", "location", "isReminderOn", "reminderMinutesBeforeStart",
        "attendees", "categories", "showAs", "importance", "sensitivity", "recurrence", "responseRequested",
        "allowNewTimeProposals", "isOnlineMeeting", "hideAttendees", "transactionId",
        "singleValueExtendedProperties", "extensions",
    },
    "task": {
        "title", "body", "status", "importance", "isReminderOn", "reminderDateTime", "dueDateTime", "startDateTime",
        "completedDateTime", "categories", "recurrence", "linkedResources", "checklistItems", "extensions",
    },
    "message": {
        "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "from", "sender", "importance",
        "isRead", "categories", "singleValueExtendedProperties", "internetMessageId",
    },
}
TASK_STATUSES = {"notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"}
IMPORTANCE = {"low", "normal", "high"}


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad(message: str, code: str = "BadRequest") -> ODataError:
    return ODataError(400, code, message)


# --- query options ---------------------------------------------------------------------------

def parse_select(value: str | None) -> set[str] | None:
    if not value:
        return None
    return {p.strip() for p in value.split(",") if p.strip()}


def split_top(text: str, sep: str = ",") -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [p.strip() for p in out]


EXPAND_SVEP = re.compile(r"^singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.+)\))?$", re.I | re.S)
EXPAND_EXT = re.compile(r"^extensions(?:\(\s*\$filter\s*=\s*(.+)\))?$", re.I | re.S)
ID_EQ = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.I)


def parse_expand(value: str | None, kind: str) -> dict[str, list[str] | None]:
    """{"svep": [ids] | None (all), "ext": [names] | None} for the requested expansions."""
    out: dict[str, list[str] | None] = {}
    for part in split_top(value or ""):
        m = EXPAND_SVEP.match(part)
        if m:
            if kind not in HAS_EXTENDED:
                raise bad(f"Could not find a property named 'singleValueExtendedProperties' on type "
                          f"'{TYPE_NAME[kind]}'.")
            out["svep"] = _id_list(m.group(1)) if m.group(1) else None
            continue
        m = EXPAND_EXT.match(part)
        if m:
            out["ext"] = _id_list(m.group(1)) if m.group(1) else None
            continue
        raise bad(f"Parsing OData Select and Expand failed: Could not find a property named '{part}' on type "
                  f"'{TYPE_NAME[kind]}'.")
    return out


def _id_list(text: str) -> list[str]:
    ids = []
    for clause in re.split(r"\s+or\s+", text.strip(), flags=re.I):
        m = ID_EQ.match(clause)
        if not m:
            raise bad("Invalid filter clause: only 'id eq ...' is supported in $expand filters.")
        ids.append(m.group(1).replace("''", "'"))
    return ids


ANY_SVEP = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1/value\s+eq\s+"
    r"'((?:[^']|'')*)'\s*\)$", re.I)
ANY_CAT = re.compile(r"^categories/any\(\s*(\w+)\s*:\s*\1\s+eq\s+'((?:[^']|'')*)'\s*\)$", re.I)
PROP_EQ = re.compile(r"^(\w+)\s+eq\s+'((?:[^']|'')*)'$")


def parse_filter(value: str | None, kind: str):
    """-> predicate(item) or None."""
    if not value:
        return None
    clauses = []
    for clause in _split_and(value.strip()):
        m = ANY_SVEP.match(clause)
        if m:
            if kind not in HAS_EXTENDED:
                raise bad(f"Could not find a property named 'singleValueExtendedProperties' on type "
                          f"'{TYPE_NAME[kind]}'.")
            pid, val = m.group(2).replace("''", "'").lower(), m.group(3).replace("''", "'")
            clauses.append(lambda it, pid=pid, val=val: pid in it.ext and it.ext[pid][1] == val)
            continue
        m = ANY_CAT.match(clause)
        if m:
            val = m.group(2).replace("''", "'")
            clauses.append(lambda it, val=val: val in (it.data.get("categories") or []))
            continue
        m = PROP_EQ.match(clause)
        if m:
            prop, val = m.group(1), m.group(2).replace("''", "'")
            clauses.append(lambda it, prop=prop, val=val: str(it.data.get(prop, "")).lower() == val.lower())
            continue
        raise bad(f"Invalid filter clause: {clause}", "BadRequest")
    return lambda item: all(c(item) for c in clauses)


def _split_and(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    low = text.lower()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < len(text) and not (text[j] == "'" and (j + 1 >= len(text) or text[j + 1] != "'")):
                j += 2 if text[j] == "'" else 1
            i = j + 1
            continue
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and low.startswith(" and ", i):
            parts.append(text[start:i].strip())
            i += 5
            start = i
            continue
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


# --- rendering -------------------------------------------------------------------------------

def render(item: Item, *, immutable: bool, select: set[str] | None = None,
           expand: dict[str, list[str] | None] | None = None, tz: str = "UTC") -> dict[str, Any]:
    data = dict(item.data)
    base: dict[str, Any] = {"@odata.etag": item.etag, "id": item.immutable_id if immutable else item.rest_id}
    data["createdDateTime"] = iso(item.created)
    data["lastModifiedDateTime"] = iso(item.modified)
    data.setdefault("categories", [])
    if item.kind != "task":
        data["changeKey"] = item.change_key
    if item.kind in ("contact", "message"):
        data["parentFolderId"] = item.folder
    if item.kind == "message":
        data["hasAttachments"] = any(not a.get("isInline") for a in data.get("_attachments") or ())
    if item.kind == "event":
        for key in ("start", "end"):
            if key in data:
                data[key] = _event_time(data[key], bool(data.get("isAllDay")), tz)
    out = dict(base)
    for key, value in data.items():
        if key.startswith("_") or (select is not None and key not in select):
            continue
        out[key] = value
    expand = expand or {}
    if "svep" in expand:
        wanted = expand["svep"]
        from .attachments import computed_properties  # PidTagMessageSize and the like

        props = [{"id": pid, "value": val} for low, (pid, val) in {**computed_properties(item), **item.ext}.items()
                 if wanted is None or low in {w.lower() for w in wanted}]
        if props:
            out["singleValueExtendedProperties"] = props
    if "ext" in expand:
        wanted = expand["ext"]
        out["extensions"] = [render_extension(name, props) for name, props in item.open_ext.items()
                             if wanted is None or any(w.lower() in (name.lower(), ext_id(name).lower()) for w in wanted)]
    return out


def ext_id(name: str) -> str:
    return f"Microsoft.OutlookServices.OpenTypeExtension.{name}"


def render_extension(name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.openTypeExtension", "id": ext_id(name), "extensionName": name, **props}


def _event_time(value: dict[str, str], all_day: bool, tz: str) -> dict[str, str]:
    if all_day:  # all-day events are floating: the local midnights, labelled with the asked zone
        return {"dateTime": value["dateTime"], "timeZone": tz}
    return fmt_dtz(parse_dtz(value), tz)


# --- write validation ------------------------------------------------------------------------

def validate_write(kind: str, body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad("Empty Payload. JSON content expected.", "BadRequest")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata.") and key != "@odata.type":
            continue
        if key == "@odata.type":
            continue
        if key == "singleValueExtendedProperties" and kind not in HAS_EXTENDED:
            raise bad(f"Could not find a property named 'singleValueExtendedProperties' on type '{TYPE_NAME[kind]}'.",
                      "RequestBodyRead")
        if key not in WRITABLE[kind]:
            raise bad(f"The property '{key}' does not exist on type '{TYPE_NAME[kind]}'. Make sure to only use "
                      f"property names that are defined by the type or mark the type as open type.", "RequestBodyRead")
        if key == "extensions" and not creating:
            raise bad("Navigation properties cannot be updated through PATCH; use the extensions endpoint.",
                      "ErrorInvalidRequest")
        out[key] = value
    for pv in out.get("singleValueExtendedProperties") or []:
        if not isinstance(pv, dict) or not PROP_ID.match(str(pv.get("id", "")).strip()) or not isinstance(
                pv.get("value"), str):
            raise bad("The extended property id is not valid, or its value is not a string.", "ErrorInvalidProperty")
    _validate_kind(kind, out, creating)
    return out


def _validate_kind(kind: str, data: dict[str, Any], creating: bool) -> None:
    if kind == "contact":
        for key, limit in (("emailAddresses", 3), ("businessPhones", 2), ("homePhones", 2)):
            value = data.get(key)
            if value is not None and (not isinstance(value, list) or len(value) > limit):
                raise bad(f"At most {limit} values are allowed for {key}.", "ErrorInvalidProperty")
        for e in data.get("emailAddresses") or []:
            if not isinstance(e, dict) or not isinstance(e.get("address"), str):
                raise bad("emailAddresses entries need an address.", "ErrorInvalidProperty")
    elif kind == "task":
        if creating and not str(data.get("title") or "").strip():
            raise bad("A task needs a title.", "invalidRequest")
        if "status" in data and data["status"] not in TASK_STATUSES:
            raise bad(f"Invalid status value {data['status']!r}.", "invalidRequest")
        if "importance" in data and data["importance"] not in IMPORTANCE:
            raise bad(f"Invalid importance value {data['importance']!r}.", "invalidRequest")
        for key in ("dueDateTime", "startDateTime", "reminderDateTime", "completedDateTime"):
            if data.get(key) is not None:
                _dtz(data[key], key)
    elif kind == "event":
        for key in ("start", "end"):
            if data.get(key) is not None:
                _dtz(data[key], key)
        if "importance" in data and data["importance"] not in IMPORTANCE:
            raise bad("Invalid importance value.", "ErrorInvalidRequest")
    if "body" in data and data["body"] is not None:
        b = data["body"]
        if not isinstance(b, dict) or b.get("contentType", "text").lower() not in ("text", "html"):
            raise bad("body must be an itemBody with contentType text or html.", "ErrorInvalidRequest")


def _dtz(value: Any, key: str) -> dt.datetime:
    try:
        return parse_dtz(value)
    except ValueError as exc:
        raise bad(f"Invalid {key}: {exc}", "ErrorInvalidRequest") from None


def check_event_times(data: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """Graph's own rules: end not before start; all-day events start and end at midnight."""
    if "start" not in data or "end" not in data:
        raise bad("An event needs start and end.", "ErrorInvalidRequest")
    start, end = parse_dtz(data["start"]), parse_dtz(data["end"])
    if end < start:
        raise bad("The end time of the event must be after its start time.", "ErrorInvalidRequest")
    if data.get("isAllDay"):
        if start.time() != dt.time(0) or end.time() != dt.time(0) or end == start:
            raise bad("Your request can't be completed. If the event is an all-day event, start and end must "
                      "be at midnight and at least one day apart.", "ErrorInvalidRequest")
    return start, end
