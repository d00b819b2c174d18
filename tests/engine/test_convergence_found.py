"""Failures the convergence state machine (test_convergence.py) found, replayed step by step so
they stay reproducible (here, beside the engine fixtures) without Hypothesis' local example database.

A new finding is pinned here as xfail(strict=True) while it is open, so its fix fails the suite
until the marker is removed.

Found 2026-11-26 (TaskConvergence): a task the user shared again after its CRM record was deleted
got a link whose CRM create was refused; the item still carried the Unshared marker, and a linked
item marked Unshared was read as "category removed" whatever its category said, so it was never
shared again. The category is the user's gesture: app/sync/classify.py now reads a linked item as
unshared only when the category is gone."""
from __future__ import annotations

from app.domain.records import Kind, Sharing
from app.errors import ItemRejected, TransientError
from tests.fixtures.fakes import Crash

T = Kind.TASK


def task(i: int) -> dict:
    return {"subject": f"Crm task {i}", "due_date": "2026-03-10", "status": "new"}


def crash_during_cycle(w, side: str, op: str) -> None:
    fake = w.crm if side == "crm" else w.mailbox
    fake.crash_after.add(op)
    try:
        w.sync()
    except Crash:
        pass
    fake.crash_after.clear()
    w.reopen()


def toggle(w, item_id: str) -> None:
    w.mailbox.set_category(T, item_id, not w.mailbox.items[T][item_id].categorised)


def test_task_shared_again_after_its_record_was_deleted_and_the_journal_dropped(world):
    w = world
    w.crm.add(T, task(1), raw={"assigned_to": 99})
    w.drop_journal()
    w.crm.add(T, task(2), raw={"assigned_to": 7})  # 1001
    crash_during_cycle(w, "outlook", "create")  # AAM1 created for 1001, linked after the crash
    w.mailbox.set_category(T, "AAM1", False)  # the user unshares it
    w.mailbox.edit(T, "AAM1", start_date=None)
    w.crm.add(T, task(3), raw={"assigned_to": 7})
    w.mailbox.churn(T, "AAM1")
    w.crm.fail.setdefault("create", []).append(ItemRejected("no"))
    w.crm.user_delete(T, "1001")
    crash_during_cycle(w, "crm", "update")
    crash_during_cycle(w, "crm", "update")
    w.crm.fail.setdefault("update", []).append(TransientError("503"))
    w.crm.add(T, task(4), raw={"assigned_to": 7})
    w.crm.edit(T, "1002", description=None)
    toggle(w, "AAM1")  # shared again by the user
    w.drop_journal()
    crash_during_cycle(w, "outlook", "trash")
    toggle(w, "AAM1")
    toggle(w, "AAM1")
    for fake in (w.crm, w.mailbox):  # then fault-free cycles, as the state machine converges
        fake.fail.clear()
        fake.crash_after.clear()
    for _ in range(2):
        w.clock.advance(days=2)
        w.sync(allow_mass_delete=True)
    item = w.mailbox.items[T]["AAM1"]
    assert item.categorised and item.marker is Sharing.SHARED, item
