"""What the windows read and call, as small Protocols and plain frozen values.

The real implementations live elsewhere (journal/reader.py for `JournalView`, the configure
logic for `WizardBackend` and `SettingsStore`); tests pass fakes. Nothing here imports Qt, so
an implementation may import these dataclasses — or return its own objects with the same
attributes (the windows only read attributes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence

from app.domain.filters import Filter
from app.settings import Settings
from app.sync.events import CycleSummary

# --- journal snapshots (read-only; every write goes through the worker) ----------------------


@dataclass(frozen=True)
class StatusSnapshot:
    last_sync: datetime | None = None
    last_ok: bool | None = None
    linked: Mapping[str, int] = field(default_factory=dict)  # kind -> linked pairs
    conflicts: int = 0
    issues: int = 0
    holds: int = 0
    lease_holder: str = ""  # host holding the mailbox lease ("" = this computer / none)


@dataclass(frozen=True)
class FieldRow:
    """One differing field of a conflict: values as display text (None = empty)."""

    field: str
    label: str
    outlook: str | None
    base: str | None  # last synced (the common state)
    workbooks: str | None

    @property
    def outlook_changed(self) -> bool:
        return self.outlook != self.base

    @property
    def workbooks_changed(self) -> bool:
        return self.workbooks != self.base

    @property
    def suggested(self) -> str | None:
        """"outlook"/"workbooks" when only that side changed; None when both did (a real clash)."""
        if self.outlook_changed and not self.workbooks_changed:
            return "outlook"
        if self.workbooks_changed and not self.outlook_changed:
            return "workbooks"
        if self.outlook == self.workbooks:
            return "outlook"
        return None


@dataclass(frozen=True)
class ConflictView:
    conflict_id: str
    kind: str  # person | task | meeting
    label: str  # display name + object ref
    rows: tuple[FieldRow, ...]
    raised_at: datetime | None = None
    first_sync: bool = False  # "keep both" is offered only for first-sync mismatches


@dataclass(frozen=True)
class HoldView:
    hold_id: str
    kind: str
    side: str  # the side whose items would be deleted/unshared
    reason: str  # mass_delete | empty_side | collection_gone
    planned: int
    linked: int
    items: tuple[str, ...] = ()  # display labels of (some of) the held items


@dataclass(frozen=True)
class IssueView:
    item: str  # object ref / link id
    message: str
    attempts: int
    next_retry: datetime | None
    first_seen: datetime | None = None
    url: str = ""  # "Open in Workbooks" target, if known


@dataclass(frozen=True)
class ActionView:
    kind: str
    item: str
    action: str  # "created in Outlook", "linked", "held", ...
    reason: str


@dataclass(frozen=True)
class RunView:
    run_id: str
    started_at: datetime
    seconds: float
    ok: bool
    dry_run: bool
    trigger: str  # manual | schedule | start | wake | ...
    counts: Mapping[str, int]  # created / updated / linked / removed / failed
    actions: tuple[ActionView, ...] = ()


@dataclass(frozen=True)
class UnsharedView:
    """An item the connector no longer syncs, which "Share again" brings back."""

    kind: str
    label: str
    reason: str  # user | filter | outlook_delete | crm_delete | wizard
    removed_from_outlook: bool  # the Outlook copy is gone: sharing again re-creates it
    changed_at: datetime | None
    crm_id: str | None = None
    ews_item_id: str | None = None


@dataclass(frozen=True)
class EmailLinkChange:
    """"Link email…": add (or remove) the link of a recorded email to a Workbooks record. The
    worker writes it to the journal and starts a sync, which makes the change in Workbooks."""

    message_id: str
    crm_type: str  # person | sales_lead | organisation | case | opportunity
    crm_id: str
    add: bool


class JournalView(Protocol):
    """Read-only view of the journal for windows (journal/reader.py), on its own connection."""

    def status(self) -> StatusSnapshot: ...
    def conflicts(self) -> Sequence[ConflictView]: ...
    def history(self, limit: int = 50) -> Sequence[RunView]: ...
    def issues(self) -> Sequence[IssueView]: ...
    def holds(self) -> Sequence[HoldView]: ...
    def explain(self, query: str) -> str: ...
    def unshared(self) -> Sequence[UnsharedView]: ...

    def emails(self, limit: int = 100) -> Sequence[Any]:
        """Recorded sent emails, newest first (app.journal.email_link_store.EmailView: ref,
        message_id, subject, sent_at, links; each link has record (crm_type, crm_id, label), why,
        state linked/unlinking/removed, in_workbooks)."""

    def linkable(self, query: str = "", limit: int = 50) -> Sequence[Any]:
        """Records an email can be linked to, matching `query` (TargetView: crm_type, crm_id, label)."""


# --- first-run wizard ------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkbooksCredentials:
    url: str
    auth: str  # "api_key" | "password"
    api_key: str = ""
    username: str = ""
    password: str = ""
    database_id: str = ""


@dataclass(frozen=True)
class MailboxCredentials:
    ews_url: str
    address: str
    username: str
    password: str
    auth: str = "ntlm"  # basic | ntlm
    backend: str = "ews"  # ews | graph (Exchange Online over Microsoft Graph)
    client_id: str = ""  # graph: the Entra app registration; blanks below take the Microsoft 365 defaults
    tenant: str = ""
    authority_host: str = ""
    graph_url: str = ""
    ca_bundle: str = ""
    tokens: Any = field(default=None, repr=False, compare=False)  # graph: the signed-in GraphSignIn

    @classmethod
    def from_settings(cls, settings: Settings) -> "MailboxCredentials":
        """The saved mailbox account (no secrets), e.g. to sign in to Microsoft 365 again."""
        mb = settings.mailbox
        return cls(mb.ews_url, mb.address, mb.username, "", mb.auth, backend=mb.backend, client_id=mb.client_id,
                   tenant=mb.tenant, authority_host=mb.authority_host, graph_url=mb.graph_url,
                   ca_bundle=mb.ca_bundle)


class DeviceSignIn(Protocol):
    """A Microsoft 365 device-code sign-in (app.connectors.graph.GraphSignIn): start_device_flow()
    returns what to show (user_code, verification_uri, message, expires_at); finish_device_flow()
    blocks on a worker thread until approved (returns the address) or raises AuthError."""

    def start_device_flow(self) -> Any: ...

    def finish_device_flow(self, flow: Any, *, timeout: float | None = None, cancelled: Any = None) -> str: ...


@dataclass(frozen=True)
class DatabaseChoice:
    id: str
    name: str


@dataclass(frozen=True)
class WorkbooksSignIn:
    user_name: str
    databases: tuple[DatabaseChoice, ...] = ()  # password sign-in: the databases this login reaches


@dataclass(frozen=True)
class MailboxCheck:
    address: str  # primary SMTP address actually reached
    server: str = ""  # e.g. "Exchange 2019 (15.2.1118)"
    lease_holder: str | None = None  # another computer syncing this mailbox
    lease_since: datetime | None = None


@dataclass(frozen=True)
class SharingCounts:
    existing: int  # Outlook contacts today
    matching: int  # of those, matching a Workbooks Person


@dataclass(frozen=True)
class WizardResult:
    """Everything the wizard collected. Nothing is persisted by the wizard itself."""

    settings: Settings
    workbooks_secret: str  # API key or password, as chosen in settings.workbooks.auth
    mailbox_password: str
    take_over_lease: bool = False
    mail_sync_also: bool = False  # Workbooks' server-side Mail Sync also serves this mailbox (B4)
    mailbox_tokens: Any = field(default=None, repr=False, compare=False)  # graph: the wizard's pending sign-in


class WizardBackend(Protocol):
    """Background checks for the wizard; each call runs on a probe thread with short-lived
    clients and raises AppError subclasses (AuthError, PrerequisiteError, TransientError...)."""

    def sign_in_workbooks(self, creds: WorkbooksCredentials) -> WorkbooksSignIn: ...

    def check_prerequisites(self, creds: WorkbooksCredentials) -> Sequence[str]:
        """Missing licence/extension/capabilities by name (or raise PrerequisiteError(missing=))."""

    def test_mailbox(self, creds: MailboxCredentials) -> MailboxCheck: ...

    def graph_sign_in(self, creds: MailboxCredentials, *, pending: bool = True) -> DeviceSignIn:
        """A Microsoft 365 sign-in for `creds` (backend "graph"), built on a probe thread. `pending`
        keeps what the sign-in gets in memory until the wizard is confirmed; else it goes to the
        keyring at once (signing in again from the tray). SecretsUnavailable without a keyring."""

    def preview_counts(self, creds: WorkbooksCredentials, filters: Mapping[str, Filter]) -> Mapping[str, int]: ...

    def sharing_counts(self, creds: WorkbooksCredentials, mailbox: MailboxCredentials) -> SharingCounts: ...

    def dry_run(self, result: WizardResult) -> CycleSummary:
        """Plan the first sync without writing anything (counts for the last page)."""


# --- settings window -------------------------------------------------------------------------


class SettingsStore(Protocol):
    def load(self) -> Settings: ...

    def save(self, settings: Settings, secrets: Mapping[str, str]) -> None:
        """Validate and persist atomically; secrets (keys "workbooks", "mailbox") go to the keyring."""

    def preview_count(self, kind: str, flt: Filter) -> int:
        """How many records the filter selects now (runs on a probe thread)."""

    def rebuild_journal(self) -> None:
        """Queue a journal rebuild (applied by the worker before its next cycle)."""

    def support_bundle(self) -> Mapping[str, str]:
        """File name → text of the support bundle (ids, counts and error texts only)."""
