"""File attachments of messages: stored with the item, listed in `t:Attachments`, counted in
`Size` and `HasAttachments`, carried in the MIME, and served by GetAttachment.

Shapes follow Microsoft's EWS reference (FileAttachment, AttachmentId with RootItemId and
RootItemChangeKey, GetAttachment with m:AttachmentIds). Item attachments (an embedded message)
are out of scope: a CreateItem carrying one keeps the item and leaves that attachment out, as
the connector never writes them.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from dataclasses import dataclass, field

from lxml import etree

from .properties import fmt
from .soap import EwsError, error_message, local, m, sub, success_message, t
from .store import Item, Mailbox, utcnow


@dataclass
class Attachment:
    id: str
    name: str
    content_type: str
    content: bytes
    content_id: str = ""
    is_inline: bool = False
    modified: dt.datetime = field(default_factory=utcnow)

    @property
    def size(self) -> int:
        return len(self.content)


def new_attachment_id(item: Item) -> str:
    """The parent's id plus a random suffix, URL-safe base64 like Exchange's (which also embeds
    the parent item's entry id), so GetAttachment finds the item without a second index."""
    suffix = base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")
    return f"{item.id}.{suffix}"


def attachment(item: Item, name: str, content: bytes, content_type: str = "application/octet-stream",
               *, content_id: str = "", is_inline: bool = False) -> Attachment:
    return Attachment(new_attachment_id(item), name, content_type or "application/octet-stream", content,
                      content_id, is_inline)


def read_attachments(item: Item, container) -> None:
    """CreateItem's `t:Attachments`: each `t:FileAttachment` becomes one attachment of the item."""
    for el in container:
        if not isinstance(el.tag, str) or local(el) != "FileAttachment":
            continue
        raw = el.findtext(t("Content")) or ""
        try:
            content = base64.b64decode(raw.encode("ascii"), validate=False)
        except (binascii.Error, ValueError):
            raise EwsError("ErrorInvalidRequest", "The attachment content is not valid base64.") from None
        item.attachments.append(attachment(
            item, el.findtext(t("Name")) or "", content, el.findtext(t("ContentType")) or "",
            content_id=el.findtext(t("ContentId")) or "",
            is_inline=(el.findtext(t("IsInline")) or "").strip().lower() == "true"))


def total_size(item: Item) -> int:
    return sum(a.size for a in item.attachments)


def has_attachments(item: Item) -> bool:
    # Exchange leaves inline images out of HasAttachments (Outlook shows no paper clip for them).
    return any(not a.is_inline for a in item.attachments)


def _file_attachment(parent, item: Item, a: Attachment, *, content: bool):
    el = sub(parent, t("FileAttachment"))
    sub(el, t("AttachmentId"), Id=a.id, RootItemId=item.id, RootItemChangeKey=item.change_key)
    sub(el, t("Name"), a.name)
    sub(el, t("ContentType"), a.content_type)
    if a.content_id:
        sub(el, t("ContentId"), a.content_id)
    sub(el, t("Size"), str(a.size))
    sub(el, t("LastModifiedTime"), fmt(a.modified))
    sub(el, t("IsInline"), "true" if a.is_inline else "false")
    sub(el, t("IsContactPhoto"), "false")
    if content:
        sub(el, t("Content"), base64.b64encode(a.content).decode("ascii"))
    return el


def attachments_element(item: Item):
    """`t:Attachments` as GetItem returns it: ids and metadata, never the content."""
    if not item.attachments:
        return None
    el = etree.Element(t("Attachments"))
    for a in item.attachments:
        _file_attachment(el, item, a, content=False)
    return el


def find(mb: Mailbox, attachment_id: str) -> tuple[Item, Attachment]:
    item_id = attachment_id.rsplit(".", 1)[0] if "." in attachment_id else ""
    item = mb.items.get(item_id)
    for a in (item.attachments if item is not None else ()):
        if a.id == attachment_id:
            return item, a
    raise EwsError("ErrorInvalidAttachmentId", "The attachment ID is invalid.")


def get_attachment(ctx, req, msgs) -> None:
    mb = ctx.mailbox
    with mb.lock:
        container = req.find(m("AttachmentIds"))
        for el in (container if container is not None else ()):
            if not isinstance(el.tag, str):
                continue
            try:
                item, a = find(mb, el.get("Id") or "")
            except EwsError as err:
                error_message(msgs, "GetAttachment", err)
                continue
            msg = success_message(msgs, "GetAttachment")
            _file_attachment(sub(msg, m("Attachments")), item, a, content=True)


OPERATIONS = {"GetAttachment": get_attachment}
