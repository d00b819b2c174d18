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


def test_values_graph_stores_differently_are_never_reported_as_changes(env):
    """Issue 10 item 4: Graph keeps a contact's addresses and business phones as gap-free lists, not
    Exchange's slots. An email2 without an email1 must not come back as email1 (a change of two
    fields the user never made): quiet cycles write nothing, and an unrelated Outlook edit
    crosses alone, the slots as they were (app/connectors/graph/mapping.py, WorkbooksSlots)."""
    crm, genv, sync = env
    crm.add(P, {"first_name": "Gap", "last_name": "Slots", "email2": "second@gap.test",
                "business_phone2": "+44 20 7946 0002", "business_fax": "+44 20 7946 0009"})
    first = sync()
    assert first.ok and first.created["outlook"]["contacts"] == 1
    writes = len(crm.writes)
    second = sync()
    assert second.conflicts == 0 and not second.errors, second.as_json()
    assert len(crm.writes) == writes and sum(second.updated["outlook"].values()) == 0, second.as_json()
    assert sum(second.updated["crm"].values()) == 0
    # Unrelated edits still cross, and the compacted slots stay as they were.
    [contact] = live(genv, P)
    genv.sandbox.edit_item(contact.item_id, jobTitle="Slot keeper")
    sync()
    [rec] = [r for r in crm.live(P)]
    assert rec.fields["job_title"] == "Slot keeper"
    assert (rec.fields.get("email1"), rec.fields.get("email2")) == (None, "second@gap.test")
    assert (rec.fields.get("business_phone"), rec.fields.get("business_phone2")) == (None, "+44 20 7946 0002")
    writes = len(crm.writes)
    quiet = sync()
    assert len(crm.writes) == writes and sum(quiet.updated["outlook"].values()) == 0
    # Someone adds a second address in Outlook: the list no longer fits the recorded slots and is
    # read in order (a real edit, reported as such).
    genv.sandbox.edit_item(contact.item_id, emailAddresses=[{"address": "second@gap.test"},
                                                            {"address": "third@gap.test"}])
    sync()
    rec = crm.get(P, rec.id)
    assert (rec.fields.get("email1"), rec.fields.get("email2")) == ("second@gap.test", "third@gap.test")
