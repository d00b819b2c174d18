"""Folder maintenance, sending, recurring-master exceptions through exchangelib."""
from __future__ import annotations

import datetime as dt

from exchangelib import CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone, Message
from exchangelib.folders import Contacts
from exchangelib.properties import Mailbox
from exchangelib.recurrence import DailyPattern, NoEndPattern, Recurrence

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403

UTC = EWSTimeZone("UTC")


def test_folder_rename_empty_delete(account, ews):
    server, sandbox = ews
    f = Contacts(parent=account.contacts, name="CRM people")
    f.save()
    for n in ("One", "Two"):
        Contact(folder=f, given_name=n, display_name=n).save()
    f.refresh()
    assert f.total_count == 2
    f.name = "CRM contacts"
    f.save(update_fields=["name"])
    assert [c.name for c in account.contacts.children] == ["CRM contacts"]
    f.empty()
    f.refresh()
    assert f.total_count == 0
    f.delete()
    assert list(account.contacts.children) == []
    assert {"UpdateFolder", "EmptyFolder", "DeleteFolder"} <= set(server.stats.snapshot()["requests"]["by_operation"])


def test_send_new_message_and_draft(account, ews):
    _server, sandbox = ews
    before = len(sandbox.items("sentitems"))
    Message(account=account, subject="Send only", body="x", to_recipients=[Mailbox(email_address="a@b.example")]).send()
    draft = Message(account=account, folder=account.drafts, subject="Draft to send", body="y",
                    to_recipients=[Mailbox(email_address="c@d.example")])
    draft.save()
    assert sandbox.describe(draft.id)["is_draft"] is True
    draft.send()
    sent = {m["props"]["Subject"]: m for m in sandbox.items("sentitems")}
    assert len(sent) == before + 2
    assert not sent["Draft to send"]["is_draft"] and sent["Draft to send"]["sent"]
    assert sandbox.items("drafts") == []
    got = account.sent.get(subject="Send only")
    assert got.is_draft is False and got.datetime_sent is not None


def test_recurring_master_exceptions_visible(account, ews):
    _server, sandbox = ews
    start = EWSDateTime(2026, 6, 1, 9, tzinfo=UTC)
    master = CalendarItem(folder=account.calendar, subject="Daily", start=start, end=start + dt.timedelta(minutes=30),
                          recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                boundary=NoEndPattern(start=EWSDate(2026, 6, 1))))
    master.save()
    list(account.calendar.sync_items())
    moved = start + dt.timedelta(days=2)
    sandbox.modify_occurrence(master.id, moved, moved + dt.timedelta(hours=1), moved + dt.timedelta(hours=2))
    sandbox.delete_occurrence(master.id, start + dt.timedelta(days=3))
    changes = list(account.calendar.sync_items())
    assert [(k, i.id) for k, i in changes] == [("update", master.id)]
    got = account.calendar.get(id=master.id)
    assert got.type == "RecurringMaster"
    (occ,) = got.modified_occurrences
    assert occ.original_start == moved and occ.start == moved + dt.timedelta(hours=1)
    assert [d.start for d in got.deleted_occurrences] == [start + dt.timedelta(days=3)]


def test_calendar_view_expands_recurring_masters(account, ews):
    _server, sandbox = ews
    tz = EWSTimeZone("Europe/London")
    start = EWSDateTime(2026, 3, 23, 9, tzinfo=tz)  # London DST starts 29 March
    master = CalendarItem(folder=account.calendar, subject="Standup", start=start, end=start + dt.timedelta(minutes=15),
                          recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                boundary=NoEndPattern(start=EWSDate(2026, 3, 23))))
    master.save()
    single = CalendarItem(folder=account.calendar, subject="One-off", start=EWSDateTime(2026, 3, 25, 14, tzinfo=tz),
                          end=EWSDateTime(2026, 3, 25, 15, tzinfo=tz))
    single.save()
    sandbox.delete_occurrence(master.id, EWSDateTime(2026, 3, 24, 9, tzinfo=tz))
    window = list(account.calendar.view(start=EWSDateTime(2026, 3, 23, tzinfo=tz),
                                        end=EWSDateTime(2026, 4, 1, tzinfo=tz)))
    standups = [w for w in window if w.subject == "Standup"]
    assert len(standups) == 8  # 9 days minus the deleted one
    assert all(w.start.astimezone(tz).hour == 9 for w in standups)  # 09:00 local across the DST change
    assert {w.type for w in standups} == {"Occurrence"} and "One-off" in {w.subject for w in window}
    occ = standups[-1]
    again = account.calendar.get(id=occ.id)
    assert again.type == "Occurrence" and again.start == occ.start
    occ.delete()
    got = account.calendar.get(id=master.id)
    assert len(got.deleted_occurrences) == 2


def test_sync_folder_hierarchy(account):
    root = account.msg_folder_root
    first = list(root.sync_hierarchy())
    assert {k for k, _ in first} == {"create"}
    assert {"Contacts", "Calendar", "Tasks", "Inbox"} <= {f.name for _k, f in first}
    f = Contacts(parent=account.contacts, name="Synced sub")
    f.save()
    changes = list(root.sync_hierarchy())
    assert [(k, c.name) for k, c in changes] == [("create", "Synced sub")]
    f.name = "Renamed sub"
    f.save(update_fields=["name"])
    assert [(k, c.name) for k, c in root.sync_hierarchy()] == [("update", "Renamed sub")]
    fid = f.id
    f.delete()
    assert [(k, c.id) for k, c in root.sync_hierarchy()] == [("delete", fid)]
    assert list(root.sync_hierarchy()) == []


def test_moving_one_instance_makes_an_exception(account):
    tz = EWSTimeZone("Europe/London")
    start = EWSDateTime(2026, 9, 7, 9, tzinfo=tz)
    master = CalendarItem(folder=account.calendar, subject="Weekly", start=start, end=start + dt.timedelta(hours=1),
                          recurrence=Recurrence(pattern=DailyPattern(interval=7),
                                                boundary=NoEndPattern(start=EWSDate(2026, 9, 7))))
    master.save()
    got = account.calendar.get(id=master.id)
    assert got.first_occurrence.start == start and got.last_occurrence is None
    second = [o for o in account.calendar.view(start=start, end=start + dt.timedelta(days=10))][1]
    second.start = second.start + dt.timedelta(hours=2)
    second.end = second.end + dt.timedelta(hours=2)
    second.save(update_fields=["start", "end"])
    got = account.calendar.get(id=master.id)
    (mod,) = got.modified_occurrences
    assert mod.original_start == start + dt.timedelta(days=7)
    assert mod.start == start + dt.timedelta(days=7, hours=2)
    again = account.calendar.get(id=second.id)
    assert again.type == "Exception" and again.start == mod.start
