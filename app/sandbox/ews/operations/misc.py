"""ConvertId (also exchangelib's version probe) and ResolveNames."""
from __future__ import annotations

import base64
import binascii

from lxml import etree

from .. import ids
from ..soap import XSI, EwsError, error_message, m, sub, success_message, t
from .common import Context, folder_ids

FORMATS = ("EwsId", "EwsLegacyId", "EntryId", "HexEntryId", "OwaId", "StoreId")


def _to_raw(ctx: Context, fmt: str, value: str) -> bytes:
    """Any supported format of one of this mailbox's ids -> the EwsId's binary form."""
    guid = ctx.mailbox.guid
    head = ids._header(guid)
    try:
        if fmt in ("EwsId", "EwsLegacyId", "OwaId"):
            return ids.id_bytes(ids.check_id(value.replace("+", "-").replace("/", "_"), guid))
        if fmt == "StoreId":
            raw = base64.b64decode(value, validate=True)
        elif fmt == "EntryId":
            raw = head + base64.b64decode(value, validate=True)
        elif fmt == "HexEntryId":
            raw = head + binascii.unhexlify(value)
        else:
            raise ValueError(fmt)
        ids.check_id(base64.urlsafe_b64encode(raw).decode(), guid)
        return raw
    except (ValueError, binascii.Error, ids.MalformedId, UnicodeEncodeError):
        raise EwsError("ErrorInvalidIdMalformed")


def _from_raw(ctx: Context, fmt: str, raw: bytes) -> str:
    head = ids._header(ctx.mailbox.guid)
    entry = raw[len(head):]
    if fmt in ("EwsId", "EwsLegacyId", "OwaId"):
        return base64.urlsafe_b64encode(raw).decode()
    if fmt == "StoreId":
        return base64.b64encode(raw).decode()
    if fmt == "EntryId":
        return base64.b64encode(entry).decode()
    return binascii.hexlify(entry).decode().upper()


def convert_id(ctx: Context, req, msgs) -> None:
    dest = req.get("DestinationFormat", "EwsId")
    for el in folder_ids(req.find(m("SourceIds"))):
        try:
            if dest not in FORMATS or el.get("Format") not in FORMATS:
                raise EwsError("ErrorInvalidIdMalformed")
            raw = _to_raw(ctx, el.get("Format"), el.get("Id") or "")
        except EwsError as err:
            error_message(msgs, "ConvertId", err)
            continue
        msg = success_message(msgs, "ConvertId")
        alt = etree.SubElement(msg, m("AlternateId"))
        alt.set(f"{{{XSI}}}type", "t:AlternateIdType")
        alt.set("Format", dest)
        alt.set("Id", _from_raw(ctx, dest, raw))
        alt.set("Mailbox", ctx.mailbox.address)


def resolve_names(ctx: Context, req, msgs) -> None:
    """The mailbox owner (as the directory would) and contacts whose name or address starts with
    the entry; "SMTP:" prefixes are stripped."""
    needle = (req.findtext(m("UnresolvedEntry")) or "").strip().lower()
    if needle.startswith("smtp:"):
        needle = needle[5:]
    mb = ctx.mailbox
    found = []
    if needle and (mb.address.lower().startswith(needle) or mb.display_name.lower().startswith(needle)):
        found.append((mb.display_name, mb.address))
    if needle and req.get("SearchScope", "ActiveDirectoryContacts") != "ActiveDirectory":
        with mb.lock:
            for item in mb.folder_items(mb.distinguished["contacts"]):
                name = item.props.get("DisplayName")
                name = (name.text or "") if name is not None else ""
                emails = item.props.get("EmailAddresses")
                for entry in (emails if emails is not None else []):
                    addr = entry.text or ""
                    if name.lower().startswith(needle) or addr.lower().startswith(needle):
                        found.append((name, addr))
    found = found[:100]
    if not found:
        error_message(msgs, "ResolveNames", EwsError("ErrorNameResolutionNoResults",
                                                     "No results were found."))
        return
    if len(found) > 1:
        msg = sub(msgs, m("ResolveNamesResponseMessage"), ResponseClass="Warning")
        sub(msg, m("MessageText"), "Multiple results were found.")
        sub(msg, m("ResponseCode"), "ErrorNameResolutionMultipleResults")
        sub(msg, m("DescriptiveLinkKey"), "0")
    else:
        msg = success_message(msgs, "ResolveNames")
    rs = sub(msg, m("ResolutionSet"), TotalItemsInView=str(len(found)), IncludesLastItemInRange="true")
    for name, addr in found:
        res = sub(rs, t("Resolution"))
        mbx = sub(res, t("Mailbox"))
        sub(mbx, t("Name"), name)
        sub(mbx, t("EmailAddress"), addr)
        sub(mbx, t("RoutingType"), "SMTP")
        sub(mbx, t("MailboxType"), "Mailbox")


OPERATIONS = {"ConvertId": convert_id, "ResolveNames": resolve_names}
