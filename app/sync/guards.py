"""Mass-deletion brake and empty-side guard (design.md 5.8, product B5/B6).

Deletions, trashes and unshares are counted per kind and side before anything is written. More
than `max_deletions`, or more than `max_fraction` of the kind's linked items with at least
`min_for_fraction` affected, holds those operations; so does a side whose every linked item
vanished at once. Everything else proceeds.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.domain.records import Kind, Side
from app.sync.config import Thresholds

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
