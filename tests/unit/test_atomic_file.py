"""write_atomic: readers see the old file or the new one, never a torn or leftover copy."""
from __future__ import annotations

import os
import stat

import pytest

from app import atomic_file
from app.atomic_file import write_atomic


def test_writes_text_and_bytes_and_creates_parent(tmp_path):
    target = tmp_path / "deep" / "config.toml"
    write_atomic(target, "naïve = 1\n")
    assert target.read_text(encoding="utf-8") == "naïve = 1\n"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert os.listdir(target.parent) == ["config.toml"]


def test_mode_is_applied(tmp_path):
    target = tmp_path / "agent.plist"
    write_atomic(target, "x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "lease.json"
    write_atomic(target, "old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["lease.json"]
