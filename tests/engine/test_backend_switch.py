"""Issue 10 item 3: a mailbox synced over EWS, then switched to Microsoft Graph on the same profile.

Graph shows every item under a new id (immutable ids, not EWS ItemIds) and a fresh delta round.
Kept as it was, the journal's links would name EWS ids that Graph never reports: the new items look
like copies (left alone) and the next CRM edit re-creates its Outlook copy. So configure and the
wizard set the journal aside on a backend switch; then contacts (and meetings) re-pair by our
markers, the same MAPI named properties in both APIs, and To Do tasks, which carry no extended
properties in Graph v1.0 and so arrive without the markers written over EWS, re-pair by content.
The sandboxes cannot show this end to end: the EWS and Graph sandboxes keep separate stores.
"""
from __future__ import annotations

from dataclasses import replace

from app.domain.records import Kind
from tests.fixtures.engine_fakes import FakeMailbox

P, T = Kind.PERSON, Kind.TASK
OPEN = {"assigned_to": 7, "activity_status": "New"}


def person(i: int):
    return {"first_name": f"Ann{i}", "last_name": "Lee", "company": "Acme", "email1": f"ann{i}@acme.test"}


def task(i: int):
    return {"subject": f"Call {i}", "due_date": "2026-03-10", "status": "new", "priority": "medium"}


def switch_to_graph(old: FakeMailbox, *, task_markers: bool) -> FakeMailbox:
    """The same mailbox as Graph presents it: new ids; tasks without our markers unless told."""
    new = FakeMailbox()
    for kind in Kind:
        for n, item in enumerate(old.live(kind), 1):
            moved = replace(item, item_id=f"graph-{kind.value}-{n}")
            if kind is Kind.TASK and not task_markers:
                moved = replace(moved, marker=None, crm_id=None, link_id=None)
            new._put(moved)
    return new


def seeded(world):
    for i in range(3):
        world.crm.add(P, person(i))
        world.crm.add(T, task(i), raw=OPEN)
    world.sync()
    assert len(world.mailbox.live(P)) == 3 and len(world.mailbox.live(T)) == 3


def test_after_the_switch_the_set_aside_journal_re_pairs_without_duplicates(world):
    """What configure/the wizard do on a backend switch (switch_backend_journal): the journal is
    set aside, and the first Graph cycle pairs contacts by marker and marker-less tasks by content."""
    seeded(world)
    world.mailbox = switch_to_graph(world.mailbox, task_markers=False)
    world.drop_journal()
    s = world.sync()
    assert sum(sum(v.values()) for v in s.created.values()) == 0, s.as_json()
    assert s.conflicts == 0 and not s.errors and sum(sum(v.values()) for v in s.deleted.values()) == 0
    assert len(world.mailbox.live(P)) == 3 and len(world.mailbox.live(T)) == 3
    assert len(world.crm.live(P)) == 3 and len(world.crm.live(T)) == 3
    # The tasks got our markers again (Graph keeps them in its open extension from now on).
    assert all(t.crm_id for t in world.mailbox.live(T))
    # Edits cross both ways on the new ids, and nothing is created twice.
    person_rec, task_rec = world.crm.live(P)[0], world.crm.live(T)[0]
    world.crm.edit(P, person_rec.id, job_title="Edited in Workbooks")
    world.crm.edit(T, task_rec.id, subject="Call back")
    contact = world.mailbox.live(P)[1]
    world.mailbox.edit(P, contact.item_id, job_title="Edited in Outlook")
    s = world.sync()
    assert sum(sum(v.values()) for v in s.created.values()) == 0, s.as_json()
    assert any(i.fields.get("job_title") == "Edited in Workbooks" for i in world.mailbox.live(P))
    assert any(i.fields.get("subject") == "Call back" for i in world.mailbox.live(T))
    assert any(r.fields.get("job_title") == "Edited in Outlook" for r in world.crm.live(P))
    assert len(world.mailbox.live(P)) == 3 and len(world.mailbox.live(T)) == 3


def test_tasks_edited_before_the_first_graph_sync_re_pair_by_the_carried_pairs(world):
    """A task edited on either side between the switch and the first Graph cycle no longer matches
    by subject + due date; the pairs carried from the set-aside journal (app/sync/carried.py, as
    switch_backend_journal keeps them) still pair it: nothing is copied either way."""
    from app.sync import carried

    for i in range(4):
        world.crm.add(P, person(i))
    world.crm.add(T, {**task(0), "due_date": "2026-03-11"}, raw=OPEN)  # every task its own due date
    for i in (1, 2, 3):
        world.crm.add(T, {**task(i), "due_date": f"2026-03-1{i + 1}"}, raw=OPEN)
    world.sync()
    pairs = carried.task_pairs(world.journal)
    assert len(pairs) == 4
    world.mailbox = switch_to_graph(world.mailbox, task_markers=False)
    world.drop_journal()
    carried.carry(world.journal, pairs)
    todo = {i.fields["subject"]: i for i in world.mailbox.live(T)}
    crm = {r.fields["subject"]: r for r in world.crm.live(T)}
    world.mailbox.edit(T, todo["Call 0"].item_id, subject="Call 0 about the renewal")  # Outlook: subject
    world.mailbox.edit(T, todo["Call 1"].item_id, due_date="2026-04-01")  # Outlook: due date
    world.crm.edit(T, crm["Call 2"].id, subject="Call 2 (moved)")  # Workbooks: subject
    world.crm.edit(T, crm["Call 3"].id, due_date="2026-05-05")  # Workbooks: due date

    s = world.sync()

    assert sum(sum(v.values()) for v in s.created.values()) == 0, s.as_json()
    assert sum(sum(v.values()) for v in s.deleted.values()) == 0 and not s.errors, s.as_json()
    assert len(world.mailbox.live(T)) == 4 and len(world.crm.live(T)) == 4
    # each task is linked with its own record again; the differing content waits for the user, as
    # for a contact edited across the switch (the common version was set aside with the journal)
    pairs_now = {l.ews_item_id: l.crm_id for l in world.journal.links(T)}
    assert pairs_now == {todo[f"Call {i}"].item_id: crm[f"Call {i}"].id for i in range(4)}
    assert s.conflicts == 4
    assert world.journal.get_meta(carried.META_KEY) == ""  # used once
    s = world.sync()
    assert sum(sum(v.values()) for v in s.created.values()) == 0, s.as_json()


def test_carried_pairs_never_pair_a_look_alike_twice():
    """Two To Do tasks that both keep a carried due date (subjects edited): no guess, ordinary rules."""
    from app.domain.matching import match_carried
    from app.domain.records import OutlookItem

    def todo(item_id: str, subject: str, due: str) -> OutlookItem:
        return OutlookItem(kind=T, item_id=item_id, change_key="1", fields={"subject": subject, "due_date": due})

    carried = {"c1": ("call one", "2026-03-10"), "c2": ("call two", "2026-03-10"), "c3": ("call three", "2026-03-12")}
    renamed = todo("b", "Renamed", "2026-03-10")  # keeps the due date of c1 and of c2
    items = [todo("a", "Call one", "2026-03-20"), renamed, todo("c", "New", "2026-03-12"),
             todo("d", "Call three", "2026-03-30")]
    # a could be c1 (due edited), but so could b (subject edited); c and d both point at c3
    assert match_carried(items, carried) == {}
    assert match_carried([items[0]], carried) == {"a": "c1"}
    # a task showing both carried values is paired first; the look-alike then has one candidate left
    assert match_carried([todo("e", "Call two", "2026-03-10"), renamed], carried) == {"e": "c2", "b": "c1"}


def test_switching_the_backend_sets_the_journal_aside(tmp_path, capsys):
    from app import paths as paths_mod
    from app import settings as st
    from app.commands.configure import switch_backend_journal

    paths = paths_mod.ProfilePaths(tmp_path / "profile").ensure()
    ews = st.Settings(workbooks=st.WorkbooksAccount(url="https://wb.example.test"),
                      mailbox=st.MailboxAccount(ews_url="https://mail.example.test/EWS/Exchange.asmx",
                                                address="me@example.test", username="me")).validate()
    st.save(ews, paths.config)
    paths.journal.write_bytes(b"journal")
    assert not switch_backend_journal(paths, ews)  # same backend: untouched
    assert paths.journal.exists()
    graph = st.Settings(workbooks=ews.workbooks, mailbox=st.graph_account("me@example.test", "app-id")).validate()
    assert switch_backend_journal(paths, graph)
    assert not paths.journal.exists()  # an unreadable journal carries nothing, and is still set aside
    assert [p.read_bytes() for p in paths.backups.glob("journal.sqlite3.*")] == [b"journal"]
    assert "Microsoft Graph instead of EWS" in capsys.readouterr().err


def test_the_switch_carries_the_task_pairs_into_the_new_journal(tmp_path, capsys):
    import json

    from app import paths as paths_mod
    from app import settings as st
    from app.commands.configure import switch_backend_journal
    from app.journal.repo import open_journal
    from app.sync import carried
    from app.sync.state import Batch, Link

    paths = paths_mod.ProfilePaths(tmp_path / "profile").ensure()
    ews = st.Settings(workbooks=st.WorkbooksAccount(url="https://wb.example.test"),
                      mailbox=st.MailboxAccount(ews_url="https://mail.example.test/EWS/Exchange.asmx",
                                                address="me@example.test", username="me")).validate()
    st.save(ews, paths.config)
    old = open_journal(paths.journal)
    synced = {"subject": "Call Ann", "due_date": "2026-03-10"}
    old.write(Batch(links=[Link("l1", T, ews_item_id="AAMk1", ews_fields=synced, crm_id="42", crm_fields=synced),
                           Link("l2", P, ews_item_id="AAMk2", ews_fields={"first_name": "Ann"}, crm_id="7")]))
    old.close()  # its last writes may still sit in the -wal file, which is read too
    graph = st.Settings(workbooks=ews.workbooks, mailbox=st.graph_account("me@example.test", "app-id")).validate()

    assert switch_backend_journal(paths, graph)

    new = open_journal(paths.journal)
    try:
        assert new.links() == []
        assert json.loads(new.get_meta(carried.META_KEY)) == {"42": ["call ann", "2026-03-10"]}
        assert carried.carried(new) == {"42": ("call ann", "2026-03-10")}
    finally:
        new.close()
