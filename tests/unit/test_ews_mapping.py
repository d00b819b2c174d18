"""Mapping of every canonical field both ways (design.md section 6), through exchangelib's own XML
serialisation where the wire matters (time zones, all-day dates). No sockets."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from exchangelib import Attendee, Body, CalendarItem, Contact, HTMLBody, Mailbox, Message, Task
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import ItemId

from app.connectors.ews import mapping
from app.connectors.ews.client import EwsSettings, open_account
from app.connectors.ews.folders import parse_calendar_item
from app.domain.fields import MEETING_FIELDS, PERSON_FIELDS, TASK_FIELDS
from app.domain.records import Kind, Sharing

ME = "me@example.com"


@pytest.fixture(scope="module")
def account():
    # No request is sent: a stored build skips the version probe and nothing else is called.
    return open_account(EwsSettings(endpoint="http://127.0.0.1:9/EWS/Exchange.asmx", mailbox=ME, username="u",
                                    password="p", auth="basic", build="15.1.2507.6", timezone="Europe/London"))


def wire(item, account):
    """Serialise as exchangelib sends it and parse as it reads a response (servers answer
    booleans as true/false, exchangelib sends 1/0)."""
    item.clean(version=account.version)
    elem = item.to_xml(version=account.version)
    for el in elem.iter():
        if el.text in ("0", "1") and el.tag.endswith(("IsAllDayEvent", "ReminderIsSet")):
            el.text = "true" if el.text == "1" else "false"
    if isinstance(item, CalendarItem):
        back = parse_calendar_item(elem, account)
    else:
        back = type(item).from_xml(elem=elem, account=account)
    back._id = ItemId("ID", "CK")
    return back


FULL_PERSON = {
    "first_name": "Ann", "middle_name": "B", "last_name": "Lee", "suffix": "Jr", "job_title": "CTO",
    "company": "Globex", "email1": "ann@globex.example", "email2": "ann.lee@mail.example",
    "email3": "ann@home.example", "business_phone": "+44 113 496 0000", "business_phone2": "+44 113 496 0001",
    "mobile_phone": "+44 7700 900000", "business_fax": "+44 113 496 0002", "home_phone": "+44 113 496 0003",
    "business_street": "1 Main St", "business_city": "Leeds", "business_state": "West Yorkshire",
    "business_postcode": "LS1 1AA", "business_country": "United Kingdom", "home_street": "2 High St",
    "home_city": "York", "home_state": "North Yorkshire", "home_postcode": "YO1 1AA", "home_country": "UK",
    "website": "https://globex.example", "spouse_name": "Sam", "notes": "Met at the fair.\nLikes tea.",
}


# --- people -----------------------------------------------------------------------------------

def test_person_round_trip_every_field(account):
    item = mapping.new_item(Kind.PERSON, FULL_PERSON, related="Opportunity OPP-1", default_zone=account.default_timezone,
                            account=account)
    assert item.display_name == "Ann B Lee Jr"
    back = wire(item, account)
    assert mapping.read_person(back) == FULL_PERSON
    assert set(mapping.read_person(back)) == set(PERSON_FIELDS)
    _, block = mapping.split_notes(back.body)
    assert block == "Opportunity OPP-1"


def test_person_read_normalises():
    item = Contact(given_name="  Ann ", surname="", email_addresses=[EmailAddress(label="EmailAddress2", email=" ANN@X.COM ")],
                   body=HTMLBody("<p>Hello&amp;bye</p><br>two"))
    fields = mapping.read_person(item)
    assert fields["first_name"] == "Ann" and fields["last_name"] is None
    assert fields["email1"] is None and fields["email2"] == "ann@x.com"
    assert fields["notes"] == "Hello&bye\n\ntwo"


def _existing_contact():
    return Contact(
        id="ID", changekey="CK", display_name="Ann Lee", given_name="Ann", surname="Lee",
        email_addresses=[EmailAddress(label="EmailAddress1", email="a@x.com"), EmailAddress(label="EmailAddress3", email="h@x.com")],
        phone_numbers=[PhoneNumber(label="CarPhone", phone_number="123"), PhoneNumber(label="MobilePhone", phone_number="777")],
        physical_addresses=[PhysicalAddress(label="Business", street="1 Main", city="Leeds"),
                            PhysicalAddress(label="Other", city="Paris")],
        body=Body(f"user notes\n\n{mapping.BLOCK_START}\nold block\n{mapping.BLOCK_END}"),
    )


def test_person_update_merges_emails_not_replace():
    item = _existing_contact()
    names = mapping.write_person(item, {"email2": "NEW@x.com"}, {"email2"}, None, replace_related=False)
    assert names == ["email_addresses"]
    assert {e.label: e.email for e in item.email_addresses} == {
        "EmailAddress1": "a@x.com", "EmailAddress2": "new@x.com", "EmailAddress3": "h@x.com"}
    mapping.write_person(item, {"email1": None}, {"email1"}, None, replace_related=False)
    assert {e.label for e in item.email_addresses} == {"EmailAddress2", "EmailAddress3"}


def test_person_update_keeps_phones_and_addresses_we_do_not_own():
    item = _existing_contact()
    names = mapping.write_person(item, {"mobile_phone": "888", "business_postcode": "LS1", "business_street": None},
                                 {"mobile_phone", "business_postcode", "business_street"}, None, replace_related=False)
    assert set(names) == {"phone_numbers", "physical_addresses"}
    assert {p.label: p.phone_number for p in item.phone_numbers} == {"CarPhone": "123", "MobilePhone": "888"}
    addresses = {a.label: a for a in item.physical_addresses}
    assert addresses["Other"].city == "Paris"
    assert (addresses["Business"].street, addresses["Business"].city, addresses["Business"].zipcode) == (None, "Leeds", "LS1")


def test_person_name_change_rebuilds_display_name():
    item = _existing_contact()
    names = mapping.write_person(item, {"first_name": "Anne"}, {"first_name"}, None, replace_related=False)
    assert set(names) == {"given_name", "display_name"} and item.display_name == "Anne Lee"


def test_notes_update_keeps_managed_block_and_block_update_keeps_notes():
    item = _existing_contact()
    assert mapping.write_person(item, {"notes": "new notes"}, {"notes"}, None, replace_related=False) == ["body"]
    assert mapping.split_notes(item.body) == ("new notes", "old block")
    mapping.write_person(item, {}, set(), "new block", replace_related=True)
    assert mapping.split_notes(item.body) == ("new notes", "new block")
    mapping.write_person(item, {}, set(), "", replace_related=True)
    assert mapping.split_notes(item.body) == ("new notes", None)


def test_notes_split_handles_text_after_block_and_missing_end():
    text = f"before\n{mapping.BLOCK_START}\nx\n{mapping.BLOCK_END}\nafter"
    assert mapping.split_notes(text) == ("before\nafter", "x")
    assert mapping.split_notes(f"only\n{mapping.BLOCK_START}\ndangling") == ("only", "dangling")
    assert mapping.split_notes(None) == (None, None)


# --- tasks ------------------------------------------------------------------------------------

FULL_TASK = {"subject": "Call Ann", "description": "About the deal", "start_date": "2025-03-29",
             "due_date": "2025-03-31", "status": "in_progress", "priority": "high", "reminder_at": "2025-03-30T08:15Z"}


def test_task_round_trip_every_field(account):
    item = mapping.new_item(Kind.TASK, FULL_TASK, related=None, default_zone=account.default_timezone, account=account)
    back = wire(item, account)
    assert mapping.read_task(back) == FULL_TASK
    assert set(mapping.read_task(back)) == set(TASK_FIELDS)


@pytest.mark.parametrize("outlook,canonical", [("NotStarted", "new"), ("InProgress", "in_progress"),
                                               ("WaitingOnOthers", "in_progress"), ("Deferred", "in_progress"),
                                               ("Completed", "complete")])
def test_task_status_in(outlook, canonical):
    assert mapping.read_task(Task(status=outlook))["status"] == canonical


@pytest.mark.parametrize("canonical,outlook,percent", [("new", "NotStarted", 0), ("in_progress", "InProgress", 40),
                                                       ("complete", "Completed", 100)])
def test_task_status_out_sets_percent(canonical, outlook, percent):
    item = Task(id="ID", changekey="CK", status="InProgress", percent_complete=Decimal(40))
    names = mapping.write_task(item, {"status": canonical}, {"status"})
    assert item.status == outlook and item.percent_complete == Decimal(percent)
    assert names == ["status", "percent_complete"]


@pytest.mark.parametrize("importance,priority", [("High", "high"), ("Normal", "medium"), ("Low", "low")])
def test_task_priority_both_ways(importance, priority):
    assert mapping.read_task(Task(importance=importance))["priority"] == priority
    item = Task()
    mapping.write_task(item, {"priority": priority}, {"priority"})
    assert item.importance == importance


def test_task_reminder_off_and_dates_cleared():
    item = Task(id="ID", changekey="CK", reminder_is_set=True, start_date=dt.date(2025, 1, 1))
    names = mapping.write_task(item, {"reminder_at": None, "start_date": None}, {"reminder_at", "start_date"})
    assert item.reminder_is_set is False and item.start_date is None
    assert set(names) == {"reminder_is_set", "start_date"}
    assert mapping.read_task(Task(reminder_is_set=False))["reminder_at"] is None


# --- meetings ---------------------------------------------------------------------------------

def _meeting(fields, account):
    item = mapping.new_item(Kind.MEETING, fields, related=None, default_zone=account.default_timezone, account=account)
    return item, wire(item, account)


@pytest.mark.parametrize("zone,start,end,local_start,local_end", [
    # Europe/London: clocks go forward at 01:00 UTC on 2025-03-30 (GMT -> BST)
    ("Europe/London", "2025-03-30T00:30Z", "2025-03-30T01:30Z", "00:30:00+00:00", "02:30:00+01:00"),
    # ... and back at 01:00 UTC on 2025-10-26
    ("Europe/London", "2025-10-26T00:30Z", "2025-10-26T01:30Z", "01:30:00+01:00", "01:30:00+00:00"),
    # America/Chicago: CST -> CDT at 08:00 UTC on 2025-03-09
    ("America/Chicago", "2025-03-09T07:30Z", "2025-03-09T08:30Z", "01:30:00-06:00", "03:30:00-05:00"),
    # Australia/Sydney: AEDT -> AEST at 16:00 UTC on 2025-04-05
    ("Australia/Sydney", "2025-04-05T15:30Z", "2025-04-05T16:30Z", "02:30:00+11:00", "02:30:00+10:00"),
])
def test_meeting_instants_across_dst(account, zone, start, end, local_start, local_end):
    fields = {"subject": "DST", "all_day": False, "start": start, "end": end, "timezone": zone}
    item, back = _meeting(fields, account)
    assert item.start.isoformat()[11:] == local_start and item.end.isoformat()[11:] == local_end
    assert item._start_timezone.key == zone
    read, _ = mapping.read_meeting(back, ME)
    assert (read["start"], read["end"], read["all_day"], read["timezone"]) == (start, end, False, zone)
    assert read["start_date"] is None and read["end_date"] is None


@pytest.mark.parametrize("zone,first,last,wire_start,wire_end", [
    ("Europe/London", "2025-03-30", "2025-03-30", "2025-03-30T00:00:00+00:00", "2025-03-31T00:00:00+01:00"),
    ("America/Chicago", "2025-03-08", "2025-03-09", "2025-03-08T00:00:00-06:00", "2025-03-10T00:00:00-05:00"),
    ("Australia/Sydney", "2025-04-05", "2025-04-06", "2025-04-05T00:00:00+11:00", "2025-04-07T00:00:00+10:00"),
    ("Europe/London", "2025-12-31", "2026-01-01", "2025-12-31T00:00:00+00:00", "2026-01-02T00:00:00+00:00"),
])
def test_all_day_inclusive_end_is_next_midnight_on_the_wire(account, zone, first, last, wire_start, wire_end):
    fields = {"subject": "Away", "all_day": True, "start_date": first, "end_date": last, "timezone": zone}
    item, back = _meeting(fields, account)
    elem = item.to_xml(version=account.version)
    assert elem.find("{*}Start").text == wire_start and elem.find("{*}End").text == wire_end
    read, _ = mapping.read_meeting(back, ME)
    assert (read["all_day"], read["start_date"], read["end_date"], read["start"], read["end"]) == (True, first, last, None, None)


def test_exchangelib_own_all_day_parse_is_off_by_one_across_dst(account):
    """Why folders.parse_calendar_item exists: exchangelib subtracts 24 h in UTC before converting."""
    item = mapping.new_item(Kind.MEETING, {"all_day": True, "start_date": "2025-03-30", "end_date": "2025-03-30",
                                           "timezone": "Europe/London"}, related=None,
                            default_zone=account.default_timezone, account=account)
    item.clean(version=account.version)

    def elem():
        e = item.to_xml(version=account.version)
        e.find("{*}IsAllDayEvent").text = "true"
        return e

    assert CalendarItem.from_xml(elem=elem(), account=account).end == dt.date(2025, 3, 29)  # exchangelib: wrong day
    read, _ = mapping.read_meeting(parse_calendar_item(elem(), account), ME)
    assert read["end_date"] == "2025-03-30"


def test_meeting_all_fields_and_read_only_extras(account):
    fields = {"subject": "Review", "description": "Agenda", "all_day": False, "start": "2025-06-01T09:00Z",
              "end": "2025-06-01T10:00Z", "location": "Room 1", "reminder_minutes": 15, "timezone": "Europe/London"}
    _, back = _meeting(fields, account)
    back.organizer = Mailbox(email_address="Boss@Example.com")
    back.required_attendees = [Attendee(mailbox=Mailbox(email_address="A@x.com"), response_type="Accept")]
    back.optional_attendees = [Attendee(mailbox=Mailbox(email_address="b@x.com"), response_type="Unknown")]
    back.uid = "UID-1"
    read, extra = mapping.read_meeting(back, ME)
    expected = {**{k: None for k in MEETING_FIELDS}, **fields, "start_date": None, "end_date": None}
    assert read == expected
    assert extra == {"global_id": "UID-1", "has_attendees": True, "attendees": ("a@x.com", "b@x.com"),
                     "organised_by_me": False, "series": None}


def test_meeting_update_keeps_item_zone_and_switches_to_all_day(account):
    item = CalendarItem(account=account, id="ID", changekey="CK", start=mapping.instant_in("2025-06-01T09:00Z"),
                        end=mapping.instant_in("2025-06-01T10:00Z"), is_all_day=False)
    item._start_timezone = item._end_timezone = mapping.zone("America/Chicago", account.default_timezone)
    names = mapping.write_meeting(item, {"start": "2025-06-01T15:00Z", "end": "2025-06-01T16:00Z", "all_day": False},
                                  {"start", "end"}, account.default_timezone)
    assert set(names) == {"start", "end", "is_all_day"}
    assert item.start.isoformat() == "2025-06-01T10:00:00-05:00"
    mapping.write_meeting(item, {"all_day": True, "start_date": "2025-06-02", "end_date": "2025-06-02"}, {"all_day"},
                          account.default_timezone)
    assert item.is_all_day and item.start == dt.date(2025, 6, 2) and item.end == dt.date(2025, 6, 2)
    reminder = mapping.write_meeting(item, {"reminder_minutes": None}, {"reminder_minutes"}, account.default_timezone)
    assert reminder == ["reminder_is_set"] and item.reminder_is_set is False


# --- markers and sent items -------------------------------------------------------------------

def test_markers_and_category():
    item = Contact(id="ID", changekey="CK", display_name="x", categories=["Red", "workbooks"])
    item.sharing_state, item.crm_id, item.link_id = "shared", "42", "L"
    got = mapping.to_outlook_item(Kind.PERSON, item, ME)
    assert (got.marker, got.categorised, got.crm_id, got.link_id, got.stamp.version) == (Sharing.SHARED, True, "42", "L", "CK")
    names = mapping.apply_markers(item, sharing=Sharing.UNSHARED, crm_id=None, link_id=None)
    assert item.categories == ["Red"] and item.sharing_state == "unshared" and item.crm_id == "42"
    assert names == ["sharing_state", "categories"]
    mapping.apply_markers(item, sharing=Sharing.SHARED, crm_id="43", link_id="L2")
    assert item.categories == ["Red", "Workbooks"] and item.crm_id == "43"
    native = mapping.to_outlook_item(Kind.PERSON, Contact(id="I", changekey="C", display_name="n"), ME)
    assert native.marker is None and not native.categorised


def test_sent_message_mapping():
    sent = dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    item = Message(id="ID", changekey="CK", subject=" Hi ", message_id="<m1@x>", author=Mailbox(email_address="Me@Example.com"),
                   to_recipients=[Mailbox(email_address="A@x.com")], cc_recipients=[Mailbox(email_address="c@x.com")],
                   bcc_recipients=[Mailbox(email_address="d@x.com")], sensitivity="Private", size=1234,
                   datetime_sent=mapping.instant_in("2025-01-02T03:04Z"))
    got = mapping.read_sent(item)
    assert (got.subject, got.message_id, got.sender, got.to, got.cc, got.bcc, got.sent_at, got.private, got.size) == (
        "Hi", "<m1@x>", "me@example.com", ("a@x.com",), ("c@x.com",), ("d@x.com",), sent, True, 1234)
    assert mapping.read_sent(Message(id="I", sensitivity="Normal")).private is False


def test_instants_are_utc_minutes():
    assert mapping.instant_out(mapping.instant_in("2025-03-30T02:30:59+01:00")) == "2025-03-30T01:30Z"
    with pytest.raises(ValueError):
        mapping.instant_out(dt.datetime(2025, 1, 1))


# --- recurring masters (B11) -----------------------------------------------------------------

T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _master_xml(recurrence: str, extra: str = "", tz: str = "AUS Eastern Standard Time") -> str:
    """A GetItem CalendarItem as Exchange answers it for a RecurringMaster (schema order)."""
    return (
        f'<t:CalendarItem xmlns:t="{T}"><t:ItemId Id="M1" ChangeKey="CK1"/><t:Subject>Board</t:Subject>'
        '<t:Start>2026-01-29T22:00:00Z</t:Start><t:End>2026-01-29T23:30:00Z</t:End>'
        '<t:IsAllDayEvent>false</t:IsAllDayEvent><t:CalendarItemType>RecurringMaster</t:CalendarItemType>'
        f'<t:Recurrence>{recurrence}</t:Recurrence>{extra}'
        f'<t:StartTimeZone Id="{tz}"/></t:CalendarItem>'
    )


def test_recurring_master_reads_pattern_range_and_exceptions(account):
    from lxml import etree

    from app.domain import recurrence as rec

    xml = _master_xml(
        "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Weekday</t:DaysOfWeek>"
        "<t:DayOfWeekIndex>Last</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence>"
        "<t:NumberedRecurrence><t:StartDate>2026-01-30+11:00</t:StartDate>"
        "<t:NumberOfOccurrences>4</t:NumberOfOccurrences></t:NumberedRecurrence>",
        "<t:ModifiedOccurrences><t:Occurrence><t:ItemId Id=\"X1\" ChangeKey=\"CK2\"/>"
        "<t:Start>2026-02-26T23:00:00Z</t:Start><t:End>2026-02-27T00:00:00Z</t:End>"
        "<t:OriginalStart>2026-02-26T22:00:00Z</t:OriginalStart></t:Occurrence></t:ModifiedOccurrences>"
        "<t:DeletedOccurrences><t:DeletedOccurrence><t:Start>2026-03-30T22:00:00Z</t:Start>"
        "</t:DeletedOccurrence></t:DeletedOccurrences>",
    )
    item = parse_calendar_item(etree.fromstring(xml), account)
    series = mapping.read_series(item)
    assert series.pattern == rec.Pattern(rec.RELATIVE_MONTHLY, days_of_week=frozenset(range(5)), week_index=rec.LAST)
    assert (series.zone, series.range_start, series.count, series.range_end) == (
        "Australia/Sydney", dt.date(2026, 1, 30), 4, None)
    assert series.deleted == frozenset({dt.datetime(2026, 3, 30, 22, tzinfo=dt.timezone.utc)})
    assert series.modified == (rec.Modified(dt.datetime(2026, 2, 26, 22, tzinfo=dt.timezone.utc),
                                            dt.datetime(2026, 2, 26, 23, tzinfo=dt.timezone.utc),
                                            dt.datetime(2026, 2, 27, 0, tzinfo=dt.timezone.utc), item_id="X1"),)
    # Last workday of each month at 09:00 Sydney (AEDT until 5 April, then AEST); March deleted.
    got = rec.occurrences(series, rec.Window(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                                             dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)))
    assert [(o.original_start.isoformat(), o.start.isoformat()) for o in got] == [
        ("2026-01-29T22:00:00+00:00", "2026-01-29T22:00:00+00:00"),
        ("2026-02-26T22:00:00+00:00", "2026-02-26T23:00:00+00:00"),
        ("2026-04-29T23:00:00+00:00", "2026-04-29T23:00:00+00:00"),
    ]


@pytest.mark.parametrize("recurrence, pattern", [
    ("<t:WeeklyRecurrence><t:Interval>2</t:Interval><t:DaysOfWeek>Monday Thursday</t:DaysOfWeek>"
     "<t:FirstDayOfWeek>Monday</t:FirstDayOfWeek></t:WeeklyRecurrence>",
     dict(kind="weekly", interval=2, days_of_week=frozenset({0, 3}), first_day_of_week=0)),
    ("<t:AbsoluteYearlyRecurrence><t:DayOfMonth>30</t:DayOfMonth><t:Month>January</t:Month>"
     "</t:AbsoluteYearlyRecurrence>", dict(kind="absolute_yearly", day_of_month=30, month=1)),
    ("<t:DailyRecurrence><t:Interval>3</t:Interval></t:DailyRecurrence>", dict(kind="daily", interval=3)),
])
def test_recurring_master_patterns_and_end_date(account, recurrence, pattern):
    from lxml import etree

    from app.domain import recurrence as rec

    xml = _master_xml(recurrence + "<t:EndDateRecurrence><t:StartDate>2026-01-30</t:StartDate>"
                      "<t:EndDate>2026-06-30</t:EndDate></t:EndDateRecurrence>", tz="GMT Standard Time")
    series = mapping.read_series(parse_calendar_item(etree.fromstring(xml), account))
    assert series.pattern == rec.Pattern(**pattern)
    assert (series.zone, series.range_start, series.range_end, series.count) == (
        "Europe/London", dt.date(2026, 1, 30), dt.date(2026, 6, 30), None)


def test_single_meetings_and_occurrences_have_no_series(account):
    fields = {"subject": "One-off", "all_day": False, "start": "2025-06-01T09:00Z", "end": "2025-06-01T10:00Z",
              "timezone": "Europe/London"}
    _, back = _meeting(fields, account)
    assert mapping.read_series(back) is None
    back.type = "Occurrence"
    assert mapping.read_series(back) is None
