"""Carrying out "Undo last sync" through the ports: find the run, read what each side holds now,
plan (app.sync.undo) and apply through the normal outbox and Executor.

The planned operations and the marks saying which run they undo are committed in one journal
transaction before the first write, so a crash leaves pending outbox rows that the next `undo`
(or the next sync, which runs every pending row first) finishes; the run is never undone twice.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from app.domain.records import Kind, Side
from app.sync.events import CycleSummary, ItemIssue, empty_counts
from app.sync.executor import Executor, Tally
from app.sync.ports import Clock, CrmPort, JournalPort, MailboxPort
from app.sync.state import CANCELLED, DONE, FAILED, IN_FLIGHT, PENDING, Batch, HistoryEntry, OutboxOp
from app.sync.undo import (
    CHANGE_ACTIONS, UNDO_META, UNDO_RUN_META, UndoItem, UndoPlan, items_to_check, plan_undo, unavailable_reason,
)

STALE = ("StaleVersion", "NotFound")
log = logging.getLogger("workbooks_connector.undo")


@dataclass
class UndoResult:
    """What an undo did (or, for a dry run, would do); `as_json()` is the `undo --json` object."""

    dry_run: bool
    run_id: str | None = None
    run_at: Any = None
    undo_run_id: str | None = None
    restored: list[UndoItem] = field(default_factory=list)
    skipped: list[UndoItem] = field(default_factory=list)
    errors: list[ItemIssue] = field(default_factory=list)
    nothing: str | None = None  # why there is nothing to undo
    resumed: bool = False  # finished an undo that a crash interrupted
    conflicts: int = 0  # restored pairs whose sides now differ, waiting in the conflict inbox
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=lambda: {"workbooks": 0, "ews": 0})

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "dry_run": self.dry_run, "seconds": round(self.seconds, 3),
            "undo_of": None if self.run_id is None else {
                "run_id": self.run_id, "at": self.run_at.isoformat() if self.run_at else None},
            "nothing_to_undo": self.nothing,
            "resumed": self.resumed,
            "conflicts": self.conflicts,
            "restored": [i.as_json() for i in self.restored],
            "skipped": [i.as_json() for i in self.skipped],
            "errors": [{"item": e.item, "message": e.message} for e in self.errors],
            "requests": dict(self.requests),
        }


def undo_target(journal: Any, now: Any) -> tuple[tuple[str, Any] | None, str | None]:
    """(the run an undo would reverse, None) or (None, why there is nothing to undo)."""
    last = journal.last_change_run(CHANGE_ACTIONS)
    reason = unavailable_reason(
        last, now=now,
        is_undo=last is not None and journal.get_meta(UNDO_RUN_META + last[0]) is not None,
        undone=last is not None and journal.get_meta(UNDO_META + last[0]) is not None)
    return (None, reason) if reason else (last, None)


def undo_unavailable(journal: Any, now: Any) -> str | None:
    """Why "Undo last sync" is not offered now, or None (an interrupted undo is always offered:
    running it again finishes it)."""
    if _undo_ops(journal, (PENDING, IN_FLIGHT)):
        return None
    return undo_target(journal, now)[1]


def current_versions(keys: Sequence[tuple[str, str, str]], crm: CrmPort,
                     mailbox: MailboxPort) -> dict[tuple[str, str, str], str | None]:
    """(side, kind, id) -> the item's version now, None when it is gone (one read per side and kind)."""
    out: dict[tuple[str, str, str], str | None] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for side, kind, item_id in keys:
        groups.setdefault((side, kind), []).append(item_id)
    for (side, kind), ids in groups.items():
        if side == Side.OUTLOOK.value:
            for item_id, got in zip(ids, mailbox.fetch(Kind(kind), ids)):
                out[(side, kind, item_id)] = got.change_key if got is not None else None
        else:
            found = {r.id: r for r in crm.fetch(Kind(kind), ids)}
            for item_id in ids:
                rec = found.get(item_id)
                out[(side, kind, item_id)] = None if rec is None or rec.deleted else str(rec.lock_version)
    return out


def plan(journal: Any, crm: CrmPort, mailbox: MailboxPort, now: Any,
         new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> tuple[UndoPlan | None, str | None]:
    target, reason = undo_target(journal, now)
    if target is None:
        return None, reason
    run_id, run_at = target
    rows = journal.run_history(run_id)
    link_ids = list(dict.fromkeys(h.link_id for h in rows if h.link_id))
    links = journal.links_by_id(link_ids)
    current = current_versions(items_to_check(rows, links), crm, mailbox)
    return plan_undo(run_id, run_at, rows, links, current, undo_run_id=new_id(), new_id=new_id, now=now), None


def _undo_ops(journal: Any, states: Sequence[str]) -> list[OutboxOp]:
    return [o for o in journal.outbox(states) if o.payload.get("undo_of")]


def run_undo(crm: CrmPort, mailbox: MailboxPort, journal: JournalPort, clock: Clock, *, dry_run: bool = False,
             crm_batch: int = 100, counts: Mapping[str, Callable[[], int]] | None = None) -> UndoResult:
    """Undo the last sync (or finish an interrupted undo). `counts` reads requests sent per side."""
    started = time.monotonic()
    base = {k: f() for k, f in (counts or {}).items()}
    result = UndoResult(dry_run=dry_run)
    tally = Tally(empty_counts(), empty_counts(), empty_counts(), {"crm": 0, "outlook": 0})
    if not dry_run and _undo_ops(journal, (PENDING, IN_FLIGHT)):
        _resume(crm, mailbox, journal, clock, tally, crm_batch, result)
    else:
        undo_plan, reason = plan(journal, crm, mailbox, clock.now())
        if undo_plan is None:
            result.nothing = reason
        else:
            result.run_id, result.run_at, result.undo_run_id = undo_plan.run_id, undo_plan.run_at, undo_plan.undo_run_id
            result.restored, result.skipped = list(undo_plan.restore), list(undo_plan.skipped)
            result.conflicts = len(undo_plan.conflicts)
            if not dry_run:
                _apply(undo_plan, crm, mailbox, journal, clock, tally, crm_batch, result)
    result.seconds = time.monotonic() - started
    if not dry_run and result.run_id:  # ids and counts only, never content
        log.info("undo of run %s: %d restored, %d skipped, %d failed, %d conflicts", result.run_id,
                 len(result.restored), len(result.skipped), len(result.errors), result.conflicts)
    result.requests = {k: f() - base.get(k, 0) for k, f in (counts or {}).items()} or result.requests
    return result


def _apply(undo_plan: UndoPlan, crm: CrmPort, mailbox: MailboxPort, journal: JournalPort, clock: Clock, tally: Tally,
           crm_batch: int, result: UndoResult) -> None:
    journal.write(Batch(outbox=list(undo_plan.ops), conflicts=list(undo_plan.conflicts),
                        meta={UNDO_META + undo_plan.run_id: undo_plan.undo_run_id,
                              UNDO_RUN_META + undo_plan.undo_run_id: undo_plan.run_id}))
    executor = Executor(crm, mailbox, journal, clock=clock.now, run_id=undo_plan.undo_run_id, tally=tally,
                        crm_batch=crm_batch)
    mine = {o.id for o in undo_plan.ops}
    executor.run([o for o in journal.outbox([PENDING]) if o.id in mine])
    _settle_result(journal, mine, tally, result)
    _keep_conflicts_of_restored(journal, {o.link_id for o in undo_plan.ops}, result)
    _record_run(journal, clock, undo_plan.undo_run_id, undo_plan.run_id, tally, result)


def _keep_conflicts_of_restored(journal: Any, link_ids: set[str], result: UndoResult) -> None:
    """The planned conflicts stand for pairs that were restored; a pair whose restore did not go
    through is as the sync left it, so its conflict is dismissed."""
    restored = {i.link_id for i in result.restored}
    mine = [c for c in journal.conflicts(("open",)) if c.link_id in link_ids and c.conflict_kind == "both_changed"]
    stale = [replace(c, status="dismissed") for c in mine if c.link_id not in restored]
    if stale:
        journal.write(Batch(conflicts=stale))
    result.conflicts = len(mine) - len(stale)


def _resume(crm: CrmPort, mailbox: MailboxPort, journal: JournalPort, clock: Clock, tally: Tally, crm_batch: int,
            result: UndoResult) -> None:
    """Finish the operations of an undo a crash interrupted (in-flight ones are looked up first)."""
    ops = _undo_ops(journal, (PENDING, IN_FLIGHT))
    run_id = str(ops[0].payload.get("undo_of"))
    undo_run_id = journal.get_meta(UNDO_META + run_id) or str(uuid.uuid4())
    result.resumed, result.run_id, result.undo_run_id = True, run_id, undo_run_id
    executor = Executor(crm, mailbox, journal, clock=clock.now, run_id=undo_run_id, tally=tally, crm_batch=crm_batch)
    executor.verify_in_flight()
    mine = {o.id for o in ops}
    executor.run([o for o in journal.outbox([PENDING]) if o.id in mine])
    for op in {o.link_id: o for o in reversed(ops)}.values():
        result.restored.append(UndoItem(op.link_id, op.kind.value, str(op.payload.get("label") or ""), op.side.value,
                                        "restore" if op.op == "update" else op.op, "finished after an interruption"))
    _settle_result(journal, mine, tally, result)
    _keep_conflicts_of_restored(journal, {o.link_id for o in ops}, result)
    _record_run(journal, clock, undo_run_id, run_id, tally, result)


def _settle_result(journal: Any, mine: set[str], tally: Tally, result: UndoResult) -> None:
    """Sort each planned item by how its writes ended. One that found the item changed after all
    (between the check and the write) is skipped: it was re-read for the next sync, nothing was
    overwritten. Other failures are errors (the executor reported them)."""
    by_link: dict[str, list[OutboxOp]] = {}
    for o in journal.outbox([DONE, FAILED, CANCELLED]):
        if o.id in mine:
            by_link.setdefault(o.link_id, []).append(o)
    keep: list[UndoItem] = []
    for item in result.restored:
        ops = by_link.get(item.link_id, [])
        failed = [o for o in ops if o.state == FAILED]
        if failed and (failed[0].last_error or "").startswith(STALE):
            result.skipped.append(replace(item, action="changed", message="changed since the check: left as it is"))
        elif failed:
            continue  # listed among the errors
        elif ops and all(o.state == DONE for o in ops):
            keep.append(item)
        else:
            result.skipped.append(replace(item, action="changed",
                                          message="not restored: another write for this item did not go through"))
    result.restored = keep
    result.errors = [ItemIssue(item, msg, at) for item, msg, at in tally.issues]


def _record_run(journal: JournalPort, clock: Clock, undo_run_id: str, run_id: str, tally: Tally,
                result: UndoResult) -> None:
    """The undo is a run of its own in the history (counts like a sync, plus what it undid)."""
    now = clock.now()
    summary = CycleSummary(ok=result.ok, dry_run=False, seconds=result.seconds, created=tally.created,
                           updated=tally.updated, deleted=tally.deleted, unshared=tally.unshared,
                           conflicts=result.conflicts, errors=tuple(result.errors), finished_at=now).as_json()
    summary["undo_of"] = run_id
    summary["skipped"] = [i.as_json() for i in result.skipped]
    journal.write(Batch(history=[HistoryEntry(undo_run_id, now, "run", reason=f"undo of run {run_id}",
                                              summary=summary, result="ok" if result.ok else "attention")]))
