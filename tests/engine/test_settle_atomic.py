"""Settling a chunk (Executor._settle_all): each operation's rows (done mark, link stamp, history,
sharing) are committed together or not at all. A process that dies while one operation of the
chunk is being settled commits the operations settled before it, leaves that one in flight with
nothing of it written, and the next start verifies it instead of creating the item again. A chunk
is settled with the cyclic collector paused."""
from __future__ import annotations

import gc
import sqlite3

import pytest

from app.domain.records import Kind
from app.sync import executor
from app.sync.state import DONE, IN_FLIGHT
from tests.fixtures.fakes import Crash
from tests.fixtures.journal_writes import before_each_write

P = Kind.PERSON
CHUNK = 4


def test_a_death_while_settling_one_operation_commits_none_of_its_rows(make_world, monkeypatch):
    world = make_world(crm_batch=CHUNK)
    for i in range(CHUNK):
        world.crm.add(P, {"first_name": f"Pia{i}", "last_name": "Lane", "email1": f"pia{i}@lane.test"})
    real, calls = executor.prior_state, []

    def dies_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the op's done mark and new link are made; its history entry is not yet
            raise Crash("settling")
        return real(*args, **kwargs)

    monkeypatch.setattr(executor, "prior_state", dies_on_the_second)
    with pytest.raises(Crash):
        world.sync()
    assert gc.isenabled()  # the settle's pause of the collector ended with it
    con = sqlite3.connect(world.path)
    try:
        states = dict(con.execute("SELECT link_id, state FROM outbox WHERE op = 'create'"))
        stamped = {r[0] for r in con.execute("SELECT id FROM item_link WHERE ews_item_id IS NOT NULL")}
        recorded = {r[0] for r in con.execute("SELECT link_id FROM history WHERE action = 'create'")}
    finally:
        con.close()
    assert sorted(states.values()) == [DONE, IN_FLIGHT, IN_FLIGHT, IN_FLIGHT]
    done = {link for link, state in states.items() if state == DONE}
    assert stamped == recorded == done  # nothing of the op that died, nor of those after it

    monkeypatch.setattr(executor, "prior_state", real)
    world.reopen()
    world.sync()
    live = world.mailbox.live(P)
    assert len(live) == CHUNK and len({i.link_id for i in live}) == CHUNK
    assert world.journal.outbox([IN_FLIGHT]) == []


def test_a_chunk_settles_without_the_cyclic_collector_which_is_back_afterwards(make_world):
    """The settle's writes run with the collector paused (app/sync/gc_pause.py) and the collector
    is enabled again after each chunk, also when a settle dies."""
    world = make_world(crm_batch=CHUNK)
    for i in range(2 * CHUNK):
        world.crm.add(P, {"first_name": f"Ola{i}", "last_name": "Berg", "email1": f"ola{i}@berg.test"})
    seen = []

    def note(batch):
        if any(op.state == DONE for op in batch.outbox):
            seen.append(gc.isenabled())

    before_each_write(world.journal, note)
    assert gc.isenabled()
    world.sync()
    assert seen == [False, False] and gc.isenabled()
