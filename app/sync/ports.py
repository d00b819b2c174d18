"""The small interfaces the engine drives. Connectors implement them; tests use in-memory fakes.

Rules every implementation keeps (the contract tests check them):

* Every write returns the item's new version; versions change on every write.
* A write quoting a stale version raises `app.errors.StaleVersion` and changes nothing.
* Batch calls return one result per input, in input order: a value, or an `AppError` instance
  for that item (never an exception for the whole batch because of one bad item).
* Transport trouble raises `app.errors.TransientError`; refused sign-in `AuthError`; missing
  capability `PrerequisiteError`. Library exceptions never escape a connector.
* Nothing is hard-deleted: Outlook deletions go to Deleted Items, CRM deletions are soft.
* Feeds are resumable: the caller commits each page's token with the page's effects, then asks
  for the next page. Re-reading from an older token replays changes harmlessly.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterator, Mapping, Protocol, Sequence

from app.domain.records import (
    CrmEmailLink,
    CrmIdentity,
    CrmPage,
    CrmRecord,
    EmailRecord,
    HighWater,
    Kind,
    Lease,
    LinkTarget,
    NewItem,
    OutlookItem,
    OutlookPage,
    Reference,
    RefKind,
    SentPage,
    Sharing,
    Stamp,
    Update,
)
from app.errors import AppError


class MailboxPort(Protocol):
    """The user's mailbox (EWS today, Microsoft Graph later)."""

    def identity(self) -> str:
        """Primary SMTP address of the mailbox actually reached."""

    def changes(self, kind: Kind, token: str | None,
                known: Callable[[str, str], bool] | None = None) -> Iterator[OutlookPage]:
        """Change feed of the kind's folder from `token` (None = everything, as upserts).

        Upserts carry fully mapped items. Raises `InvalidSyncToken` when the server rejects the
        token; the caller then clears it and re-reads from None.

        `known(item_id, change_key)` (optional) says the caller already holds that version of the
        item (the echo of its own write): an adapter may then leave the item out of the page
        without reading it. Adapters may ignore it (the item then comes as a normal upsert).
        """

    def fetch(self, kind: Kind, item_ids: Sequence[str]) -> list[OutlookItem | None]:
        """Current items by id, None for ids that no longer exist."""

    def find_by_marker(
        self, kind: Kind, *, link_id: str | None = None, crm_id: str | None = None
    ) -> list[OutlookItem]:
        """Items carrying our link-id or CRM-id property (crash recovery, lost journal)."""

    def create(self, kind: Kind, items: Sequence[NewItem]) -> list[Stamp | AppError]:
        """Create items (chunked internally), Shared with our markers and the category."""

    def update(self, kind: Kind, update: Update) -> Stamp:
        """Write `update.changed` fields, version-checked (NeverOverwrite); one item per call."""

    def set_sharing(
        self,
        kind: Kind,
        item_id: str,
        change_key: str,
        sharing: Sharing,
        *,
        crm_id: str | None,
        link_id: str | None,
    ) -> Stamp:
        """Set our sharing property and add/remove the "Workbooks" category, keeping the user's
        other categories. `sharing=UNSHARED` keeps crm_id/link_id so "share again" re-links."""

    def trash(self, kind: Kind, item_ids: Sequence[str]) -> list[None | AppError]:
        """Move items to Deleted Items (never a hard delete). Missing items are not an error."""

    def sent_changes(self, token: str | None, since: datetime | None) -> Iterator[SentPage]:
        """Change feed of Sent Items; messages sent before `since` are dropped."""

    def message_body(self, item_id: str) -> str:
        """Text body of one sent message, read only when it is recorded in the CRM."""


class LeasePort(Protocol):
    """The mailbox lease item (one computer per mailbox)."""

    def read_lease(self) -> Lease | None: ...

    def write_lease(self, lease: Lease) -> Lease:
        """Create or update, version-checked against `lease.version`; StaleVersion if raced."""


class CrmPort(Protocol):
    """The Workbooks database, through its HTTP API."""

    def identity(self) -> CrmIdentity: ...

    def missing_prerequisites(self) -> list[str]:
        """Human names of missing licence/extension/capabilities, empty when all is well."""

    def list_scope(self, kind: Kind, flt: "FilterSpec") -> Iterator[CrmPage]:
        """Every live record passing the filter, full records, pages of 100 (server-side filter)."""

    def changes_since(self, kind: Kind, mark: HighWater) -> Iterator[CrmPage]:
        """Every record of the kind (any scope, deleted included) updated at or after the mark,
        ascending by (updated_at, id), pages of 100. Records carry `raw` columns for local
        filter evaluation."""

    def fetch(self, kind: Kind, ids: Sequence[str]) -> list[CrmRecord]:
        """Records by id, deleted ones included (deleted=True); unknown ids are left out."""

    def find_by_link(self, kind: Kind, link_ids: Sequence[str]) -> list[CrmRecord]:
        """Records whose created_through_reference is one of our link ids (crash recovery)."""

    def find_by_email(self, kind: Kind, addresses: Sequence[str]) -> list[CrmRecord]:
        """Live records with any of these addresses (first-sync matching)."""

    def create(self, kind: Kind, items: Sequence[NewItem]) -> list[CrmRecord | AppError]:
        """Batched creates (<= 100 per request), per-object results, assigned to my queue."""

    def update(self, kind: Kind, updates: Sequence[Update]) -> list[Stamp | AppError]:
        """Batched version-checked updates; a stale one yields a StaleVersion in its slot."""

    def delete(self, kind: Kind, stamps: Sequence[Stamp]) -> list[None | AppError]:
        """Batched soft deletes (activities only; People are never deleted by the connector)."""

    # --- references and email (issue 6) ---

    def references_since(self, kind: RefKind, mark: HighWater | None) -> Iterator[tuple[list[Reference], HighWater | None]]:
        """Read-side copies of Organisations, Cases, Opportunities, Sales Leads."""

    def owners_of_addresses(self, addresses: Sequence[str]) -> Mapping[str, list[LinkTarget]]:
        """For each address: People (main, alternate, home, Contact Details) and Sales Leads
        carrying it, regardless of the user's filters. One query per type, not per address."""

    def find_emails(self, message_ids: Sequence[str]) -> Mapping[str, str]:
        """Message-ID -> CRM email id for emails already recorded (dedup across machines)."""

    def record_emails(self, emails: Sequence[EmailRecord]) -> list[str | AppError]:
        """Create email records (status SENT, never SEND); returns their ids."""

    def link_emails(self, links: Sequence[tuple[str, LinkTarget]]) -> list[str | AppError]:
        """Create email_links rows (email id, target); returns link ids."""

    def email_links_of(self, email_ids: Sequence[str]) -> list[CrmEmailLink]:
        """The live email_links rows of these emails (B36: links changed by the user)."""

    def unlink_emails(self, links: Sequence[CrmEmailLink]) -> list[str | AppError]:
        """Delete email_links rows (soft delete); never the email record. One result per link."""


class FilterSpec(Protocol):
    """See app.domain.filters.Filter: conditions over Workbooks fields with the API's
    operators, joined by AND/OR or a 1-based expression; values may be the symbol ":my_queue:"."""


class InvalidSyncToken(AppError):
    """The server refused a stored sync token: clear it and re-read the folder from scratch."""


class Observer(Protocol):
    """How the engine reports; the Qt worker turns these into signals (events.py)."""

    def progress(self, event: "object") -> None: ...

    def issue(self, event: "object") -> None: ...


class CancelToken(Protocol):
    def cancelled(self) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""


class JournalPort(Protocol):
    """The change journal (app/journal/repo.py). Every `write` is one transaction."""

    def get_meta(self, key: str) -> str | None: ...

    def cursor(self, side: str, name: str) -> str | None:
        """Stored token / high-water mark (as text) for an Outlook folder or CRM kind."""

    def link(self, link_id: str) -> "Link | None": ...

    def links(self, kind: Kind | None = None) -> list["Link"]: ...

    def load(self, kind: Kind) -> "KindState":
        """Links, staged snapshots, live outbox rows, open/resolved conflicts, errors, sharing."""

    def outbox(self, states: Sequence[str]) -> list["OutboxOp"]:
        """Outbox rows in the given states, in plan order."""

    def holds(self, status: str = "open") -> list["Hold"]: ...

    def write(self, batch: "Batch") -> None:
        """Apply a batch atomically (cursors commit with the data they cover)."""

    def reset_lost_state(self, kinds: Sequence[Kind] | None = None) -> None:
        """Forget links, cursors, staging and outbox rows (principle 3: lost state)."""


from app.sync.state import Batch, Hold, KindState, Link, OutboxOp  # noqa: E402  (for annotations)
