"""Exchange-looking ids and ChangeKeys.

An id is the URL-safe base64 of a binary moniker: a header naming this mailbox (as Exchange's
EwsId embeds the mailbox GUID), a kind byte, then a random entry id - about 150 characters in all.
A ChangeKey is base64 of Exchange's 8-byte prefix plus random bytes.
"""
from __future__ import annotations

import base64
import binascii
import functools
import os

FOLDER = b"\x01"
ITEM = b"\x46"
_CK_PREFIX = b"\x09\x00\x00\x00\x16\x00\x00\x00"


class MalformedId(ValueError):
    pass


@functools.lru_cache(maxsize=64)  # a process holds a few mailboxes; each makes thousands of ids
def _header(mailbox_guid: str) -> bytes:
    raw = mailbox_guid.encode("ascii")
    return b"\x00\x03" + bytes([len(raw), 0]) + raw + b"\x00"


def new_id(mailbox_guid: str, kind: bytes) -> str:
    r = os.urandom(60)  # one system call for the random parts (a first sync makes thousands of ids)
    body = b"\x00\x00\x00\x00" + r[:16] + b"\x07\x00" + r[16:38] + b"\x00\x00"
    if kind == ITEM:
        body += r[38:60] + b"\x00\x00"
    return base64.urlsafe_b64encode(_header(mailbox_guid) + kind + body).decode("ascii")


def check_id(value: str | None, mailbox_guid: str, kind: bytes | None = None) -> str:
    """Return the id unchanged when it is one of this mailbox's, else raise MalformedId."""
    if not value:
        raise MalformedId("empty id")
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise MalformedId(str(exc)) from exc
    head = _header(mailbox_guid)
    if not raw.startswith(head) or len(raw) < len(head) + 40:
        raise MalformedId("foreign or truncated id")
    if kind is not None and raw[len(head):len(head) + 1] != kind:
        raise MalformedId("wrong id kind")
    return value


def id_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))


def new_change_key() -> str:
    return base64.b64encode(_CK_PREFIX + os.urandom(22)).decode("ascii")


def change_key_ok(value: str | None) -> bool:
    if not value:
        return False
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return raw.startswith(_CK_PREFIX[:4]) and len(raw) >= 12
