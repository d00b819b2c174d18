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
from app.sync.state import Hold

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
