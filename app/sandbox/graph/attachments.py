"""Message attachments and MIME in the Graph sandbox (Graph v1.0 shapes).

* `GET /me/messages/{id}/attachments` lists `#microsoft.graph.fileAttachment` entries with
  `id`, `name`, `contentType`, `size`, `isInline`, `contentId`, `lastModifiedDateTime` and
  `contentBytes` (base64), as Graph does for file attachments; `/attachments/{aid}` gives one.
* `GET /me/messages/{id}/$value` returns the message's MIME (RFC 822, `text/plain` as Graph labels
  it): headers from the stored fields, the body, and each file attachment as a base64 part.
* A message's `hasAttachments` and its PidTagMessageSize (`Integer 0x0E08`, the size the
  connector reads through singleValueExtendedProperties) count the attachments.

Attachments are kept in the item's data under `_attachments` as those JSON entries (keys starting
with `_` are never rendered), so persistence stores them unchanged.
"""
from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
import secrets
from email.message import EmailMessage
from typing import Any

from .store import Item

SIZE_PROP = "Integer 0x0E08"  # PidTagMessageSize


def file_attachment(name: str, content: bytes, content_type: str = "application/octet-stream", *,
                    is_inline: bool = False, content_id: str | None = None) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": "AAMkAGAtt" + secrets.token_urlsafe(24),
        "lastModifiedDateTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": name, "contentType": content_type or "application/octet-stream", "size": len(content),
        "isInline": is_inline, "contentId": content_id, "contentLocation": None,
        "contentBytes": base64.b64encode(content).decode("ascii"),
    }


def attachments_of(item: Item) -> list[dict[str, Any]]:
    return list(item.data.get("_attachments") or ())


def content_of(att: dict[str, Any]) -> bytes:
    return base64.b64decode(att.get("contentBytes") or "")


def message_size(item: Item) -> int:
    """What Exchange reports as the message size: headers and body plus the attachments."""
    body = item.data.get("body") or {}
    text = str(body.get("content") or "") if isinstance(body, dict) else ""
    return 500 + len(text.encode("utf-8")) + len(str(item.data.get("subject") or "")) + sum(
        int(a.get("size") or 0) for a in attachments_of(item))


def computed_properties(item: Item) -> dict[str, tuple[str, str]]:
    """Extended properties Exchange computes for a message (lower-cased id -> (id, value))."""
    if item.kind != "message":
        return {}
    return {SIZE_PROP.lower(): (SIZE_PROP, str(message_size(item)))}


def _address(entry: Any) -> tuple[str, str]:
    inner = entry.get("emailAddress") if isinstance(entry, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    return str(inner.get("name") or ""), str(inner.get("address") or "")


def mime_of(item: Item, mailbox: str, display_name: str) -> bytes:
    data = item.data
    msg = EmailMessage()
    sender = _address(data.get("from")) if data.get("from") else (display_name, mailbox)
    msg["From"] = email.utils.formataddr(sender)
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients")):
        people = [_address(r) for r in data.get(key) or ()]
        if people:
            msg[header] = ", ".join(email.utils.formataddr(p) for p in people)
    msg["Subject"] = str(data.get("subject") or "")
    sent = data.get("sentDateTime")
    when = dt.datetime.fromisoformat(str(sent).replace("Z", "+00:00")) if sent else item.created
    msg["Date"] = email.utils.format_datetime(when)
    if data.get("internetMessageId"):
        msg["Message-ID"] = str(data["internetMessageId"])
    body = data.get("body") if isinstance(data.get("body"), dict) else {}
    msg.set_content(str(body.get("content") or ""),
                    subtype="html" if str(body.get("contentType") or "").lower() == "html" else "plain")
    for att in attachments_of(item):
        maintype, _, subtype = str(att.get("contentType") or "application/octet-stream").partition("/")
        msg.add_attachment(content_of(att), maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=att.get("name") or None,
                           disposition="inline" if att.get("isInline") else "attachment")
    return msg.as_bytes(policy=email.policy.SMTP)
