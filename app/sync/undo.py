"""Undo last sync (product.md B9, design.md 5.9): the pure planner.

The run to undo is the latest one that applied a change. Each change it applied carries its prior
state in `history.before_json` (written by `executor.prior_state`): the written side's mapped
fields, id and version before the write, and the version the write left. From those rows, the
current links and what each side holds now, `plan_undo` builds outbox operations that put every
item back, each checked against the version that run left, so an item changed since is skipped
and listed instead of overwritten. Nothing here reads or writes anything: `undo_apply` does.

What "back" means on each side (nothing is ever hard-deleted):
- an update is reversed by writing the prior fields again;
- an Outlook item the run created goes to Deleted Items and its record is not copied again;
- a CRM Person the run created is kept (the connector never deletes People): its Outlook
  contact becomes Unshared; a CRM activity the run created is soft-deleted (Workbooks refuses it
  when the user may not delete it) and its Outlook item becomes Unshared;
- a pair whose two sides differ once restored (the sync had carried an edit across, and the edit
  stays where it was made) becomes a conflict: nothing flows either way until the user picks,
  so the next sync neither re-applies what was undone nor overwrites the edit with the old values;
- a pairing the run made (marking an existing Outlook item shared) is unshared again;
- items the run moved to Deleted Items, deleted in Workbooks or unshared are listed, not undone:
  neither side lets the connector take those back safely.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence

from app.domain.records import Kind, Side
from app.sync.merge import differing_fields
from app.sync.state import Conflict, HistoryEntry, Link, OutboxOp

UNDO_DAYS = 7
CHANGE_ACTIONS = ("create", "update", "share", "unshare", "trash", "soft_delete", "release")
UNDO_META = "undo:"  # undo:<run id> = the undo run that reversed it (written before any undo write)
UNDO_RUN_META = "undo_run:"  # undo_run:<undo run id> = the run it reversed: an undo is not undone
SIDE_NAME = {"outlook": "Outlook", "crm": "Workbooks"}
NOT_UNDONE = {
    "trash": "moved to Deleted Items by that sync: move it back from there in Outlook if you need it",
    "soft_delete": "deleted in Workbooks by that sync: the connector cannot bring a deleted record back",
    "unshare": "unshared by that sync: share it again from Settings › Sharing or with `share`",
    "release": "unlinked by that sync: share it again from Settings › Sharing or with `share`",
}
UNSHARED_BY_UNDO = {"state": "unshared", "reason": "user", "blocked": True}


@dataclass(frozen=True)
class UndoItem:
    link_id: str
    kind: str
    label: str
    side: str  # the side written ("outlook" | "crm"), or the side that blocks the undo
    action: str  # restore | trash | unshare | soft_delete; for skipped items: changed | gone | not_undoable | unlinked
    message: str

    def as_json(self) -> dict[str, str]:
        return {"item": self.label or self.link_id[:8], "kind": self.kind, "side": self.side, "action": self.action,
                "message": self.message}


@dataclass(frozen=True)
class UndoPlan:
    run_id: str
    run_at: datetime | None
    undo_run_id: str
    restore: tuple[UndoItem, ...]
    skipped: tuple[UndoItem, ...]
    ops: tuple[OutboxOp, ...]
    conflicts: tuple[Conflict, ...] = ()  # restored pairs whose sides will differ (see the module note)


def unavailable_reason(last: tuple[str, datetime] | None, *, is_undo: bool, undone: bool, now: datetime) -> str | None:
    """Why there is nothing to undo (None: the run `last` can be undone). `last` is the latest
    run that applied a change; `is_undo` says it was itself an undo, `undone` that it was undone."""
    if last is None:
        return "Nothing to undo: no sync has changed anything yet."
    if is_undo:
        return "Nothing to undo: the last change was an undo, and an undo cannot be undone."
    if undone:
        return "Nothing to undo: the last sync was undone already."
    if now - last[1] > timedelta(days=UNDO_DAYS):
        return (f"Nothing to undo: the last sync that changed something ran on {last[1]:%Y-%m-%d %H:%M} UTC, "
                f"more than {UNDO_DAYS} days ago.")
    return None


def _writes(rows: Iterable[HistoryEntry]) -> dict[str, list[HistoryEntry]]:
    """The run's applied writes per link, in the order they were applied."""
    out: dict[str, list[HistoryEntry]] = {}
    for h in rows:
        if h.action in CHANGE_ACTIONS and h.result == "ok" and h.link_id and h.before:
            out.setdefault(h.link_id, []).append(h)
    return out


def items_to_check(rows: Iterable[HistoryEntry], links: Mapping[str, Link]) -> list[tuple[str, str, str]]:
    """(side, kind, id) of every item whose current version the planner needs."""
    out: dict[tuple[str, str, str], None] = {}
    for link_id, writes in _writes(rows).items():
        for h in writes:
            if h.before and h.before.get("id"):
                out[(h.before["side"], h.kind, str(h.before["id"]))] = None
        link = links.get(link_id)
        if link is not None and link.ews_item_id:
            out[("outlook", link.kind.value, link.ews_item_id)] = None
    return list(out)


def plan_undo(run_id: str, run_at: datetime | None, rows: Sequence[HistoryEntry], links: Mapping[str, Link],
              current: Mapping[tuple[str, str, str], str | None], *, undo_run_id: str,
              new_id: Callable[[], str], now: datetime | None = None) -> UndoPlan:
    """Operations that restore what run `run_id` changed. `current` maps (side, kind, id) to the
    item's version now (None: gone); see `items_to_check`."""
    restore: list[UndoItem] = []
    skipped: list[UndoItem] = []
    ops: list[OutboxOp] = []
    conflicts: list[Conflict] = []
    when = f"{run_at:%Y-%m-%d %H:%M} UTC" if run_at else run_id[:8]
    for link_id, writes in _writes(rows).items():
        kind = Kind(writes[0].kind)
        label = next((str(h.before.get("label")) for h in writes if h.before and h.before.get("label")), "")

        def skip(side: str, action: str, message: str) -> None:
            skipped.append(UndoItem(link_id, kind.value, label, side, action, message))

        gone = [h for h in writes if h.action in NOT_UNDONE]
        if gone:
            h = gone[0]
            skip(h.before["side"] if h.before else "", "not_undoable", NOT_UNDONE[h.action])
            continue
        link = links.get(link_id)
        if link is None:
            skip("", "unlinked", "no longer linked (unshared or removed since that sync)")
            continue
        first: dict[str, Mapping[str, Any]] = {}
        left: dict[str, tuple[str, set[str]]] = {}  # side -> (id, versions it may still have)
        for h in writes:
            b = h.before or {}
            side = str(b.get("side"))
            first.setdefault(side, b)
            linked_version = link.ews_change_key if side == "outlook" else link.crm_lock_version
            left[side] = (str(b.get("id") or ""), {v for v in (b.get("left_version"), linked_version) if v})
        created = next((str(h.before["side"]) for h in writes if h.action == "create" and h.before), None)
        if created == "crm" and link.ews_item_id and "outlook" not in left:
            left["outlook"] = (link.ews_item_id, {link.ews_change_key} if link.ews_change_key else set())
        stale = _changed_since(kind, left, current)
        if stale is not None:
            skip(*stale)
            continue

        def version(side: str) -> str:
            return current.get((side, kind.value, left[side][0])) or ""

        def op(side: str, name: str, final: bool, **extra: Any) -> OutboxOp:
            payload: dict[str, Any] = {"reason": f"undo of the sync at {when}", "label": label, "undo_of": run_id,
                                       "undo_run": undo_run_id, "final": final, **extra}
            return OutboxOp(new_id(), link_id, kind, Side(side), name, payload, version(side), run_id=undo_run_id)

        # MailboxPort.trash takes no version, so a create's undo relies on the check above alone
        release = {"after": "release", "sharing": UNSHARED_BY_UNDO}
        if created == "outlook":
            ops.append(op("outlook", "trash", True, **release))
            restore.append(UndoItem(link_id, kind.value, label, "outlook", "trash",
                                    "created in Outlook by that sync: moved to Deleted Items"))
        elif created == "crm" and kind is Kind.PERSON:
            ops.append(op("outlook", "unshare", True, **release))
            restore.append(UndoItem(link_id, kind.value, label, "outlook", "unshare",
                                    "created in Workbooks by that sync: the Person is kept (People are never "
                                    "deleted); its Outlook contact is now Unshared"))
        elif created == "crm":
            ops.append(op("crm", "soft_delete", False))
            ops.append(op("outlook", "unshare", True, **release))
            restore.append(UndoItem(link_id, kind.value, label, "crm", "soft_delete",
                                    "created in Workbooks by that sync: deleted there; its Outlook item is now Unshared"))
        elif any(h.action == "update" for h in writes):
            sides = [s for s in ("outlook", "crm") if any(h.action == "update" and h.before and
                                                          h.before.get("side") == s for h in writes)]
            base = next((b.get("base") for b in first.values() if b.get("base") is not None), None)
            for n, side in enumerate(sides):
                before = dict(first[side].get("fields") or {})
                now_fields = dict((link.ews_fields if side == "outlook" else link.crm_fields) or {})
                changed = sorted(k for k in set(before) | set(now_fields) if before.get(k) != now_fields.get(k))
                final = n == len(sides) - 1
                extra: dict[str, Any] = {"fields": before, "changed": changed}
                if final:
                    extra.update(after="stamp", base=base if base is not None else before, source={},
                                 written=sides, content_written=sides)
                ops.append(op(side, "update", final, **extra))
                restore.append(UndoItem(link_id, kind.value, label, side, "restore",
                                        f"restored in {SIDE_NAME[side]} as it was before that sync"))
            # Decided now and committed with the writes, so a sync that finishes an interrupted
            # undo leaves the pair alone as well.
            restored = {side: dict(first[side].get("fields") or {}) for side in sides}
            after = replace(link, ews_fields=restored.get("outlook", link.ews_fields),
                            crm_fields=restored.get("crm", link.crm_fields), base=base if base is not None else link.base)
            conf = divergence(after, label=label, conflict_id=new_id(), now=now or run_at or datetime.now())
            if conf is not None:
                conflicts.append(conf)
        elif any(h.action == "share" for h in writes) and link.ews_item_id:
            ops.append(op("outlook", "unshare", True, **release))
            restore.append(UndoItem(link_id, kind.value, label, "outlook", "unshare",
                                    "paired by that sync: its Outlook item is now Unshared"))
    return UndoPlan(run_id, run_at, undo_run_id, tuple(restore), tuple(skipped), tuple(ops), tuple(conflicts))


def _changed_since(kind: Kind, left: Mapping[str, tuple[str, set[str]]],
                   current: Mapping[tuple[str, str, str], str | None]) -> tuple[str, str, str] | None:
    """(side, action, message) when an item the undo would write differs from what the run left."""
    for side, (item_id, versions) in left.items():
        key = (side, kind.value, item_id)
        if key not in current:
            return side, "changed", f"could not be read in {SIDE_NAME[side]}: left as it is"
        now = current[key]
        if now is None:
            return side, "gone", f"no longer in {SIDE_NAME[side]}: nothing to restore"
        if now not in versions:
            return side, "changed", f"changed in {SIDE_NAME[side]} since that sync: left as it is"
    return None


def divergence(link: Link, *, label: str, conflict_id: str, now: datetime) -> Conflict | None:
    """A restored pair whose sides now differ: an open conflict (see the module note), or None."""
    if link.ews_fields is None or link.crm_fields is None:
        return None
    fields = differing_fields(link.kind, link.ews_fields, link.crm_fields)
    if not fields:
        return None
    return Conflict(conflict_id, link.id, link.kind, "both_changed", outlook=dict(link.ews_fields),
                    crm=dict(link.crm_fields), base=dict(link.base) if link.base is not None else None,
                    fields=tuple(fields), ews_item_id=link.ews_item_id, crm_id=link.crm_id, label=label,
                    created_at=now)
