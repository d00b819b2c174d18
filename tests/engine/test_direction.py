"""B31: one-way types. The source side's changes flow; the other side's are kept where they are,
never written across, never lost, and never planned again and again."""
from __future__ import annotations

from app.domain.records import Kind, Sharing
from app.sync.config import TO_OUTLOOK, TO_WORKBOOKS

P, T = Kind.PERSON, Kind.TASK
OPEN = {"assigned_to": 7, "activity_status": "New"}


def person(i, **kw):
    return {"first_name": f"Di{i}", "last_name": "Rection", "company": "Oneway", "email1": f"di{i}@oneway.test", **kw}


def task(i, **kw):
    return {"subject": f"Ring {i}", "due_date": "2026-03-10", "status": "new", "priority": "medium", **kw}


def writes(w):
    return len(w.crm.writes) + len(w.mailbox.writes)


def only(w, kind, crm_id):
    (item,) = [i for i in w.mailbox.live(kind) if i.crm_id == crm_id]
    return item


def test_workbooks_to_outlook_keeps_outlook_edits_local_and_still_brings_workbooks_edits(make_world):
    w = make_world(direction={P: TO_OUTLOOK})
    rec = w.crm.add(P, person(1))
    w.sync()
    contact = only(w, P, rec.id)
    w.mailbox.edit(P, contact.item_id, job_title="Outlook-only title")
    crm_writes = len(w.crm.writes)
    s = w.sync()
    assert len(w.crm.writes) == crm_writes and s.updated["crm"]["people"] == 0
    assert w.crm.get(P, rec.id).fields.get("job_title") is None
    n = writes(w)
    w.sync()
    assert writes(w) == n  # settled: the difference is not planned again

    w.crm.edit(P, rec.id, company="Oneway Ltd")
    w.sync()
    contact = only(w, P, rec.id)
    assert contact.fields["company"] == "Oneway Ltd"  # Workbooks edits still arrive
    assert contact.fields["job_title"] == "Outlook-only title"  # and the Outlook edit is not lost
    assert len(w.crm.writes) == crm_writes

    w.crm.edit(P, rec.id, job_title="Workbooks title")
    w.mailbox.edit(P, contact.item_id, job_title="Another Outlook title")
    s = w.sync()
    assert s.conflicts == 0 and only(w, P, rec.id).fields["job_title"] == "Workbooks title"  # the source wins


def test_workbooks_to_outlook_never_creates_or_deletes_in_workbooks(make_world):
    w = make_world(direction={P: TO_OUTLOOK, T: TO_OUTLOOK})
    new_contact = w.mailbox.add(P, person(9), categorised=True)
    mine = w.crm.add(T, task(1), raw=OPEN, owned_by_me=True)
    w.sync()
    assert [r for r in w.crm.live(P)] == [] and w.mailbox.items[P][new_contact.item_id].marker is not Sharing.SHARED
    item = only(w, T, mine.id)
    w.mailbox.user_delete(T, item.item_id)
    s = w.sync()
    assert s.deleted["crm"]["tasks"] == 0 and not w.crm.get(T, mine.id).deleted  # unlinked instead
    n = writes(w)
    w.sync()
    assert writes(w) == n


def test_outlook_to_workbooks_sends_outlook_edits_and_keeps_outlook_as_it_is(make_world):
    w = make_world(direction={T: TO_WORKBOOKS})
    item = w.mailbox.add(T, task(1), categorised=True)
    w.sync()
    (rec,) = w.crm.live(T)
    w.mailbox.edit(T, item.item_id, subject="Ring 1 back")
    w.sync()
    assert w.crm.get(T, rec.id).fields["subject"] == "Ring 1 back"

    outlook_writes = len(w.mailbox.writes)
    w.crm.edit(T, rec.id, description="Workbooks-only note")
    w.crm.add(T, task(2), raw=OPEN)  # in scope, but Outlook is the source: not created there
    w.sync()
    w.sync()
    assert len(w.mailbox.writes) == outlook_writes
    assert [i.fields["subject"] for i in w.mailbox.live(T)] == ["Ring 1 back"]
    assert w.crm.get(T, rec.id).fields["description"] == "Workbooks-only note"  # not reverted either

    w.mailbox.edit(T, item.item_id, priority="high")
    w.sync()
    got = w.crm.get(T, rec.id).fields
    assert got["priority"] == "high" and got["description"] == "Workbooks-only note"


def test_outlook_to_workbooks_a_workbooks_deletion_unshares_instead_of_trashing(make_world):
    w = make_world(direction={T: TO_WORKBOOKS})
    item = w.mailbox.add(T, task(3), categorised=True)
    w.sync()
    (rec,) = w.crm.live(T)
    w.crm.user_delete(T, rec.id)
    w.sync()
    w.sync()
    kept = w.mailbox.items[T][item.item_id]
    assert kept.marker is Sharing.UNSHARED and not w.mailbox.deleted_items[T]
