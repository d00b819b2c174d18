"""Extended properties, categories, tasks, calendar items and messages through exchangelib."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from exchangelib import CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone, Message, Task
from exchangelib.properties import Attendee, Mailbox
from exchangelib.recurrence import DailyPattern, NoEndPattern, Recurrence, WeeklyPattern
from exchangelib.extended_properties import ExtendedProperty

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403

UTC = EWSTimeZone("UTC")


def test_extended_properties_round_trip_and_filter(account, ews):
    _server, sandbox = ews
    c = Contact(folder=account.contacts, given_name="Ext", display_name="Ext", sbx_crm_id="PER-42",
                sbx_sharing="shared", sbx_tags=["a", "b"], sbx_score=7, categories=["Workbooks"])
    c.save()
    got = account.contacts.get(id=c.id)
    assert (got.sbx_crm_id, got.sbx_sharing, got.sbx_tags, got.sbx_score) == ("PER-42", "shared", ["a", "b"], 7)
    assert [x.id for x in account.contacts.filter(sbx_crm_id="PER-42")] == [c.id]
    assert account.contacts.filter(sbx_crm_id="nope").count() == 0
    assert account.contacts.filter(sbx_sharing__exists=True).count() == 1
    got.sbx_sharing = "unshared"
    got.save(update_fields=["sbx_sharing"])
    assert account.contacts.get(id=c.id).sbx_sharing == "unshared"
    got.sbx_crm_id = None
    got.save(update_fields=["sbx_crm_id"])
    assert account.contacts.get(id=c.id).sbx_crm_id is None
    only = list(account.contacts.filter(sbx_sharing="unshared").only("given_name", "sbx_sharing"))
    assert [(o.given_name, o.sbx_sharing) for o in only] == [("Ext", "unshared")]
    # The sandbox helper edits it behind the app's back with the same attributes.
    from tests.fixtures.ews_sandbox_fixtures import PRODUCT_GUID
    sandbox.set_extended(c.id, "shared", PropertySetId=PRODUCT_GUID, PropertyName="Sharing")
    assert account.contacts.get(id=c.id).sbx_sharing == "shared"


def test_categories_filter_and_native_contacts_have_no_property(account, ews):
    _server, sandbox = ews
    natives = list(account.contacts.all().only("display_name", "sbx_crm_id", "sbx_sharing", "categories"))
    assert natives and all(n.sbx_crm_id is None and n.sbx_sharing is None for n in natives)
    a = Contact(folder=account.contacts, given_name="Cat", display_name="Cat", categories=["Workbooks", "Red"])
    a.save()
    Contact(folder=account.contacts, given_name="Dog", display_name="Dog", categories=["Blue"]).save()
    hits = list(account.contacts.filter(categories__contains=["Workbooks"]))
    assert [h.id for h in hits] == [a.id]
    a.categories = ["Red"]
    a.save(update_fields=["categories"])
    assert account.contacts.filter(categories__contains=["Workbooks"]).count() == 0


def test_task_fields_status_rules(account):
    t = Task(folder=account.tasks, subject="Call back", body="Ring them", importance="High",
             start_date=EWSDate(2026, 3, 1), due_date=EWSDate(2026, 3, 5), status="InProgress",
             percent_complete=Decimal(30), reminder_is_set=True,
             reminder_due_by=EWSDateTime(2026, 3, 4, 9, 0, tzinfo=UTC), categories=["Workbooks"])
    t.save()
    got = account.tasks.get(id=t.id)
    assert (got.subject, got.body, got.importance, got.status) == ("Call back", "Ring them", "High", "InProgress")
    assert got.start_date == EWSDate(2026, 3, 1) and got.due_date == EWSDate(2026, 3, 5)
    assert got.percent_complete == Decimal(30) and got.is_complete is False and got.complete_date is None
    assert got.reminder_is_set is True and got.item_class == "IPM.Task"
    got.status = "Completed"
    got.percent_complete = Decimal(100)
    got.save(update_fields=["status", "percent_complete"])
    done = account.tasks.get(id=t.id)
    assert done.is_complete is True and done.percent_complete == Decimal(100) and done.complete_date
    assert [x.id for x in account.tasks.filter(due_date__gte=EWSDate(2026, 3, 5))] == [t.id]


@pytest.mark.parametrize("zone", ["Europe/London", "America/Chicago", "Australia/Sydney"])
def test_calendar_items_across_dst(account, zone):
    tz = EWSTimeZone(zone)
    # A week-long span crossing each zone's 2026 DST change, plus a winter and summer instant.
    spans = {"Europe/London": (dt.datetime(2026, 3, 27, 9), dt.datetime(2026, 3, 30, 10)),
             "America/Chicago": (dt.datetime(2026, 3, 6, 9), dt.datetime(2026, 3, 9, 10)),
             "Australia/Sydney": (dt.datetime(2026, 4, 3, 9), dt.datetime(2026, 4, 6, 10))}
    start, end = (EWSDateTime.from_datetime(d).replace(tzinfo=tz) for d in spans[zone])
    item = CalendarItem(folder=account.calendar, subject=f"Meeting {zone}", start=start, end=end,
                        location="Room 1", body="Agenda", categories=["Workbooks"],
                        required_attendees=[Attendee(mailbox=Mailbox(email_address="a@x.example"))],
                        optional_attendees=[Attendee(mailbox=Mailbox(email_address="b@x.example"))])
    item.save(send_meeting_invitations="SendToNone")
    got = account.calendar.get(id=item.id)
    assert got.start == start and got.end == end
    assert got.start.astimezone(tz).hour == 9 and got.end.astimezone(tz).hour == 10
    assert got.location == "Room 1" and got.is_meeting is True and got.type == "Single"
    assert [a.mailbox.email_address for a in got.required_attendees] == ["a@x.example"]
    assert [a.mailbox.email_address for a in got.optional_attendees] == ["b@x.example"]
    assert got.organizer.email_address == account.primary_smtp_address
    assert got.uid and got._start_timezone is not None
    later = start + dt.timedelta(days=7)
    got.start, got.end = later, later + dt.timedelta(hours=1)
    got.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    again = account.calendar.get(id=item.id)
    assert again.start == later and again.uid == got.uid
    found = list(account.calendar.filter(start__gte=later - dt.timedelta(minutes=1), subject=f"Meeting {zone}"))
    assert [f.id for f in found] == [item.id]


def test_all_day_and_recurring_master(account, ews):
    _server, sandbox = ews
    tz = EWSTimeZone("Europe/London")
    a = CalendarItem(folder=account.calendar, subject="Holiday", is_all_day=True,
                     start=EWSDate(2026, 3, 10), end=EWSDate(2026, 3, 11))
    a.save()
    got = account.calendar.get(id=a.id)
    assert got.is_all_day is True
    assert got.start == EWSDate(2026, 3, 10) and got.end == EWSDate(2026, 3, 11)
    # Across London's DST start the server stores local midnights as UTC instants, as Exchange does
    # (exchangelib's own "end minus 24 h" then lands a day early on read: ews.md section 6).
    b = CalendarItem(folder=account.calendar, subject="Long weekend", is_all_day=True,
                     start=EWSDate(2026, 3, 28), end=EWSDate(2026, 3, 29))
    b.save()
    stored = sandbox.describe(b.id)["props"]
    assert (stored["Start"], stored["End"]) == ("2026-03-28T00:00:00Z", "2026-03-29T23:00:00Z")
    start = EWSDateTime(2026, 3, 2, 9, tzinfo=tz)
    r = CalendarItem(folder=account.calendar, subject="Standup", start=start, end=start + dt.timedelta(minutes=15),
                     recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),
                                           boundary=NoEndPattern(start=EWSDate(2026, 3, 2))))
    r.save()
    got = account.calendar.get(id=r.id)
    assert got.type == "RecurringMaster" and got.is_recurring is True
    assert isinstance(got.recurrence.pattern, WeeklyPattern) and got.recurrence.pattern.interval == 1
    got.recurrence = Recurrence(pattern=DailyPattern(interval=2), boundary=NoEndPattern(start=EWSDate(2026, 3, 2)))
    got.save(update_fields=["recurrence"])
    assert isinstance(account.calendar.get(id=r.id).recurrence.pattern, DailyPattern)


def test_sent_items_read_and_filtered(account, ews):
    _server, sandbox = ews
    sent = list(account.sent.all().only("subject", "datetime_sent", "message_id", "to_recipients", "sender",
                                        "author", "is_draft"))
    assert len(sent) == len(sandbox.items("sentitems")) > 0
    m = sent[0]
    assert m.message_id.startswith("<seed-") and m.datetime_sent and m.to_recipients
    assert m.is_draft is False and m.sender.email_address == account.primary_smtp_address
    cut = sorted(x.datetime_sent for x in sent)[len(sent) // 2]
    later = list(account.sent.filter(datetime_sent__gt=cut).only("subject"))
    assert len(later) == sum(1 for x in sent if x.datetime_sent > cut)


def test_messages_drafts_imports_and_sending(account, ews):
    _server, sandbox = ews

    class Flags(ExtendedProperty):
        property_tag = 0x0E07
        property_type = "Integer"

    Message.register("pr_flags", Flags)
    try:
        draft = Message(account=account, folder=account.drafts, subject="Draft", body="hi",
                        to_recipients=[Mailbox(email_address="x@y.example")])
        draft.save()
        got = account.drafts.get(id=draft.id)
        assert got.is_draft is True and got.pr_flags & 0x8 and got.datetime_sent is None
        imported = Message(account=account, folder=account.sent, subject="Imported", body="old mail",
                           to_recipients=[Mailbox(email_address="z@y.example")], pr_flags=1,
                           message_id="<imported-1@example.com>")
        imported.save()
        got = account.sent.get(id=imported.id)
        assert got.is_draft is False and not got.pr_flags & 0x8 and got.datetime_sent  # read bit follows IsRead
        assert got.message_id == "<imported-1@example.com>"
        Message(account=account, folder=account.sent, subject="Sent now", body="b",
                to_recipients=[Mailbox(email_address="q@y.example")]).send_and_save()
        mine = account.sent.get(subject="Sent now")
        assert mine.is_draft is False and mine.datetime_sent and mine.message_id.startswith("<")
    finally:
        Message.deregister("pr_flags")


def test_mime_content_both_ways(account, ews):
    import email
    from email import policy

    _server, sandbox = ews
    seeded = account.sent.all().only("message_id")[0]
    full = account.sent.get(id=seeded.id)
    parsed = email.message_from_bytes(full.mime_content, policy=policy.default)
    assert parsed["Message-ID"] == full.message_id and parsed["Subject"] == full.subject
    raw = (b"From: Sam Sandbox <user@example.com>\r\nTo: Pat <pat@client.example>\r\n"
           b"Subject: Imported via MIME\r\nDate: Mon, 05 Jan 2026 10:00:00 +0000\r\n"
           b"Message-ID: <mime-1@example.com>\r\nContent-Type: text/plain\r\n\r\nHello Pat\r\n")
    m = Message(account=account, folder=account.sent, mime_content=raw)

    class Flags(ExtendedProperty):
        property_tag = 0x0E07
        property_type = "Integer"

    Message.register("pr_flags2", Flags)
    try:
        m.pr_flags2 = 1
        m.save()
        got = account.sent.get(id=m.id)
        assert (got.subject, got.message_id, got.body.strip()) == ("Imported via MIME", "<mime-1@example.com>", "Hello Pat")
        assert [r.email_address for r in got.to_recipients] == ["pat@client.example"]
        assert got.datetime_sent == EWSDateTime(2026, 1, 5, 10, 0, tzinfo=UTC) and got.is_draft is False
    finally:
        Message.deregister("pr_flags2")
    start = EWSDateTime(2026, 5, 1, 9, tzinfo=UTC)
    ci = CalendarItem(folder=account.calendar, subject="Ics", start=start, end=start + dt.timedelta(hours=1))
    ci.save()
    ics = account.calendar.get(id=ci.id).mime_content
    assert b"BEGIN:VCALENDAR" in ics and b"DTSTART:20260501T090000Z" in ics


def test_item_type_checked_against_folder_class(account):
    from exchangelib.errors import ErrorCannotCreateTaskInNonTaskFolder

    with pytest.raises(ErrorCannotCreateTaskInNonTaskFolder):
        account.bulk_create(folder=account.contacts, items=[Task(subject="wrong place")])


def test_task_id_change_quirk(account, ews):
    _server, sandbox = ews
    sandbox.set_knob("UpdateItem", "task_id_change", True)
    t = Task(folder=account.tasks, subject="Quirky")
    t.save()
    old = t.id
    t.subject = "Quirky 2"
    t.save(update_fields=["subject"])
    assert t.id != old and account.tasks.get(id=t.id).subject == "Quirky 2"
