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


@dataclass
class Dataset:
    seed: int
    people: list[SeedPerson] = field(default_factory=list)
    native_contacts: list[SeedContact] = field(default_factory=list)
    sent_messages: list[SeedSentMessage] = field(default_factory=list)
    unknown_addresses: list[str] = field(default_factory=list)


def build(people: int = 50, seed: int = 1) -> Dataset:
    rng = random.Random(seed)
    data = Dataset(seed=seed)
    for i in range(people):
        first = rng.choice(FIRST)
        last = rng.choice(LAST)
        company = rng.choice(COMPANIES)
        domain = _slug(company.split()[0]) + ".example"
        email = f"{_slug(first)}.{_slug(last)}.{i}@{domain}"
        roll = rng.random()
        assigned = roll < 0.33
        watched = (not assigned) and rng.random() < 0.15
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
    sent_at = EPOCH + timedelta(days=30)
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
    return data
