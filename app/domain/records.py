"""Canonical records: the plain values the engine reasons about.

Both connectors translate their native shapes (Workbooks JSON rows, exchangelib items) into these
dataclasses, so the engine compares like with like. A record's synced content is a flat mapping of
canonical field name -> normalised scalar (str, bool, int or None); the names per kind are listed
in `app.domain.fields`. Everything here is immutable and free of I/O, so it can cross threads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Mapping

from app.domain.recurrence import Series


class Kind(str, Enum):
    """Synced record kinds (both directions)."""

    PERSON = "person"  # CRM crm/people <-> Outlook contact
    TASK = "task"  # CRM activity/tasks <-> Outlook task
    MEETING = "meeting"  # CRM activity/meetings <-> Outlook calendar item


class RefKind(str, Enum):
    """Read-only CRM kinds, copied down for email linking and "Related in Workbooks"."""

    ORGANISATION = "organisation"
    CASE = "case"
    OPPORTUNITY = "opportunity"
    SALES_LEAD = "sales_lead"


class Side(str, Enum):
    OUTLOOK = "outlook"
    CRM = "crm"


class Sharing(str, Enum):
    """Sharing state of an Outlook item (interfaces.md section 4)."""

    NATIVE = "native"  # no connector property
    UNSHARED = "unshared"  # property says "unshared"
    SHARED = "shared"  # property says "shared" (and the item should carry the category)


SHARE_CATEGORY = "Workbooks"

Fields = Mapping[str, Any]


@dataclass(frozen=True)
class Stamp:
    """Identity and version of an item right after a read or one of our writes.

    `version` is the Exchange ChangeKey or str(lock_version) of a CRM record.
    """

    id: str
    version: str


@dataclass(frozen=True)
class OutlookItem:
    kind: Kind
    item_id: str
    change_key: str
    fields: Fields  # canonical fields of app.domain.fields for `kind`
    marker: Sharing | None = None  # our sharing property; None means no property (Native)
    categorised: bool = False  # carries the "Workbooks" category
    crm_id: str | None = None  # our CRM-id property
    link_id: str | None = None  # our link-id property (UUID of the journal link)
    global_id: str | None = None  # meetings: iCalendar UID / global object id
    has_attendees: bool = False  # meetings: scheduling fields are Outlook-owned then
    organised_by_me: bool = True
    attendees: tuple[str, ...] = ()  # lower-cased addresses
    last_modified: datetime | None = None
    # meetings: a recurring master's pattern and exceptions (app.domain.recurrence.Series); the
    # engine records its occurrences (app.sync.recurring), never the master itself
    series: Series | None = None

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.item_id, self.change_key)


@dataclass(frozen=True)
class CrmRecord:
    kind: Kind
    id: str  # the Workbooks integer id, as a string
    lock_version: int
    fields: Fields  # canonical fields of app.domain.fields for `kind`
    raw: Fields = field(default_factory=dict)  # selected raw columns (assigned_to, watched, ...) for local filter evaluation
    updated_at: datetime | None = None  # UTC
    deleted: bool = False
    link_id: str | None = None  # created_through_reference written by the connector
    object_ref: str | None = None
    owned_by_me: bool = False
    emails: tuple[str, ...] = ()  # every address (main, alternate, home, Contact Details), lower-cased

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.id, str(self.lock_version))


@dataclass(frozen=True)
class OutlookChange:
    """One entry of a folder's change feed. Deletions carry only the id."""

    op: str  # "upsert" | "delete"
    item_id: str
    item: OutlookItem | None = None


@dataclass(frozen=True)
class OutlookPage:
    changes: tuple[OutlookChange, ...]
    token: str  # opaque SyncState to commit with this page's effects
    done: bool  # no more pages right now


@dataclass(frozen=True)
class HighWater:
    """CRM delta mark: last updated_at seen, with the id as tie-break within that second."""

    updated_at: datetime
    last_id: int = 0


@dataclass(frozen=True)
class CrmPage:
    records: tuple[CrmRecord, ...]
    high_water: HighWater | None  # mark to commit with this page's effects
    done: bool


@dataclass(frozen=True)
class NewItem:
    """A create request: canonical fields plus the markers our side writes onto the item."""

    fields: Fields
    link_id: str  # our UUID, written onto the created item (EWS property / CRM created_through_reference)
    crm_id: str | None = None  # Outlook creates only
    sharing: Sharing = Sharing.SHARED  # Outlook creates only
    related: str | None = None  # Outlook contacts only: the "Related in Workbooks" block


@dataclass(frozen=True)
class Update:
    """An update request. `fields` is the full desired record; only `changed` names are written."""

    id: str
    version: str  # expected ChangeKey / lock_version
    fields: Fields
    changed: frozenset[str]
    related: str | None = None  # Outlook contacts only; None = leave the block as it is


@dataclass(frozen=True)
class SentMessage:
    """A message in Sent Items, headers only (bodies are never stored by the journal)."""

    item_id: str
    message_id: str  # Internet Message-ID, the dedup key
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    sent_at: datetime | None = None
    private: bool = False
    size: int = 0


@dataclass(frozen=True)
class SentPage:
    messages: tuple[SentMessage, ...]
    deleted_ids: tuple[str, ...]
    token: str
    done: bool


@dataclass(frozen=True)
class EmailRecord:
    """What the connector writes to the CRM for one sent message."""

    message_id: str
    subject: str
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    sent_at: datetime | None = None
    body: str = ""
    # The full MIME source, attachments included (B35), when attachments are kept; never stored
    # in the journal, only passed from the mailbox read to the CRM write.
    rfc822: bytes | None = None


@dataclass(frozen=True)
class LinkTarget:
    """A CRM record an email can be linked to."""

    crm_type: str  # "person" | "sales_lead" | "organisation" | "case" | "opportunity"
    crm_id: str


@dataclass(frozen=True)
class CrmEmailLink:
    """An `email/email_links` row as the CRM holds it (a delete needs its lock_version)."""

    id: str
    lock_version: int
    email_id: str
    target: LinkTarget


@dataclass(frozen=True)
class Reference:
    """Read-side copy of an Organisation, Case, Opportunity or Sales Lead."""

    kind: RefKind
    id: str
    object_ref: str
    name: str
    status: str | None = None
    person_ids: tuple[str, ...] = ()
    organisation_id: str | None = None
    emails: tuple[str, ...] = ()
    updated_at: datetime | None = None
    deleted: bool = False
    assigned_to_me: bool = False


@dataclass(frozen=True)
class CrmIdentity:
    user_id: str
    login_name: str
    person_name: str
    database_id: str
    database_name: str
    my_queues: Mapping[str, int] = field(default_factory=dict)  # queue class name -> my queue id


@dataclass(frozen=True)
class Lease:
    holder_machine_id: str
    holder_host: str
    heartbeat_at: datetime
    app_version: str = ""
    version: str = ""  # ChangeKey of the lease item; empty when not yet stored
