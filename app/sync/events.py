"""Frozen values the engine hands to observers (CLI printer, Qt worker, tests).

Only strings, numbers, enums, tuples and datetimes: safe to carry across threads in Qt signals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class Phase(str, Enum):
    PREFLIGHT = "preflight"
    RESUME = "resume"
    INGEST_OUTLOOK = "ingest_outlook"
    INGEST_CRM = "ingest_crm"
    PLAN = "plan"
    EXECUTE = "execute"
    EMAIL = "email"
    FINISH = "finish"


@dataclass(frozen=True)
class Progress:
    phase: Phase
    kind: str  # "person" | "task" | "meeting" | "email" | ""
    done: int
    total: int | None  # None when unknown
    message: str = ""


@dataclass(frozen=True)
class ItemIssue:
    item: str  # link id, object ref or short item-id hash: never content
    message: str
    retry_at: datetime | None = None


@dataclass(frozen=True)
class ConflictRaised:
    conflict_id: str
    kind: str
    label: str  # object ref or link id
    fields: tuple[str, ...]


@dataclass(frozen=True)
class HoldRaised:
    hold_id: str
    kind: str
    side: str
    reason: str  # mass_delete | empty_side | collection_gone
    planned: int
    linked: int


class FatalKind(str, Enum):
    AUTH = "auth"
    SIGN_IN_AGAIN = "sign_in_again"  # an interactive sign-in expired or was revoked (SignInAgainRequired)
    PREREQUISITE = "prerequisite"
    LEASE = "lease"
    JOURNAL = "journal"
    CONFIG = "config"
    TRANSIENT = "transient"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class FatalIssue:
    kind: FatalKind
    title: str
    message: str


def _side_counts(outlook: bool) -> dict[str, int]:
    if outlook:
        return {"contacts": 0, "tasks": 0, "meetings": 0}
    return {"people": 0, "tasks": 0, "meetings": 0, "emails": 0}


def empty_counts() -> dict[str, dict[str, int]]:
    return {"crm": _side_counts(False), "outlook": _side_counts(True)}


@dataclass(frozen=True)
class CycleSummary:
    """The result of one run; `as_json()` is the `sync --json` object of interfaces.md."""

    ok: bool
    dry_run: bool
    seconds: float
    created: dict[str, dict[str, int]] = field(default_factory=empty_counts)
    updated: dict[str, dict[str, int]] = field(default_factory=empty_counts)
    deleted: dict[str, dict[str, int]] = field(default_factory=empty_counts)
    unshared: dict[str, int] = field(default_factory=lambda: {"crm": 0, "outlook": 0})
    email_links: int = 0
    conflicts: int = 0
    errors: tuple[ItemIssue, ...] = ()
    holds: tuple[HoldRaised, ...] = ()
    requests: dict[str, int] = field(default_factory=lambda: {"workbooks": 0, "ews": 0})
    plan: tuple[dict[str, Any], ...] = ()  # dry runs: the planned operations (no content)
    finished_at: datetime | None = None
    # B7: CRM deletions seen for the first time by this run; their Outlook copies wait for the next
    # run's lookup to confirm them
    pending_deletions: dict[str, int] = field(default_factory=lambda: {"people": 0, "tasks": 0, "meetings": 0})
    notices: tuple[str, ...] = ()  # things the user should know that are not errors (e.g. recurring series)

    @property
    def braked(self) -> bool:
        return bool(self.holds)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unshared": self.unshared,
            "email_links": self.email_links,
            "conflicts": self.conflicts,
            "errors": [{"item": e.item, "message": e.message} for e in self.errors],
            "requests": self.requests,
            "pending_deletions": self.pending_deletions,
        }
        if self.holds:
            out["holds"] = [
                {"kind": h.kind, "side": h.side, "reason": h.reason, "planned": h.planned, "linked": h.linked}
                for h in self.holds
            ]
        if self.dry_run:
            out["plan"] = list(self.plan)
        if self.notices:
            out["notices"] = list(self.notices)
        return out
