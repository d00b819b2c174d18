"""Opening the journal: SQLite engine, pragmas, integrity check, backups.

`open_database(path)` returns a ready `Database`: WAL, foreign keys, synchronous=FULL and a busy
timeout on every connection; `PRAGMA quick_check` at open. A damaged file is moved aside (kept as
`journal.sqlite3.corrupt-<time>`) and a fresh journal is created, which makes the engine take the
lost-state path (re-match by markers, never duplicate). Only if that fails is `JournalError` raised.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from app.errors import JournalError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# WAL pages after which a commit copies them back into the database file and fsyncs it (SQLite's
# default is 1,000). A first sync's settling commits about 250 pages per chunk of 100 items, so the
# default checkpointed every fourth chunk, inside that chunk's commit; at 10,000 (about 40 MB)
# checkpoints stay automatic but rare, and the last connection to close checkpoints the rest.
# Durability does not depend on it: every commit fsyncs the WAL (synchronous=FULL).
WAL_AUTOCHECKPOINT_PAGES = 10_000
BACKUPS_KEPT = 3


@dataclass
class Database:
    engine: Engine
    path: Path | None
    recovered_from: Path | None = None  # set when a damaged file was moved aside
    read_only: bool = False

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(path: Path | None, read_only: bool = False) -> Engine:
    if path is None:
        url = "sqlite://"
    elif read_only:
        url = f"sqlite:///file:{path.as_posix()}?mode=ro&uri=true"
    else:
        url = f"sqlite:///{path.as_posix()}"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        if path is not None and not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    return engine


def quick_check(path: Path) -> bool:
    """True when SQLite finds the file sound (or it does not exist yet)."""
    if not path.exists() or path.stat().st_size == 0:
        return True
    try:
        con = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    return [r[0] for r in rows] == ["ok"]


def move_aside(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(target)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.replace(target.with_name(target.name + suffix))
    return target


def backup(path: Path, label: str) -> Path:
    """Copy the journal with SQLite's backup API; keep the newest BACKUPS_KEPT copies per journal."""
    target = path.with_name(f"{path.name}.{label}.bak")
    src = sqlite3.connect(path.as_posix())
    try:
        dst = sqlite3.connect(target.as_posix())
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    olds = sorted(path.parent.glob(f"{path.name}.*.bak"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds[BACKUPS_KEPT:]:
        old.unlink(missing_ok=True)
    return target


def open_database(path: Path | str | None, *, read_only: bool = False) -> Database:
    """Open (and if needed create or migrate) the journal at `path`; None means in memory."""
    from app.journal.migrations import ensure_schema  # local: migrations imports models

    p = Path(path) if path is not None else None
    if read_only:
        if p is None or not p.exists():
            raise JournalError("There is no sync journal yet; run a sync first.")
        return Database(_make_engine(p, read_only=True), p, read_only=True)
    recovered: Path | None = None
    if p is not None:
        p.parent.mkdir(parents=True, exist_ok=True)
        if not quick_check(p):
            try:
                recovered = move_aside(p)
            except OSError as exc:
                raise JournalError(f"The sync journal {p} is damaged and could not be moved aside: {exc}") from None
            log.warning("journal failed its integrity check; moved aside to %s and rebuilt", recovered.name)
    engine = _make_engine(p)
    try:
        ensure_schema(engine, p)
    except JournalError:
        engine.dispose()
        raise
    except Exception as exc:  # a file that passed quick_check yet cannot be read as a journal
        engine.dispose()
        if p is None or recovered is not None:
            raise JournalError(f"The sync journal could not be opened: {exc}") from None
        try:
            recovered = move_aside(p)
            engine = _make_engine(p)
            ensure_schema(engine, p)
        except Exception as exc2:  # noqa: BLE001
            raise JournalError(f"The sync journal could not be rebuilt: {exc2}") from None
    db = Database(engine, p, recovered)
    if recovered is not None:
        with engine.begin() as con:
            con.execute(text("INSERT OR REPLACE INTO meta(key, value) VALUES ('recovered_from', :v)"), {"v": recovered.name})
    return db
