"""A small world for engine scenarios: fake CRM, fake mailbox, a real SQLite journal."""
from __future__ import annotations

from dataclasses import replace

import pytest

from app.journal.repo import open_journal
from app.sync.config import EngineConfig
from app.sync.engine import SyncEngine
from tests.fixtures.engine_fakes import FakeMailbox
from tests.fixtures.fakes import FakeCrm, ManualClock


class World:
    def __init__(self, path, **config):
        self.path = path
        self.clock = ManualClock()
        self.crm = FakeCrm(self.clock)
        self.mailbox = FakeMailbox()
        self.journal = open_journal(path)
        self.config = EngineConfig(**config)

    def engine(self) -> SyncEngine:
        return SyncEngine(self.crm, self.mailbox, self.journal, self.config, self.clock)

    def sync(self, **kw):
        self.clock.advance(minutes=5)
        return self.engine().run_cycle(**kw)

    def reconfigure(self, **changes):
        self.config = replace(self.config, **changes)

    def drop_journal(self):
        self.journal.close()
        for p in self.path.parent.glob(self.path.name + "*"):
            p.unlink()
        self.journal = open_journal(self.path)

    def reopen(self):
        """The process restarted: a new journal connection on the same file."""
        self.journal.close()
        self.journal = open_journal(self.path)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "journal.sqlite3")
    yield w
    w.journal.close()


@pytest.fixture
def make_world(tmp_path):
    made = []

    def make(**config):
        w = World(tmp_path / f"journal{len(made)}.sqlite3", **config)
        made.append(w)
        return w

    yield make
    for w in made:
        w.journal.close()
