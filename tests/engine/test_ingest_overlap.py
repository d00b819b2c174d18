"""Ingest reads the CRM feed on a reader thread while the Outlook side is read (app.sync.prefetch):
the overlap is real, and every way the Outlook side can end first stops and joins that reader."""
from __future__ import annotations

import threading

import pytest

from app.domain.records import Kind
from app.errors import AuthError
from app.sync.config import EngineConfig
from app.sync.engine import SyncEngine
from tests.fixtures.engine_fakes import FakeMailbox

P = Kind.PERSON
WAIT = 5.0


def _readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.endswith("-reader")]


class _Cancel:
    def __init__(self):
        self.flag = False

    def cancelled(self) -> bool:
        return self.flag


class _Mailbox(FakeMailbox):
    """Runs `before_read` as the change feed of a kind is first read."""

    def __init__(self):
        super().__init__()
        self.before_read = lambda kind: None

    def changes(self, kind, token):
        self.before_read(kind)
        yield from super().changes(kind, token)


@pytest.fixture
def world(world):
    world.mailbox = _Mailbox()
    for i in range(250):  # three CRM pages at the fake's page size
        world.crm.add(P, {"first_name": f"F{i}", "last_name": "G", "email1": f"f{i}@g.test"})
    return world


def test_the_crm_listing_is_read_while_outlook_is_read(world):
    listed = threading.Event()
    real = world.crm.list_scope

    def list_scope(kind, flt):
        listed.set()
        yield from real(kind, flt)

    world.crm.list_scope = list_scope
    seen = []
    world.mailbox.before_read = lambda kind: seen.append(listed.wait(WAIT))
    s = world.sync()
    assert seen and seen[0]  # the CRM read was under way before the first Outlook page was read
    assert s.created["outlook"]["contacts"] == 250 and not s.errors
    # counted exactly although the listing's pages were read on another thread: one per call, plus
    # the listing's pages after its first
    pages = -(-250 // world.crm.page_size)
    assert s.requests["workbooks"] == sum(world.crm.calls.values()) + pages - 1
    assert not _readers()


def test_an_outlook_failure_surfaces_as_before_and_stops_the_crm_reader(world):
    def refuse(kind):
        raise AuthError("The mailbox refused the password.")

    world.mailbox.before_read = refuse
    with pytest.raises(AuthError, match="refused the password"):
        world.sync()
    assert not _readers()
    assert world.journal.cursor("crm", P.value) is None  # nothing of the CRM read was staged


def test_a_lost_folder_holds_the_kind_and_stops_the_crm_reader(world):
    world.mailbox.revoked.add(P)
    s = world.sync()
    assert [(h.kind, h.reason) for h in s.holds] == [("person", "collection_gone")]
    assert not _readers()
    assert world.journal.cursor("crm", P.value) is None


def test_a_cancel_during_the_outlook_read_stops_the_crm_reader(world):
    cancel = _Cancel()

    def cancel_now(kind):
        cancel.flag = True

    world.mailbox.before_read = cancel_now
    world.clock.advance(minutes=5)
    SyncEngine(world.crm, world.mailbox, world.journal, world.config, world.clock).run_cycle(cancel=cancel)
    assert not _readers()
    assert world.crm.calls["list_scope"] == 1
