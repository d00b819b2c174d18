"""Serialising items: requested shapes, computed properties, schema order; values for restrictions."""
from __future__ import annotations

import base64
import copy
import hashlib
import re
from dataclasses import dataclass, field

from lxml import etree

from . import attachments, schema
from .properties import (PR_CLIENT_SUBMIT_TIME, PR_INTERNET_ARTICLE_NUMBER, PR_MESSAGE_DELIVERY_TIME,
                         PR_MESSAGE_FLAGS, TAG_ALIASES, Path, _named_alias, base_uri, ext_key, fmt, parse_path)
from .soap import local, sub, t
from .store import Folder, Item, Mailbox


@dataclass
class Shape:
    base: str = "IdOnly"
    paths: list[Path] = field(default_factory=list)
    body_type: str = "Best"
    plans: dict = field(default_factory=dict, compare=False, repr=False)  # item type -> _plan()


def parse_shape(shape_el) -> Shape:
    if shape_el is None:
        return Shape("Default")
    base = shape_el.findtext(t("BaseShape")) or "IdOnly"
    paths: list[Path] = []
    extra = shape_el.find(t("AdditionalProperties"))
    if extra is not None:
        for el in extra:
            if isinstance(el.tag, str):
                p = parse_path(el)
                if p not in paths:
                    paths.append(p)
    if (shape_el.findtext(t("IncludeMimeContent")) or "").strip().lower() == "true":
        mime = Path("field", "item:MimeContent")
        if mime not in paths:
            paths.append(mime)
    return Shape(base.strip(), paths, (shape_el.findtext(t("BodyType")) or "Best").strip())


DEFAULTS = {"Sensitivity": "Normal", "Importance": "Normal", "ReminderIsSet": "false",
            "ReminderMinutesBeforeStart": "0", "PostalAddressIndex": "None", "IsAllDayEvent": "false",
            "LegacyFreeBusyStatus": "Busy"}
_COMMON = ("Sensitivity", "Importance", "ReminderIsSet", "ReminderMinutesBeforeStart", "ItemClass", "DateTimeReceived", "Size", "IsSubmitted", "IsDraft", "IsFromMe", "IsResend",
           "IsUnmodified", "DateTimeSent", "DateTimeCreated", "DisplayCc", "DisplayTo", "HasAttachments",
           "Culture", "EffectiveRights", "LastModifiedName", "LastModifiedTime", "IsAssociated", "TextBody")
COMPUTED_FOR = {
    "Contact": _COMMON + ("FileAs", "CompleteName", "ContactSource", "HasPicture", "PostalAddressIndex"),
    "Task": _COMMON + ("ChangeCount", "CompleteDate", "DelegationState", "IsAssignmentEditable", "IsComplete",
                       "IsRecurring", "IsTeamTask", "Owner", "StatusDescription"),
    "CalendarItem": _COMMON + ("FirstOccurrence", "LastOccurrence", "IsAllDayEvent", "LegacyFreeBusyStatus", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
                               "CalendarItemType", "MyResponseType", "Organizer", "Duration",
                               "AppointmentSequenceNumber", "AppointmentState", "ConflictingMeetingCount",
                               "AdjacentMeetingCount"),
    "Message": _COMMON + ("Attachments", "Sender", "From", "ConversationIndex", "ConversationTopic", "ConversationId", "IsRead",
                          "IsReadReceiptRequested", "IsDeliveryReceiptRequested", "IsResponseRequested"),
}
_TAGS = re.compile(r"<[^>]+>")


def _mailbox(parent, name: str, address: str, routing: str = "SMTP", mtype: str = "Mailbox"):
    mbx = sub(parent, t("Mailbox"))
    sub(mbx, t("Name"), name)
    sub(mbx, t("EmailAddress"), address)
    sub(mbx, t("RoutingType"), routing)
    sub(mbx, t("MailboxType"), mtype)
    return mbx


def _text(item: Item, name: str) -> str:
    el = item.props.get(name)
    return (el.text or "") if el is not None else ""


def _names(item: Item, name: str) -> list[str]:
    el = item.props.get(name)
    if el is None:
        return []
    out = []
    for mbx in el.iter(t("Mailbox")):
        out.append(mbx.findtext(t("Name")) or mbx.findtext(t("EmailAddress")) or "")
    return out


def computed(mb: Mailbox, item: Item, name: str):
    """The server's value of a computed property, or None (then nothing is returned)."""
    el = etree.Element(t(name))
    is_msg = item.kind == "Message"
    if name == "MimeContent":
        from .mime import mime_element
        return mime_element(mb, item)
    if name in ("FirstOccurrence", "LastOccurrence"):
        return _occurrence_summary(mb, item, name)
    if name in DEFAULTS:
        if name == "ReminderMinutesBeforeStart" and item.kind == "CalendarItem":
            return _set(el, "15")
        return _set(el, DEFAULTS[name])
    if name == "ItemId":
        el.set("Id", item.id)
        el.set("ChangeKey", item.change_key)
    elif name == "ParentFolderId":
        f: Folder = mb.folders[item.folder_id]
        el.set("Id", f.id)
        el.set("ChangeKey", f.change_key)
    elif name == "DateTimeReceived":
        el.text = fmt(item.received or item.created)
    elif name == "Size":
        el.text = str(400 + sum(len(etree.tostring(v)) for v in item.props.values()) + 64 * len(item.ext)
                      + attachments.total_size(item))
    elif name == "HasAttachments":
        el.text = "true" if attachments.has_attachments(item) else "false"
    elif name == "Attachments":
        return attachments.attachments_element(item)
    elif name in ("IsSubmitted", "IsResend", "IsTeamTask", "IsCancelled",
                  "MeetingRequestWasSent", "HasPicture", "IsAssignmentEditable"):
        el.text = "false"
    elif name == "IsDraft":
        el.text = "true" if item.is_draft else "false"
    elif name == "IsFromMe":
        el.text = "true" if is_msg and item.sent is not None and not item.is_draft else "false"
    elif name == "IsUnmodified":
        el.text = "true" if item.change_count <= 1 else "false"
    elif name == "DateTimeSent":
        if item.is_draft:
            return None
        el.text = fmt(item.sent or item.created)
    elif name == "DateTimeCreated":
        el.text = fmt(item.created)
    elif name == "LastModifiedTime":
        el.text = fmt(item.modified)
    elif name == "LastModifiedName":
        el.text = mb.display_name
    elif name == "IsAssociated":
        el.text = "true" if item.is_associated else "false"
    elif name in ("DisplayTo", "DisplayCc"):
        el.text = "; ".join(_names(item, "ToRecipients" if name == "DisplayTo" else "CcRecipients"))
    elif name == "Culture":
        el.text = "en-US"
    elif name == "EffectiveRights":
        for right in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read",
                      "ViewPrivateItems"):
            sub(el, t(right), "false" if right.startswith("Create") else "true")
    elif name == "TextBody":
        body = item.props.get("Body")
        if body is None:
            return None
        el.set("BodyType", "Text")
        text = body.text or ""
        el.text = _TAGS.sub("", text) if body.get("BodyType") == "HTML" else text
    elif name == "FileAs":
        given, sur = _text(item, "GivenName"), _text(item, "Surname")
        el.text = f"{sur}, {given}" if sur and given else (sur or given or _text(item, "DisplayName"))
    elif name == "CompleteName":
        for src, dst in (("GivenName", "FirstName"), ("MiddleName", "MiddleName"), ("Surname", "LastName"),
                         ("Generation", "Suffix")):
            if src in item.props:
                sub(el, t(dst), _text(item, src))
        sub(el, t("FullName"), _text(item, "DisplayName"))
    elif name == "ContactSource":
        el.text = "Store"
    elif name == "ChangeCount":
        el.text = str(item.change_count)
    elif name == "CompleteDate":
        if item.complete_date is None:
            return None
        el.text = fmt(item.complete_date)
    elif name == "DelegationState":
        el.text = "NoMatch"
    elif name == "IsComplete":
        el.text = "true" if _text(item, "Status") == "Completed" else "false"
    elif name == "IsRecurring":
        el.text = "true" if "Recurrence" in item.props else "false"
    elif name == "Owner":
        el.text = mb.display_name
    elif name == "StatusDescription":
        el.text = {"NotStarted": "Not Started", "InProgress": "In Progress", "WaitingOnOthers": "Waiting on someone else"}.get(
            _text(item, "Status"), _text(item, "Status"))
    elif name == "IsMeeting":
        el.text = "true" if ("RequiredAttendees" in item.props or "OptionalAttendees" in item.props) else "false"
    elif name == "CalendarItemType":
        el.text = "RecurringMaster" if "Recurrence" in item.props else "Single"
    elif name == "MyResponseType":
        el.text = "Organizer"
    elif name == "Organizer":
        _mailbox(el, mb.display_name, mb.address)
    elif name == "Duration":
        from .properties import parse_dt
        start, end = parse_dt(_text(item, "Start")), parse_dt(_text(item, "End"))
        if not start or not end:
            return None
        secs = int((end - start).total_seconds())
        days, rest = divmod(max(secs, 0), 86400)
        el.text = f"P{days}DT{rest // 3600}H{rest % 3600 // 60}M" if days else f"PT{rest // 3600}H{rest % 3600 // 60}M"
    elif name in ("AppointmentSequenceNumber", "ConflictingMeetingCount", "AdjacentMeetingCount"):
        el.text = "0"
    elif name == "AppointmentState":
        el.text = "1" if "RequiredAttendees" in item.props or "OptionalAttendees" in item.props else "0"
    elif name in ("Sender", "From"):
        stored = item.props.get("From")
        if stored is not None:
            return copy.deepcopy(stored) if name == "From" else _retag(stored, "Sender")
        _mailbox(el, mb.display_name, mb.address)
    elif name == "ConversationTopic":
        el.text = _text(item, "Subject")
    elif name == "ConversationIndex":
        el.text = base64.b64encode(b"\x01" + hashlib.sha1(item.id.encode()).digest()[:21]).decode()
    elif name == "ConversationId":
        el.set("Id", base64.urlsafe_b64encode(b"CQAAABYAAAA" + hashlib.sha1(_text(item, "Subject").encode()).digest()).decode())
    elif name == "IsRead":
        el.text = "true" if item.is_read else "false"
    elif name in ("IsReadReceiptRequested", "IsDeliveryReceiptRequested", "IsResponseRequested"):
        stored = item.props.get(name)
        return copy.deepcopy(stored) if stored is not None else _set(el, "false")
    else:
        return None
    return el


def _occurrence_summary(mb: Mailbox, item: Item, name: str):
    """FirstOccurrence / LastOccurrence of a recurring master (LastOccurrence only when the series ends)."""
    if item.kind != "CalendarItem" or "Recurrence" not in item.props:
        return None
    from .calview import instances
    rec = item.props["Recurrence"]
    if name == "LastOccurrence" and rec.find(t("NoEndRecurrence")) is not None:
        return None
    chosen = None
    for _i, _orig, occ in instances(mb, item):
        chosen = occ
        if name == "FirstOccurrence":
            break
    if chosen is None:
        return None
    el = etree.Element(t(name))
    sub(el, t("ItemId"), Id=chosen.id, ChangeKey=item.change_key)
    for part in ("Start", "End", "OriginalStart"):
        sub(el, t(part), chosen.props[part].text)
    return el


def _set(el, text):
    el.text = text
    return el


def _retag(el, name):
    new = copy.deepcopy(el)
    new.tag = t(name)
    return new


def element_value(mb: Mailbox, item: Item, name: str):
    if name in item.props and name not in ("Sender",):
        return item.props[name]
    if name in schema.COMPUTED or name in COMPUTED_FOR.get(item.kind, ()) or name in ("FileAs",):
        return computed(mb, item, name)
    return None


def _ext_values(mb: Mailbox, item: Item, key: tuple) -> tuple[list[str], bool] | None:
    if key[0] == "tag":
        tag = key[1]
        if tag == PR_MESSAGE_FLAGS:
            flags = item.message_flags if item.message_flags is not None else 1
            flags = (flags & ~0x1) | (0x1 if item.is_read else 0)  # MSGFLAG_READ mirrors IsRead
            return [str(flags)], False
        if tag == PR_INTERNET_ARTICLE_NUMBER:
            return [str(item.article)], False
        if tag == PR_CLIENT_SUBMIT_TIME and item.sent is not None:
            return [fmt(item.sent)], False
        if tag == PR_MESSAGE_DELIVERY_TIME:
            return [fmt(item.received or item.created)], False
        aliases = TAG_ALIASES.get(tag)
        if aliases:
            name = aliases.get(item.kind) or aliases.get("*")
            el = element_value(mb, item, name) if name else None
            if el is not None:
                return [el.text or ""], False
    alias = _named_alias(key)
    if alias:
        el = element_value(mb, item, alias)
        if el is not None:
            return [el.text or ""], False
    prop = item.ext.get(key)
    if prop is None:
        return None
    return list(prop.values), prop.is_array


def render_ext(mb: Mailbox, item: Item, path: Path):
    return _ext_element(mb, item, ext_key(path.attr_dict), path.attr_dict)


def _ext_element(mb: Mailbox, item: Item, key: tuple, attrs: dict[str, str]):
    found = _ext_values(mb, item, key)
    if found is None:
        return None
    values, is_array = found
    el = etree.Element(t("ExtendedProperty"))
    etree.SubElement(el, t("ExtendedFieldURI"), attrs)
    if is_array:
        vs = sub(el, t("Values"))
        for v in values:
            sub(vs, t("Value"), v)
    else:
        sub(el, t("Value"), values[0] if values else "")
    return el


FIND_OMITS = {"Body", "TextBody", "UniqueBody", "MimeContent", "Attachments", "InternetMessageHeaders",
              "ToRecipients", "CcRecipients", "BccRecipients", "RequiredAttendees", "OptionalAttendees",
              "Resources", "ModifiedOccurrences", "DeletedOccurrences", "EmailAddresses", "PhysicalAddresses",
              "PhoneNumbers", "ImAddresses", "Categories"}


def render_item(mb: Mailbox, item: Item, parent, shape: Shape, find: bool = False):
    """Append the item's element to `parent` with the properties the shape asks for. `find`:
    a FindItem answer, where AllProperties leaves out what FindItem cannot return."""
    kind = item.kind
    out = etree.SubElement(parent, _tag(kind))
    pos = schema.POSITION.get(kind, schema.POSITION["Item"])
    props = item.props
    chosen: dict[str, object] = {}
    # elements built for this answer (computed values, indexed selections) go out as they are;
    # only the store's own elements are copied (a copy was a third of a GetItem's time)
    fresh: set[str] = set()
    ext: list = []
    names: list[str] = []
    if shape.base == "AllProperties":
        names = list(props) + list(COMPUTED_FOR.get(kind, ())) + ["ParentFolderId"]
        if find:
            names = [n for n in names if n not in FIND_OMITS]
    elif shape.base == "Default":
        names = list(schema.DEFAULT_SHAPE.get(kind, ()))
    plan = shape.plans.get(kind)
    if plan is None:
        plan = shape.plans[kind] = _plan(shape, kind)
    fields, indexed, ext_paths = plan
    names.extend(fields)
    picked: dict[str, _Picked] = {}
    for name, p in indexed:
        _add_indexed(item, name, p, chosen, picked)
    for key, attrs in ext_paths:
        el = _ext_element(mb, item, key, attrs)
        if el is not None:
            ext.append(el)
    fresh.update(chosen)
    for name in names:
        if name in chosen or name == "ItemId" or name not in pos:
            continue
        if name in props and name != "Sender":
            chosen[name] = props[name]
            continue
        el = _computed_value(mb, item, name)
        if el is not None:
            chosen[name] = el
            fresh.add(name)
    sub(out, _ITEM_ID, Id=item.id, ChangeKey=item.change_key)
    ext_pos = pos["ExtendedProperty"]
    ordered = sorted(chosen.items(), key=lambda kv: pos[kv[0]]) if len(chosen) > 1 else chosen.items()
    done_ext = False
    for name, el in ordered:
        if not done_ext and pos[name] > ext_pos:
            out.extend(ext)
            done_ext = True
        if name in fresh:
            out.append(el)
            continue
        copied = _clean_copy(el)
        if name == "Body" and shape.body_type in ("Text", "HTML"):
            _convert_body(copied, shape.body_type)
        out.append(copied)
    if not done_ext:
        out.extend(ext)
    return out


_TAGS_BY_KIND: dict[str, str] = {}
_ITEM_ID = t("ItemId")


def _tag(kind: str) -> str:
    tag = _TAGS_BY_KIND.get(kind)
    if tag is None:
        tag = _TAGS_BY_KIND[kind] = t(kind)
    return tag


def _plan(shape: Shape, kind: str) -> tuple[list[str], list[tuple[str, Path]], list[tuple[tuple, dict]]]:
    """What the shape's additional properties name for one item type, worked out once per
    request: field names, (container, path) of indexed ones, (key, attributes) of extended ones.
    (An invalid extended property raises here, at the first item rendered, as before.)"""
    fields: list[str] = []
    indexed: list[tuple[str, Path]] = []
    ext: list[tuple[tuple, dict]] = []
    for p in shape.paths:
        if p.kind == "field":
            name = schema.uri_element(kind, p.uri)
            if name:
                fields.append(name)
        elif p.kind == "indexed":
            name = schema.uri_element(kind, base_uri(p.uri))
            if name:
                indexed.append((name, p))
        else:
            ext.append((ext_key(p.attr_dict), p.attr_dict))
    return fields, indexed, ext


def _computed_value(mb: Mailbox, item: Item, name: str):
    """element_value for a name the item does not store (or Sender): computed, or None."""
    if name in schema.COMPUTED or name in COMPUTED_FOR.get(item.kind, ()) or name == "FileAs":
        return computed(mb, item, name)
    return None


def _convert_body(body, wanted: str) -> None:
    """Serve the body in the requested BodyType, converting as Exchange does (roughly)."""
    import html
    have = body.get("BodyType", "Text")
    if have == wanted:
        return
    text = body.text or ""
    if wanted == "Text":
        text = html.unescape(_TAGS.sub("", re.sub(r"(?i)<br\s*/?>|</p>", "\n", text))).strip()
    else:
        text = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head>"
                f"<body><div>{html.escape(text).replace(chr(10), '<br>')}</div></body></html>")
    body.text = text
    body.set("BodyType", wanted)


class _Picked:
    """One indexed container of an answer being rendered: the stored entries by Key (the first
    of a Key, as a scan finds it) and the answer's entries by Key, so each requested label and
    part is found without scanning the container again."""

    __slots__ = ("stored", "answer")

    def __init__(self, container):
        self.stored: dict[str, object] = {}
        for e in container:
            self.stored.setdefault(e.get("Key"), e)
        self.answer: dict[str, object] = {}


def _add_indexed(item: Item, name: str, p: Path, chosen: dict, picked: dict | None = None) -> None:
    """One Entry (or one address sub-field) of an indexed property, merged per container."""
    container = item.props.get(name)
    if container is None:
        return
    got = picked.get(name) if picked is not None else None
    if got is None:
        got = _Picked(container)
        if picked is not None:
            picked[name] = got
    entry = got.stored.get(p.index)
    if entry is None:
        return
    acc = chosen.get(name)
    if acc is None:
        acc = etree.Element(t(name))
        chosen[name] = acc
    target = got.answer.get(p.index)
    if ":PhysicalAddress:" in p.uri:
        part = p.uri.rsplit(":", 1)[1]
        src = next((c for c in entry if local(c) == part), None)
        if src is None:
            return
        if target is None:
            target = got.answer[p.index] = etree.SubElement(acc, _ENTRY, Key=p.index)
        target.append(src.__copy__())  # lxml's copy is deep (tail included), as copy.deepcopy
    elif target is None:
        got.answer[p.index] = entry = entry.__copy__()
        acc.append(entry)


_ENTRY = t("Entry")


def _clean_copy(el):
    new = el.__copy__()  # lxml's copy is deep, as copy.deepcopy's (minus its memo bookkeeping)
    new.tail = None
    return new


def values_for(mb: Mailbox, item: Item, path: Path) -> list[str]:
    """Comparable text values of a property (several for multi-valued ones); [] when absent."""
    if path.kind == "ext":
        found = _ext_values(mb, item, ext_key(path.attr_dict))
        return found[0] if found else []
    name = schema.uri_element(item.kind, base_uri(path.uri))
    if name is None:
        return []
    if path.kind == "indexed":
        container = item.props.get(name)
        if container is None:
            return []
        entry = next((e for e in container if e.get("Key") == path.index), None)
        if entry is None:
            return []
        if ":PhysicalAddress:" in path.uri:
            v = entry.findtext(t(path.uri.rsplit(":", 1)[1]))
            return [v] if v is not None else []
        return [entry.text or ""]
    if name == "ItemId":
        return [item.id]
    el = element_value(mb, item, name)
    if el is None:
        return []
    if name in ("Categories", "Children", "Companies", "Contacts"):
        return [c.text or "" for c in el]
    if name in schema.INDEXED.values():
        return [" ".join(p.text or "" for p in e) if len(e) else (e.text or "") for e in el]
    if len(el) and el.find(f".//{t('EmailAddress')}") is not None:
        return [a.text or "" for a in el.iter(t("EmailAddress"))] + [n.text or "" for n in el.iter(t("Name"))]
    if name in ("ParentFolderId",):
        return [el.get("Id", "")]
    return [el.text or ""]
