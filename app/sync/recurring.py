"""Recurring Outlook series as individual, read-only CRM meetings (product.md B11, design.md 6.3).

Workbooks activities cannot express a recurrence pattern, so a recurring master is never synced as
itself: `RecurringMeetings` wraps the MailboxPort and replaces each master in the meeting feed by
its occurrences inside the calendar window (app.domain.recurrence). Each occurrence is an ordinary
Outlook item to the engine, with a stable id of its own: the master's id plus the occurrence's
original start (`<master id>#occ#<YYYYMMDDTHHMMZ>`), and as global id the series' UID plus the same
key. Its version is a hash of its content, so an edit of the series touches only the occurrences it
really changed.

Occurrences are read-only: writes to them never reach Exchange. Updates and trashes are refused with
an item error that tells the user to change the series in Outlook (the planner treats every field
of an occurrence as Outlook-owned, so a CRM edit is overwritten from Outlook instead of pushed);
sharing them is journal-only, the link itself being the marker.

Occurrences that disappear from a series (deleted instance, shortened or re-patterned series, the
master deleted) come out of the feed as deletions, so the engine treats them like any other Outlook
deletion of an Outlook-owned item. Occurrences that merely age out of the window are left as they
are: past meetings stay on record in the CRM.

Where the occurrences come from: a mailbox that expands series itself (Graph: the port offers
`series_occurrences(master, window)`) is asked for them; otherwise (EWS) the master's pattern and
exceptions are expanded here. Such a mailbox reports a cancelled occurrence only by the id of
the instance, which names no series: a deletion of an id the journal does not know makes every
series with linked occurrences be checked again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Sequence

from app.domain.fields import MEETING_FIELDS
from app.domain.recurrence import Occurrence, Window, occurrences, original_key
from app.domain.records import Kind, OutlookChange, OutlookItem, OutlookPage, Sharing, Stamp, Update
from app.domain.timeutil import as_utc, local
from app.errors import AppError, ItemRejected

SEPARATOR = "#occ#"
TOKEN_MARK = " ~series-expanded-for:"  # never part of an EWS SyncState (base64) or a Graph delta link
READ_ONLY = "this meeting is part of a recurring series in Outlook; change it there"


def occurrence_id(master_id: str, original_start: datetime) -> str:
    return f"{master_id}{SEPARATOR}{original_key(original_start)}"


def split_occurrence_id(item_id: str | None) -> tuple[str, str] | None:
    """(master id, occurrence key) for an occurrence id, else None."""
    if not item_id or SEPARATOR not in item_id:
        return None
    master, _, key = item_id.rpartition(SEPARATOR)
    return master, key


def is_occurrence(item_id: str | None) -> bool:
    return split_occurrence_id(item_id) is not None


def split_token(token: str | None) -> tuple[str | None, str]:
    """(the mailbox's own feed token, the day series were last expanded for) of a stored token."""
    if token is None or TOKEN_MARK not in token:
        return token, ""
    inner, _, day = token.rpartition(TOKEN_MARK)
    return inner or None, day


def join_token(inner: str | None, day: str) -> str:
    return f"{inner or ''}{TOKEN_MARK}{day}"


def _key_time(key: str) -> datetime:
    return as_utc(datetime.strptime(key, "%Y%m%dT%H%MZ"))


def occurrence_fields(master: OutlookItem, occ: Occurrence) -> dict[str, Any]:
    """The master's meeting fields at the occurrence's times (and with its own subject)."""
    fields = dict(master.fields)
    if occ.subject is not None:
        fields["subject"] = occ.subject
    if fields.get("all_day"):
        zone = fields.get("timezone") or (master.series.zone if master.series is not None else "UTC")
        first = local(occ.start, zone).date()
        last = local(occ.end, zone).date() - timedelta(days=1)
        fields.update(start_date=first.isoformat(), end_date=max(first, last).isoformat(), start=None, end=None)
    else:
        fields.update(start=occ.start.strftime("%Y-%m-%dT%H:%MZ"), end=occ.end.strftime("%Y-%m-%dT%H:%MZ"))
    return fields


def _version(fields: dict[str, Any]) -> str:
    text = json.dumps({k: fields.get(k) for k in sorted(fields)}, sort_keys=True, default=str)
    return "occ-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _accepts_known(port: Any) -> bool:
    import inspect

    try:
        return "known" in inspect.signature(port.changes).parameters
    except (TypeError, ValueError):
        return False


def _rejected(action: str) -> ItemRejected:
    return ItemRejected(f"{READ_ONLY} ({action} in the CRM is not copied to Outlook)")


class RecurringMeetings:
    """A MailboxPort whose meeting feed shows recurring series as their occurrences.

    `window()` gives the calendar window (settings: calendar_days_back/ahead around now);
    `links()` the journal's meeting links (their Outlook id, link id and CRM id) and `unshared()`
    the Outlook ids the journal holds as Unshared, both read once per feed.
    Everything not about meetings goes straight to the wrapped port."""

    def __init__(self, inner: Any, *, window: Callable[[], Window], links: Callable[[], Iterable[Any]],
                 unshared: Callable[[], Iterable[str]] = tuple):
        self.inner = inner
        self._window = window
        self._links = links
        self._unshared_ids = unshared
        self._linked: dict[str, Any] = {}
        self._unshared: set[str] = set()
        self.series_seen: set[str] = set()  # masters expanded since this adapter was made (the report)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # --- reads -------------------------------------------------------------------------------

    def changes(self, kind: Kind, token: str | None,
                known: Callable[[str, str], bool] | None = None) -> Iterator[OutlookPage]:
        if kind is not Kind.MEETING:
            yield from self._inner_changes(kind, token, known)
            return
        inner_token, expanded_for = split_token(token)
        window = self._window()
        today = window.end.date().isoformat()
        # Once a day the window moves: series not edited since still gain occurrences at its end,
        # so every master is re-read and re-expanded (unchanged occurrences keep their versions).
        # A first read (no token) sees every master anyway.
        refresh = token is not None and expanded_for != today and hasattr(self.inner, "recurring_masters")
        self._linked = {l.ews_item_id: l for l in self._links() if l.ews_item_id}
        self._unshared = {i for i in self._unshared_ids() if is_occurrence(i)}
        for page in self._inner_changes(kind, inner_token, known):
            out: list[OutlookChange] = []
            unknown_deletes = False
            for ch in page.changes:
                if ch.op == "upsert" and ch.item is not None and ch.item.series is not None:
                    out.extend(self._expand(ch.item))
                elif ch.op == "delete":
                    out.append(ch)
                    occs = self._known_occurrences(ch.item_id)
                    out.extend(OutlookChange("delete", vid) for vid in occs)
                    unknown_deletes = unknown_deletes or (not occs and ch.item_id not in self._linked)
                else:
                    out.append(ch)
            if unknown_deletes and self._expands_series():
                touched = {c.item_id for c in page.changes}
                out.extend(self._recheck_linked_series(skip=touched))
            if refresh:
                refresh = False
                touched = {c.item_id for c in page.changes}
                for master in self.inner.recurring_masters():
                    if master.item_id not in touched and master.series is not None:
                        out.extend(self._expand(master))
            # The day of the last re-expansion rides on the feed token, so it commits with the
            # page's effects (a crash before the commit simply re-expands).
            yield OutlookPage(tuple(out), join_token(page.token, today), page.done)

    def _inner_changes(self, kind: Kind, token: str | None, known: Callable[[str, str], bool] | None):
        if known is None or not _accepts_known(self.inner):
            return self.inner.changes(kind, token)
        return self.inner.changes(kind, token, known=known)

    def fetch(self, kind: Kind, item_ids: Sequence[str]) -> list[OutlookItem | None]:
        if kind is not Kind.MEETING:
            return self.inner.fetch(kind, item_ids)
        masters = sorted({(split_occurrence_id(i) or (i, ""))[0] for i in item_ids})
        got = dict(zip(masters, self.inner.fetch(kind, masters)))
        out: list[OutlookItem | None] = []
        for item_id in item_ids:
            parts = split_occurrence_id(item_id)
            master = got.get(parts[0] if parts else item_id)
            if parts is None:  # a master is never synced as itself
                out.append(master if master is None or master.series is None else None)
            elif master is None or master.series is None:
                out.append(None)
            else:
                out.append(self._one(master, parts[1]))
        return out

    def find_by_marker(self, kind: Kind, **kw: Any) -> list[OutlookItem]:
        return [i for i in self.inner.find_by_marker(kind, **kw) if i.series is None]

    def _expand(self, master: OutlookItem) -> list[OutlookChange]:
        self.series_seen.add(master.item_id)
        window = self._window()
        known = {parts[1]: vid for vid in self._linked if (parts := split_occurrence_id(vid)) and parts[0] == master.item_id}
        # Reach back to the oldest linked occurrence: one that left the window is kept, one that
        # left the series is deleted.
        reach = min([window.start] + [_key_time(k) - timedelta(days=1) for k in known])
        current = {o.key: o for o in self._occurrences(master, Window(reach, window.end))}
        out = [OutlookChange("upsert", item.item_id, item)
               for o in current.values() if window.overlaps(o.start, o.end)
               for item in [self._occurrence_item(master, o)]]
        out += [OutlookChange("delete", vid) for key, vid in known.items() if key not in current]
        if master.item_id in self._linked:  # synced as a single meeting before series were expanded
            out.append(OutlookChange("delete", master.item_id))
        return out

    def _expands_series(self) -> bool:
        return callable(getattr(self.inner, "series_occurrences", None))

    def _occurrences(self, master: OutlookItem, window: Window) -> list[Occurrence]:
        if self._expands_series():
            return list(self.inner.series_occurrences(master, window))
        return occurrences(master.series, window)

    def _recheck_linked_series(self, skip: set[str]) -> list[OutlookChange]:
        """Every series with linked occurrences, expanded again (a master gone: its occurrences
        are deleted)."""
        masters = sorted({parts[0] for vid in self._linked if (parts := split_occurrence_id(vid))} - skip)
        out: list[OutlookChange] = []
        for master_id, master in zip(masters, self.inner.fetch(Kind.MEETING, masters) if masters else []):
            if master is not None and master.series is not None:
                out.extend(self._expand(master))
            else:
                out.extend(OutlookChange("delete", vid) for vid in self._known_occurrences(master_id))
        return out

    def _known_occurrences(self, master_id: str) -> list[str]:
        return [vid for vid in self._linked if (parts := split_occurrence_id(vid)) and parts[0] == master_id]

    def _one(self, master: OutlookItem, key: str) -> OutlookItem | None:
        when = _key_time(key)
        around = Window(when - timedelta(days=1), when + timedelta(days=1))
        for o in self._occurrences(master, around):
            if o.key == key:
                return self._occurrence_item(master, o)
        if self._expands_series():  # an exception moved away from its day: look over the window
            window = self._window()
            wide = Window(min(window.start, when - timedelta(days=1)), max(window.end, when + timedelta(days=1)))
            found = [o for o in self._occurrences(master, wide) if o.key == key]
            return self._occurrence_item(master, found[0]) if found else None
        # a modified occurrence may have moved far from its original day
        for m in master.series.modified:
            if original_key(m.original_start) == key and as_utc(m.original_start) not in {as_utc(d) for d in master.series.deleted}:
                found = [o for o in occurrences(master.series, Window(as_utc(m.start) - timedelta(days=1),
                                                                        as_utc(m.end) + timedelta(days=1)))
                         if o.key == key]
                return self._occurrence_item(master, found[0]) if found else None
        return None

    def _occurrence_item(self, master: OutlookItem, occ: Occurrence) -> OutlookItem:
        vid = occurrence_id(master.item_id, occ.original_start)
        fields = occurrence_fields(master, occ)
        fields = {name: fields.get(name) for name in MEETING_FIELDS + ("timezone",)}
        link = self._linked.get(vid)
        # Nothing is stamped on an occurrence: a linked one carries its journal identity as its
        # markers, one unshared by the connector (undo, CRM deletion, filter) shows as Unshared
        # without the category, so the master's category does not share it again.
        if link is not None:
            marker, categorised = Sharing.SHARED, True
        elif vid in self._unshared:
            marker, categorised = Sharing.UNSHARED, False
        else:
            marker, categorised = master.marker, master.categorised
        return replace(
            master, item_id=vid, change_key=_version(fields), fields=fields, series=None,
            marker=marker, categorised=categorised,
            crm_id=link.crm_id if link is not None else None, link_id=link.id if link is not None else None,
            global_id=f"{master.global_id}{SEPARATOR}{occ.key}" if master.global_id else None,
        )

    # --- writes: occurrences are never written to Exchange --------------------------------------

    def update(self, kind: Kind, update: Update) -> Stamp:
        if is_occurrence(update.id):
            raise _rejected("an edit")
        return self.inner.update(kind, update)

    def update_many(self, kind: Kind, updates: Sequence[Update]) -> list[Stamp | AppError]:
        real = [u for u in updates if not is_occurrence(u.id)]
        done = iter(self.inner.update_many(kind, real) if real and hasattr(self.inner, "update_many")
                    else [self._try_update(kind, u) for u in real])
        return [_rejected("an edit") if is_occurrence(u.id) else next(done) for u in updates]

    def _try_update(self, kind: Kind, update: Update) -> Stamp | AppError:
        try:
            return self.inner.update(kind, update)
        except AppError as err:
            return err

    def set_sharing(self, kind: Kind, item_id: str, change_key: str, sharing: Sharing, *,
                    crm_id: str | None, link_id: str | None) -> Stamp:
        if is_occurrence(item_id):
            return Stamp(item_id, change_key)  # journal-only: the link is the occurrence's marker
        return self.inner.set_sharing(kind, item_id, change_key, sharing, crm_id=crm_id, link_id=link_id)

    def set_sharing_many(self, kind: Kind, requests: Sequence[tuple[str, str, Sharing, str | None, str | None]]
                         ) -> list[Stamp | AppError]:
        real = [r for r in requests if not is_occurrence(r[0])]
        if real and hasattr(self.inner, "set_sharing_many"):
            done = iter(self.inner.set_sharing_many(kind, real))
        else:
            done = iter([self._try_share(kind, r) for r in real])
        return [Stamp(r[0], r[1]) if is_occurrence(r[0]) else next(done) for r in requests]

    def _try_share(self, kind: Kind, r: tuple[str, str, Sharing, str | None, str | None]) -> Stamp | AppError:
        try:
            return self.inner.set_sharing(kind, r[0], r[1], r[2], crm_id=r[3], link_id=r[4])
        except AppError as err:
            return err

    def trash(self, kind: Kind, item_ids: Sequence[str]) -> list[None | AppError]:
        real = [i for i in item_ids if not is_occurrence(i)]
        done = iter(self.inner.trash(kind, real) if real else [])
        return [_rejected("a deletion") if is_occurrence(i) else next(done) for i in item_ids]

    # --- the report ---------------------------------------------------------------------------

    def notice(self) -> str | None:
        n = len(self.series_seen)
        if not n:
            return None
        return (f"{n} recurring series recorded as individual meetings (Workbooks cannot store a repeat pattern); "
                f"change them in Outlook")
