"""B11 end to end: a recurring Outlook series becomes individual, read-only CRM meetings
(`configure` + `sync --json` as subprocesses, exchangelib creating the series like Outlook would)."""
from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, close_connections
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from tests.e2e.conftest import configure_args
from tests.e2e.test_sync_e2e import writes
from tests.fixtures.ews_sandbox_fixtures import make_account

LONDON = EWSTimeZone("Europe/London")
UTC = dt.timezone.utc
WEDNESDAY = 3  # exchangelib weekday numbers are 1-based, Monday first


def recurring_rows(boxes, include_deleted: bool = False):
    return sorted((r for r in boxes.crm.rows("meetings", include_deleted=include_deleted)
                   if str(r.get("name") or "").startswith("Weekly pipeline")), key=lambda r: r["id"])


def crm_time(value) -> dt.datetime:
    """The sandbox's stored value "ISO,has-time,zone" as an aware UTC datetime."""
    return dt.datetime.fromisoformat(str(value).split(",")[0].replace("Z", "+00:00")).astimezone(UTC)


def crm_start(row) -> dt.datetime:
    return crm_time(row["start"])


@pytest.fixture
def series(sandboxes):
    """Six Wednesdays at 14:00 London from next week; the second deleted, the third moved to the
    Thursday at 10:00 with its own subject (as Outlook records exceptions on the master)."""
    close_connections()
    today = dt.date.today()
    first = today + dt.timedelta(days=7 + (2 - today.weekday()) % 7)
    account = make_account(sandboxes.ews)
    item = CalendarItem(
        account=account, folder=account.calendar, subject="Weekly pipeline review", categories=["Workbooks"],
        start=EWSDateTime(first.year, first.month, first.day, 14, 0, tzinfo=LONDON),
        end=EWSDateTime(first.year, first.month, first.day, 15, 0, tzinfo=LONDON),
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[WEDNESDAY], first_day_of_week=1),
                              boundary=NumberedPattern(start=EWSDate(first.year, first.month, first.day), number=6)),
    )
    item.save(send_meeting_invitations="SendToNone")
    close_connections()
    starts = [dt.datetime.combine(first + dt.timedelta(weeks=n), dt.time(14, 0), LONDON).astimezone(UTC)
              for n in range(6)]
    sandboxes.ews.delete_occurrence(item.id, starts[1])
    moved = dt.datetime.combine(first + dt.timedelta(weeks=2, days=1), dt.time(10, 0), LONDON).astimezone(UTC)
    sandboxes.ews.modify_occurrence(item.id, starts[2], moved, moved + dt.timedelta(hours=1),
                                    subject="Weekly pipeline review (moved)")
    return item.id, starts, moved


def test_weekly_series_with_exceptions_becomes_read_only_crm_meetings(cli, sandboxes, series):
    master_id, starts, moved = series
    assert cli(*configure_args(sandboxes)).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["errors"] == [], first
    assert any("1 recurring series recorded as individual meetings" in n for n in first.get("notices", [])), first

    rows = recurring_rows(sandboxes)
    assert sorted(crm_start(r) for r in rows) == sorted([starts[0], moved, starts[3], starts[4], starts[5]])
    by_start = {crm_start(r): r for r in rows}
    assert by_start[moved]["name"] == "Weekly pipeline review (moved)"
    assert {by_start[s]["name"] for s in (starts[0], starts[3], starts[4], starts[5])} == {"Weekly pipeline review"}
    assert all(crm_time(r["finish"]) - crm_start(r) == dt.timedelta(hours=1) for r in rows)

    code, again = cli.json("sync", "--json")
    assert code == 0 and writes(again) == 0 and again["errors"] == [], again

    # A CRM edit of one occurrence never reaches Exchange: the series is untouched and the CRM copy
    # is overwritten from Outlook.
    master_before = sandboxes.ews.describe(master_id)
    target = by_start[starts[3]]
    sandboxes.crm.bump_version("meetings", target["id"], name="Renamed in Workbooks")
    code, edited = cli.json("sync", "--json")
    assert code == 0 and edited["errors"] == [], edited
    assert edited["updated"]["outlook"]["meetings"] == 0 and edited["created"]["outlook"]["meetings"] == 0
    assert sandboxes.ews.describe(master_id)["change_key"] == master_before["change_key"]
    assert sandboxes.crm.get_record("meetings", target["id"])["name"] == "Weekly pipeline review"

    # An occurrence deleted from the series in Outlook is deleted like any Outlook deletion.
    sandboxes.ews.delete_occurrence(master_id, starts[4])
    code, deleted = cli.json("sync", "--json")
    assert code == 0 and deleted["errors"] == [], deleted
    assert sorted(crm_start(r) for r in recurring_rows(sandboxes)) == sorted([starts[0], moved, starts[3], starts[5]])
    assert deleted["created"]["crm"]["meetings"] == 0


def test_undo_of_a_sync_that_recorded_a_series_leaves_exchange_alone(cli, sandboxes, series):
    master_id, starts, moved = series
    sandboxes.ews.delete_item(master_id)  # the first sync brings the seed data only
    assert cli(*configure_args(sandboxes)).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    close_connections()
    account = make_account(sandboxes.ews)
    first_day = starts[0].astimezone(LONDON).date()
    item = CalendarItem(
        account=account, folder=account.calendar, subject="Weekly pipeline sync", categories=["Workbooks"],
        start=EWSDateTime(first_day.year, first_day.month, first_day.day, 14, 0, tzinfo=LONDON),
        end=EWSDateTime(first_day.year, first_day.month, first_day.day, 15, 0, tzinfo=LONDON),
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[WEDNESDAY], first_day_of_week=1),
                              boundary=NumberedPattern(start=EWSDate(first_day.year, first_day.month, first_day.day),
                                                       number=3)),
    )
    item.save(send_meeting_invitations="SendToNone")
    close_connections()
    code, second = cli.json("sync", "--json")
    assert code == 0 and second["created"]["crm"]["meetings"] == 3, second
    change_key = sandboxes.ews.describe(item.id)["change_key"]

    code, result = cli.json("undo", "--json")
    assert code == 0 and result["ok"] and not result["skipped"], result
    assert {(r["side"], r["action"]) for r in result["restored"]} == {("crm", "soft_delete")}
    assert recurring_rows(sandboxes) == []
    assert sandboxes.ews.describe(item.id)["change_key"] == change_key  # nothing written to the series

    # Unshared by the undo: a later edit of the series does not bring the occurrences back.
    sandboxes.ews.edit_item(item.id, Location="Room 9")
    code, after = cli.json("sync", "--json")
    assert code == 0 and after["errors"] == [] and after["created"]["crm"]["meetings"] == 0, after
    assert recurring_rows(sandboxes) == []
