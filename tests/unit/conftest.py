"""Shared fixtures of the journal's unit tests: a journal file and the journal open on it."""
from __future__ import annotations

import pytest

from app.journal.repo import open_journal


@pytest.fixture
def path(tmp_path):
    return tmp_path / "j.sqlite3"


@pytest.fixture
def j(path):
    journal = open_journal(path)
    yield journal
    journal.close()
