"""The mailbox lease (LeasePort) over the fake and over EWS: an item with our property in a
connector-owned folder under the mailbox root, ChangeKey-checked so two racing machines cannot
both win; app.locks.acquire_lease on top of it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.connectors.ews import EwsLease
from app.connectors.ews.lease import LEASE_FOLDER_NAME
from app.domain.records import Lease
from app.errors import LeaseHeld, StaleVersion
from app.locks import MachineIdentity, acquire_lease
from tests.fixtures.mailbox_fake import FakeLease
from tests.fixtures.mailbox_sandbox import ews_sandbox

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["fake", "sandbox"])
def two_machines(request):
    if request.param == "fake":
        shared = FakeLease()
        yield shared, shared, None
    else:
        with ews_sandbox() as env:
            yield EwsLease.connect(env.settings()), EwsLease.connect(env.settings()), env


def test_first_write_wins_and_the_loser_gets_stale(two_machines):
    a, b, _ = two_machines
    assert a.read_lease() is None and b.read_lease() is None
    won = a.write_lease(Lease("m-a", "host-a", NOW, "1.0"))
    assert won.version and won.holder_machine_id == "m-a"
    with pytest.raises(StaleVersion):
        b.write_lease(Lease("m-b", "host-b", NOW, "1.0"))  # also believed there was none
    seen = b.read_lease()
    assert (seen.holder_host, seen.heartbeat_at, seen.version) == ("host-a", NOW, won.version)


def test_renewals_are_change_key_checked(two_machines):
    a, b, _ = two_machines
    first = a.write_lease(Lease("m-a", "host-a", NOW, "1.0"))
    current = b.read_lease()
    taken = b.write_lease(Lease("m-b", "host-b", NOW + timedelta(hours=3), "1.0", version=current.version))
    assert taken.version != first.version
    with pytest.raises(StaleVersion):  # A renews with the key it last wrote: B got there first
        a.write_lease(Lease("m-a", "host-a", NOW + timedelta(hours=3), "1.0", version=first.version))
    renewed = b.write_lease(Lease("m-b", "host-b", NOW + timedelta(hours=4), "1.0", version=taken.version))
    assert a.read_lease().heartbeat_at == NOW + timedelta(hours=4) and renewed.version != taken.version


def test_acquire_lease_rules_on_top(two_machines, tmp_path):
    a, b, _ = two_machines
    me, other = MachineIdentity("m-a", "host-a"), MachineIdentity("m-b", "host-b")
    acquire_lease(a, me, NOW, lease_file=tmp_path / "lease")
    acquire_lease(a, me, NOW + timedelta(minutes=30))  # renew
    with pytest.raises(LeaseHeld) as held:
        acquire_lease(b, other, NOW + timedelta(minutes=40))
    assert "host-a" in str(held.value)
    acquire_lease(b, other, NOW + timedelta(hours=3))  # silent for two hours: expired, taken over
    assert a.read_lease().holder_machine_id == "m-b"


def test_lease_folder_is_created_once_and_found_again():
    with ews_sandbox() as env:
        a = EwsLease.connect(env.settings())
        a.write_lease(Lease("m-a", "host-a", NOW, "1.0"))
        counts = env.requests()
        assert counts.get("CreateFolder") == 1 and "UpdateFolder" not in counts and "GetFolder" not in counts
        env.reset_stats()
        b = EwsLease.connect(env.settings())
        assert b.read_lease().holder_host == "host-a"
        assert env.requests() == {"FindFolder": 1, "FindItem": 1, "GetItem": 1}
        # A racing machine that did not see the folder yet: CreateFolder answers ErrorFolderExists.
        c = EwsLease.connect(env.settings())
        real_find, calls = c._find_folder, []  # noqa: SLF001
        c._find_folder = lambda: None if not calls.append(1) and len(calls) == 1 else real_find()  # race window
        env.reset_stats()
        assert c.folder().id == a.folder().id
        assert env.requests() == {"FindFolder": 1, "CreateFolder": 1}
        assert env.sandbox.state.folder_by_name(LEASE_FOLDER_NAME) is not None


def test_routine_lease_check_is_one_get_item_and_no_write(tmp_path):
    """A later run that remembers the lease item (lease file) reads it with one GetItem and, the
    heartbeat being fresh, writes nothing; a take-over by another machine is still seen."""
    with ews_sandbox() as env:
        me, other = MachineIdentity("m-a", "host-a"), MachineIdentity("m-b", "host-b")
        acquire_lease(EwsLease.connect(env.settings()), me, NOW, lease_file=tmp_path / "lease")
        env.reset_stats()
        held = acquire_lease(EwsLease.connect(env.settings()), me, NOW + timedelta(minutes=10),
                             lease_file=tmp_path / "lease")
        assert env.requests() == {"GetItem": 1} and held.heartbeat_at == NOW
        env.reset_stats()
        acquire_lease(EwsLease.connect(env.settings()), me, NOW + timedelta(minutes=31), lease_file=tmp_path / "lease")
        assert env.requests() == {"GetItem": 1, "UpdateItem": 1}  # heartbeat due: renewed
        acquire_lease(EwsLease.connect(env.settings()), other, NOW + timedelta(minutes=40), take_over=True)
        env.reset_stats()
        with pytest.raises(LeaseHeld):
            acquire_lease(EwsLease.connect(env.settings()), me, NOW + timedelta(minutes=45), lease_file=tmp_path / "lease")
        assert env.requests() == {"GetItem": 1}


def test_a_removed_lease_item_is_found_again_the_slow_way(tmp_path):
    with ews_sandbox() as env:
        me = MachineIdentity("m-a", "host-a")
        first = EwsLease.connect(env.settings())
        acquire_lease(first, me, NOW, lease_file=tmp_path / "lease")
        item_id = first.hints()["item_id"]
        first.account.bulk_delete(ids=[(item_id, None)])  # someone removed the lease item
        again = EwsLease.connect(env.settings())
        held = acquire_lease(again, me, NOW + timedelta(minutes=5), lease_file=tmp_path / "lease")
        assert held.holder_machine_id == "m-a" and again.hints()["item_id"] != item_id
