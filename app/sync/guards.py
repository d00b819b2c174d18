"""Mass-deletion brake and empty-side guard (design.md 5.8, product B5/B6).

Deletions, trashes and unshares are counted per kind and side before anything is written. More
than `max_deletions`, or more than `max_fraction` of the kind's linked items with at least
`min_for_fraction` affected, holds those operations; so does a side whose every linked item
vanished at once. Everything else proceeds.

A type whose whole collection stops answering (401/403/404: a capability or licence withdrawn)
is held as `collection_gone`: nothing of that type is planned until it answers again, when the
hold clears by itself.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from app.domain.records import Kind, Side
from app.sync.config import Thresholds
from app.sync.state import Hold, OutboxOp

COLLECTION_GONE = "collection_gone"

DESTRUCTIVE = frozenset({"trash", "soft_delete", "unshare", "release"})


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    side: Side
    planned: int
    linked: int
    reason: str | None  # None = proceed; "mass_delete" | "empty_side"


def check(kind: Kind, side: Side, planned: int, linked: int, gone: int, t: Thresholds) -> Verdict:
    """`planned`: destructive operations on this side; `gone`: linked items that vanished from it."""
    reason = None
    if planned > 0:
        if planned > t.max_deletions:
            reason = "mass_delete"
        elif planned >= t.min_for_fraction and linked > 0 and planned > t.max_fraction * linked:
            reason = "mass_delete"
        elif linked >= t.empty_side_min_linked and gone >= linked:
            reason = "empty_side"
    return Verdict(kind, side, planned, linked, reason)


def collection_gone(kind: Kind, side: Side, linked: int, open_holds: Iterable[Hold], now: datetime) -> tuple[Hold, bool]:
    """The open `collection_gone` hold of this kind and side, or a new one; True when new."""
    for h in open_holds:
        if h.kind is kind and h.side is side and h.reason == COLLECTION_GONE and h.status == "open":
            return h, False
    return Hold(str(uuid.uuid4()), kind, side, COLLECTION_GONE, linked, linked, created_at=now), True


def collection_back(kind: Kind, open_holds: Iterable[Hold], now: datetime) -> list[Hold]:
    """Open `collection_gone` holds of a kind whose collection answered again: cleared."""
    return [replace(h, status="cleared", decided_at=now) for h in open_holds
            if h.kind is kind and h.reason == COLLECTION_GONE and h.status == "open"]


def recheck_held_trash(ops: Iterable[OutboxOp], current: Iterable[str | None]) -> tuple[list[OutboxOp], list[OutboxOp]]:
    """Trashes the user approved after a hold, against each Outlook item's ChangeKey now (same
    order; None: the item is gone). Unchanged or gone: still trashed. Edited since the plan:
    edits beat deletions (row 11), so the op becomes an unshare and the item is kept Unshared."""
    trash: list[OutboxOp] = []
    unshare: list[OutboxOp] = []
    for op, key in zip(ops, current):
        if key is None or not op.expected_version or key == op.expected_version:
            trash.append(op)
            continue
        reason = "row 11: edited in Outlook while its deletion was held: kept as Unshared"
        unshare.append(replace(op, op="unshare", expected_version=key, payload={
            **op.payload, "row": 11, "reason": reason, "note": "crm_delete", "chain": False,
            "sharing": {"state": "unshared", "reason": "crm_delete", "blocked": False}}))
    return trash, unshare
