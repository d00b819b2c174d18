"""Recurring series of the Graph sandbox (Graph v1.0 `event.recurrence`, a patternedRecurrence).

A series is one stored `seriesMaster` event; its instances are never stored. They are expanded on
demand with app.domain.recurrence (the connector's own expansion for EWS, so both sandboxes agree
on dates, DST and "last weekday" rules), for calendarView, its delta and /events/{id}/instances.
What Outlook keeps per instance lives on the master under private keys (`_`-prefixed keys are
never rendered):

* `_cancelled`: original-start keys of deleted occurrences (DELETE /events/{occurrence id});
* `_exceptions`: key -> the properties PATCHed on that occurrence (it is then an `exception`);
* `_instance_seq`: key -> change-log seq of the last write to that instance, and `_series_seq` /
  `_series_ck` the seq and changeKey of the last write to the series as a whole, so a delta
  round reports only the instances a write really touched (all of them after a series edit).

Instance ids are opaque to clients, distinct per occurrence and stable: the master's id and the
occurrence's original start, encoded (`occurrence_id` / `parse_occurrence_id`).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from app.domain.recurrence import (
    ABSOLUTE_MONTHLY, ABSOLUTE_YEARLY, DAILY, LAST, RELATIVE_MONTHLY, RELATIVE_YEARLY, WEEKLY, Modified, Occurrence,
    Pattern, Series, Window, occurrences,
)
from app.domain.recurrence import original_key  # noqa: F401  (the sandbox helpers key instances by it)

from .odata import bad
from .store import UTC, WINDOWS_ZONES, Item, fmt_dtz, iso, parse_dtz, zone

PATTERNS = {"daily": DAILY, "weekly": WEEKLY, "absoluteMonthly": ABSOLUTE_MONTHLY,
            "relativeMonthly": RELATIVE_MONTHLY, "absoluteYearly": ABSOLUTE_YEARLY, "relativeYearly": RELATIVE_YEARLY}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": LAST}
RANGES = ("endDate", "noEnd", "numbered")
PREFIX = "AAMkOCC"


def validate(recurrence: Any) -> None:
    """Graph's 400s for a patternedRecurrence a client may send (ErrorInvalidRequest)."""
    if recurrence is None:
        return
    if not isinstance(recurrence, dict) or not isinstance(recurrence.get("pattern"), dict) or \
            not isinstance(recurrence.get("range"), dict):
        raise bad("recurrence needs a pattern and a range.", "ErrorInvalidRequest")
    p, r = recurrence["pattern"], recurrence["range"]
    if p.get("type") not in PATTERNS:
        raise bad(f"Invalid recurrence pattern type {p.get('type')!r}.", "ErrorInvalidRequest")
    days = p.get("daysOfWeek") or []
    if not isinstance(days, list) or any(str(d).lower() not in DAYS for d in days):
        raise bad("Invalid daysOfWeek.", "ErrorInvalidRequest")
    if p["type"] in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise bad(f"daysOfWeek is required for a {p['type']} pattern.", "ErrorInvalidRequest")
    if p.get("index") not in (None, *INDEX):
        raise bad("Invalid recurrence index.", "ErrorInvalidRequest")
    if int(p.get("interval") or 0) < 1:
        raise bad("The recurrence interval must be at least 1.", "ErrorInvalidRequest")
    if r.get("type") not in RANGES or not r.get("startDate"):
        raise bad("Invalid recurrence range: type endDate, noEnd or numbered with a startDate.", "ErrorInvalidRequest")
    try:
        dt.date.fromisoformat(str(r["startDate"]))
        if r["type"] == "endDate":
            dt.date.fromisoformat(str(r.get("endDate")))
    except ValueError:
        raise bad("Invalid recurrence range dates.", "ErrorInvalidRequest") from None
    if r["type"] == "numbered" and int(r.get("numberOfOccurrences") or 0) < 1:
        raise bad("numberOfOccurrences must be at least 1.", "ErrorInvalidRequest")


def is_master(item: Item) -> bool:
    return item.kind == "event" and bool(item.data.get("recurrence"))


def series_of(data: dict[str, Any]) -> Series:
    """The master's recurrence, times and per-instance changes as a domain Series."""
    p, r = data["recurrence"]["pattern"], data["recurrence"]["range"]
    tz_name = r.get("recurrenceTimeZone") or data["start"].get("timeZone") or "UTC"
    tz = zone(tz_name)
    start, end = parse_dtz(data["start"]), parse_dtz(data["end"])
    if data.get("isAllDay"):  # floating midnights, in the series' zone
        start, end = start.replace(tzinfo=tz), end.replace(tzinfo=tz)
    pattern = Pattern(
        PATTERNS[p["type"]], int(p.get("interval") or 1),
        frozenset(DAYS.index(str(d).lower()) for d in p.get("daysOfWeek") or []),
        int(p["dayOfMonth"]) if p.get("dayOfMonth") else None, INDEX.get(p.get("index") or "first"),
        int(p["month"]) if p.get("month") else None, DAYS.index(str(p.get("firstDayOfWeek") or "sunday").lower()))
    modified = []
    for key, change in (data.get("_exceptions") or {}).items():
        original = key_time(key)
        occ_start = parse_dtz(change["start"]) if change.get("start") else None
        occ_end = parse_dtz(change["end"]) if change.get("end") else None
        length = end - start
        modified.append(Modified(original, occ_start or original, occ_end or (occ_start or original) + length,
                                 change.get("subject")))
    return Series(
        pattern, WINDOWS_ZONES.get(tz_name.strip().lower(), tz_name.strip()), start, end,
        range_start=dt.date.fromisoformat(str(r["startDate"])),
        range_end=dt.date.fromisoformat(str(r["endDate"])) if r["type"] == "endDate" else None,
        count=int(r["numberOfOccurrences"]) if r["type"] == "numbered" else None,
        deleted=frozenset(key_time(k) for k in data.get("_cancelled") or []),
        modified=tuple(modified), all_day=bool(data.get("isAllDay")))


def key_time(key: str) -> dt.datetime:
    return dt.datetime.strptime(key, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def expand(master: Item, lo: dt.datetime, hi: dt.datetime) -> list[Occurrence]:
    """The master's instances whose (possibly moved) times overlap [lo, hi)."""
    return occurrences(series_of(master.data), Window(lo, hi))


def find(master: Item, key: str) -> Occurrence | None:
    """The instance with this original-start key (None: cancelled or not in the series)."""
    when = key_time(key)
    change = (master.data.get("_exceptions") or {}).get(key) or {}
    spots = [(when - dt.timedelta(days=2), when + dt.timedelta(days=2))]
    if change.get("start"):
        moved = parse_dtz(change["start"])
        spots.append((moved - dt.timedelta(days=2), moved + dt.timedelta(days=2)))
    for lo, hi in spots:
        for occ in expand(master, lo, hi):
            if occ.key == key:
                return occ
    return None


def occurrence_id(master_id: str, key: str) -> str:
    raw = f"{master_id}|{key}".encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=").replace("_", "-")


def parse_occurrence_id(item_id: str) -> tuple[str, str] | None:
    """(master id, key) of an instance id, else None."""
    if not item_id.startswith(PREFIX):
        return None
    text = item_id[len(PREFIX):].replace("-", "_")
    try:
        master, _, key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().rpartition("|")
        key_time(key)
    except (ValueError, UnicodeDecodeError):
        return None
    return (master, key) if master else None


def instance(master: Item, occ: Occurrence) -> Item:
    """A transient Item for one instance: the master's properties, the instance's own times and
    changes, `type` occurrence|exception, `seriesMasterId`, `originalStart` and no recurrence."""
    change = (master.data.get("_exceptions") or {}).get(occ.key) or {}
    data = {k: v for k, v in master.data.items() if not k.startswith("_") and k != "recurrence"}
    tz_name = master.data["start"].get("timeZone") or "UTC"
    if master.data.get("isAllDay"):
        tz, midnight = zone(tz_name), "%Y-%m-%dT00:00:00.0000000"
        data["start"] = {"dateTime": occ.start.astimezone(tz).strftime(midnight), "timeZone": tz_name}
        data["end"] = {"dateTime": occ.end.astimezone(tz).strftime(midnight), "timeZone": tz_name}
    else:
        data["start"], data["end"] = fmt_dtz(occ.start, tz_name), fmt_dtz(occ.end, tz_name)
    data.update({k: v for k, v in change.items() if k not in ("start", "end")})
    data.update({"type": "exception" if occ.modified else "occurrence", "originalStart": iso(occ.original_start),
                 "recurrence": None, "_master": master.immutable_id})
    tag = hashlib.sha256(json.dumps([master.data.get("_series_ck"), occ.key, change], sort_keys=True,
                                    default=str).encode()).digest()
    out = Item(occurrence_id(master.immutable_id, occ.key), occurrence_id(master.rest_id, occ.key), "event",
               master.folder, data, change_key=base64.b64encode(tag[:12]).decode(), ext=master.ext,
               created=master.created, modified=master.modified)
    out.data["seriesMasterId"] = None  # rendered per request: immutable or REST id (see render_ids)
    return out


def render_ids(rendered: dict[str, Any], master: Item, immutable: bool) -> dict[str, Any]:
    if "seriesMasterId" in rendered:
        rendered["seriesMasterId"] = master.immutable_id if immutable else master.rest_id
    return rendered


def changed_since(master: Item, since: int) -> tuple[bool, set[str]]:
    """(the whole series changed after `since`, keys of instances written on their own after it)."""
    whole = int(master.data.get("_series_seq") or 0) > since
    keys = {k for k, seq in (master.data.get("_instance_seq") or {}).items() if int(seq) > since}
    return whole, keys
