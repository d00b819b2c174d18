"""What a cycle reports: events to the observer, the summary's JSON, identities, token resets."""
from __future__ import annotations

import pytest

from app.domain.records import Kind, Sharing
from app.errors import ConfigError, ItemRejected
from app.sync.events import ConflictRaised, HoldRaised, ItemIssue, Phase, Progress

P = Kind.PERSON


class Recorder:
    def __init__(self):
        self.events = []

    def progress(self, event):
        self.events.append(event)

    def issue(self, event):
        self.events.append(event)


def test_observer_sees_phases_issues_conflicts_and_holds(world):
    recs = [world.crm.add(P, {"first_name": f"E{i}", "email1": f"e{i}@x.test"}) for i in range(20)]
    world.sync()
    items = {i.crm_id: i for i in world.mailbox.live(P)}
    world.mailbox.edit(P, items[recs[0].id].item_id, job_title="A")
    world.crm.edit(P, recs[0].id, job_title="B")
    for r in recs[10:]:
        world.mailbox.user_delete(P, items[r.id].item_id)
    world.crm.edit(P, recs[1].id, job_title="C")
    world.mailbox.fail["update"] = [ItemRejected("bad phone number")]
    rec = Recorder()
    s = world.engine().run_cycle(observer=rec)
    kinds = {type(e) for e in rec.events}
    assert {Progress, ConflictRaised, HoldRaised, ItemIssue} <= kinds
    assert {e.phase for e in rec.events if isinstance(e, Progress)} >= {Phase.RESUME, Phase.INGEST_OUTLOOK, Phase.PLAN,
                                                                      Phase.EXECUTE, Phase.FINISH}
    data = s.as_json()
    assert data["conflicts"] == 1 and data["holds"][0]["planned"] == 10 and len(data["errors"]) == 1
    assert "bad phone number" in data["errors"][0]["message"]
    assert "E1" not in str(data)  # identified by reference, never by content


def test_journal_refuses_another_mailbox(world):
    world.journal.bind_identity("User@Example.com", "db1")
    world.journal.bind_identity("user@example.com", "db1")
    with pytest.raises(ConfigError):
        world.journal.bind_identity("someone@else.test", "db1")


def test_rejected_token_does_not_reapply_the_install_choice(make_world):
    w = make_world(share_existing="all")
    w.mailbox.add(P, {"first_name": "Early", "email1": "early@x.test"})
    w.sync()
    assert len(w.crm.live(P)) == 1  # existing contacts shared at install
    late = w.mailbox.add(P, {"first_name": "Late", "email1": "late@x.test"})
    w.mailbox.invalid_tokens = True
    w.sync()
    w.mailbox.invalid_tokens = False
    assert len(w.crm.live(P)) == 1 and w.mailbox.items[P][late.item_id].marker is None


def test_share_new_option_shares_contacts_created_later(make_world):
    w = make_world(share_new=True)
    w.sync()
    item = w.mailbox.add(P, {"first_name": "New", "email1": "new@x.test"})
    w.sync()
    assert w.mailbox.items[P][item.item_id].marker is Sharing.SHARED and len(w.crm.live(P)) == 1
