"""Two kinds of exclusivity.

* The local profile lock: an OS-level exclusive lock on a file in the profile, so a GUI and a
  CLI run never share the journal at the same time.
* The mailbox lease (B20): one computer syncs a mailbox. The lease lives in the mailbox (through
  `LeasePort`) and is mirrored in the profile's `lease` file; writes are version-checked, so two
  racing machines cannot both win. A lease silent for two hours has expired and may be taken
  over; a live one is taken over only on the user's explicit request.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from app import __version__
from app.atomic_file import write_atomic
from app.domain.records import Lease
from app.errors import AppError, LeaseHeld, StaleVersion
from app.sync.ports import LeasePort

LEASE_EXPIRY = timedelta(hours=2)
HEARTBEAT = timedelta(minutes=30)


class ProfileBusy(AppError):
    title = "The connector is already running"


class ProfileLock:
    def __init__(self, path: Path):
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> "ProfileLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ProfileBusy(
                "another connector process (the tray app or a sync command) is using this profile; "
                "wait for it to finish or quit the tray app"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            try:
                if os.name != "nt":
                    import fcntl

                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "ProfileLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class MachineIdentity:
    machine_id: str
    host: str


def machine_identity(lease_file: Path) -> MachineIdentity:
    """This installation's id, kept in the profile's lease file (made on first use)."""
    data = _read_json(lease_file)
    machine_id = data.get("machine_id") if isinstance(data.get("machine_id"), str) else None
    if not machine_id:
        machine_id = uuid.uuid4().hex
        _write_json(lease_file, {**data, "machine_id": machine_id, "host": _host()})
    return MachineIdentity(machine_id, _host())


def _host() -> str:
    return platform.node() or socket.gethostname() or "this computer"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1, default=str))


def describe_holder(lease: Lease, now: datetime) -> str:
    minutes = max(0, int((now - lease.heartbeat_at).total_seconds() // 60))
    ago = f"{minutes} minutes ago" if minutes < 120 else f"{minutes // 60} hours ago"
    return f"{lease.holder_host} (last seen {ago}, {lease.heartbeat_at:%Y-%m-%d %H:%M} UTC)"


def acquire_lease(
    port: LeasePort,
    me: MachineIdentity,
    now: datetime,
    *,
    take_over: bool = False,
    lease_file: Path | None = None,
) -> Lease:
    """Acquire or renew this machine's lease; raise LeaseHeld when another computer holds it.

    Reading costs one request when the lease file remembers where the lease item is (see
    `remember_lease`). The heartbeat is written only when it is `HEARTBEAT` old or older
    (design.md 7: renewed every 30 minutes whatever the schedule), so a cycle that holds a fresh
    lease writes nothing."""
    remember_lease(port, lease_file)
    current = port.read_lease()
    if (current is not None and current.holder_machine_id == me.machine_id and current.version
            and timedelta(0) <= now - current.heartbeat_at < HEARTBEAT):
        _store_hints(port, lease_file)
        return current  # ours and fresh: no write
    if current is not None and current.holder_machine_id != me.machine_id:
        expired = now - current.heartbeat_at >= LEASE_EXPIRY
        if not (take_over or expired):
            raise LeaseHeld(
                f"{describe_holder(current, now)} is syncing this mailbox. To move syncing to this "
                "computer, choose 'Move syncing here' in the app or run "
                "`workbooks-connector sync --take-over`; the other computer stops at its next run."
            )
    mine = Lease(
        holder_machine_id=me.machine_id,
        holder_host=me.host,
        heartbeat_at=now,
        app_version=__version__,
        version=current.version if current is not None else "",
    )
    try:
        written = port.write_lease(mine)
    except StaleVersion:
        raced = port.read_lease()
        holder = describe_holder(raced, now) if raced else "another computer"
        raise LeaseHeld(f"{holder} took over this mailbox at the same moment; try again in a minute") from None
    if lease_file is not None:
        data = _read_json(lease_file)
        data.update(
            machine_id=me.machine_id,
            host=me.host,
            heartbeat_at=now.astimezone(timezone.utc).isoformat(),
            remote_version=written.version,
        )
        hints = _hints(port)
        if hints:
            data["remote"] = hints
        _write_json(lease_file, data)
    return written


def remember_lease(port: LeasePort, lease_file: Path | None) -> None:
    """Give the port the lease item's whereabouts saved by an earlier run (if it takes them)."""
    remember = getattr(port, "remember", None)
    if lease_file is None or remember is None:
        return
    remote = _read_json(lease_file).get("remote")
    if isinstance(remote, dict):
        remember(remote)


def _hints(port: LeasePort) -> dict:
    hints = getattr(port, "hints", None)
    return dict(hints()) if hints is not None else {}


def _store_hints(port: LeasePort, lease_file: Path | None) -> None:
    if lease_file is None:
        return
    hints = _hints(port)
    data = _read_json(lease_file)
    if hints and data.get("remote") != hints:
        data["remote"] = hints
        _write_json(lease_file, data)
