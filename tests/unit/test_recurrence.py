"""Pure expansion of recurring series (app/domain/recurrence.py): patterns, ranges, exceptions and
the fixed DST / cross-zone regression cases design.md 6.3 asks for."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.domain.recurrence import (
    ABSOLUTE_MONTHLY, ABSOLUTE_YEARLY, DAILY, LAST, RELATIVE_MONTHLY, RELATIVE_YEARLY, WEEKLY,
    Modified, Pattern, Series, Window, dates, occurrences, original_key,
)

UTC = timezone.utc
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WIDE = Window(datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def at(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def starts(occs) -> list[datetime]:
    return [o.start for o in occs]


def take(pattern: Pattern, start: date, n: int, end: date | None = None, count: int | None = None) -> list[date]:
    out = []
    for d in dates(pattern, start, end, count):
        out.append(d)
        if len(out) == n:
            break
    return out


# --- patterns --------------------------------------------------------------------------------

def test_daily_every_second_day_numbered():
    got = take(Pattern(DAILY, interval=2), date(2026, 1, 30), 10, count=4)
    assert got == [date(2026, 1, 30), date(2026, 2, 1), date(2026, 2, 3), date(2026, 2, 5)]


def test_weekly_several_days_until_an_inclusive_end_date():
    got = take(Pattern(WEEKLY, days_of_week=frozenset({MON, WED})), date(2026, 3, 2), 10, end=date(2026, 3, 11))
    assert got == [date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 11)]


@pytest.mark.parametrize("first_day, expected", [
    # Weeks begin on Sunday: the start Sunday and the next Monday share week 0, week 1 is skipped.
    (SUN, [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 15), date(2026, 3, 16)]),
    # Weeks begin on Monday: the start Sunday closes week 0, the Monday after opens week 1 (skipped).
    (MON, [date(2026, 3, 1), date(2026, 3, 9), date(2026, 3, 15), date(2026, 3, 23)]),
])
def test_weekly_interval_counts_weeks_from_the_first_day_of_week(first_day, expected):
    p = Pattern(WEEKLY, interval=2, days_of_week=frozenset({SUN, MON}), first_day_of_week=first_day)
    assert take(p, date(2026, 3, 1), 4) == expected


def test_absolute_monthly_on_the_31st_falls_on_shorter_months_last_day():
    got = take(Pattern(ABSOLUTE_MONTHLY, day_of_month=31), date(2026, 1, 31), 4)
    assert got == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_absolute_monthly_every_third_month():
    got = take(Pattern(ABSOLUTE_MONTHLY, interval=3, day_of_month=15), date(2026, 1, 15), 3)
    assert got == [date(2026, 1, 15), date(2026, 4, 15), date(2026, 7, 15)]


def test_relative_monthly_second_tuesday_and_last_friday():
    second_tue = take(Pattern(RELATIVE_MONTHLY, days_of_week=frozenset({TUE}), week_index=2), date(2026, 1, 1), 3)
    assert second_tue == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]
    last_fri = take(Pattern(RELATIVE_MONTHLY, days_of_week=frozenset({FRI}), week_index=LAST), date(2026, 1, 1), 3)
    assert last_fri == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]


def test_relative_monthly_first_weekday_counts_any_workday():
    weekdays = frozenset({MON, TUE, WED, THU, FRI})
    got = take(Pattern(RELATIVE_MONTHLY, days_of_week=weekdays, week_index=1), date(2026, 1, 1), 4)
    # 1 Feb 2026 is a Sunday, 1 Mar 2026 a Sunday: the first workday is the Monday after.
    assert got == [date(2026, 1, 1), date(2026, 2, 2), date(2026, 3, 2), date(2026, 4, 1)]


def test_yearly_patterns():
    leap = take(Pattern(ABSOLUTE_YEARLY, day_of_month=29, month=2), date(2028, 2, 29), 3)
    assert leap == [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28)]
    thanksgiving = take(Pattern(RELATIVE_YEARLY, days_of_week=frozenset({THU}), week_index=4, month=11),
                        date(2026, 1, 1), 2)
    assert thanksgiving == [date(2026, 11, 26), date(2027, 11, 25)]


def test_unknown_pattern_is_refused():
    with pytest.raises(ValueError):
        Pattern("hourly")


# --- series in zones: fixed DST and cross-zone regression cases ------------------------------

def test_london_weekly_keeps_local_time_across_the_spring_change():
    s = Series(Pattern(WEEKLY, days_of_week=frozenset({MON})), "Europe/London",
               at("Europe/London", 2026, 3, 16, 9, 0), at("Europe/London", 2026, 3, 16, 10, 0))
    got = occurrences(s, Window(utc(2026, 3, 1), utc(2026, 4, 7)))
    # BST starts 29 March 2026: 09:00 local is 09:00Z before, 08:00Z after.
    assert starts(got) == [utc(2026, 3, 16, 9), utc(2026, 3, 23, 9), utc(2026, 3, 30, 8), utc(2026, 4, 6, 8)]
    assert all(o.end - o.start == timedelta(hours=1) for o in got)
    assert [o.original_start for o in got] == starts(got)


def test_chicago_skipped_and_repeated_hours():
    # 02:30 does not exist on 8 March 2026 (spring forward): that occurrence is at 03:30 CDT.
    s = Series(Pattern(DAILY), "America/Chicago", at("America/Chicago", 2026, 3, 7, 2, 30),
               at("America/Chicago", 2026, 3, 7, 3, 0), count=3)
    assert starts(occurrences(s, WIDE)) == [utc(2026, 3, 7, 8, 30), utc(2026, 3, 8, 8, 30), utc(2026, 3, 9, 7, 30)]
    # 01:30 happens twice on 1 November 2026: the first (CDT) one is taken.
    s = Series(Pattern(DAILY), "America/Chicago", at("America/Chicago", 2026, 10, 31, 1, 30),
               at("America/Chicago", 2026, 10, 31, 2, 30), count=3)
    got = occurrences(s, WIDE)
    assert starts(got) == [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 7, 30)]
    assert all(o.end - o.start == timedelta(hours=1) for o in got[::2])


def test_sydney_weekday_is_the_local_day_not_the_utc_day():
    # Monday 08:00 in Sydney is Sunday evening in UTC; DST ends 5 April 2026 (AEDT +11 -> AEST +10).
    s = Series(Pattern(WEEKLY, days_of_week=frozenset({MON})), "Australia/Sydney",
               at("Australia/Sydney", 2026, 3, 30, 8, 0), at("Australia/Sydney", 2026, 3, 30, 8, 30),
               range_end=date(2026, 4, 13))
    got = occurrences(s, WIDE)
    assert starts(got) == [utc(2026, 3, 29, 21), utc(2026, 4, 5, 22), utc(2026, 4, 12, 22)]
    assert [o.start.astimezone(ZoneInfo("Australia/Sydney")).weekday() for o in got] == [MON, MON, MON]


def test_sydney_series_read_from_a_london_client_uses_the_series_zone():
    # The master's start may arrive in any offset (here UTC); the pattern runs in the series' zone.
    s = Series(Pattern(WEEKLY, days_of_week=frozenset({TUE})), "Australia/Sydney",
               utc(2026, 9, 28, 23, 0), utc(2026, 9, 29, 0, 0), count=2)  # Tue 29 Sep 09:00 AEST
    # DST starts in Sydney on 4 October 2026: 09:00 local is 23:00Z, then 22:00Z.
    assert starts(occurrences(s, WIDE)) == [utc(2026, 9, 28, 23), utc(2026, 10, 5, 22)]


# --- exceptions, ranges, the window ----------------------------------------------------------

def weekly_london(**kw) -> Series:
    return Series(Pattern(WEEKLY, days_of_week=frozenset({WED})), "Europe/London",
                  at("Europe/London", 2026, 1, 7, 14, 0), at("Europe/London", 2026, 1, 7, 15, 0), **kw)


def test_deleted_occurrence_is_left_out_and_still_counts():
    s = weekly_london(count=4, deleted=frozenset({utc(2026, 1, 14, 14)}))
    assert starts(occurrences(s, WIDE)) == [utc(2026, 1, 7, 14), utc(2026, 1, 21, 14), utc(2026, 1, 28, 14)]


def test_modified_occurrence_has_its_own_times_and_subject_and_keeps_its_identity():
    moved = Modified(utc(2026, 1, 14, 14), utc(2026, 1, 15, 16), utc(2026, 1, 15, 17, 30), "Moved review")
    got = occurrences(weekly_london(count=3, modified=(moved,)), WIDE)
    assert [(o.start, o.end, o.modified, o.subject) for o in got] == [
        (utc(2026, 1, 7, 14), utc(2026, 1, 7, 15), False, None),
        (utc(2026, 1, 15, 16), utc(2026, 1, 15, 17, 30), True, "Moved review"),
        (utc(2026, 1, 21, 14), utc(2026, 1, 21, 15), False, None),
    ]
    assert got[1].original_start == utc(2026, 1, 14, 14) and got[1].key == "20260114T1400Z"


def test_endless_series_stops_at_the_window_and_starts_inside_it():
    s = weekly_london()
    window = Window.around(utc(2026, 6, 1), days_back=30, days_ahead=365)
    got = occurrences(s, window)
    assert got[0].start == utc(2026, 5, 6, 13) and got[-1].start == utc(2027, 5, 26, 13)
    assert len(got) == 56
    assert all(window.start <= o.start < window.end for o in got)


def test_an_occurrence_moved_into_the_window_from_beyond_it_is_included():
    window = Window(utc(2026, 1, 1), utc(2026, 1, 20))
    pulled = Modified(utc(2026, 2, 4, 14), utc(2026, 1, 19, 9), utc(2026, 1, 19, 10))
    pushed = Modified(utc(2026, 1, 14, 14), utc(2026, 3, 1, 9), utc(2026, 3, 1, 10))
    got = occurrences(weekly_london(modified=(pulled, pushed)), window)
    assert [(o.original_start, o.start) for o in got] == [
        (utc(2026, 1, 7, 14), utc(2026, 1, 7, 14)), (utc(2026, 2, 4, 14), utc(2026, 1, 19, 9)),
    ]


def test_all_day_series_are_whole_local_days():
    s = Series(Pattern(WEEKLY, days_of_week=frozenset({FRI})), "America/Chicago",
               at("America/Chicago", 2026, 3, 6, 0, 0), at("America/Chicago", 2026, 3, 7, 0, 0), count=2,
               all_day=True)
    got = occurrences(s, WIDE)
    assert starts(got) == [utc(2026, 3, 6, 6), utc(2026, 3, 13, 5)]  # CST then CDT midnights
    assert [o.end for o in got] == [utc(2026, 3, 7, 6), utc(2026, 3, 14, 5)]


def test_original_key_is_utc_to_the_minute():
    assert original_key(at("Europe/London", 2026, 7, 1, 9, 0)) == "20260701T0800Z"
