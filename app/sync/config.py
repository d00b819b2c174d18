"""EngineConfig: everything the engine needs to know about the user's choices, as frozen values."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from app.domain.filters import Filter, default_filter
from app.domain.records import Kind
from app.sync.emails import EmailOptions

ASK, CRM_WINS, OUTLOOK_WINS, NEWEST_WINS = "ask", "crm_wins", "outlook_wins", "newest_wins"
KEEP_UNSHARED, TRASH_UNCHANGED = "keep", "trash_unchanged"
BOTH, TO_OUTLOOK, TO_WORKBOOKS = "both", "to_outlook", "to_workbooks"


@dataclass(frozen=True)
class Thresholds:
    max_deletions: int = 50  # more than this per kind and side is held
    max_fraction: float = 0.10  # ... or more than this share of the kind's linked items
    min_for_fraction: int = 5  # ... when at least this many are affected
    empty_side_min_linked: int = 2  # a side that empties with at least this many links is held


@dataclass(frozen=True)
class EngineConfig:
    kinds: tuple[Kind, ...] = (Kind.PERSON, Kind.TASK, Kind.MEETING)
    filters: Mapping[Kind, Filter] = field(default_factory=lambda: {k: default_filter(k) for k in Kind})
    share_existing: str = "matching"  # all | none | matching
    share_new: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)
    leave_filter_policy: str = KEEP_UNSHARED  # keep | trash_unchanged
    conflict_policy: Mapping[Kind, str] = field(default_factory=lambda: {k: ASK for k in Kind})
    crm_delete_policy: str = "trash"  # trash | keep (CRM deletion -> Outlook copy)
    my_queues: Mapping[Kind, str] = field(default_factory=dict)  # resolved ":my_queue:" per kind
    direction: Mapping[Kind, str] = field(default_factory=dict)  # both | to_outlook | to_workbooks (B31)
    email: EmailOptions | None = None  # the sent-mail phase (issue 6); None = off unless passed to the engine
    crm_batch: int = 100
    # server calls of write chunks on the wire at once, on call threads, while the engine settles
    # the oldest (Executor._pipeline); 0: every call on the engine thread, one after another
    calls_in_flight: int = 2
    # a folder about to receive at least this many of our creates has its change feed read past
    # them while they are made (app/sync/echo_follow.py); 0: only after the last create
    follow_creates_at: int = 1024
    follow_round_items: int = 2048  # settled creates per round of that read (4 pages of 512)
    overlap_seconds: int = 120  # delta re-reads this much before the mark
    max_plan_passes: int = 2
    reconcile_hours: int = 24  # a full membership listing per kind at most this often (0 = only on filter changes)

    def filter_for(self, kind: Kind) -> Filter:
        return self.filters.get(kind) or default_filter(kind)

    def policy_for(self, kind: Kind) -> str:
        return self.conflict_policy.get(kind, ASK)

    def direction_for(self, kind: Kind) -> str:
        return self.direction.get(kind, BOTH)

    def __post_init__(self) -> None:
        if self.share_existing not in ("all", "none", "matching"):
            raise ValueError("share_existing is all, none or matching")
