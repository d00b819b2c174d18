"""app/sync/recurring.py: recurring masters in the meeting feed become read-only occurrences with
stable ids; occurrences leaving a series become deletions; writes never reach the mailbox. The
wrapped port here is a small in-memory stand-in (the EWS path is covered end to end in
tests/e2e/test_recurring_e2e.py)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from app.domain.records import Kind, OutlookChange, OutlookItem, OutlookPage, Sharing, Side, Stamp, Update
from app.domain.recurrence import WEEKLY, Modified, Pattern, Series, Window
from app.errors import ItemRejected
from app.sync.planner import READ_ONLY_REASON, CState, OState, PairView, decide
from app.sync.recurring import (
    READ_ONLY, RecurringMeetings, is_occurrence, join_token, occurrence_id, split_token,
)

UTC = timezone.utc
M = Kind.MEETING


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def master(**series_kw) -> OutlookItem:
    series = Series(Pattern(WEEKLY, days_of_week=frozenset({2})), "Europe/London", utc(2026, 1, 7, 14),
                    utc(2026, 1, 7, 15), count=4, **series_kw)
    fields = {"subject": "Pipeline", "description": None, "all_day": False, "start": "2026-01-07T14:00Z",
              "end": "2026-01-07T15:00Z", "start_date": None, "end_date": None, "location": "Room 2",
              "reminder_minutes": None, "timezone": "Europe/London"}
    return OutlookItem(M, "MASTER", "CK1", fields, categorised=True, global_id="UID-9", series=series)


SINGLE = OutlookItem(M, "SINGLE", "CK", {"subject": "One-off", "start": "2026-01-08T10:00Z"})


class Inner:
    """Just enough mailbox: a feed of given pages, fetch by id, recorded writes."""

    def __init__(self, items, pages=None):
        self.items = {i.item_id: i for i in items}
        self.pages = pages
        self.calls: list[tuple] = []

    def changes(self, kind, token, known=None):
        changes = self.pages or [OutlookChange("upsert", i.item_id, i) for i in self.items.values()]
        yield OutlookPage(tuple(changes), "T1", True)

    def fetch(self, kind, ids):
        return [self.items.get(i) for i in ids]

    def find_by_marker(self, kind, **kw):
        return list(self.items.values())

    def update(self, kind, update):
        self.calls.append(("update", update.id))
        return Stamp(update.id, "CK2")

    def set_sharing(self, kind, item_id, change_key, sharing, *, crm_id, link_id):
        self.calls.append(("share", item_id))
        return Stamp(item_id, "CK3")

    def trash(self, kind, ids):
        self.calls.append(("trash", tuple(ids)))
        return [None for _ in ids]


def feed(inner, links=(), window=Window(utc(2026, 1, 1), utc(2026, 2, 1))):
    box = RecurringMeetings(inner, window=lambda: window, links=lambda: list(links))
    [page] = list(box.changes(M, "T0"))
    return box, page


def link(item_id, crm_id="77"):
    return SimpleNamespace(id=f"L-{item_id[-14:]}", ews_item_id=item_id, crm_id=crm_id)


def test_master_becomes_its_occurrences_with_stable_ids_and_versions():
    moved = Modified(utc(2026, 1, 21, 14), utc(2026, 1, 22, 9), utc(2026, 1, 22, 10), subject="Moved")
    item = master(deleted=frozenset({utc(2026, 1, 14, 14)}), modified=(moved,))
    box, page = feed(Inner([item, SINGLE]))
    occs = [c.item for c in page.changes if c.item is not None and is_occurrence(c.item_id)]
    assert [(o.item_id, o.fields["start"], o.fields["end"], o.fields["subject"]) for o in occs] == [
        ("MASTER#occ#20260107T1400Z", "2026-01-07T14:00Z", "2026-01-07T15:00Z", "Pipeline"),
        ("MASTER#occ#20260121T1400Z", "2026-01-22T09:00Z", "2026-01-22T10:00Z", "Moved"),
        ("MASTER#occ#20260128T1400Z", "2026-01-28T14:00Z", "2026-01-28T15:00Z", "Pipeline"),
    ]
    assert occs[0].global_id == "UID-9#occ#20260107T1400Z" and occs[0].series is None
    assert occs[0].fields["location"] == "Room 2" and occs[0].categorised
    assert [c.item_id for c in page.changes if not is_occurrence(c.item_id)] == ["SINGLE"]
    # An edit of the series elsewhere leaves the untouched occurrences' versions as they were.
    _, again = feed(Inner([replace(item, change_key="CK2", fields={**item.fields, "location": "Room 2"})]))
    assert [c.item.change_key for c in again.changes] == [o.change_key for o in occs]
    assert box.notice().startswith("1 recurring series recorded as individual meetings")


def test_linked_occurrences_carry_their_journal_identity():
    vid = occurrence_id("MASTER", utc(2026, 1, 7, 14))
    _, page = feed(Inner([master()]), links=[link(vid)])
    occ = next(c.item for c in page.changes if c.item_id == vid)
    assert (occ.marker, occ.categorised, occ.crm_id, occ.link_id) == (Sharing.SHARED, True, "77", link(vid).id)


def test_occurrences_leaving_the_series_are_deleted_but_past_ones_are_kept():
    past = occurrence_id("MASTER", utc(2026, 1, 7, 14))  # outside the window below, still in the series
    dropped = occurrence_id("MASTER", utc(2026, 1, 14, 14))  # deleted from the series since
    window = Window(utc(2026, 1, 10), utc(2026, 2, 1))
    _, page = feed(Inner([master(deleted=frozenset({utc(2026, 1, 14, 14)}))]), links=[link(past), link(dropped)],
                   window=window)
    assert [(c.op, c.item_id) for c in page.changes] == [
        ("upsert", "MASTER#occ#20260121T1400Z"), ("upsert", "MASTER#occ#20260128T1400Z"), ("delete", dropped)]


def test_a_deleted_master_deletes_its_linked_occurrences_and_a_legacy_single_link_goes():
    vid = occurrence_id("MASTER", utc(2026, 1, 7, 14))
    _, page = feed(Inner([], pages=[OutlookChange("delete", "MASTER")]), links=[link(vid)])
    assert [(c.op, c.item_id) for c in page.changes] == [("delete", "MASTER"), ("delete", vid)]
    _, page = feed(Inner([master()]), links=[link("MASTER")])
    assert ("delete", "MASTER") in [(c.op, c.item_id) for c in page.changes]


def test_fetch_resolves_occurrences_and_hides_masters():
    moved = Modified(utc(2026, 1, 21, 14), utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))
    box = RecurringMeetings(Inner([master(deleted=frozenset({utc(2026, 1, 14, 14)}), modified=(moved,)), SINGLE]),
                            window=lambda: Window(utc(2026, 1, 1), utc(2026, 2, 1)), links=list)
    ids = [occurrence_id("MASTER", utc(2026, 1, 7, 14)), occurrence_id("MASTER", utc(2026, 1, 14, 14)),
           occurrence_id("MASTER", utc(2026, 1, 21, 14)), occurrence_id("GONE", utc(2026, 1, 7, 14)), "MASTER", "SINGLE"]
    got = box.fetch(M, ids)
    assert got[0].fields["start"] == "2026-01-07T14:00Z"
    assert got[1] is None  # deleted occurrence
    assert got[2].fields["start"] == "2026-03-02T09:00Z"  # moved far from its original day
    assert got[3] is None and got[4] is None and got[5] is SINGLE
    assert [i.item_id for i in box.find_by_marker(M, link_id="x")] == ["SINGLE"]


def test_writes_to_occurrences_never_reach_the_mailbox():
    inner = Inner([master(), SINGLE])
    box = RecurringMeetings(inner, window=lambda: Window(utc(2026, 1, 1), utc(2026, 2, 1)), links=list)
    vid = occurrence_id("MASTER", utc(2026, 1, 7, 14))
    with pytest.raises(ItemRejected, match=READ_ONLY):
        box.update(M, Update(vid, "v", {}, frozenset({"subject"})))
    results = box.update_many(M, [Update(vid, "v", {}, frozenset()), Update("SINGLE", "CK", {}, frozenset())])
    assert isinstance(results[0], ItemRejected) and results[1] == Stamp("SINGLE", "CK2")
    assert box.set_sharing(M, vid, "v1", Sharing.SHARED, crm_id="1", link_id="L") == Stamp(vid, "v1")
    assert box.set_sharing_many(M, [(vid, "v1", Sharing.SHARED, "1", "L"), ("SINGLE", "CK", Sharing.SHARED, "2", "K")]) \
        == [Stamp(vid, "v1"), Stamp("SINGLE", "CK3")]
    trashed = box.trash(M, [vid, "SINGLE"])
    assert isinstance(trashed[0], ItemRejected) and trashed[1] is None
    assert inner.calls == [("update", "SINGLE"), ("share", "SINGLE"), ("trash", ("SINGLE",))]


FIELDS = {"subject": "Pipeline", "description": "Agenda", "all_day": False, "start": "2026-01-07T14:00Z",
          "end": "2026-01-07T15:00Z", "start_date": None, "end_date": None, "location": None, "reminder_minutes": None}


def test_planner_overwrites_a_crm_edit_of_an_occurrence_from_outlook():
    view = PairView(M, OState.UNCHANGED, CState.CHANGED, True, base=FIELDS, outlook_fields=FIELDS,
                    crm_fields={**FIELDS, "subject": "Renamed", "location": "Kitchen"}, read_only=True)
    d = decide(view)
    assert [(a.op, a.side) for a in d.actions] == [("update", Side.CRM)]
    assert d.actions[0].changed == frozenset({"subject", "location"}) and d.reason == READ_ONLY_REASON
    both = decide(replace(view, outlook=OState.CHANGED, outlook_fields={**FIELDS, "subject": "New title"}))
    assert [(a.op, a.side) for a in both.actions] == [("update", Side.CRM)] and not both.conflict_kind
    assert both.base["subject"] == "New title"


def test_planner_never_trashes_an_occurrence_deleted_in_the_crm():
    view = PairView(M, OState.UNCHANGED, CState.DELETED, True, base=FIELDS, outlook_fields=FIELDS, read_only=True)
    assert [a.op for a in decide(view).actions] == ["unshare"]


class WithMasters(Inner):
    def __init__(self, items, pages=None):
        super().__init__(items, pages)
        self.master_reads = 0

    def recurring_masters(self):
        self.master_reads += 1
        return [i for i in self.items.values() if i.series is not None]


def test_series_are_re_expanded_once_a_day_as_the_window_moves():
    inner = WithMasters([master(), SINGLE], pages=[OutlookChange("upsert", "SINGLE", SINGLE)])
    window = Window(utc(2026, 1, 1), utc(2026, 1, 15))
    box = RecurringMeetings(inner, window=lambda: window, links=list)
    [page] = list(box.changes(M, join_token("T0", "2026-01-14")))  # expanded for yesterday's window
    assert [c.item_id for c in page.changes] == [
        "SINGLE", "MASTER#occ#20260107T1400Z", "MASTER#occ#20260114T1400Z"]
    assert split_token(page.token) == ("T1", "2026-01-15") and inner.master_reads == 1
    [again] = list(box.changes(M, page.token))  # same day: the feed only
    assert [c.item_id for c in again.changes] == ["SINGLE"] and inner.master_reads == 1
    [first] = list(box.changes(M, None))  # a first read sees every master anyway
    assert inner.master_reads == 1 and split_token(first.token)[1] == "2026-01-15"


def test_feed_tokens_round_trip():
    assert split_token(None) == (None, "")
    assert split_token("plain") == ("plain", "")
    assert split_token(join_token(None, "2026-01-01")) == (None, "2026-01-01")
    assert split_token(join_token("abc==", "2026-01-01")) == ("abc==", "2026-01-01")


def test_an_occurrence_the_connector_unshared_is_not_shared_again_by_the_masters_category():
    vid = occurrence_id("MASTER", utc(2026, 1, 7, 14))
    box = RecurringMeetings(Inner([master()]), window=lambda: Window(utc(2026, 1, 1), utc(2026, 2, 1)),
                            links=list, unshared=lambda: [vid, "SOME-CONTACT"])
    [page] = list(box.changes(M, "T0"))
    items = {c.item_id: c.item for c in page.changes}
    assert (items[vid].marker, items[vid].categorised) == (Sharing.UNSHARED, False)
    other = items[occurrence_id("MASTER", utc(2026, 1, 14, 14))]
    assert (other.marker, other.categorised) == (None, True)


class ExpandingInner(Inner):
    """A mailbox that expands series itself (as Graph does): occurrences come from it, not from
    the master's pattern, and a cancelled occurrence is reported by an id naming no series."""

    def __init__(self, items, pages=None, starts=()):
        super().__init__(items, pages)
        self.starts = list(starts)
        self.asked: list[str] = []

    def series_occurrences(self, master_item, window):
        from app.domain.recurrence import Occurrence
        from datetime import timedelta

        self.asked.append(master_item.item_id)
        return [Occurrence(s, s, s + timedelta(hours=1)) for s in self.starts if window.overlaps(s, s)]


def test_a_mailbox_that_expands_series_is_asked_for_the_occurrences():
    starts = [utc(2026, 1, 7, 14), utc(2026, 1, 21, 14)]  # the pattern says weekly: the mailbox wins
    _, page = feed(ExpandingInner([master()], starts=starts))
    assert [c.item_id for c in page.changes] == [occurrence_id("MASTER", s) for s in starts]


def test_an_unknown_deletion_rechecks_linked_series_only_when_the_mailbox_expands_them():
    starts = [utc(2026, 1, 7, 14), utc(2026, 1, 14, 14), utc(2026, 1, 21, 14)]
    linked = [link(occurrence_id("MASTER", s)) for s in starts]
    gone = [OutlookChange("delete", "INSTANCE-ID")]
    inner = ExpandingInner([master()], pages=gone, starts=[starts[0], starts[2]])
    _, page = feed(inner, links=linked)
    assert [(c.op, c.item_id) for c in page.changes if c.op == "delete"] == [
        ("delete", "INSTANCE-ID"), ("delete", occurrence_id("MASTER", starts[1]))]
    assert inner.asked == ["MASTER"]
    # the series gone too: its linked occurrences are deleted
    inner = ExpandingInner([], pages=gone)
    _, page = feed(inner, links=linked)
    assert {c.item_id for c in page.changes} == {"INSTANCE-ID"} | {l.ews_item_id for l in linked}
    # a mailbox that reports series by their master (EWS) is not asked again
    _, page = feed(Inner([master()], pages=gone), links=linked)
    assert [c.item_id for c in page.changes] == ["INSTANCE-ID"]
