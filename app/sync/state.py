"""Plain values exchanged with the journal (JournalPort). Rows never leave app/journal; these do."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from app.domain.records import CrmRecord, Kind, OutlookItem, Side

def evolve(obj: Any, **changes: Any) -> Any:
    """dataclasses.replace for the plain frozen values here (no __post_init__, no slots), at a
    tenth of its cost: settling a first sync replaces each of tens of thousands of links and
    outbox entries several times."""
    names = _FIELDS.get(obj.__class__)
    if names is None:
        names = _FIELDS[obj.__class__] = frozenset(obj.__dataclass_fields__)
    if not names.issuperset(changes):
        raise TypeError(f"{obj.__class__.__name__} has no field {sorted(set(changes) - names)[0]!r}")
    new = object.__new__(obj.__class__)
    values = new.__dict__
    values.update(obj.__dict__)
    values.update(changes)
    return new


_FIELDS: dict[type, frozenset[str]] = {}

# link states
SHARED = "shared"
CREATING = "creating"  # one side written, the other side's create pending or failed
CONFLICTED = "conflicted"  # first-sync pair waiting for the user
ACCESS_LOST = "access_lost"

# outbox states
PENDING, HELD, IN_FLIGHT, DONE, FAILED, CANCELLED = "pending", "held", "in_flight", "done", "failed", "cancelled"


@dataclass(frozen=True)
class Link:
    id: str
    kind: Kind
    state: str = SHARED
    ews_item_id: str | None = None
    ews_change_key: str | None = None
    ews_hash: str | None = None
    ews_fields: Mapping[str, Any] | None = None  # Outlook content as last synced
    crm_id: str | None = None
    crm_lock_version: str | None = None
    crm_hash: str | None = None
    crm_fields: Mapping[str, Any] | None = None  # CRM content as last synced
    crm_updated_at: datetime | None = None
    base: Mapping[str, Any] | None = None
    base_hash: str | None = None
    mapping_version: int = 1
    in_scope: bool = True
    origin: str = ""  # side the pair started on ("outlook" | "crm" | "both")
    last_synced_at: datetime | None = None
    # B7: when the CRM record was first reported deleted or missing; the deletion only counts once
    # a later run's direct lookup agrees. Written only through Batch.gone_seen (see ingest.py).
    crm_gone_seen_at: datetime | None = None
    # B3: meetings' Exchange global meeting id (UID), so a re-created calendar item re-points the
    # link (row 20) instead of becoming a second meeting. Never cleared by a link written without it.
    ews_global_id: str | None = None


@dataclass(frozen=True)
class Staged:
    """Latest observed state of one remote item, kept until the link agrees with it."""

    side: Side
    kind: Kind
    remote_id: str
    change: str  # "upsert" | "delete"
    version: str = ""
    outlook: OutlookItem | None = None
    crm: CrmRecord | None = None
    in_scope: bool | None = None  # CRM: filter verdict at ingest

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.side.value, self.kind.value, self.remote_id)


@dataclass(frozen=True)
class OutboxOp:
    id: str
    link_id: str
    kind: Kind
    side: Side  # side written
    op: str  # create | update | trash | soft_delete | unshare | share
    payload: Mapping[str, Any]
    expected_version: str | None = None
    state: str = PENDING
    hold_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    seq: int = 0
    run_id: str | None = None


@dataclass(frozen=True)
class Conflict:
    id: str
    link_id: str
    kind: Kind
    conflict_kind: str  # both_changed | edited_vs_deleted | first_sync_mismatch | ambiguous_match
    outlook: Mapping[str, Any] | None
    crm: Mapping[str, Any] | None
    base: Mapping[str, Any] | None
    fields: tuple[str, ...]
    status: str = "open"  # open | resolved | applied | dismissed
    resolution: str | None = None  # crm | outlook | both | merged
    resolved: Mapping[str, Any] | None = None
    ews_item_id: str | None = None
    crm_id: str | None = None
    candidates: tuple[str, ...] = ()
    label: str = ""
    created_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class ItemErrorRec:
    key: str  # link id, or "side:kind:remote id"
    kind: Kind
    op: str
    error_class: str
    title: str
    message: str
    attempts: int
    last_try_at: datetime
    retry_after: datetime
    last_try_version: str = ""
    link_id: str | None = None
    side: str | None = None
    remote_id: str | None = None
    muted: bool = False


@dataclass(frozen=True)
class SharingRec:
    kind: Kind
    state: str  # native | shared | unshared
    reason: str  # user | filter | outlook_delete | crm_delete | wizard
    crm_id: str | None = None
    ews_item_id: str | None = None
    link_id: str | None = None
    recreate_blocked: bool = False
    changed_at: datetime | None = None
    label: str = ""  # name and address or subject, so `share QUERY` can find an unlinked item

    @property
    def key(self) -> str:
        return f"{self.kind.value}:crm:{self.crm_id}" if self.crm_id else f"{self.kind.value}:ews:{self.ews_item_id}"


@dataclass(frozen=True)
class Hold:
    id: str
    kind: Kind
    side: Side
    reason: str  # mass_delete | empty_side | collection_gone
    planned: int
    linked: int
    status: str = "open"  # open | approved | restored
    created_at: datetime | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    run_id: str
    at: datetime
    action: str  # run | create | update | trash | soft_delete | unshare | share | link | conflict | hold | skip | error
    kind: str = ""
    link_id: str | None = None
    direction: str = ""  # "to_crm" | "to_outlook" | ""
    reason: str = ""
    summary: Mapping[str, Any] | None = None
    before: Mapping[str, Any] | None = None
    result: str = "ok"


@dataclass
class Batch:
    """Everything one journal transaction writes. Empty lists are no-ops."""

    cursors: list[tuple[str, str, str | None]] = field(default_factory=list)  # (side, name, token)
    stage: list[Staged] = field(default_factory=list)
    unstage: list[tuple[str, str, str]] = field(default_factory=list)  # Staged.key
    unstage_if_version: list[tuple[tuple[str, str, str], str]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    drop_links: list[str] = field(default_factory=list)
    outbox: list[OutboxOp] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    errors: list[ItemErrorRec] = field(default_factory=list)
    clear_errors: list[str] = field(default_factory=list)
    sharing: list[SharingRec] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    gone_seen: list[tuple[str, datetime | None]] = field(default_factory=list)  # (link id, first sighting or None)

    def __bool__(self) -> bool:
        return any(
            (self.cursors, self.stage, self.unstage, self.unstage_if_version, self.links, self.drop_links,
             self.outbox, self.conflicts, self.errors, self.clear_errors, self.sharing, self.holds,
             self.history, self.meta, self.gone_seen)
        )

    def extend(self, other: "Batch") -> None:
        for name in self.__dataclass_fields__:
            if name == "meta":
                self.meta.update(other.meta)
            else:
                getattr(self, name).extend(getattr(other, name))


@dataclass(frozen=True)
class KindState:
    """Snapshot of everything the planner needs about one kind."""

    links: tuple[Link, ...]
    staged: tuple[Staged, ...]
    outbox: tuple[OutboxOp, ...]  # not done/cancelled
    conflicts: tuple[Conflict, ...]  # open or resolved (not yet applied)
    errors: tuple[ItemErrorRec, ...]
    sharing: tuple[SharingRec, ...]
