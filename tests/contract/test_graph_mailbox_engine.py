"""The sync engine (in-memory CRM fake, real journal) against GraphMailbox over the Graph sandbox:
the same round trip tests/engine/test_with_contract_mailbox_fake.py runs against the mailbox fake.
A smoke test for the backend switch; the end-to-end suite over both backends needs the CLI wiring."""
from __future__ import annotations

import pytest

from app.domain.records import Kind, Sharing
from app.journal.repo import open_journal
from app.sync.config import EngineConfig
from app.sync.engine import SyncEngine
from tests.fixtures.fakes import FakeCrm, ManualClock
from tests.fixtures.graph_sandbox import graph_sandbox

P, T = Kind.PERSON, Kind.TASK


@pytest.fixture
def env(tmp_path):
    clock = ManualClock()
    crm = FakeCrm(clock)
    journal = open_journal(tmp_path / "journal.sqlite3")
    with graph_sandbox() as genv:
        def sync(**kw):
            clock.advance(minutes=5)
            mailbox = genv.mailbox(page_size=50)  # a fresh adapter per cycle, as the worker builds them
            try:
                return SyncEngine(crm, mailbox, journal, EngineConfig(), clock).run_cycle(**kw)
            finally:
                mailbox.close()

        yield crm, genv, sync
    journal.close()


def live(genv, kind):
    port = genv.mailbox()
    folder = "contacts" if kind is P else "defaultList"
    return port.fetch(kind, [i["id"] for i in genv.sandbox.items(folder)])


def test_round_trip_edits_deletes_and_quiet_cycles(env):
    crm, genv, sync = env
    recs = [crm.add(P, {"first_name": f"F{i}", "last_name": "G", "email1": f"f{i}@g.test"}) for i in range(3)]
    crm.add(T, {"subject": "Call", "due_date": "2026-03-10", "status": "new"},
            raw={"assigned_to": 7, "activity_status": "New"})
    s = sync()
    assert s.created["outlook"]["contacts"] == 3 and s.created["outlook"]["tasks"] == 1
    items = {i.crm_id: i for i in live(genv, P)}
    assert all(i.marker is Sharing.SHARED and i.categorised for i in items.values())
    writes = len(crm.writes)
    s = sync()
    assert len(crm.writes) == writes and sum(s.updated["outlook"].values()) == 0  # our own writes echo quietly
    genv.sandbox.edit_item(items[recs[0].id].item_id, jobTitle="Chief")
    crm.edit(P, recs[1].id, business_city="Hull")
    sync()
    assert crm.get(P, recs[0].id).fields["job_title"] == "Chief"
    [hull] = genv.mailbox().fetch(P, [items[recs[1].id].item_id])
    assert hull.fields["business_city"] == "Hull"
    genv.sandbox.delete_item(items[recs[2].id].item_id)
    s = sync()
    assert s.unshared["outlook"] == 1 and not crm.get(P, recs[2].id).deleted
    assert len(live(genv, P)) == 2
    writes = len(crm.writes)
    sync()
    assert len(crm.writes) == writes and len(live(genv, P)) == 2
