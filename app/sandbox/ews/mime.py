"""MimeContent: RFC 822 for messages, iCalendar for calendar items, vCard for contacts - built
from the stored fields; and RFC 822 parsed into fields when a client creates a message from MIME."""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import email.utils
from email.message import EmailMessage

from lxml import etree

from .attachments import attachment
from .properties import parse_dt
from .soap import t
from .store import Item, Mailbox


def _text(item: Item, name: str) -> str:
    el = item.props.get(name)
    return (el.text or "") if el is not None else ""


def _addresses(item: Item, name: str) -> list[tuple[str, str]]:
    el = item.props.get(name)
    if el is None:
        return []
    return [(m.findtext(t("Name")) or "", m.findtext(t("EmailAddress")) or "") for m in el.iter(t("Mailbox"))]


def message_mime(mb: Mailbox, item: Item) -> bytes:
    msg = EmailMessage()
    sender = _addresses(item, "From") or [(mb.display_name, mb.address)]
    msg["From"] = email.utils.formataddr(sender[0])
    for header, name in (("To", "ToRecipients"), ("Cc", "CcRecipients")):
        addrs = _addresses(item, name)
        if addrs:
            msg[header] = ", ".join(email.utils.formataddr(a) for a in addrs)
    msg["Subject"] = _text(item, "Subject")
    msg["Date"] = email.utils.format_datetime(item.sent or item.created)
    msg["Message-ID"] = _text(item, "InternetMessageId") or f"<{item.article}.{mb.guid}@{mb.address.split('@')[-1]}>"
    body = item.props.get("Body")
    if body is not None and body.get("BodyType") == "HTML":
        msg.set_content(body.text or "", subtype="html")
    else:
        msg.set_content((body.text if body is not None else "") or "")
    for a in item.attachments:  # multipart/mixed, one base64 part per file, as Exchange writes it
        maintype, _, subtype = (a.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(a.content, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=a.name or None, disposition="inline" if a.is_inline else "attachment",
                           cid=f"<{a.content_id}>" if a.content_id else None)
    return msg.as_bytes(policy=email.policy.SMTP)


def _ics_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def calendar_ics(mb: Mailbox, item: Item) -> bytes:
    start, end = parse_dt(_text(item, "Start")), parse_dt(_text(item, "End"))
    lines = ["BEGIN:VCALENDAR", "METHOD:PUBLISH", "PRODID:Microsoft Exchange Server 2016", "VERSION:2.0",
             "BEGIN:VEVENT", f"UID:{_text(item, 'UID')}", f"SUMMARY:{_ics_escape(_text(item, 'Subject'))}"]
    if start:
        lines.append(f"DTSTART:{_ics_time(start)}")
    if end:
        lines.append(f"DTEND:{_ics_time(end)}")
    if _text(item, "Location"):
        lines.append(f"LOCATION:{_ics_escape(_text(item, 'Location'))}")
    if _text(item, "Body"):
        lines.append(f"DESCRIPTION:{_ics_escape(_text(item, 'Body'))}")
    lines.append(f"ORGANIZER;CN={mb.display_name}:mailto:{mb.address}")
    for role, name in (("REQ-PARTICIPANT", "RequiredAttendees"), ("OPT-PARTICIPANT", "OptionalAttendees")):
        for _n, addr in _addresses(item, name):
            lines.append(f"ATTENDEE;ROLE={role}:mailto:{addr}")
    lines += [f"DTSTAMP:{_ics_time(item.modified)}", "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def contact_vcard(mb: Mailbox, item: Item) -> bytes:
    lines = ["BEGIN:VCARD", "VERSION:3.0",
             f"N:{_text(item, 'Surname')};{_text(item, 'GivenName')};{_text(item, 'MiddleName')};;{_text(item, 'Generation')}",
             f"FN:{_text(item, 'DisplayName')}"]
    if _text(item, "CompanyName"):
        lines.append(f"ORG:{_text(item, 'CompanyName')};{_text(item, 'Department')}")
    if _text(item, "JobTitle"):
        lines.append(f"TITLE:{_text(item, 'JobTitle')}")
    for container, prefix in (("EmailAddresses", "EMAIL;TYPE=INTERNET"), ("PhoneNumbers", "TEL")):
        el = item.props.get(container)
        for entry in (el if el is not None else []):
            lines.append(f"{prefix};X-KEY={entry.get('Key')}:{entry.text or ''}")
    lines.append("END:VCARD")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def mime_element(mb: Mailbox, item: Item):
    if item.kind in ("Message", "PostItem"):
        raw = message_mime(mb, item)
    elif item.kind == "CalendarItem":
        raw = calendar_ics(mb, item)
    elif item.kind == "Contact":
        raw = contact_vcard(mb, item)
    else:
        return None
    el = etree.Element(t("MimeContent"), CharacterSet="UTF-8")
    el.text = base64.b64encode(raw).decode("ascii")
    return el


def _mailbox_list(name: str, header: str | None):
    el = etree.Element(t(name))
    for display, addr in email.utils.getaddresses([header or ""]):
        if not addr:
            continue
        mbx = etree.SubElement(el, t("Mailbox"))
        if display:
            etree.SubElement(mbx, t("Name")).text = display
        etree.SubElement(mbx, t("EmailAddress")).text = addr
        etree.SubElement(mbx, t("RoutingType")).text = "SMTP"
        etree.SubElement(mbx, t("MailboxType")).text = "OneOff"
    return el if len(el) else None


def apply_message_mime(item: Item) -> None:
    """A message created from MIME: its headers and body fill the fields the request left unset."""
    el = item.props.pop("MimeContent", None)
    if el is None or not el.text:
        return
    try:
        msg = email.message_from_bytes(base64.b64decode(el.text), policy=email.policy.default)
    except (ValueError, TypeError):
        return
    fill = {"Subject": msg.get("Subject"), "InternetMessageId": msg.get("Message-ID")}
    for name, value in fill.items():
        if value and name not in item.props:
            item.props[name] = etree.Element(t(name))
            item.props[name].text = str(value)
    for name, header in (("ToRecipients", "To"), ("CcRecipients", "Cc"), ("From", "From")):
        if name not in item.props:
            built = _mailbox_list(name, msg.get(header))
            if built is not None:
                item.props[name] = built
    if not item.attachments:
        for part in msg.iter_attachments():
            if part.get_content_maintype() == "message" or part.is_multipart():
                continue  # an attached message is an item attachment: out of scope (attachments.py)
            item.attachments.append(attachment(
                item, part.get_filename() or "", part.get_payload(decode=True) or b"", part.get_content_type(),
                content_id=(part.get("Content-ID") or "").strip("<> "),
                is_inline=part.get_content_disposition() == "inline"))
    if "Body" not in item.props:
        part = msg.get_body(preferencelist=("html", "plain"))
        if part is not None:
            body = etree.Element(t("Body"), BodyType="HTML" if part.get_content_subtype() == "html" else "Text")
            body.text = part.get_content()
            item.props["Body"] = body
    if msg.get("Date") and item.sent is None:
        try:
            item.sent = email.utils.parsedate_to_datetime(str(msg["Date"])).astimezone(dt.timezone.utc)
        except (TypeError, ValueError):
            pass
