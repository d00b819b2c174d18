"""Item properties: paths (FieldURI / IndexedFieldURI / ExtendedFieldURI), storage of the client's
elements, updates, type rules, computed properties and serialisation in schema order."""
from __future__ import annotations

import contextvars
import copy
import datetime as dt
import functools
import re
import uuid
from dataclasses import dataclass

from lxml import etree

from . import schema
from .soap import EwsError, local, t, xs_bool
from .store import ExtProp, Item, Mailbox, utcnow

DATETIME_ELEMENTS = {"Start", "End", "DueDate", "StartDate", "ReminderDueBy", "Birthday",
                     "WeddingAnniversary", "AssignedTime"}
BOOLEAN_ELEMENTS = {"ReminderIsSet", "IsAllDayEvent", "IsResponseRequested", "IsReadReceiptRequested",
                    "IsDeliveryReceiptRequested", "IsRead", "AllowNewTimeProposal", "IsOnlineMeeting",
                    "IsDraft", "IsAssociated", "IsMeeting", "IsCancelled", "IsRecurring", "IsComplete",
                    "IsTeamTask", "HasAttachments"}
MAILBOX_ELEMENTS = {"Sender", "From", "Organizer", "ReceivedBy", "ReceivedRepresenting", "ManagerMailbox"}
RECIPIENT_LISTS = {"ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo", "RequiredAttendees",
                   "OptionalAttendees", "Resources", "DirectReports"}
ENTRY_ORDER = {
    "EmailAddresses": ["EmailAddress1", "EmailAddress2", "EmailAddress3"],
    "PhysicalAddresses": ["Business", "Home", "Other"],
    "ImAddresses": ["ImAddress1", "ImAddress2", "ImAddress3"],
    "PhoneNumbers": ["AssistantPhone", "BusinessFax", "BusinessPhone", "BusinessPhone2", "Callback", "CarPhone",
                     "CompanyMainPhone", "HomeFax", "HomePhone", "HomePhone2", "Isdn", "MobilePhone", "OtherFax",
                     "OtherTelephone", "Pager", "PrimaryPhone", "RadioPhone", "Telex", "TtyTddPhone"],
}
# Distinguished property sets, by name and GUID (so both spellings address one property).
PROPERTY_SETS = {
    "meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "appointment": "00062002-0000-0000-c000-000000000046",
    "common": "00062008-0000-0000-c000-000000000046",
    "publicstrings": "00020329-0000-0000-c000-000000000046",
    "address": "00062004-0000-0000-c000-000000000046",
    "internetheaders": "00020386-0000-0000-c000-000000000046",
    "calendarassistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "unifiedmessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "task": "00062003-0000-0000-c000-000000000046",
    "sharing": "00062040-0000-0000-c000-000000000046",
}
PR_MESSAGE_FLAGS = 0x0E07
PR_CLIENT_SUBMIT_TIME = 0x0039
PR_MESSAGE_DELIVERY_TIME = 0x0E06
PR_INTERNET_ARTICLE_NUMBER = 0x0E23
# MAPI tags aliasing real fields: tag -> {item type or "*": element}
TAG_ALIASES = {
    0x0037: {"*": "Subject"}, 0x001A: {"*": "ItemClass"},
    0x3001: {"Contact": "DisplayName"}, 0x3A06: {"Contact": "GivenName"}, 0x3A11: {"Contact": "Surname"},
    0x3A16: {"Contact": "CompanyName"}, 0x3A17: {"Contact": "JobTitle"}, 0x3A18: {"Contact": "Department"},
    0x1035: {"Message": "InternetMessageId"},
}
# Named properties aliasing calendar fields: (set guid, id) -> element
NAMED_ALIASES = {
    (PROPERTY_SETS["appointment"], 0x8223): "IsRecurring",
    (PROPERTY_SETS["meeting"], 0x0023): "UID",
}


# The request's TimeZoneContext zone: naive date-times in a request are local to it (Exchange rule).
REQUEST_TZ: contextvars.ContextVar = contextvars.ContextVar("ews_request_tz", default=dt.timezone.utc)


@dataclass(frozen=True)
class Path:
    kind: str  # "field", "indexed", "ext"
    uri: str = ""
    index: str = ""
    attrs: tuple = ()  # ExtendedFieldURI attributes, as sent

    @property
    def attr_dict(self) -> dict[str, str]:
        return dict(self.attrs)


def parse_path(el) -> Path:
    name = local(el)
    if name == "FieldURI":
        return Path("field", el.get("FieldURI", ""))
    if name == "IndexedFieldURI":
        return Path("indexed", el.get("FieldURI", ""), el.get("FieldIndex", ""))
    if name == "ExtendedFieldURI":
        return Path("ext", attrs=tuple(el.attrib.items()))
    raise EwsError("ErrorInvalidPropertyRequest", f"Unknown property path {name}.")


def ext_key(attrs: dict[str, str]) -> tuple:
    if "PropertyTag" in attrs:
        raw = attrs["PropertyTag"].strip()
        tag = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        return ("tag", tag)
    guid = (attrs.get("PropertySetId") or "").strip().lower()
    dist = attrs.get("DistinguishedPropertySetId")
    if dist:
        guid = PROPERTY_SETS.get(dist.lower(), dist.lower())
    if "PropertyName" in attrs:
        return ("name", guid, attrs["PropertyName"])
    if "PropertyId" in attrs:
        raw = attrs["PropertyId"].strip()
        return ("id", guid, int(raw, 16) if raw.lower().startswith("0x") else int(raw))
    raise EwsError("ErrorInvalidExtendedProperty", "The extended property attribute combination is invalid.")


def base_uri(uri: str) -> str:
    """contacts:PhysicalAddress:Street -> contacts:PhysicalAddress."""
    return "contacts:PhysicalAddress" if uri.startswith("contacts:PhysicalAddress:") else uri


def is_array_type(ptype: str) -> bool:
    return ptype.endswith("Array")


def _tz_fix(text: str | None) -> str | None:
    """xs:dateTime -> UTC 'Z' form, as Exchange returns it; other text unchanged."""
    if not text:
        return text
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=REQUEST_TZ.get())
    return fmt(value)


def fmt(value: dt.datetime) -> str:
    if value.tzinfo is dt.timezone.utc and type(value) is dt.datetime:
        return _fmt_utc(value)
    return _fmt(value)


@functools.lru_cache(maxsize=4096)
def _fmt_utc(value: dt.datetime) -> str:
    # the store's own times are UTC: equal ones are the same instant (no DST fold to tell apart),
    # items written in one request share them, and a page of changes formats hundreds
    return _fmt(value)


def _fmt(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    # via the timestamp, so datetime subclasses with their own tz rules convert too
    return dt.datetime.fromtimestamp(value.timestamp(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=REQUEST_TZ.get())


def _detached(el):
    new = copy.deepcopy(el)
    new.tail = None
    return new


def _taken(el):
    """`el` itself, out of its request tree: for a request the store may consume (a create's
    item children, read once), where a deep copy of every element was a fifth of the sandbox's
    CPU in a first sync of thousands of contacts."""
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)
    el.tail = None
    return el


# --- writes ----------------------------------------------------------------------------------
def store_element(mb: Mailbox, item: Item, el, *, owned: bool = False) -> None:
    """Store one child of a client's item element (create or SetItemField); `owned`: the
    element may be taken from the request rather than copied."""
    tag = el.tag
    step = element_steps(item.kind).get(tag) or store_step(item.kind, tag)
    step(mb, item, el, owned)


# What storing a child means depends only on the item type and the child's tag: it is worked out
# once per pair instead of per element (the type rules were most of a first sync's CreateItem).
_STEPS: dict[str, dict] = {}


def element_steps(kind: str) -> dict:
    """The storing steps worked out so far for an item type, by tag (see `store_step`)."""
    steps = _STEPS.get(kind)
    if steps is None:
        steps = _STEPS.setdefault(kind, {})
    return steps


def store_step(kind: str, tag):
    """How a child with this tag is stored on an item of this type: a function of
    (mailbox, item, element, owned); `skip_step` for one that is not stored."""
    name = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""  # (a comment's tag is a function)
    if name == "ExtendedProperty":
        step = _store_ext_step
    elif name not in schema.POSITION.get(kind, {}):
        step = skip_step  # foreign to the item type: skipped silently
    elif name == "IsRead":
        step = _is_read_step
    elif name == "IsAssociated":
        step = _is_associated_step
    elif name in schema.COMPUTED and name not in schema.SETTABLE_ON_CREATE:
        step = skip_step
    else:
        step = _element_step(name)
    steps = element_steps(kind)
    if len(steps) < 1024:  # the schema's names; a client's made-up tags are not kept
        steps[tag] = step
    return step


def _store_ext_step(mb: Mailbox, item: Item, el, owned: bool) -> None:
    store_ext(mb, item, el)


def skip_step(mb: Mailbox, item: Item, el, owned: bool) -> None:
    return


def _is_read_step(mb: Mailbox, item: Item, el, owned: bool) -> None:
    item.is_read = xs_bool(el.text)


def _is_associated_step(mb: Mailbox, item: Item, el, owned: bool) -> None:
    item.is_associated = xs_bool(el.text)


def _element_step(name: str):
    """The element itself is the stored property (its text made canonical for date-times and
    booleans); an indexed container's entries merge into one already stored."""
    if name in DATETIME_ELEMENTS:
        def fix(new):
            new.text = _tz_fix(new.text)
    elif name in BOOLEAN_ELEMENTS:
        def fix(new):
            new.text = "true" if xs_bool(new.text) else "false"
    else:
        fix = None
    merged = name in schema.INDEXED.values()

    def step(mb: Mailbox, item: Item, el, owned: bool) -> None:
        new = _taken(el) if owned else _detached(el)
        if fix is not None:
            fix(new)
        if merged:
            existing = item.props.get(name)
            if existing is not None:
                for entry in new:
                    _merge_entry(existing, entry)
                return
        item.props[name] = new
    return step


def _entry_sort(container) -> None:
    order = ENTRY_ORDER.get(local(container), [])
    entries = sorted(container, key=lambda e: order.index(e.get("Key")) if e.get("Key") in order else 99)
    container[:] = entries


def _merge_entry(container, entry) -> None:
    key = entry.get("Key")
    current = next((e for e in container if e.get("Key") == key), None)
    if current is not None and local(container) == "PhysicalAddresses":
        for part in entry:
            for old in [p for p in current if local(p) == local(part)]:
                current.remove(old)
            current.append(_detached(part))
        current[:] = sorted(current, key=lambda p: schema.ADDRESS_PARTS.index(local(p))
                            if local(p) in schema.ADDRESS_PARTS else 99)
    else:
        if current is not None:
            container.remove(current)
        container.append(_detached(entry))
    _entry_sort(container)


_URI, _VALUES, _VALUE = t("ExtendedFieldURI"), t("Values"), t("Value")
_EXT_PLANS: dict[tuple, tuple] = {}


def store_ext(mb: Mailbox, item: Item, el) -> None:
    # the property's two or three children by a look at each: ElementPath's find cost ~10 us a
    # call, most of a first sync's CreateItem time for the extended properties of every contact
    uri = values_el = v = None
    for child in el:
        tag = child.tag
        if tag == _URI and uri is None:
            uri = child
        elif tag == _VALUES and values_el is None:
            values_el = child
        elif tag == _VALUE and v is None:
            v = child
    if uri is None:
        raise EwsError("ErrorInvalidExtendedProperty", "ExtendedFieldURI missing.")
    # a client names the same few properties on every item: what a spelling means is worked out once
    spelled = tuple(uri.items())
    plan = _EXT_PLANS.get(spelled)
    if plan is None:
        plan = _ext_plan(spelled)
    key, array_type, alias = plan
    if values_el is not None:
        values, is_array = [c.text or "" for c in values_el if c.tag == _VALUE], True
    else:
        values, is_array = [v.text or "" if v is not None else ""], array_type
    if key[0] == "tag" and _write_tag_alias(item, key[1], values):
        return
    if alias:
        item.props[alias] = _text_element(alias, values[0] if values else "")
        return
    item.ext[key] = ExtProp(key, dict(spelled), values, is_array)


def _ext_plan(spelled: tuple) -> tuple:
    """(key, whether the type is an array type, the field it aliases or None) for the attributes."""
    attrs = dict(spelled)
    key = ext_key(attrs)  # (raises for an invalid combination: never kept)
    plan = (key, is_array_type(attrs.get("PropertyType", "String")), _named_alias(key))
    if len(_EXT_PLANS) < 1024:
        _EXT_PLANS[spelled] = plan
    return plan


def _write_tag_alias(item: Item, tag: int, values: list[str]) -> bool:
    value = values[0] if values else ""
    if tag == PR_MESSAGE_FLAGS:
        item.message_flags = int(value or 0)
        return True
    if tag == PR_CLIENT_SUBMIT_TIME:
        item.sent = parse_dt(value)
        return True
    if tag == PR_MESSAGE_DELIVERY_TIME:
        item.received = parse_dt(value) or item.received
        return True
    if tag == PR_INTERNET_ARTICLE_NUMBER:
        return True  # read-only
    aliases = TAG_ALIASES.get(tag)
    if aliases:
        name = aliases.get(item.kind) or aliases.get("*")
        if name:
            item.props[name] = _text_element(name, value)
            return True
    return False


def _named_alias(key: tuple) -> str | None:
    if key[0] == "id":
        return NAMED_ALIASES.get((key[1], key[2]))
    return None


def _text_element(name: str, text: str):
    el = etree.Element(t(name))
    el.text = text
    return el


def delete_path(item: Item, path: Path) -> None:
    if path.kind == "ext":
        key = ext_key(path.attr_dict)
        item.ext.pop(key, None)
        if key[0] == "tag":
            for name in (TAG_ALIASES.get(key[1]) or {}).values():
                item.props.pop(name, None)
        return
    name = schema.uri_element(item.kind, base_uri(path.uri))
    if name is None:
        return
    if path.kind == "indexed":
        container = item.props.get(name)
        if container is None:
            return
        entry = next((e for e in container if e.get("Key") == path.index), None)
        if entry is None:
            return
        if ":PhysicalAddress:" in path.uri:
            part = path.uri.rsplit(":", 1)[1]
            for p in [p for p in entry if local(p) == part]:
                entry.remove(p)
            if len(entry) == 0:
                container.remove(entry)
        else:
            container.remove(entry)
        if len(container) == 0:
            del item.props[name]
        return
    item.props.pop(name, None)


def append_element(item: Item, el) -> None:
    name = local(el)
    current = item.props.get(name)
    if current is None:
        store_element(None, item, el)  # type: ignore[arg-type]
        return
    if name in ("Body",):
        current.text = (current.text or "") + (el.text or "")
        return
    for child in el:
        current.append(_detached(child))


# --- type rules applied after every create/update ---------------------------------------------
def finalize(mb: Mailbox, item: Item, creating: bool) -> None:
    if "ItemClass" not in item.props:
        item.props["ItemClass"] = _text_element("ItemClass", schema.ITEM_CLASS.get(item.kind, "IPM"))
    if item.kind == "Task":
        _finalize_task(item)
    elif item.kind == "CalendarItem":
        if "UID" not in item.props:
            item.props["UID"] = _text_element("UID", _uid())
    elif item.kind == "Contact" and creating:
        if "DisplayName" not in item.props:
            parts = [item.props[n].text or "" for n in ("GivenName", "Surname") if n in item.props]
            item.props["DisplayName"] = _text_element("DisplayName", " ".join(p for p in parts if p))
    if item.kind in ("Contact", "Task", "CalendarItem") and "Subject" not in item.props and "DisplayName" in item.props:
        item.props["Subject"] = _text_element("Subject", item.props["DisplayName"].text or "")


def _finalize_task(item: Item) -> None:
    status = item.props.get("Status")
    pct = item.props.get("PercentComplete")
    status_v = status.text if status is not None else "NotStarted"
    try:
        pct_v = float(pct.text) if pct is not None and pct.text else 0.0
    except ValueError:
        pct_v = 0.0
    if status is not None and status_v == "Completed":
        pct_v = 100.0
    elif status is not None and status_v == "NotStarted" and pct is None:
        pct_v = 0.0
    elif pct_v >= 100:
        status_v = "Completed"
    elif pct_v > 0 and status_v in ("NotStarted", "Completed"):
        status_v = "InProgress"
    elif pct_v == 0 and status_v == "Completed":
        status_v = "NotStarted"
    item.props["Status"] = _text_element("Status", status_v)
    item.props["PercentComplete"] = _text_element("PercentComplete", f"{pct_v:g}")
    if status_v == "Completed":
        item.complete_date = item.complete_date or utcnow()
    else:
        item.complete_date = None


def _uid() -> str:
    return "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper()


_WS = re.compile(r"\s+")
