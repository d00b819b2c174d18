from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.domain.records import Lease
from app.errors import LeaseHeld, StaleVersion
from app.locks import ProfileBusy, ProfileLock, acquire_lease, machine_identity

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


class MemoryLease:
    def __init__(self):
        self.lease: Lease | None = None
        self.n = 0

    def read_lease(self):
        return self.lease

    def write_lease(self, lease):
        current = self.lease.version if self.lease else ""
        if lease.version != current:
            raise StaleVersion("raced")
        self.n += 1
        self.lease = Lease(lease.holder_machine_id, lease.holder_host, lease.heartbeat_at, lease.app_version, f"v{self.n}")
        return self.lease


def test_profile_lock_is_exclusive(tmp_path):
    with ProfileLock(tmp_path / "p.lock"):
        with pytest.raises(ProfileBusy):
            ProfileLock(tmp_path / "p.lock").acquire()
    ProfileLock(tmp_path / "p.lock").acquire().release()


def test_machine_id_is_stable(tmp_path):
    a = machine_identity(tmp_path / "lease")
    b = machine_identity(tmp_path / "lease")
    assert a.machine_id == b.machine_id and len(a.machine_id) == 32


def test_second_machine_is_refused_naming_the_holder(tmp_path):
    port = MemoryLease()
    first = machine_identity(tmp_path / "a" / "lease")
    second = machine_identity(tmp_path / "b" / "lease")
    acquire_lease(port, first, NOW)
    with pytest.raises(LeaseHeld) as err:
        acquire_lease(port, second, NOW + timedelta(minutes=3))
    assert first.host in str(err.value) and "3 minutes ago" in str(err.value)
    assert err.value.exit_code == 4


def test_expired_lease_taken_over_and_explicit_take_over(tmp_path):
    port = MemoryLease()
    first = machine_identity(tmp_path / "a" / "lease")
    second = machine_identity(tmp_path / "b" / "lease")
    acquire_lease(port, first, NOW)
    acquire_lease(port, second, NOW + timedelta(hours=2, minutes=1))
    assert port.lease.holder_machine_id == second.machine_id
    acquire_lease(port, first, NOW + timedelta(hours=2, minutes=2), take_over=True)
    assert port.lease.holder_machine_id == first.machine_id


def test_renewal_by_the_holder(tmp_path):
    port = MemoryLease()
    me = machine_identity(tmp_path / "lease")
    acquire_lease(port, me, NOW, lease_file=tmp_path / "lease")
    acquire_lease(port, me, NOW + timedelta(minutes=30), lease_file=tmp_path / "lease")
    assert port.lease.heartbeat_at == NOW + timedelta(minutes=30)


def test_a_fresh_lease_held_by_this_machine_is_not_rewritten(tmp_path):
    """design.md 7: the heartbeat is renewed every 30 minutes, not at every cycle."""
    port = MemoryLease()
    me = machine_identity(tmp_path / "lease")
    acquire_lease(port, me, NOW, lease_file=tmp_path / "lease")
    for minutes in (5, 10, 29):
        held = acquire_lease(port, me, NOW + timedelta(minutes=minutes), lease_file=tmp_path / "lease")
        assert held.heartbeat_at == NOW and port.n == 1
    acquire_lease(port, me, NOW + timedelta(minutes=31), lease_file=tmp_path / "lease")
    assert port.n == 2 and port.lease.heartbeat_at == NOW + timedelta(minutes=31)


def test_a_take_over_is_seen_by_the_old_holder_without_a_write(tmp_path):
    port = MemoryLease()
    first = machine_identity(tmp_path / "a" / "lease")
    second = machine_identity(tmp_path / "b" / "lease")
    acquire_lease(port, first, NOW, lease_file=tmp_path / "a" / "lease")
    acquire_lease(port, second, NOW + timedelta(minutes=10), take_over=True)
    with pytest.raises(LeaseHeld):
        acquire_lease(port, first, NOW + timedelta(minutes=15), lease_file=tmp_path / "a" / "lease")
    assert port.lease.holder_machine_id == second.machine_id


class HintedLease(MemoryLease):
    """A port that takes the remembered whereabouts of the lease item (like EwsLease)."""

    def __init__(self):
        super().__init__()
        self.remembered: list[dict] = []

    def remember(self, hints):
        self.remembered.append(dict(hints))

    def hints(self):
        return {"item_id": "ITEM", "folder_id": "FOLDER"}


def test_lease_item_whereabouts_are_kept_in_the_lease_file(tmp_path):
    port = HintedLease()
    me = machine_identity(tmp_path / "lease")
    acquire_lease(port, me, NOW, lease_file=tmp_path / "lease")
    assert port.remembered == []  # nothing known yet
    again = HintedLease()
    again.lease = port.lease
    acquire_lease(again, me, NOW + timedelta(minutes=1), lease_file=tmp_path / "lease")
    assert again.remembered == [{"item_id": "ITEM", "folder_id": "FOLDER"}]
