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
_MANAGED = re.compile(re.escape(MANAGED_BEGIN) + r".*?(" + re.escape(MANAGED_END) + r"|\Z)", re.S)


def strip_managed_block(text: str) -> str:
    return _MANAGED.sub("", text)


def html_to_text(text: str) -> str:
    if "<" not in text or ">" not in text:
        return text
    text = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", text)
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
    out = {f: clean_value(f, fields.get(f)) for f in content_fields(kind)}
    for f in META_FIELDS[kind]:
        if fields.get(f) is not None:
            out[f] = fields.get(f)
    return out


def content_only(kind: Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {f: clean_value(f, fields.get(f)) for f in content_fields(kind)}


def to_instant(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def normalise_phone(text: str) -> str:
    text = text.strip()
    plus = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    return ("+" if plus else "") + digits


def _instant(text: str) -> str:
    t = text.strip()
    try:
        return to_instant(datetime.fromisoformat(t.replace("Z", "+00:00")))
    except ValueError:
        return t


def _date(text: str) -> str:
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
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
    return {f: comparable(f, fields.get(f)) for f in content_fields(kind)}


def same_value(fld: str, a: Any, b: Any) -> bool:
    return comparable(fld, a) == comparable(fld, b)


def same_content(kind: Kind, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return comparable_record(kind, a) == comparable_record(kind, b)


def content_hash(kind: Kind, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the comparable form of the kind's content fields and the mapping version."""
    payload = {"v": MAPPING_VERSION, "k": kind.value, "f": comparable_record(kind, fields)}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
