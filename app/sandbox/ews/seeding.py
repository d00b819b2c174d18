"""Python values -> stored item elements, and the seed dataset -> mailbox."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from lxml import etree

from . import schema
from .attachments import attachment
from .properties import DATETIME_ELEMENTS, ENTRY_ORDER, finalize, fmt, store_ext
from .soap import sub, t
from .store import Item, Mailbox

LIST_OF_STRINGS = {"Categories", "Children", "Companies", "Contacts"}
MAILBOX_LISTS = {"ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo"}
ATTENDEE_LISTS = {"RequiredAttendees", "OptionalAttendees", "Resources"}
SINGLE_MAILBOX = {"From", "Sender"}


def _mailbox(parent, value) -> None:
    name, addr = (value if isinstance(value, (tuple, list)) else (None, value))
    mbx = sub(parent, t("Mailbox"))
    if name:
        sub(mbx, t("Name"), name)
    sub(mbx, t("EmailAddress"), addr)
    sub(mbx, t("RoutingType"), "SMTP")
    sub(mbx, t("MailboxType"), "Mailbox")


def element_for(name: str, value: Any):
    """Build the element `name` from a plain Python value."""
    el = etree.Element(t(name))
    if name in LIST_OF_STRINGS:
        for v in value:
            sub(el, t("String"), str(v))
    elif name in MAILBOX_LISTS:
        for v in value:
            _mailbox(el, v)
    elif name in ATTENDEE_LISTS:
        for v in value:
            att = sub(el, t("Attendee"))
            _mailbox(att, v)
            sub(att, t("ResponseType"), "Unknown")
    elif name in SINGLE_MAILBOX:
        _mailbox(el, value)
    elif name in ("EmailAddresses", "PhoneNumbers", "ImAddresses"):
        order = ENTRY_ORDER[name]
        for key in sorted(value, key=lambda k: order.index(k) if k in order else 99):
            sub(el, t("Entry"), str(value[key]), Key=key)
    elif name == "PhysicalAddresses":
        for key in sorted(value, key=lambda k: ENTRY_ORDER[name].index(k) if k in ENTRY_ORDER[name] else 99):
            entry = sub(el, t("Entry"), Key=key)
            for part in schema.ADDRESS_PARTS:
                if value[key].get(part) is not None:
                    sub(entry, t(part), str(value[key][part]))
    elif name in ("Body",):
        body_type = "Text"
        if isinstance(value, tuple):
            body_type, value = value
        el.set("BodyType", body_type)
        el.text = str(value)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        el.text = fmt(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    elif isinstance(value, dt.date):
        el.text = value.isoformat() + ("T00:00:00Z" if name in DATETIME_ELEMENTS else "")
    else:
        el.text = str(value)
    return el


def ext_element(value, **attrs: str):
    """An ExtendedProperty element; attrs as ExtendedFieldURI attributes (PropertySetId, PropertyName, ...)."""
    el = etree.Element(t("ExtendedProperty"))
    attrs.setdefault("PropertyType", "String")
    etree.SubElement(el, t("ExtendedFieldURI"), {k: str(v) for k, v in attrs.items()})
    if isinstance(value, (list, tuple)):
        vs = sub(el, t("Values"))
        for v in value:
            sub(vs, t("Value"), str(v))
    else:
        sub(el, t("Value"), str(value))
    return el


def add_item(mb: Mailbox, folder: str, kind: str, props: dict[str, Any], *, ext: list | None = None,
             sent: dt.datetime | None = None, flags: int | None = None, is_read: bool = True,
             attachments: Iterable[tuple[str, bytes, str]] = ()) -> Item:
    """Create an item directly in the store (seeding, tests, behind-the-back creation);
    `attachments`: (file name, content, content type) per file."""
    with mb.lock:
        f = mb.folder_by_name(folder)
        item = mb.new_item(f.id, kind)
        for name, value in props.items():
            if value is None:
                continue
            item.props[name] = element_for(name, value)
        for el in ext or ():
            store_ext(mb, item, el)
        for name, content, content_type in attachments:
            item.attachments.append(attachment(item, name, content, content_type))
        if kind == "Message":
            item.message_flags = flags if flags is not None else (0x1 if sent else 0x9)
            item.sent = sent
            if sent:
                item.created = item.modified = item.received = sent
        item.is_read = is_read
        finalize(mb, item, creating=True)
        return mb.add_item(item)


def seed_mailbox(mb: Mailbox, dataset) -> None:
    for c in dataset.native_contacts:
        add_item(mb, "contacts", "Contact", {
            "GivenName": c.given_name, "Surname": c.surname,
            "DisplayName": f"{c.given_name} {c.surname}".strip(),
            "CompanyName": c.company or None,
            "EmailAddresses": {"EmailAddress1": c.email},
        })
    for s in dataset.sent_messages:
        add_item(mb, "sentitems", "Message", {
            "Subject": s.subject, "Body": s.body,
            "ToRecipients": list(s.to), "CcRecipients": list(s.cc) or None,
            "From": (mb.display_name, mb.address),
            "InternetMessageId": s.message_id,
        }, sent=s.sent_at, flags=0x1)
