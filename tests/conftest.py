"""Test-wide setup: no display, an in-memory keyring, and a temporary profile per test."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.fixtures.memory_keyring.MemoryKeyring")

import pytest  # noqa: E402


@pytest.fixture
def profile_dir(tmp_path, monkeypatch):
    root = tmp_path / "profile"
    root.mkdir()
    monkeypatch.setenv("WORKBOOKS_CONNECTOR_HOME", str(root))
    return root
