"""Canonical field catalogue per kind: the contract between the two mappers and the engine.

Connector mappers produce and accept exactly these names. Value conventions (the mappers
normalise to them, `app.domain.normalise` re-checks them before hashing):

* strings: trimmed, inner whitespace kept; empty string is the same as None (use None)
* email addresses: trimmed and lower-cased
* dates: ISO "YYYY-MM-DD"
* instants: UTC ISO to the minute, "YYYY-MM-DDTHH:MMZ"
* booleans: True/False; integers: int
* enumerations: the lower-case tokens listed below

Mapping to each side is documented in shared/docs/design.md section 6.
"""
from __future__ import annotations

from app.domain.records import Kind

PERSON_FIELDS: tuple[str, ...] = (
    "first_name",  # person_first_name <-> given_name
    "middle_name",  # person_middle_name <-> middle_name
    "last_name",  # person_last_name <-> surname
    "suffix",  # person_suffix <-> generation
    "job_title",  # person_job_title <-> job_title
    "company",  # employer_name <-> company_name
    "email1",  # main_location[email] <-> EmailAddress1
    "email2",  # main_location[alternate_email] <-> EmailAddress2
    "email3",  # home_location[email] <-> EmailAddress3
    "business_phone",  # main_location[telephone] <-> BusinessPhone
    "business_phone2",  # main_location[alternate_telephone] <-> BusinessPhone2
    "mobile_phone",  # main_location[mobile] <-> MobilePhone
    "business_fax",  # main_location[fax] <-> BusinessFax
    "home_phone",  # home_location[telephone] <-> HomePhone
    "business_street",  # main_location[street_address] <-> Business Street
    "business_city",  # main_location[town] <-> Business City
    "business_state",  # main_location[county_province_state] <-> Business State
    "business_postcode",  # main_location[postcode] <-> Business PostalCode
    "business_country",  # main_location[country] <-> Business CountryOrRegion
    "home_street",  # home_location[street_address] <-> Home Street
    "home_city",
    "home_state",
    "home_postcode",
    "home_country",
    "website",  # website <-> business_homepage
    "spouse_name",  # (CRM: spouse_name where the database has it) <-> spouse_name
    "notes",  # party_notes <-> body text outside the "Related in Workbooks" block
)

TASK_STATUSES = ("new", "in_progress", "complete")  # CRM New / In progress / Complete
PRIORITIES = ("high", "medium", "low")  # CRM High/Medium/Low <-> Outlook High/Normal/Low

TASK_FIELDS: tuple[str, ...] = (
    "subject",  # name <-> subject
    "description",  # description <-> body (as text)
    "start_date",  # start (date) <-> start_date
    "due_date",  # due (date) <-> due_date
    "status",  # activity_status <-> status (TASK_STATUSES)
    "priority",  # activity_priority <-> importance (PRIORITIES)
    "reminder_at",  # reminder_datetime (if reminder_enabled) <-> reminder_due_by (if reminder_is_set); instant or None
)

MEETING_FIELDS: tuple[str, ...] = (
    "subject",  # name <-> subject
    "description",  # description <-> body (as text)
    "all_day",  # all_day <-> is_all_day
    "start",  # start (instant; None when all_day) <-> start
    "end",  # finish (instant; None when all_day) <-> end
    "start_date",  # all-day only: first day (inclusive); None otherwise
    "end_date",  # all-day only: last day (inclusive; Outlook end is the next midnight); None otherwise
    "location",  # location <-> location
    "reminder_minutes",  # reminder_minutes (if reminder_enabled) <-> reminder_minutes_before_start (if set); int or None
)

# Fields carried for writing but not compared: the zone a meeting is written in. Meetings are
# compared as UTC instants (design 6.3), so the zone never causes a change on its own.
META_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.PERSON: (),
    Kind.TASK: (),
    Kind.MEETING: ("timezone",),  # IANA name, e.g. "Europe/London"
}

FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.PERSON: PERSON_FIELDS,
    Kind.TASK: TASK_FIELDS,
    Kind.MEETING: MEETING_FIELDS,
}

# For Outlook meetings with attendees these are owned by Outlook (design 6.3).
MEETING_SCHEDULING_FIELDS: frozenset[str] = frozenset(
    {"all_day", "start", "end", "start_date", "end_date", "location"}
)

EMAIL_FIELDS: tuple[str, ...] = ("email1", "email2", "email3")


def content_fields(kind: Kind) -> tuple[str, ...]:
    return FIELDS[kind]


def all_fields(kind: Kind) -> tuple[str, ...]:
    return FIELDS[kind] + META_FIELDS[kind]
