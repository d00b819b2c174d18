"""B11 end to end on both mailbox backends: a recurring Outlook series becomes individual,
read-only CRM meetings (`configure` + `sync --json` as subprocesses; on EWS exchangelib creates
the series like Outlook would, on Microsoft Graph a POST /me/events with a recurrence does)."""
from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, close_connections
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from tests.e2e.conftest_graph import backend, graph_cli, graph_sandboxes  # noqa: F401
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


@dataclass
class Calendar:
    """The calendar of either mailbox sandbox, in the terms these scenarios need."""

    boxes: Any

    @property
    def graph(self) -> Any:
        return getattr(self.boxes, "graph", None)

    @property
    def sandbox(self) -> Any:
        return self.graph or self.boxes.ews

    def add_weekly(self, subject: str, first: dt.date, count: int) -> str:
        """Wednesdays 14:00-15:00 London from `first`, `count` times, shared with Workbooks."""
        if self.graph is None:
            close_connections()
            account = make_account(self.boxes.ews)
            item = CalendarItem(
                account=account, folder=account.calendar, subject=subject, categories=["Workbooks"],
                start=EWSDateTime(first.year, first.month, first.day, 14, 0, tzinfo=LONDON),
                end=EWSDateTime(first.year, first.month, first.day, 15, 0, tzinfo=LONDON),
                recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[WEDNESDAY], first_day_of_week=1),
                                      boundary=NumberedPattern(start=EWSDate(first.year, first.month, first.day),
                                                               number=count)),
            )
            item.save(send_meeting_invitations="SendToNone")
            close_connections()
            return item.id
        zone = "GMT Standard Time"  # what Outlook on Windows writes for London
        with httpx.Client(base_url=self.graph.graph_url + "/", verify=ssl.create_default_context(
            cafile=self.boxes.connection_facts()["ca_bundle"]),
                          headers={"Authorization": f"Bearer {self.graph.mint_token()}",
                                   "Prefer": 'IdType="ImmutableId"'}) as client:
            r = client.post("me/events", json={
                "subject": subject, "categories": ["Workbooks"],
                "start": {"dateTime": f"{first.isoformat()}T14:00:00", "timeZone": zone},
                "end": {"dateTime": f"{first.isoformat()}T15:00:00", "timeZone": zone},
                "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"],
                                           "firstDayOfWeek": "monday"},
                               "range": {"type": "numbered", "startDate": first.isoformat(),
                                         "numberOfOccurrences": count, "recurrenceTimeZone": zone}}})
            assert r.status_code == 201 and r.json()["type"] == "seriesMaster", r.text
            return r.json()["id"]

    def version(self, item_id: str) -> str:
        item = self.sandbox.describe(item_id)
        return item["etag"] if self.graph is not None else item["change_key"]

    def set_location(self, item_id: str, location: str) -> None:
        if self.graph is not None:
            self.graph.edit_item(item_id, location={"displayName": location})
        else:
            self.boxes.ews.edit_item(item_id, Location=location)


@pytest.fixture
def series(backend):
    """Six Wednesdays at 14:00 London from next week; the second deleted, the third moved to the
    Thursday at 10:00 with its own subject (as Outlook records exceptions on the master)."""
    calendar = Calendar(backend.boxes)
    today = dt.date.today()
    first = today + dt.timedelta(days=7 + (2 - today.weekday()) % 7)
    master_id = calendar.add_weekly("Weekly pipeline review", first, 6)
    starts = [dt.datetime.combine(first + dt.timedelta(weeks=n), dt.time(14, 0), LONDON).astimezone(UTC)
              for n in range(6)]
    calendar.sandbox.delete_occurrence(master_id, starts[1])
    moved = dt.datetime.combine(first + dt.timedelta(weeks=2, days=1), dt.time(10, 0), LONDON).astimezone(UTC)
    calendar.sandbox.modify_occurrence(master_id, starts[2], moved, moved + dt.timedelta(hours=1),
                                       subject="Weekly pipeline review (moved)")
    return master_id, starts, moved


def test_weekly_series_with_exceptions_becomes_read_only_crm_meetings(backend, series):
    cli, sandboxes = backend.cli, backend.boxes
    calendar = Calendar(sandboxes)
    master_id, starts, moved = series
    assert backend.configure().returncode == 0
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
    version_before = calendar.version(master_id)
    target = by_start[starts[3]]
    sandboxes.crm.bump_version("meetings", target["id"], name="Renamed in Workbooks")
    code, edited = cli.json("sync", "--json")
    assert code == 0 and edited["errors"] == [], edited
    assert edited["updated"]["outlook"]["meetings"] == 0 and edited["created"]["outlook"]["meetings"] == 0
    assert calendar.version(master_id) == version_before
    assert sandboxes.crm.get_record("meetings", target["id"])["name"] == "Weekly pipeline review"

    # An occurrence deleted from the series in Outlook is deleted like any Outlook deletion.
    calendar.sandbox.delete_occurrence(master_id, starts[4])
    code, deleted = cli.json("sync", "--json")
    assert code == 0 and deleted["errors"] == [], deleted
    assert sorted(crm_start(r) for r in recurring_rows(sandboxes)) == sorted([starts[0], moved, starts[3], starts[5]])
    assert deleted["created"]["crm"]["meetings"] == 0


def test_undo_of_a_sync_that_recorded_a_series_leaves_exchange_alone(backend, series):
    cli, sandboxes = backend.cli, backend.boxes
    calendar = Calendar(sandboxes)
    master_id, starts, moved = series
    calendar.sandbox.delete_item(master_id)  # the first sync brings the seed data only
    assert backend.configure().returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    item_id = calendar.add_weekly("Weekly pipeline sync", starts[0].astimezone(LONDON).date(), 3)
    code, second = cli.json("sync", "--json")
    assert code == 0 and second["created"]["crm"]["meetings"] == 3, second
    version = calendar.version(item_id)

    code, result = cli.json("undo", "--json")
    assert code == 0 and result["ok"] and not result["skipped"], result
    assert {(r["side"], r["action"]) for r in result["restored"]} == {("crm", "soft_delete")}
    assert recurring_rows(sandboxes) == []
    assert calendar.version(item_id) == version  # nothing written to the series

    # Unshared by the undo: a later edit of the series does not bring the occurrences back.
    calendar.set_location(item_id, "Room 9")
    code, after = cli.json("sync", "--json")
    assert code == 0 and after["errors"] == [] and after["created"]["crm"]["meetings"] == 0, after
    assert recurring_rows(sandboxes) == []
