"""The engine against the mailbox fake the MailboxPort contract suite also checks
(tests/fixtures/mailbox_fake.py), so the engine relies only on what the contract promises."""
from __future__ import annotations

import pytest

from app.domain.records import Kind, Sharing
from app.journal.repo import open_journal
from app.sync.config import EngineConfig
from app.sync.engine import SyncEngine
from tests.fixtures.fakes import FakeCrm, ManualClock
from tests.fixtures.mailbox_fake import FakeMailbox

P, T = Kind.PERSON, Kind.TASK


@pytest.fixture
def env(tmp_path):
    clock = ManualClock()
    crm, mailbox = FakeCrm(clock), FakeMailbox()
    journal = open_journal(tmp_path / "journal.sqlite3")

    def sync(**kw):
        clock.advance(minutes=5)
        return SyncEngine(crm, mailbox, journal, EngineConfig(), clock).run_cycle(**kw)

    yield crm, mailbox, sync
    journal.close()


def live(mailbox, kind):
    return [mailbox.fetch(kind, [iid])[0] for iid, it in mailbox.items.items() if it.folder == kind]


def test_round_trip_edits_deletes_and_quiet_cycles(env):
    crm, mailbox, sync = env
    recs = [crm.add(P, {"first_name": f"F{i}", "last_name": "G", "email1": f"f{i}@g.test"}) for i in range(3)]
    crm.add(T, {"subject": "Call", "due_date": "2026-03-10", "status": "new"}, raw={"assigned_to": 7, "activity_status": "New"})
    s = sync()
    assert s.created["outlook"]["contacts"] == 3 and s.created["outlook"]["tasks"] == 1
    items = {i.crm_id: i for i in live(mailbox, P)}
    assert all(i.marker is Sharing.SHARED and i.categorised for i in items.values())
    writes = len(crm.writes)
    s = sync()
    assert len(crm.writes) == writes and sum(s.updated["outlook"].values()) == 0
    mailbox.user_edit(P, items[recs[0].id].item_id, job_title="Chief")
    crm.edit(P, recs[1].id, business_city="Hull")
    sync()
    assert crm.get(P, recs[0].id).fields["job_title"] == "Chief"
    assert mailbox.fetch(P, [items[recs[1].id].item_id])[0].fields["business_city"] == "Hull"
    mailbox.user_delete(P, items[recs[2].id].item_id)
    s = sync()
    assert s.unshared["outlook"] == 1 and not crm.get(P, recs[2].id).deleted
    assert len(live(mailbox, P)) == 2
    writes = len(crm.writes)
    sync()
    assert len(crm.writes) == writes and len(live(mailbox, P)) == 2
