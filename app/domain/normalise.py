"""Normalisation and the SHA-256 content hash (design.md section 6, "Hash normalisation").

Two normal forms:

* `canonical(kind, fields)` — what the engine stores and writes: every content field present,
  strings trimmed, empty strings as None, addresses lower-cased. Line breaks in notes survive.
* `comparable(field, value)` — what equality means for hashing and merging: whitespace collapsed,
  phone numbers as digits with an optional leading "+", HTML reduced to text, instants to the
  minute in UTC, all-day values as dates, the managed "Related in Workbooks" block removed.

`content_hash` includes `MAPPING_VERSION`, so a mapping change re-hashes silently.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from json.encoder import encode_basestring
from datetime import date, datetime, timezone
from typing import Any, Mapping

from app.domain.fields import EMAIL_FIELDS, META_FIELDS, content_fields
from app.domain.records import Kind

MAPPING_VERSION = 1

MANAGED_BEGIN = "--- Related in Workbooks ---"
MANAGED_END = "--- End of Workbooks block ---"

PHONE_FIELDS = frozenset(
    {"business_phone", "business_phone2", "mobile_phone", "business_fax", "home_phone"}
)
TEXT_FIELDS = frozenset({"notes", "description"})
INSTANT_FIELDS = frozenset({"start", "end", "reminder_at"})
DATE_FIELDS = frozenset({"start_date", "due_date", "end_date"})

_WS = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>")
_NON_DIGIT = re.compile(r"\D")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MANAGED = re.compile(re.escape(MANAGED_BEGIN) + r".*?(" + re.escape(MANAGED_END) + r"|\Z)", re.S)


def strip_managed_block(text: str) -> str:
    return _MANAGED.sub("", text)


def html_to_text(text: str) -> str:
    if "<" not in text or ">" not in text:
        return text
    text = _BREAK.sub("\n", text)
    return html.unescape(_TAG.sub("", text))


def clean_value(fld: str, value: Any) -> Any:
    """Light normalisation of one stored value (keeps line breaks)."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return to_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    if fld in EMAIL_FIELDS:
        return text.lower()
    return text


def canonical(kind: Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every content field (missing ones as None) plus meta fields that are present."""
    out = content_only(kind, fields)
    for f in META_FIELDS[kind]:
        if fields.get(f) is not None:
            out[f] = fields.get(f)
    return out


def content_only(kind: Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    # `clean_value` inlined for the common values (None, plain str): a first sync cleans every
    # field of tens of thousands of records, several times each
    get = fields.get
    out: dict[str, Any] = {}
    for f, email in _CLEAN_PLAN[kind]:
        v = get(f)
        if v is None:
            out[f] = None
        elif v.__class__ is str:
            v = v.strip()
            out[f] = (v.lower() if email else v) if v else None
        else:
            out[f] = clean_value(f, v)
    return out


def to_instant(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def normalise_phone(text: str) -> str:
    text = text.strip()
    plus = text.startswith("+")
    digits = _NON_DIGIT.sub("", text)
    return ("+" if plus else "") + digits


def _instant(text: str) -> str:
    t = text.strip()
    try:
        return to_instant(datetime.fromisoformat(t.replace("Z", "+00:00")))
    except ValueError:
        return t


def _date(text: str) -> str:
    m = _DATE.match(text.strip())
    return f"{m[1]}-{m[2]}-{m[3]}" if m else text.strip()


def comparable(fld: str, value: Any) -> Any:
    """Value as it takes part in equality and hashing."""
    value = clean_value(fld, value)
    if value is None or isinstance(value, (bool, int)):
        return value
    text = str(value)
    if fld in TEXT_FIELDS:
        text = strip_managed_block(html_to_text(text))
    if fld in PHONE_FIELDS:
        text = normalise_phone(text)
    elif fld in INSTANT_FIELDS:
        text = _instant(text)
    elif fld in DATE_FIELDS:
        text = _date(text)
    text = _WS.sub(" ", text).strip()
    if fld in EMAIL_FIELDS:
        text = text.lower()
    return text or None


def comparable_record(kind: Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    # `comparable` inlined for None, plain text, notes without markup and phone numbers: a first
    # sync compares and hashes every field of tens of thousands of records. " ".join(v.split())
    # is _WS.sub(" ", v.strip()).strip() (both split on str.isspace); a phone number's digits and
    # "+" have no whitespace left to collapse.
    get = fields.get
    out: dict[str, Any] = {}
    for f, rule in _COMPARE_PLAN[kind]:
        v = get(f)
        if v is None:
            out[f] = None
        elif v.__class__ is not str or rule is None:
            out[f] = comparable(f, v)
        elif rule is _PHONE:
            v = v.strip()
            out[f] = normalise_phone(v) or None if v else None
        elif rule is _TEXT and ("<" in v and ">" in v or MANAGED_BEGIN in v):
            out[f] = comparable(f, v)  # markup or our managed block to take out first
        else:
            v = " ".join(v.split())
            out[f] = (v.lower() if rule is _EMAIL else v) or None
    return out


def same_value(fld: str, a: Any, b: Any) -> bool:
    return comparable(fld, a) == comparable(fld, b)


def same_content(kind: Kind, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return comparable_record(kind, a) == comparable_record(kind, b)


def content_hash(kind: Kind, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the comparable form of the kind's content fields and the mapping version.

    The hashed text is json.dumps({"v": MAPPING_VERSION, "k": kind, "f": comparable_record},
    sort_keys=True, separators=(",", ":"), ensure_ascii=False): hashes stored in journals compare
    against it, so it must never change. It is written out here directly (the keys in sorted order,
    values with json's own string encoder) because json.dumps built a new encoder per call and
    dominated a first sync's hashing (tests/unit/test_normalise.py compares the two)."""
    return hashlib.sha256(_hash_text(kind, comparable_record(kind, fields)).encode("utf-8")).hexdigest()


def _hash_text(kind: Kind, comparable_fields: Mapping[str, Any]) -> str:
    text, json_value = encode_basestring, _JSON.encode  # bool and int in json's own spelling
    parts = [null if (v := comparable_fields[f]) is None else key + (text(v) if v.__class__ is str else json_value(v))
             for f, key, null in _HASH_KEYS[kind]]
    return '{"f":{' + ",".join(parts) + _HASH_KIND[kind] + str(MAPPING_VERSION) + "}"  # an int: as json spells it


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_PLAIN, _EMAIL, _PHONE, _TEXT = "plain", "email", "phone", "text"


def _compare_rule(f: str) -> str | None:
    """How comparable_record treats a text value of field f (None: by `comparable` itself)."""
    if f in PHONE_FIELDS:
        return _PHONE
    if f in TEXT_FIELDS:
        return _TEXT
    if f in INSTANT_FIELDS or f in DATE_FIELDS:
        return None
    return _EMAIL if f in EMAIL_FIELDS else _PLAIN


# per kind: (field, is an email field) for cleaning; (field, rule) for comparing
_CLEAN_PLAN = {k: tuple((f, f in EMAIL_FIELDS) for f in content_fields(k)) for k in Kind}
_COMPARE_PLAN = {k: tuple((f, _compare_rule(f)) for f in content_fields(k)) for k in Kind}
# per kind, in sorted order: (field, its json key, the key with a null value)
_HASH_KEYS = {k: tuple((f, encode_basestring(f) + ":", encode_basestring(f) + ":null") for f in sorted(content_fields(k)))
              for k in Kind}
_HASH_KIND = {k: '},"k":' + encode_basestring(k.value) + ',"v":' for k in Kind}


class Snapshots:
    """`canonical` and `content_hash` of one kind's records, each worked out once per record object.

    Planning passes the same record through several steps (a first sync's create keeps it as its
    link's snapshot, as the payload's fields and as the base). Keyed by identity, so only for
    mappings nobody mutates while this is in use (records and snapshots are immutable by
    convention); the objects are held, so their ids stay theirs. A record's canonical form is its
    own canonical form and hashes alike, so it shares the record's entry."""

    def __init__(self, kind: Kind):
        self.kind = kind
        self._known: dict[int, tuple[Mapping[str, Any], list[Any]]] = {}  # id -> (mapping, [canonical, hash])

    def _entry(self, fields: Mapping[str, Any]) -> list[Any]:
        hit = self._known.get(id(fields))
        if hit is None:
            hit = self._known[id(fields)] = (fields, [None, None])
        return hit[1]

    def canonical(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        entry = self._entry(fields)
        if entry[0] is None:
            entry[0] = canonical(self.kind, fields)
            self._known[id(entry[0])] = (entry[0], entry)
        return entry[0]

    def hash(self, fields: Mapping[str, Any]) -> str:
        entry = self._entry(fields)
        if entry[1] is None:
            entry[1] = content_hash(self.kind, fields)
        return entry[1]
