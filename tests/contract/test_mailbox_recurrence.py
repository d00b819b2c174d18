"""EwsMailbox against the EWS sandbox: a recurring master comes out of the meeting feed with its
pattern and exceptions (B11), read through exchangelib unmodified, the exceptions' own subjects
from one extra GetItem, and nothing through CalendarView (ews.md "Time zones and recurrence")."""
from __future__ import annotations

import datetime as dt

import exchangelib
import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import EndDatePattern, Recurrence, RelativeMonthlyPattern

from app.domain import recurrence as rec
from app.domain.records import Kind
from tests.fixtures.mailbox_sandbox import ews_sandbox

UTC = dt.timezone.utc
CHICAGO = EWSTimeZone("America/Chicago")


@pytest.fixture
def env():
    with ews_sandbox() as env:
        yield env


def test_master_pattern_exceptions_and_subjects_come_with_the_feed(env):
    port = env.mailbox()
    account = port.account
    # Second Tuesday of each month, 08:30 Chicago, March to June 2026 (DST starts 8 March).
    item = CalendarItem(
        account=account, folder=account.calendar, subject="Ops review", categories=["Workbooks"],
        start=EWSDateTime(2026, 3, 10, 8, 30, tzinfo=CHICAGO), end=EWSDateTime(2026, 3, 10, 9, 30, tzinfo=CHICAGO),
        recurrence=Recurrence(pattern=RelativeMonthlyPattern(interval=1, weekday=2, week_number=2),
                              boundary=EndDatePattern(start=EWSDate(2026, 3, 10), end=EWSDate(2026, 6, 30))),
    )
    item.save(send_meeting_invitations="SendToNone")
    april, may = dt.datetime(2026, 4, 14, 13, 30, tzinfo=UTC), dt.datetime(2026, 5, 12, 13, 30, tzinfo=UTC)
    env.sandbox.delete_occurrence(item.id, april)
    env.sandbox.modify_occurrence(item.id, may, may + dt.timedelta(days=1), may + dt.timedelta(days=1, hours=2),
                                  subject="Ops review (Wednesday)")
    env.reset_stats()
    [page] = list(port.changes(Kind.MEETING, None))
    [change] = page.changes
    series = change.item.series
    assert series.pattern == rec.Pattern(rec.RELATIVE_MONTHLY, days_of_week=frozenset({1}), week_index=2)
    assert (series.zone, series.range_start, series.range_end) == ("America/Chicago", dt.date(2026, 3, 10),
                                                                   dt.date(2026, 6, 30))
    assert series.deleted == frozenset({april})
    [moved] = series.modified
    assert (moved.original_start, moved.subject) == (may, "Ops review (Wednesday)")
    ops = env.requests()
    assert ops.get("GetItem") == 2 and "FindItem" not in ops, ops  # the master, then its exception
    got = rec.occurrences(series, rec.Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)))
    assert [(o.start, o.subject) for o in got] == [
        (dt.datetime(2026, 3, 10, 13, 30, tzinfo=UTC), None),
        (may + dt.timedelta(days=1), "Ops review (Wednesday)"),
        (dt.datetime(2026, 6, 9, 13, 30, tzinfo=UTC), None),
    ]
    exchangelib.close_connections()


def test_exception_is_its_own_item_for_getitem(env):
    port = env.mailbox()
    account = port.account
    item = CalendarItem(
        account=account, folder=account.calendar, subject="Standup",
        start=EWSDateTime(2026, 3, 10, 8, 30, tzinfo=CHICAGO), end=EWSDateTime(2026, 3, 10, 9, 0, tzinfo=CHICAGO),
        recurrence=Recurrence(pattern=RelativeMonthlyPattern(interval=1, weekday=2, week_number=2),
                              boundary=EndDatePattern(start=EWSDate(2026, 3, 10), end=EWSDate(2026, 6, 30))),
    )
    item.save(send_meeting_invitations="SendToNone")
    first = dt.datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
    occ_id = env.sandbox.modify_occurrence(item.id, first, first + dt.timedelta(hours=1),
                                           first + dt.timedelta(hours=2), subject="Late standup")
    [got] = list(account.fetch([(occ_id, None)]))
    assert (got.subject, got.type, got.start) == ("Late standup", "Exception", first + dt.timedelta(hours=1))
    master = account.calendar.get(id=item.id)
    assert [o.id for o in master.modified_occurrences] == [occ_id]


def test_recurring_masters_lists_only_masters(env):
    port = env.mailbox()
    account = port.account
    start = EWSDateTime(2026, 3, 10, 8, 30, tzinfo=CHICAGO)
    series = CalendarItem(
        account=account, folder=account.calendar, subject="Series", start=start, end=start + dt.timedelta(hours=1),
        recurrence=Recurrence(pattern=RelativeMonthlyPattern(interval=1, weekday=2, week_number=2),
                              boundary=EndDatePattern(start=EWSDate(2026, 3, 10), end=EWSDate(2026, 6, 30))),
    )
    series.save(send_meeting_invitations="SendToNone")
    CalendarItem(account=account, folder=account.calendar, subject="Single", start=start,
                 end=start + dt.timedelta(hours=1)).save(send_meeting_invitations="SendToNone")
    env.reset_stats()
    [got] = port.recurring_masters()
    assert got.item_id == series.id and got.series.pattern.kind == rec.RELATIVE_MONTHLY
    assert env.requests() == {"FindItem": 1, "GetItem": 1}
