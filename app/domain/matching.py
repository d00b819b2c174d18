"""First-sync matching (design.md 5.4): CRM-id marker, then email address, then name + company;
activities by subject + start or due date. Several candidates mean ambiguity, never a guess."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from app.domain.fields import EMAIL_FIELDS
from app.domain.records import CrmRecord, Kind, OutlookItem

_OBJECT_REF = re.compile(r"\b([A-Z]{2,12}-\d{1,10})\b")
_ANGLED = re.compile(r"<([^<>]+)>")
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalise_address(address: str | None) -> str | None:
    """Trimmed, lower-cased, without a display name or mailto:, None when not an address."""
    if not address:
        return None
    text = address.strip()
    m = _ANGLED.search(text) if "<" in text else None
    if m:
        text = m.group(1)
    text = text.strip().strip('"').strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().lower()
    return text if "@" in text and " " not in text else None


def normalise_name(text: str | None) -> str:
    if not text:
        return ""
    if not text.isascii():  # ASCII has no decompositions and no combining marks
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower())).strip()


def full_name(fields: Mapping[str, object]) -> str:
    parts = [fields.get("first_name"), fields.get("middle_name"), fields.get("last_name")]
    return normalise_name(" ".join(str(p) for p in parts if p))


def person_addresses(fields: Mapping[str, object]) -> set[str]:
    out = set()
    for f in EMAIL_FIELDS:
        a = normalise_address(fields.get(f))  # type: ignore[arg-type]
        if a:
            out.add(a)
    return out


def crm_addresses(rec: CrmRecord) -> set[str]:
    out = person_addresses(rec.fields)
    for a in rec.emails:
        n = normalise_address(a)
        if n:
            out.add(n)
    return out


def name_key(kind: Kind, fields: Mapping[str, object]) -> tuple[str, str] | None:
    """Person: (full name, company); activity: (subject, start or due date). None if too thin."""
    if kind is Kind.PERSON:
        name = full_name(fields)
        return (name, normalise_name(str(fields.get("company") or ""))) if name else None
    subject = normalise_name(str(fields.get("subject") or ""))
    if kind is Kind.TASK:
        when = fields.get("due_date") or fields.get("start_date")
    else:
        when = fields.get("start") or fields.get("start_date")
    if not subject or not when:
        return None
    return subject, str(when)[:10] if kind is Kind.TASK else str(when)


def object_refs(text: str | None) -> tuple[str, ...]:
    """Object references such as CASE-1234 in a subject."""
    return tuple(dict.fromkeys(_OBJECT_REF.findall(text or "")))


@dataclass(frozen=True)
class MatchResult:
    rule: str  # "marker" | "global_id" | "email" | "name" | "none"
    candidates: tuple[str, ...]  # ids on the other side

    @property
    def unique(self) -> str | None:
        return self.candidates[0] if len(self.candidates) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def match_outlook_item(item: OutlookItem, crm: Sequence[CrmRecord]) -> MatchResult:
    """Candidates among `crm` (live records) for an Outlook item, by the first rule that hits."""
    live = [r for r in crm if not r.deleted]
    if item.crm_id:
        hits = tuple(r.id for r in live if r.id == item.crm_id)
        if hits:
            return MatchResult("marker", hits)
    if item.kind is Kind.PERSON:
        mine = person_addresses(item.fields)
        if mine:
            hits = tuple(r.id for r in live if mine & crm_addresses(r))
            if hits:
                return MatchResult("email", hits)
    key = name_key(item.kind, item.fields)
    if key is not None:
        hits = tuple(r.id for r in live if name_key(item.kind, r.fields) == key)
        if hits:
            return MatchResult("name", hits)
    return MatchResult("none", ())


def match_crm_record(rec: CrmRecord, items: Iterable[OutlookItem]) -> MatchResult:
    """Candidates among Outlook items for a CRM record (mirror of `match_outlook_item`)."""
    items = list(items)
    hits = tuple(i.item_id for i in items if i.crm_id == rec.id)
    if hits:
        return MatchResult("marker", hits)
    if rec.kind is Kind.PERSON:
        theirs = crm_addresses(rec)
        if theirs:
            hits = tuple(i.item_id for i in items if i.crm_id is None and person_addresses(i.fields) & theirs)
            if hits:
                return MatchResult("email", hits)
    key = name_key(rec.kind, rec.fields)
    if key is not None:
        hits = tuple(i.item_id for i in items if i.crm_id is None and name_key(i.kind, i.fields) == key)
        if hits:
            return MatchResult("name", hits)
    return MatchResult("none", ())


_SUBJECT_REF = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,12}-\d{1,10})(?![A-Za-z0-9])")


def subject_refs(text: str | None) -> tuple[str, ...]:
    """Object references in an email subject, any case, upper-cased (`case-12` -> `CASE-12`).
    Only candidates: they link only when a CRM record carries that reference."""
    return tuple(dict.fromkeys(m.upper() for m in _SUBJECT_REF.findall(text or "")))


Keys = tuple[list[str], "tuple[str, str] | None"]  # (sorted addresses, name key) of one record or item


class CrmIndex:
    """`match_outlook_item` over many items at once: records indexed by id, address and name.
    `keys` holds each record's match keys, for `OutlookIndex.match` of the same records."""

    def __init__(self, records: Iterable[CrmRecord]):
        self.live = [r for r in records if not r.deleted]
        self.ids = {r.id for r in self.live}
        self.by_addr: dict[str, list[str]] = {}
        self.by_name: dict[tuple[str, str], list[str]] = {}
        self.keys: dict[str, Keys] = {}
        for r in self.live:
            addresses = sorted(crm_addresses(r)) if r.kind is Kind.PERSON else []
            key = name_key(r.kind, r.fields)
            self.keys.setdefault(r.id, (addresses, key))
            for a in addresses:
                self.by_addr.setdefault(a, []).append(r.id)
            if key is not None:
                self.by_name.setdefault(key, []).append(r.id)

    def match(self, item: OutlookItem, keys: Keys | None = None) -> MatchResult:
        """`keys`: the item's match keys when known already (`OutlookIndex.keys`)."""
        if item.crm_id and item.crm_id in self.ids:
            return MatchResult("marker", (item.crm_id,))
        if item.kind is Kind.PERSON:
            addresses = keys[0] if keys is not None else sorted(person_addresses(item.fields))
            hits = tuple(dict.fromkeys(i for a in addresses for i in self.by_addr.get(a, ())))
            if hits:
                return MatchResult("email", hits)
        key = keys[1] if keys is not None else name_key(item.kind, item.fields)
        if key is not None and key in self.by_name:
            return MatchResult("name", tuple(dict.fromkeys(self.by_name[key])))
        return MatchResult("none", ())


class OutlookIndex:
    """`match_crm_record` over many records at once. `keys` holds the match keys of the items
    without a CRM id, for `CrmIndex.match` of the same items."""

    def __init__(self, items: Iterable[OutlookItem]):
        self.by_marker: dict[str, list[str]] = {}
        self.by_addr: dict[str, list[str]] = {}
        self.by_name: dict[tuple[str, str], list[str]] = {}
        self.keys: dict[str, Keys] = {}
        for i in items:
            if i.crm_id:
                self.by_marker.setdefault(i.crm_id, []).append(i.item_id)
                continue
            addresses = sorted(person_addresses(i.fields)) if i.kind is Kind.PERSON else []
            key = name_key(i.kind, i.fields)
            self.keys.setdefault(i.item_id, (addresses, key))
            for a in addresses:
                self.by_addr.setdefault(a, []).append(i.item_id)
            if key is not None:
                self.by_name.setdefault(key, []).append(i.item_id)

    def match(self, rec: CrmRecord, keys: Keys | None = None) -> MatchResult:
        """`keys`: the record's match keys when known already (`CrmIndex.keys`)."""
        if rec.id in self.by_marker:
            return MatchResult("marker", tuple(self.by_marker[rec.id]))
        if rec.kind is Kind.PERSON:
            addresses = keys[0] if keys is not None else sorted(crm_addresses(rec))
            hits = tuple(dict.fromkeys(i for a in addresses for i in self.by_addr.get(a, ())))
            if hits:
                return MatchResult("email", hits)
        key = keys[1] if keys is not None else name_key(rec.kind, rec.fields)
        if key is not None and key in self.by_name:
            return MatchResult("name", tuple(dict.fromkeys(self.by_name[key])))
        return MatchResult("none", ())


def task_content(fields: Mapping[str, object]) -> tuple[str, str]:
    """(normalised subject, due or else start date) of a task; either may be empty."""
    when = fields.get("due_date") or fields.get("start_date") or ""
    return normalise_name(str(fields.get("subject") or "")), str(when)[:10]


def _agrees(mine: tuple[str, str], theirs: tuple[str, str], exact: bool) -> bool:
    same = [bool(a) and a == b for a, b in zip(mine, theirs)]
    return all(same) if exact else any(same)


def match_carried(items: Iterable[OutlookItem], carried: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Marker-less tasks -> the CRM id of the pair a previous backend's journal knew (`carried`:
    CRM id -> `task_content` of its Outlook task when last synced), after a backend switch.

    A task still showing both its carried subject and due date pairs with that record even if the
    record changed since; then one showing just one of them (the other edited in Outlook). Each
    step pairs only one item with one record: anything more is left to the ordinary rules."""
    pending = {i.item_id: task_content(i.fields) for i in items}
    free = dict(carried)
    out: dict[str, str] = {}
    for exact in (True, False):
        picks: dict[str, list[str]] = {}
        for item_id, (subject, due) in pending.items():
            picks[item_id] = [cid for cid, theirs in free.items() if _agrees((subject, due), theirs, exact)]
        chosen: dict[str, list[str]] = {}
        for item_id, cids in picks.items():
            if len(cids) == 1:
                chosen.setdefault(cids[0], []).append(item_id)
        for cid, item_ids in chosen.items():
            if len(item_ids) == 1 and len([c for c in picks.values() if cid in c]) == 1:
                out[item_ids[0]] = cid
                pending.pop(item_ids[0])
                free.pop(cid)
    return out
