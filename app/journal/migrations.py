"""Schema version and ordered migration steps (design.md section 4, "Migrations").

A new file is created from the table classes and stamped with SCHEMA_VERSION. An older file is
first copied with SQLite's backup API, then each numbered step runs in its own transaction and
bumps `meta.schema_version`. A file newer than this program is refused with a clear message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from app.errors import JournalError
from app.journal import models
from app.journal.db import backup

Step = Callable[[Connection], None]



def _v2_deletion_safety_and_meeting_ids(con: Connection) -> None:
    """B7: a CRM deletion is acted on only after a later run's lookup agrees; the first sighting
    is kept on the link. B3: meetings' global meeting id on the link. Existing links start with
    neither; a meeting's id is learnt the next time its item is read."""
    have = {c["name"] for c in inspect(con).get_columns("item_link")}
    if "crm_gone_seen_at" not in have:
        con.execute(text("ALTER TABLE item_link ADD COLUMN crm_gone_seen_at DATETIME"))
    if "ews_global_id" not in have:
        con.execute(text("ALTER TABLE item_link ADD COLUMN ews_global_id VARCHAR"))
    con.execute(text("CREATE INDEX IF NOT EXISTS ix_item_link_ews_global_id ON item_link (ews_global_id)"))


def _v3_email_link_edits(con: Connection) -> None:
    """B36: links of a recorded email can be added or removed by the user; a removed link is kept
    as `removed` so automatic linking never adds it again. Existing links are all `linked`."""
    have = {c["name"] for c in inspect(con).get_columns("email_link")}
    if "state" not in have:
        con.execute(text("ALTER TABLE email_link ADD COLUMN state VARCHAR NOT NULL DEFAULT 'linked'"))
    if "changed_at" not in have:
        con.execute(text("ALTER TABLE email_link ADD COLUMN changed_at DATETIME"))


# version N -> step that turns an N-1 file into an N file. The first release is version 1.
STEPS: dict[int, Step] = {2: _v2_deletion_safety_and_meeting_ids, 3: _v3_email_link_edits}


def current_version(engine: Engine) -> int | None:
    with engine.connect() as con:
        if not inspect(con).has_table("meta"):
            return None
        row = con.execute(text("SELECT value FROM meta WHERE key='schema_version'")).fetchone()
    return int(row[0]) if row else None


def _stamp(con: Connection, version: int) -> None:
    con.execute(text("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', :v)"), {"v": str(version)})


def ensure_schema(engine: Engine, path: Path | None, *, target: int | None = None, steps: dict[int, Step] | None = None) -> int:
    """Create, accept or migrate the file; returns the schema version now in force."""
    target = models.SCHEMA_VERSION if target is None else target
    steps = STEPS if steps is None else steps
    version = current_version(engine)
    if version is None:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as con:
            _stamp(con, target)
        return target
    if version > target:
        raise JournalError(
            f"This sync journal was written by a newer version of the connector (schema {version}; this "
            f"version understands up to {target}). Install the newer version again, or rebuild the journal "
            "from Settings › Advanced (pairings are found again by their markers).",
            title="The sync journal is from a newer version",
        )
    if version < target:
        if path is not None:
            backup(path, f"v{version}")
        for n in range(version + 1, target + 1):
            step = steps.get(n)
            if step is None:
                raise JournalError(f"No migration from journal schema {n - 1} to {n}.")
            with engine.begin() as con:
                step(con)
                _stamp(con, n)
        SQLModel.metadata.create_all(engine)  # tables added since
    return target


def clear_links_and_cursors(con: Connection) -> None:
    """A step may forget pairings instead of converting them (principle 3: lost state)."""
    for table in ("outbox", "staged_change", "item_link", "cursor"):
        con.execute(text(f"DELETE FROM {table}"))


def copy_and_rename(con: Connection, table: str, create_sql: str, columns: list[str]) -> None:
    """SQLite's narrow ALTER TABLE: build the new table, copy, swap."""
    cols = ", ".join(columns)
    con.execute(text(create_sql.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}__new")))
    con.execute(text(f"INSERT INTO {table}__new ({cols}) SELECT {cols} FROM {table}"))
    con.execute(text(f"DROP TABLE {table}"))
    con.execute(text(f"ALTER TABLE {table}__new RENAME TO {table}"))
