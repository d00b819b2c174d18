"""CalendarView expansion of recurring masters (Daily, Weekly, Absolute/RelativeMonthly,
Absolute/RelativeYearly patterns; NoEnd, EndDate and Numbered boundaries) into Occurrence/Exception
items.

Occurrences are expanded in the master's StartTimeZone (a small Windows -> IANA table; other
zones expand in UTC). Their ids are derived from the master id and the original start, so GetItem
finds them again while the master exists.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from lxml import etree

from .ids import ITEM, _header
from .properties import fmt, parse_dt
from .soap import local, t
from .store import Item, Mailbox

WINDOWS_ZONES = {
    "UTC": "UTC", "GMT Standard Time": "Europe/London", "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin", "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest", "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow", "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix", "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax", "E. South America Standard Time": "America/Sao_Paulo",
    "India Standard Time": "Asia/Kolkata", "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore", "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane", "New Zealand Standard Time": "Pacific/Auckland",
    "Arabian Standard Time": "Asia/Dubai", "South Africa Standard Time": "Africa/Johannesburg",
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LIMIT = 2000  # occurrences expanded per master at most


def zone_of(item: Item):
    tz = item.props.get("StartTimeZone")
    name = tz.get("Id") if tz is not None else None
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name or "UTC", "UTC"))
    except Exception:
        return dt.timezone.utc


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _dates(rec, first: dt.date):
    """Candidate dates of a recurrence, in order, from the boundary's start."""
    pattern = next((c for c in rec if local(c).endswith("Recurrence") and "Pattern" not in local(c)
                    and local(c) not in ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")), None)
    boundary = next((c for c in rec if local(c) in ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")), None)
    if pattern is None or boundary is None:
        return
    start = _date(boundary.findtext(t("StartDate"))) or first
    end = _date(boundary.findtext(t("EndDate"))) if local(boundary) == "EndDateRecurrence" else None
    count = int(boundary.findtext(t("NumberOfOccurrences")) or 0) if local(boundary) == "NumberedRecurrence" else 0
    interval = max(1, int(pattern.findtext(t("Interval")) or 1))
    kind = local(pattern)
    produced = 0
    day = start
    for _ in range(LIMIT * 7):
        if end and day > end or count and produced >= count or produced >= LIMIT:
            return
        hit = False
        if kind == "DailyRecurrence":
            hit = (day - start).days % interval == 0
        elif kind == "WeeklyRecurrence":
            wanted = {DAYS.index(d) for d in (pattern.findtext(t("DaysOfWeek")) or "").split() if d in DAYS}
            weeks = ((day - start).days + start.weekday()) // 7
            hit = day.weekday() in wanted and weeks % interval == 0
        elif kind == "AbsoluteMonthlyRecurrence":
            months = (day.year - start.year) * 12 + day.month - start.month
            hit = day.day == int(pattern.findtext(t("DayOfMonth")) or start.day) and months % interval == 0
        elif kind == "AbsoluteYearlyRecurrence":
            month = pattern.findtext(t("Month")) or ""
            hit = (day.day == int(pattern.findtext(t("DayOfMonth")) or 1)
                   and day.strftime("%B") == month)
        elif kind in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
            months = (day.year - start.year) * 12 + day.month - start.month
            in_period = (months % interval == 0 if kind == "RelativeMonthlyRecurrence"
                         else day.strftime("%B") == (pattern.findtext(t("Month")) or ""))
            hit = in_period and day == _relative_day(day, pattern.findtext(t("DaysOfWeek")) or "",
                                                     pattern.findtext(t("DayOfWeekIndex")) or "First")
        else:  # unknown patterns are not expanded: the master's own instance only
            hit = day == first
            if day > first:
                return
        if hit and day >= first:
            produced += 1
            yield produced, day
        day += dt.timedelta(days=1)


DAY_SETS = {"Day": set(range(7)), "Weekday": set(range(5)), "WeekendDay": {5, 6}}
INDEXES = {"First": 0, "Second": 1, "Third": 2, "Fourth": 3, "Last": -1}


def _relative_day(day: dt.date, days: str, index: str) -> dt.date | None:
    """The First..Fourth or Last day of `day`'s month whose weekday is in DaysOfWeek (a set such
    as Weekday counts every matching day)."""
    wanted = DAY_SETS.get(days.strip(), {DAYS.index(d) for d in days.split() if d in DAYS})
    first = day.replace(day=1)
    matching = [first + dt.timedelta(days=n) for n in range(31)
                if (first + dt.timedelta(days=n)).month == day.month and (first + dt.timedelta(days=n)).weekday() in wanted]
    pos = INDEXES.get(index.strip(), 0)
    return matching[pos] if matching and (pos == -1 or pos < len(matching)) else None


def occurrence_id(mb: Mailbox, master: Item, original: dt.datetime) -> str:
    import base64
    digest = hashlib.sha256(f"{master.id}|{fmt(original)}".encode()).digest()
    body = b"\x00\x00\x00\x00" + digest + digest[:38]
    return base64.urlsafe_b64encode(_header(mb.guid) + ITEM + body).decode("ascii")


def _text(item: Item, name: str):
    el = item.props.get(name)
    return el.text if el is not None else None


def _set(item: Item, name: str, value: str) -> None:
    el = etree.Element(t(name))
    el.text = value
    item.props[name] = el


def instances(mb: Mailbox, master: Item, window_start: dt.datetime | None = None,
              window_end: dt.datetime | None = None):
    """(index, original start, Item) for each instance overlapping the window (all when None)."""
    start, end = parse_dt(_text(master, "Start")), parse_dt(_text(master, "End"))
    rec = master.props.get("Recurrence")
    if start is None or end is None or rec is None or len(rec) == 0:
        return
    rec = rec[0] if local(rec[0]) == "Recurrence" else rec
    tz = zone_of(master)
    local_start = start.astimezone(tz)
    duration = end - start
    deleted = {d.findtext(t("Start")) for d in master.props.get("DeletedOccurrences", [])}
    modified = {o.findtext(t("OriginalStart")): o for o in master.props.get("ModifiedOccurrences", [])}
    for index, day in _dates(rec, local_start.date()):
        original = dt.datetime.combine(day, local_start.time(), tz).astimezone(dt.timezone.utc)
        key = fmt(original)
        if window_end is not None and original - dt.timedelta(days=2) > window_end and not modified:
            return
        if key in deleted:
            continue
        occ_start, occ_end, kind = original, original + duration, "Occurrence"
        if key in modified:
            occ_start = parse_dt(modified[key].findtext(t("Start"))) or occ_start
            occ_end = parse_dt(modified[key].findtext(t("End"))) or occ_end
            kind = "Exception"
        if window_start is not None and (occ_end <= window_start or occ_start >= window_end):
            continue
        yield index, original, make_occurrence(mb, master, original, occ_start, occ_end, kind)


def make_occurrence(mb: Mailbox, master: Item, original: dt.datetime, start: dt.datetime, end: dt.datetime,
                    kind: str) -> Item:
    occ = copy.copy(master)
    occ.props = dict(master.props)
    occ.exceptions = {}
    for name in ("Recurrence", "ModifiedOccurrences", "DeletedOccurrences"):
        occ.props.pop(name, None)
    if kind == "Exception":
        for name, value in master.exceptions.get(fmt(original), {}).items():
            _set(occ, name, value)
    occ.id = occurrence_id(mb, master, original)
    _set(occ, "Start", fmt(start))
    _set(occ, "End", fmt(end))
    _set(occ, "CalendarItemType", kind)
    _set(occ, "IsRecurring", "true")
    _set(occ, "RecurrenceId", fmt(original))
    _set(occ, "OriginalStart", fmt(original))
    occ.master_id = master.id  # type: ignore[attr-defined]
    return occ


def find_occurrence(mb: Mailbox, item_id: str) -> Item | None:
    """Resolve an occurrence id (from a CalendarView) back to its transient item."""
    for master in mb.items.values():
        if master.kind != "CalendarItem" or "Recurrence" not in master.props:
            continue
        for _i, _orig, occ in instances(mb, master):
            if occ.id == item_id:
                return occ
    return None


def nth_occurrence(mb: Mailbox, master: Item, index: int) -> Item | None:
    for i, _orig, occ in instances(mb, master):
        if i == index:
            return occ
        if i > index:
            break
    return None


def calendar_view(mb: Mailbox, folder_id: str, start: dt.datetime, end: dt.datetime) -> list[Item]:
    out: list[Item] = []
    for item in mb.folder_items(folder_id):
        if item.kind != "CalendarItem":
            continue
        if "Recurrence" in item.props:
            out.extend(occ for _i, _o, occ in instances(mb, item, start, end))
            continue
        s, e = parse_dt(_text(item, "Start")), parse_dt(_text(item, "End"))
        if s is not None and e is not None and e > start and s < end or (s == e == start):
            out.append(item)
    return sorted(out, key=lambda i: (_text(i, "Start") or "", i.article))
