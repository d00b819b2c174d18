"""Creates are pipelined (executor._creates): a chunk's request runs on the side's writer thread
while the engine thread settles the chunk before and commits the next one in_flight. Still: each
op is committed in_flight before its own call, the journal is written from the engine thread only,
and a stop in the middle sends nothing more and leaves nothing unaccounted for."""
from __future__ import annotations

import threading

import pytest

from app.domain.records import Kind, Side
from app.errors import AuthError
from app.sync.state import DONE, IN_FLIGHT, PENDING

P = Kind.PERSON
N = 350  # four chunks of 100


@pytest.fixture
def crm_people(world):
    for i in range(N):
        world.crm.add(P, {"first_name": f"F{i}", "last_name": "G", "email1": f"f{i}@g.test"})
    return world


def _watch(world):
    """Record, at each create call, its thread and the journal state of the ops it carries."""
    seen = []
    real_create = world.mailbox.create
    real_write = world.journal.write
    writers = set()

    def create(kind, items):
        states = {o.link_id: o.state for o in world.journal.outbox([IN_FLIGHT, PENDING, DONE]) if o.op == "create"}
        seen.append((threading.current_thread(), [states.get(i.link_id) for i in items]))
        return real_create(kind, items)

    def write(batch):
        writers.add(threading.current_thread())
        return real_write(batch)

    world.mailbox.create = create
    world.journal.write = write
    return seen, writers


def test_each_chunk_is_in_flight_before_its_call_and_journal_writes_stay_on_the_engine_thread(crm_people):
    world = crm_people
    seen, writers = _watch(world)
    summary = world.sync()
    assert summary.created["outlook"]["contacts"] == N and not summary.errors
    assert [len(states) for _t, states in seen] == [100, 100, 100, 50]
    assert all(state == IN_FLIGHT for _t, states in seen for state in states)
    assert all(t is not threading.main_thread() for t, _s in seen)  # the requests ran on the writer thread
    assert writers == {threading.main_thread()}  # the single writer
    assert world.journal.outbox([IN_FLIGHT, PENDING]) == []
    assert len({i.link_id for i in world.mailbox.items[P].values()}) == N


def test_a_refused_sign_in_stops_the_pipeline_and_the_next_run_finishes_without_duplicates(crm_people):
    world = crm_people
    real_create = world.mailbox.create
    calls = []

    def create(kind, items):
        calls.append(len(items))
        if len(calls) == 2:
            raise AuthError("the mailbox password was refused")
        return real_create(kind, items)

    world.mailbox.create = create
    with pytest.raises(AuthError):
        world.sync()
    assert len(calls) <= 3  # at most the chunk already handed to the writer went out after the refusal
    left = world.journal.outbox([IN_FLIGHT, PENDING])
    assert left and all(o.op == "create" for o in left)
    world.mailbox.create = real_create
    summary = world.sync()
    assert not summary.errors
    assert world.journal.outbox([IN_FLIGHT, PENDING]) == []
    links = [i.link_id for i in world.mailbox.items[P].values()]
    assert len(links) == len(set(links)) == N
