"""Sync direction per type (B31): both ways, Workbooks → Outlook only, or Outlook → Workbooks only.

A one-way type plans exactly as a two-way one, then drops the writes that would flow the wrong
way. What is dropped stays a difference, on purpose: the agreed base keeps its old value for those
fields, so a later edit on the source side still wins, and nothing written on the other side is
ever lost — it is simply not carried over. Markers and sharing states are bookkeeping, not content,
so they are written in either direction; deletions never cross the wrong way either: they unshare.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from app.domain.records import Side
from app.sync.config import BOTH, TO_OUTLOOK, TO_WORKBOOKS
from app.sync.planner import WRITE_OPS, Action, Decision

CONTENT_OPS = frozenset({"create", "update", "trash", "soft_delete"})
_BLOCKED_SIDE = {TO_OUTLOOK: Side.CRM, TO_WORKBOOKS: Side.OUTLOOK}
_NOTE = {TO_OUTLOOK: "Workbooks → Outlook only", TO_WORKBOOKS: "Outlook → Workbooks only"}


def forced_policy(direction: str) -> str | None:
    """The side that wins a same-field conflict in a one-way type: the source never loses."""
    return {TO_OUTLOOK: "crm_wins", TO_WORKBOOKS: "outlook_wins"}.get(direction)


def directed(d: Decision, direction: str, previous_base: Mapping[str, Any] | None = None) -> Decision:
    blocked = _BLOCKED_SIDE.get(direction)
    if blocked is None or d.conflict_kind:
        return d
    dropped = [a for a in d.actions if a.op in CONTENT_OPS and a.side is blocked]
    if not dropped:
        return d
    kept = [a for a in d.actions if a not in dropped]
    reason = f"{d.reason} ({_NOTE[direction]}: not written to {'Workbooks' if blocked is Side.CRM else 'Outlook'})"
    if any(a.op == "create" and a.note == "recreate" for a in dropped):
        # deleted in Outlook, edited in Workbooks: Outlook is the source here, so the deletion stands
        return Decision(d.row, (Action("release", Side.OUTLOOK, note="outlook_delete"), Action("block_recreate")), reason)
    if any(a.op == "create" for a in dropped) and not any(a.op == "create" for a in kept):
        # a new item of the target side only stays where it is: no half pair, no marker on it
        kept = [a for a in kept if a.op not in ("share", "update")]
        return Decision(d.row, tuple(kept), reason)
    for a in dropped:
        if a.op in ("trash", "soft_delete"):
            note = a.note or ("crm_delete" if blocked is Side.OUTLOOK else "outlook_delete")
            op = "unshare" if blocked is Side.OUTLOOK else "release"
            kept.append(Action(op, Side.OUTLOOK, note=note))
    if not any(a.op in WRITE_OPS for a in kept):
        kept.append(Action("restamp"))
    return replace(d, actions=tuple(kept), reason=reason, base=_base_without(d.base, dropped, previous_base))


def _base_without(base: Mapping[str, Any] | None, dropped: list[Action],
                  previous_base: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The merged base, with the fields whose write was dropped put back to the previous base."""
    if base is None:
        return None
    previous = previous_base or {}
    out = dict(base)
    for a in dropped:
        for name in a.changed:
            if name in previous:
                out[name] = previous[name]
            else:
                out.pop(name, None)
    return out


__all__ = ["BOTH", "TO_OUTLOOK", "TO_WORKBOOKS", "directed", "forced_policy"]
