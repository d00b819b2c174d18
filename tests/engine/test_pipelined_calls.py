"""The executor's server calls run on call threads, two chunks on the wire at once
(Executor._pipeline): each chunk is committed in flight before its call, as many chunks again are
marked ahead so a call never waits for the settling before it, a chunk is settled when its call is
back (a slow one holds back no other), settling a chunk and marking a later one share one
transaction, the committer groups the batches it finds waiting, and a failure with calls on the
wire loses and duplicates nothing."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from app.domain.records import Kind
from app.errors import AuthError
from app.sync.state import DONE, IN_FLIGHT
from tests.fixtures.fakes import Crash
from tests.fixtures.journal_writes import before_each_write

P = Kind.PERSON
CHUNK = 4


def people(world, n):
    for i in range(n):
        world.crm.add(P, {"first_name": f"Pia{i}", "last_name": "Lane", "email1": f"pia{i}@lane.test"})


def assert_all_created_once(world, n):
    """n contacts, each made once, nothing left in flight and every link stamped."""
    live = world.mailbox.live(P)
    assert len(live) == n and len({i.link_id for i in live}) == n
    assert world.journal.outbox([IN_FLIGHT]) == []
    assert all(link.ews_item_id for link in world.journal.links(P))


def watch_creates(world, seen):
    """Wrap the mailbox's create: note its thread and what the journal file holds in flight."""
    real = world.mailbox.create

    def create(kind, items):
        with sqlite3.connect(world.path) as con:
            flying = {r[0] for r in con.execute("SELECT link_id FROM outbox WHERE state = ?", (IN_FLIGHT,))}
        seen.append((threading.current_thread(), [i.link_id for i in items], flying))
        return real(kind, items)
    world.mailbox.create = create


def test_calls_run_on_the_call_thread_with_their_items_committed_in_flight(make_world):
    world = make_world(crm_batch=CHUNK)
    people(world, 4 * CHUNK + 1)
    seen = []
    watch_creates(world, seen)
    world.sync()
    assert len(seen) == 5
    for thread, link_ids, flying in seen:
        assert thread is not threading.main_thread()
        assert set(link_ids) <= flying  # recorded before the request went out
    assert len(world.mailbox.live(P)) == 4 * CHUNK + 1
    assert world.journal.outbox([IN_FLIGHT]) == []


def test_with_no_calls_in_flight_the_calls_stay_on_the_engine_thread(make_world):
    world = make_world(crm_batch=CHUNK, calls_in_flight=0)
    people(world, 2 * CHUNK)
    seen = []
    watch_creates(world, seen)
    world.sync()
    assert [t for t, _ids, _f in seen] == [threading.main_thread()] * 2
    assert len(world.mailbox.live(P)) == 2 * CHUNK


def test_chunks_are_marked_in_flight_ahead_and_each_later_one_with_a_settle(make_world):
    world = make_world(crm_batch=CHUNK)  # two calls on the wire
    people(world, 7 * CHUNK)
    writes = []
    before_each_write(world.journal, lambda batch: writes.append([(op.op, op.state) for op in batch.outbox]))
    world.sync()
    creates = [w for w in writes if any(op == "create" for op, _ in w)]
    begins = [w for w in creates if ("create", IN_FLIGHT) in w]
    # the two chunks on the wire and two more begin together; each later one with the settling
    # of the chunk four before it
    assert len(begins) == 4
    assert begins[0].count(("create", IN_FLIGHT)) == 4 * CHUNK and ("create", DONE) not in begins[0]
    for later in begins[1:]:
        assert later.count(("create", IN_FLIGHT)) == CHUNK and later.count(("create", DONE)) == CHUNK
    executed = [w for w in creates if any(state != "pending" for _op, state in w)]  # not the plan's write
    assert len(executed) == 7 + 1  # a settle per chunk, plus the first chunks' begin


def test_a_call_marked_ahead_goes_out_while_the_settle_before_it_is_still_committing(make_world):
    """Chunk 3 was committed in flight with the first chunks: it is sent as soon as chunk 1 is
    settled, not after that settle's commit (the old form waited for it and would hang here)."""
    world = make_world(crm_batch=CHUNK)
    people(world, 4 * CHUNK)
    seen = []
    watch_creates(world, seen)
    third_sent = threading.Event()
    real = world.mailbox.create

    def create(kind, items):
        out = real(kind, items)
        if len(seen) >= 3:
            third_sent.set()
        return out
    world.mailbox.create = create
    held = []

    def hold_first_settle(batch):
        if not held and any(op.state == DONE for op in batch.outbox):
            held.append(third_sent.wait(timeout=10))
    before_each_write(world.journal, hold_first_settle)
    assert world.sync().ok
    assert held == [True]
    assert all(set(link_ids) <= flying for _t, link_ids, flying in seen)
    assert len(world.mailbox.live(P)) == 4 * CHUNK and world.journal.outbox([IN_FLIGHT]) == []


def test_a_slow_call_holds_back_neither_the_settling_nor_the_sending_of_later_chunks(make_world):
    """Chunk 1's call is slow: chunk 2 comes back first, is settled, and chunk 3 goes out in its
    place (the old form settled in chunk order and would wait here until the timeout)."""
    world = make_world(crm_batch=CHUNK)  # two calls on the wire
    people(world, 6 * CHUNK)
    seen = []
    watch_creates(world, seen)
    real = world.mailbox.create
    third_sent = threading.Event()
    waited, lock, calls = [], threading.Lock(), []

    def create(kind, items):
        with lock:
            calls.append(items[0].link_id)
            n = len(calls)
        if n == 3:
            third_sent.set()
        if any(i.fields.get("first_name") == "Pia0" for i in items):  # the first chunk's call
            waited.append((n, third_sent.wait(timeout=10)))
        return real(kind, items)
    world.mailbox.create = create
    assert world.sync().ok
    assert [ok for _n, ok in waited] == [True] and waited[0][0] <= 2
    assert_all_created_once(world, 6 * CHUNK)


def test_batches_waiting_for_the_committer_are_committed_together(make_world):
    import time
    world = make_world(crm_batch=CHUNK)
    people(world, 8 * CHUNK)
    groups = []
    real_together = world.journal.write_together

    def together(batches):
        groups.append(len(batches))
        if len(groups) == 2:  # the committer falls behind: the engine's next settles queue up
            time.sleep(0.3)
        return real_together(batches)
    world.journal.write_together = together
    assert world.sync().ok
    assert max(groups) > 1
    assert_all_created_once(world, 8 * CHUNK)


def test_a_crash_while_the_next_call_is_on_the_wire_duplicates_nothing(make_world):
    world = make_world(crm_batch=CHUNK)
    people(world, 3 * CHUNK)
    world.mailbox.crash_after.add("create")  # the first chunk lands, then the process dies
    with pytest.raises(Crash):
        world.sync()
    world.reopen()
    world.sync()
    live = world.mailbox.live(P)
    assert len(live) == 3 * CHUNK
    assert len({i.link_id for i in live}) == 3 * CHUNK
    assert world.journal.outbox([IN_FLIGHT]) == []


def test_an_auth_failure_of_one_chunk_returns_it_to_pending_and_keeps_the_settled_ones(make_world):
    world = make_world(crm_batch=CHUNK)
    people(world, 3 * CHUNK)
    real = world.mailbox.create
    calls = []

    def create(kind, items):
        calls.append(len(items))
        if len(calls) >= 2:  # the password changed after the first call
            raise AuthError("the mailbox password was changed")
        return real(kind, items)
    world.mailbox.create = create
    with pytest.raises(AuthError):
        world.sync()
    assert len(world.mailbox.live(P)) == CHUNK  # the first chunk only, and it is settled
    assert world.journal.outbox([IN_FLIGHT]) == []
    world.mailbox.create = real
    world.sync()
    live = world.mailbox.live(P)
    assert len(live) == 3 * CHUNK and len({i.link_id for i in live}) == 3 * CHUNK


def test_settling_a_create_reuses_the_plans_hash_and_stores_the_same_one(make_world, monkeypatch):
    import app.sync.executor as executor_module
    from app.domain.normalise import content_hash

    calls = []

    def counted(kind, fields):
        calls.append(kind)
        return content_hash(kind, fields)
    monkeypatch.setattr(executor_module, "content_hash", counted)
    world = make_world(crm_batch=CHUNK)
    people(world, 2 * CHUNK)
    assert world.sync().ok
    assert calls == []  # each created copy equals the CRM record the plan read and hashed
    for link in world.journal.links(P):
        assert link.ews_hash == content_hash(P, link.ews_fields) == link.crm_hash
        assert link.base_hash == content_hash(P, link.base)


def test_the_journal_commits_behind_the_engine_and_each_call_waits_for_its_mark(make_world):
    """Settling writes are committed on the committer thread (app/sync/commit_behind.py); a slow
    commit holds back the call it marks in flight, never the other way round."""
    import time
    world = make_world(crm_batch=CHUNK)
    people(world, 6 * CHUNK)
    seen, threads = [], set()
    watch_creates(world, seen)

    def slow(batch):
        threads.add(threading.current_thread().name)
        if any(op.state == IN_FLIGHT for op in batch.outbox):
            time.sleep(0.05)
    before_each_write(world.journal, slow)
    assert world.sync().ok
    assert any(name.startswith("journal-commit") for name in threads)
    assert len(seen) == 6 and all(set(link_ids) <= flying for _t, link_ids, flying in seen)
    assert len(world.mailbox.live(P)) == 6 * CHUNK and world.journal.outbox([IN_FLIGHT]) == []


def test_a_commit_that_fails_sends_nothing_it_marked_and_the_next_run_duplicates_nothing(make_world):
    from app.errors import JournalError
    world = make_world(crm_batch=CHUNK)
    people(world, 8 * CHUNK)
    seen = []
    watch_creates(world, seen)
    settles, failed_marks = [], []

    def failing(batch):
        if any(op.state == DONE for op in batch.outbox):
            settles.append(batch)
            if len(settles) == 2:  # the second settle, which also marks chunk 6 in flight
                failed_marks.extend(op.link_id for op in batch.outbox if op.state == IN_FLIGHT)
                raise JournalError("disk I/O error")
    undo = before_each_write(world.journal, failing)
    with pytest.raises(JournalError):
        world.sync()
    sent = [link_id for _t, link_ids, _f in seen for link_id in link_ids]
    assert len(failed_marks) == CHUNK and not set(failed_marks) & set(sent)  # chunk 6 never went out
    # chunks 1-4 were marked with the first write and chunk 5 with the first settle: at most
    # those went out, and nothing after the failure was seen
    assert 3 <= len(seen) <= 5
    undo()
    world.reopen()
    assert world.sync().ok
    assert sorted(it.fields["email1"] for it in world.mailbox.live(P)) == sorted(f"pia{i}@lane.test" for i in range(8 * CHUNK))


def test_chunks_are_settled_with_fewer_young_collections_and_the_threshold_comes_back(make_world, monkeypatch):
    import gc

    from app.domain.records import Kind
    from app.sync import executor as executor_module
    from app.sync.gc_pause import YOUNG_WHILE_PIPELINING

    before = gc.get_threshold()
    seen = []
    real = executor_module.Executor._settle_all

    def settle_all(self, *a, **kw):
        seen.append(gc.get_threshold()[0])
        return real(self, *a, **kw)
    monkeypatch.setattr(executor_module.Executor, "_settle_all", settle_all)
    world = make_world(crm_batch=5, calls_in_flight=2)
    for i in range(12):
        world.crm.add(Kind.PERSON, {"first_name": f"P{i}", "last_name": "Q", "email1": f"p{i}@q.test"})
    assert world.sync().ok
    assert len(seen) >= 3 and all(t == YOUNG_WHILE_PIPELINING for t in seen)
    assert gc.get_threshold() == before
