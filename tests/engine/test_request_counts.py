"""Requests per cycle against the contract mailbox fake (which counts like the EWS sandbox): a
quiet cycle reads each feed once and writes nothing, echoes of our own writes are never read
back with GetItem, and a single change costs only its own read and write (issue 8)."""
from __future__ import annotations

import pytest

from app.domain.records import Kind
from app.journal.repo import open_journal
from app.sync.config import EngineConfig
from app.sync.engine import SyncEngine
from tests.fixtures.fakes import FakeCrm, ManualClock
from tests.fixtures.mailbox_fake import FakeMailbox

P = Kind.PERSON
KINDS = (Kind.PERSON, Kind.TASK, Kind.MEETING)
N = 700  # more than one page of echoes at 512


@pytest.fixture
def env(tmp_path):
    clock = ManualClock()
    crm, mailbox = FakeCrm(clock), FakeMailbox()
    journal = open_journal(tmp_path / "journal.sqlite3")

    def sync(**kw):
        clock.advance(minutes=5)
        return SyncEngine(crm, mailbox, journal, EngineConfig(kinds=KINDS), clock).run_cycle(**kw)

    for i in range(N):
        crm.add(P, {"first_name": f"F{i}", "last_name": "G", "email1": f"f{i}@g.test"})
    yield crm, mailbox, sync
    journal.close()


def test_first_sync_reads_its_echoes_without_get_item(env):
    crm, mailbox, sync = env
    s = sync()
    assert s.created["outlook"]["contacts"] == N
    assert mailbox.requests["CreateItem"] == -(-N // 100)
    assert mailbox.requests["GetItem"] == 0  # 700 echoes, none read back
    # the contacts folder: the first read, then the echoes at 512 a page; the other folders once
    assert mailbox.requests["SyncFolderItems"] == 1 + 2 + (len(KINDS) - 1)


def test_no_change_cycle_reads_each_feed_once_and_writes_nothing(env):
    crm, mailbox, sync = env
    sync()
    mailbox.requests.clear()
    crm.calls.clear()
    s = sync()
    assert dict(mailbox.requests) == {"SyncFolderItems": len(KINDS)}
    assert crm.calls == {"changes_since": len(KINDS)}
    assert not any(n for d in (s.created, s.updated, s.deleted) for side in d.values() for n in side.values())


def test_one_change_each_way_costs_its_own_read_and_write_only(env):
    crm, mailbox, sync = env
    sync()
    item_id = next(i for i, it in mailbox.items.items() if it.folder == P)
    mailbox.user_edit(P, item_id, job_title="Chief")
    mailbox.requests.clear()
    sync()
    assert dict(mailbox.requests) == {"SyncFolderItems": len(KINDS), "GetItem": 1}  # the edit, read once
    rec = next(iter(crm.records.values()))
    crm.edit(P, rec.id, business_city="Hull")
    mailbox.requests.clear()
    sync()
    # the update, then the folder's feed read past its echo (IdOnly, no GetItem)
    assert dict(mailbox.requests) == {"SyncFolderItems": len(KINDS) + 1, "UpdateItem": 1}
    mailbox.requests.clear()
    sync()
    assert dict(mailbox.requests) == {"SyncFolderItems": len(KINDS)}


class _KeyClient:
    key_mode = True
    api_key = "k-1"


class _Crm:
    """Just what check_identities uses of a CrmStore."""

    def __init__(self):
        self.client = _KeyClient()
        self.asked = 0
        self.known = None

    def identity(self):
        from app.domain.records import CrmIdentity

        self.asked += 1  # a key login on the real client
        return CrmIdentity("7", "me@x.test", "Me", "db1", "Main", {"Private::Crm::PersonQueue": 42})

    def use_known_identity(self, ident):
        self.known = ident


def test_key_mode_identity_is_confirmed_once_a_day_not_every_cycle(tmp_path):
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from app.wiring import check_identities, forget_crm_identity

    journal = open_journal(tmp_path / "journal.sqlite3")
    crm = _Crm()
    session = SimpleNamespace(crm=crm, mailbox=SimpleNamespace(identity=lambda: "u@x.test"),
                              settings=SimpleNamespace(workbooks=SimpleNamespace(url="https://wb.test")))
    t0 = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    try:
        check_identities(journal, session, t0)
        assert crm.asked == 1
        check_identities(journal, session, t0 + timedelta(hours=1))
        assert crm.asked == 1 and crm.known.my_queues == {"Private::Crm::PersonQueue": 42}
        check_identities(journal, session, t0 + timedelta(hours=25))  # a day later: asked again
        assert crm.asked == 2
        forget_crm_identity(journal)  # e.g. after an authentication error
        check_identities(journal, session, t0 + timedelta(hours=26))
        assert crm.asked == 3
        crm.client.api_key = "k-2"  # another key: asked again at once
        check_identities(journal, session, t0 + timedelta(hours=27))
        assert crm.asked == 4
    finally:
        journal.close()
