"""Deterministic seed data shared by both sandboxes.

The same `--seed` and `--people` always give the same CRM records and the same mailbox, and the
mailbox is built to exercise the connector: some native contacts share an address with a CRM
person (first-sync matching), and Sent Items holds mail to CRM addresses (main and Contact
Details) and to addresses nobody knows yet (late linking).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

FIRST = (
    "Alice", "Ben", "Chloé", "Dev", "Emma", "Finn", "Grace", "Hiro", "Isla", "Jamal", "Katrin",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor",
    "Wen", "Xavier", "Yara", "Zoë", "Søren", "Åsa", "José", "Łucja",
)
LAST = (
    "Adams", "Brown", "Clarke", "Dubois", "Evans", "Fischer", "García", "Hughes", "Iyer", "Jones",
    "Kowalski", "López", "Murphy", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi", "Smith",
    "Taylor", "Ueda", "Vasquez", "Walsh", "Xu", "Young", "Zhang", "Müller", "Ørsted",
)
COMPANIES = (
    "Acme Ltd", "Globex plc", "Initech", "Umbrella Group", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Corp", "Cyberdyne Systems", "Aperture Labs",
)
TOWNS = ("Reading", "Leeds", "Bristol", "Manchester", "Glasgow", "Cardiff", "York", "Oxford")
TITLES = ("Director", "Buyer", "Office Manager", "Engineer", "Head of Sales", "CFO", "Analyst")

MAILBOX = "user@example.com"
USER_NAME = "Sam Sandbox"
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
# The signed-in CRM user (Workbooks sandbox): login MAILBOX / CRM_PASSWORD, or the key crm_api_key(seed).
CRM_USER_ID = 29198
CRM_PASSWORD = "sandbox-password"
CRM_DATABASE_ID = 13330


def crm_api_key(seed: int) -> str:
    return f"wbk-sandbox-{seed:04d}-0a1b2c3d4e5f"


def recent_base() -> datetime:
    today = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
    return today - timedelta(days=7)


def _slug(text: str) -> str:
    table = str.maketrans({"é": "e", "ë": "e", "ø": "o", "Ø": "o", "å": "a", "Å": "a", "ö": "o",
                           "ü": "u", "í": "i", "ł": "l", "Ł": "l", "'": "", " ": ""})
    return text.translate(table).lower()


@dataclass(frozen=True)
class SeedPerson:
    index: int
    first_name: str
    last_name: str
    company: str
    job_title: str
    email: str
    alternate_email: str | None
    contact_details_emails: tuple[str, ...]  # extra Contact Details (party_locations) addresses
    phone: str
    mobile: str
    town: str
    assigned_to_me: bool
    watched: bool
    updated_at: datetime

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def in_my_people(self) -> bool:
        return self.assigned_to_me or self.watched


@dataclass(frozen=True)
class SeedContact:
    """A contact already in the mailbox before the connector arrives (Native)."""

    given_name: str
    surname: str
    company: str
    email: str


@dataclass(frozen=True)
class SeedSentMessage:
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    sent_at: datetime
    message_id: str
    body: str


@dataclass(frozen=True)
class SeedOrganisation:
    index: int
    name: str
    industry: str
    website: str
    email: str
    town: str
    assigned_to_me: bool


@dataclass(frozen=True)
class SeedLead:
    """A sales lead; `shares_person` is the index of a person with the same address, or None for
    an address nobody else in the CRM has."""

    index: int
    first_name: str
    last_name: str
    company: str
    email: str
    status: str
    shares_person: int | None
    assigned_to_me: bool
    watched: bool


@dataclass(frozen=True)
class SeedCase:
    index: int
    name: str
    problem: str
    contact_person: int | None  # index into people
    status_id: int
    assigned_to_me: bool


@dataclass(frozen=True)
class SeedOpportunity:
    index: int
    name: str
    description: str
    contact_people: tuple[int, ...]  # indexes into people
    organisation: int | None  # index into organisations
    stage: str
    amount: str
    assigned_to_me: bool


@dataclass(frozen=True)
class SeedActivity:
    index: int
    kind: str  # "task" or "meeting"
    name: str
    description: str
    status: str  # New / In progress / Complete
    priority: str
    start: datetime | None
    finish: datetime | None  # meetings
    due: datetime | None  # tasks (all-day date at midnight UTC)
    all_day: bool
    primary_contact: int | None  # index into people
    assigned_to_me: bool
    watched: bool

    @property
    def is_open(self) -> bool:
        return self.status != "Complete"


@dataclass(frozen=True)
class SeedUser:
    user_id: int
    name: str
    username: str  # an email address
    password: str
    api_key: str | None
    databases: tuple[int, ...]  # logical database ids open to this login
    default_database: int
    api_access: bool = True
    disabled: bool = False
    denied: tuple[str, ...] = ()  # "<type>:<action>" capabilities the user lacks, e.g. "emails:create"


@dataclass(frozen=True)
class SeedDatabase:
    database_id: int
    name: str
    instance_id: int
    seeded: bool  # holds the seeded records (the others start empty)


@dataclass
class Dataset:
    seed: int
    people: list[SeedPerson] = field(default_factory=list)
    native_contacts: list[SeedContact] = field(default_factory=list)
    sent_messages: list[SeedSentMessage] = field(default_factory=list)
    unknown_addresses: list[str] = field(default_factory=list)
    # CRM-only data (the EWS sandbox ignores these)
    organisations: list[SeedOrganisation] = field(default_factory=list)
    sales_leads: list[SeedLead] = field(default_factory=list)
    cases: list[SeedCase] = field(default_factory=list)
    opportunities: list[SeedOpportunity] = field(default_factory=list)
    activities: list[SeedActivity] = field(default_factory=list)
    deleted_people: list[SeedPerson] = field(default_factory=list)  # soft-deleted rows, not in `people`
    users: list[SeedUser] = field(default_factory=list)  # users[0] is the signed-in user (MAILBOX)
    databases: list[SeedDatabase] = field(default_factory=list)  # databases[0] holds the data

    @property
    def me(self) -> SeedUser:
        return self.users[0]


def build(people: int = 50, seed: int = 1, *, assigned_share: float = 0.33, watched_share: float = 0.15) -> Dataset:
    """`assigned_share` of the people are assigned to the user; of the rest, `watched_share` are
    watched by the user (the defaults reproduce earlier datasets exactly)."""
    rng = random.Random(seed)
    data = Dataset(seed=seed)
    for i in range(people):
        first = rng.choice(FIRST)
        last = rng.choice(LAST)
        company = rng.choice(COMPANIES)
        domain = _slug(company.split()[0]) + ".example"
        email = f"{_slug(first)}.{_slug(last)}.{i}@{domain}"
        roll = rng.random()
        assigned = roll < assigned_share
        watched = (not assigned) and rng.random() < watched_share
        alternate = f"{_slug(first)}{i}@mail.example" if rng.random() < 0.25 else None
        details = (f"{_slug(last)}.{i}@home.example",) if rng.random() < 0.2 else ()
        data.people.append(
            SeedPerson(
                index=i,
                first_name=first,
                last_name=last,
                company=company,
                job_title=rng.choice(TITLES),
                email=email,
                alternate_email=alternate,
                contact_details_emails=details,
                phone=f"+44 118 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                mobile=f"+44 7700 {rng.randrange(100000, 999999)}",
                town=rng.choice(TOWNS),
                assigned_to_me=assigned,
                watched=watched,
                updated_at=EPOCH + timedelta(minutes=i),
            )
        )
    # Native contacts: a few share an address with My People (matching), a few are strangers.
    mine = [p for p in data.people if p.in_my_people]
    for p in mine[: max(1, len(mine) // 10)] if mine else []:
        data.native_contacts.append(SeedContact(p.first_name, p.last_name, p.company, p.email))
    for j in range(3):
        data.native_contacts.append(
            SeedContact(f"Native{j}", "Contact", "Private", f"native{j}@friends.example")
        )
    # Sent mail: to CRM main addresses, to Contact Details addresses, and to unknown addresses.
    # Sent mail is dated in the week before today, so it falls inside a capture window that starts
    # at most 90 days back (R15); the day is the only thing that varies from run to run.
    sent_at = recent_base()
    targets: list[tuple[str, ...]] = []
    for p in data.people[: min(len(data.people), 10)]:
        targets.append((p.email,))
    for p in [p for p in data.people if p.contact_details_emails][:3]:
        targets.append((p.contact_details_emails[0],))
    data.unknown_addresses = [f"prospect{k}@newclient.example" for k in range(3)]
    for addr in data.unknown_addresses:
        targets.append((addr,))
    for k, to in enumerate(targets):
        data.sent_messages.append(
            SeedSentMessage(
                subject=f"Follow-up {k + 1}",
                to=to,
                cc=(),
                sent_at=sent_at + timedelta(hours=k),
                message_id=f"<seed-{seed}-{k}@example.com>",
                body=f"Hello,\n\nfollowing up on our conversation ({k + 1}).\n\nSam",
            )
        )
    _crm_extras(data, seed)
    return data


INDUSTRIES = ("Manufacturing", "Retail", "Software", "Finance", "Logistics", "Food", "Research")
LEAD_STATUSES = ("New", "Contacted", "Qualified", "Disqualified")
STAGES = ("Prospecting", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
ACTIVITY_SUBJECTS = ("Call back", "Send proposal", "Quarterly review", "Check invoice", "Demo ☕",
                     "Contract renewal", "Kick-off", "Site visit 🚀")


def _crm_extras(data: Dataset, seed: int) -> None:
    """Organisations, leads, cases, opportunities, activities, users and databases. A separate
    random stream keeps the people, contacts and messages above identical to earlier versions."""
    rng = random.Random(seed * 7919 + 17)
    n = len(data.people)
    data.databases = [SeedDatabase(CRM_DATABASE_ID, "Main", 47119, True), SeedDatabase(13350, "Demo", 47120, False)]
    data.users = [
        SeedUser(CRM_USER_ID, USER_NAME, MAILBOX, CRM_PASSWORD, crm_api_key(seed), (CRM_DATABASE_ID,),
                 CRM_DATABASE_ID),
        SeedUser(29199, "Casey Colleague", "colleague@example.com", "colleague-password",
                 f"wbk-colleague-{seed:04d}-9f8e7d6c", (13330,), 13330,
                 denied=("emails:create", "emails:update", "emails:destroy", "email_links:create",
                         "opportunities:index", "opportunities:create", "opportunities:update",
                         "opportunities:destroy")),
        SeedUser(29200, "Morgan Multi", "multi@example.com", "multi-password", None, (13330, 13350), 13350),
        SeedUser(29201, "Nora NoApi", "noapi@example.com", "noapi-password", None, (13330,), 13330,
                 api_access=False),
        SeedUser(29202, "Dana Disabled", "disabled@example.com", "disabled-password", None, (13330,), 13330,
                 disabled=True),
    ]
    for i, company in enumerate(COMPANIES):
        slug = _slug(company.split()[0])
        data.organisations.append(SeedOrganisation(
            i, company, rng.choice(INDUSTRIES), f"https://www.{slug}.example", f"info@{slug}.example",
            rng.choice(TOWNS), rng.random() < 0.4))
    for j in range(n // 100):
        data.organisations.append(SeedOrganisation(
            len(COMPANIES) + j, f"Prospect Org {j + 1}", rng.choice(INDUSTRIES), f"https://prospect{j + 1}.example",
            f"hello@prospect{j + 1}.example", rng.choice(TOWNS), rng.random() < 0.2))
    for k in range(max(6, n // 10)):
        if k % 3 == 0 and n:
            p = data.people[(k * 7) % n]
            first, last, company, email, shares = p.first_name, p.last_name, p.company, p.email, p.index
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"Lead Co {k + 1}"
            email, shares = f"lead{k + 1}.{_slug(last)}@leadco{k + 1}.example", None
        roll = rng.random()
        data.sales_leads.append(SeedLead(k, first, last, company, email, rng.choice(LEAD_STATUSES), shares,
                                         roll < 0.4, 0.4 <= roll < 0.5))
    for k in range(max(4, n // 20)):
        contact = (k * 5) % n if n else None
        who = data.people[contact].name if contact is not None and k % 2 == 0 else None
        name = f"Support request for {who}" if who else f"Case {k + 1}: {rng.choice(('Login issue', 'Billing query', 'Delivery delay', 'Feature request'))}"
        data.cases.append(SeedCase(k, name, f"<p>Reported problem number {k + 1}.</p>", contact,
                                   rng.choice((1, 2, 3)), rng.random() < 0.4))
    for k in range(max(3, n // 25)):
        contacts = tuple(sorted({(k * 3) % n, (k * 3 + 11) % n})) if n else ()
        who = data.people[contacts[0]].name if contacts and k % 2 == 0 else None
        org = k % len(data.organisations) if data.organisations else None
        name = f"Deal with {who}" if who else f"Opportunity {k + 1}"
        data.opportunities.append(SeedOpportunity(
            k, name, f"Potential order {k + 1}", contacts, org, rng.choice(STAGES),
            f"{rng.randrange(1, 500) * 100:.2f} GBP 0", rng.random() < 0.4))
    base = EPOCH + timedelta(days=20)
    for k in range(max(8, n // 5)):
        kind = "meeting" if k % 3 == 2 else "task"
        status = "Complete" if k % 4 == 3 else rng.choice(("New", "New", "In progress"))
        contact = (k * 13) % n if n and k % 2 == 0 else None
        roll = rng.random()
        mine = k < 4 or roll < 0.45
        watched = (not mine) and roll < 0.55
        day = base + timedelta(days=k % 40)
        if kind == "meeting":
            start = day.replace(hour=9 + k % 8)
            finish, due, all_day = start + timedelta(hours=1), None, k % 10 == 5
        else:
            start, finish = (day - timedelta(days=2)) if k % 5 == 0 else None, None
            due, all_day = day.replace(hour=0), False
        data.activities.append(SeedActivity(
            k, kind, f"{rng.choice(ACTIVITY_SUBJECTS)} #{k + 1}", f"Notes for activity {k + 1}.",
            status, rng.choice(("High", "Medium", "Low")), start, finish, due, all_day, contact, mine, watched))
    for k in range(max(1, n // 100)):
        data.deleted_people.append(SeedPerson(
            index=n + k, first_name="Deleted", last_name=f"Person {k + 1}", company=COMPANIES[k % len(COMPANIES)],
            job_title="Former", email=f"deleted{k + 1}@gone.example", alternate_email=None,
            contact_details_emails=(), phone="+44 118 000 0000", mobile="+44 7700 000000", town="York",
            assigned_to_me=True, watched=False, updated_at=EPOCH + timedelta(minutes=n + k)))
