"""Set-based statements for the journal's big tables (staged changes, links, outbox, sharing,
errors, history): one executemany per table and batch instead of one ORM object per row.

A first sync writes tens of thousands of rows; building an instrumented SQLModel object for each
cost more CPU than the SQL itself. These statements use the same Table objects (so the same
column types and stored formats) inside the caller's transaction. Rows are plain dicts with
every column the statement names.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

IN_CHUNK = 400  # ids per IN (...) lookup, well under SQLite's variable limit


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, keep: Iterable[str] = (),
           keep_if_null: Iterable[str] = ()) -> None:
    """Insert each row or, when its primary key exists, overwrite its columns (except `keep`,
    which an existing row retains, and `keep_if_null`, which it retains when the new value is
    NULL). Columns a row does not name are left alone. Later rows for the same key win, as with
    ORM writes."""
    if not rows:
        return
    pk = {c.name for c in table.primary_key.columns}
    kept, soft = set(keep), set(keep_if_null)
    stmt = sqlite_insert(table)
    names = [n for n in rows[0] if n not in pk and n not in kept]
    stmt = stmt.on_conflict_do_update(index_elements=sorted(pk), set_={
        n: func.coalesce(stmt.excluded[n], table.c[n]) if n in soft else stmt.excluded[n] for n in names})
    conn.execute(stmt, list(rows))


def set_column(conn: Connection, table: Table, column: str, pairs: Sequence[tuple[Any, Any]]) -> None:
    """`column` = value for each (primary key, value); keys with no row are skipped."""
    if not pairs:
        return
    (pk,) = [c for c in table.primary_key.columns]
    stmt = update(table).where(pk == bindparam("k_id")).values({column: bindparam("k_value")})
    conn.execute(stmt, [{"k_id": k, "k_value": v} for k, v in pairs])


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), list(rows))


def delete_keys(conn: Connection, table: Table, keys: Sequence[Any], *, version: Sequence[str] | None = None) -> None:
    """Delete rows by primary key (a value, or a tuple for composite keys); with `version`, only
    the rows whose `version` column still equals the one given for that key."""
    if not keys:
        return
    cols = [c for c in table.primary_key.columns]
    cond = and_(*[c == bindparam(f"k_{c.name}") for c in cols])
    if version is not None:
        cond = and_(cond, table.c.version == bindparam("k_version"))
    params = []
    for n, key in enumerate(keys):
        values = tuple(key) if len(cols) > 1 else (key,)
        p = {f"k_{c.name}": v for c, v in zip(cols, values)}
        if version is not None:
            p["k_version"] = version[n]
        params.append(p)
    conn.execute(delete(table).where(cond), params)


def column_by_key(conn: Connection, table: Table, column: str, keys: Sequence[str]) -> dict[str, Any]:
    """`column` of the rows with these (single-column) primary keys, in bulk."""
    (pk,) = [c for c in table.primary_key.columns]
    want = list(dict.fromkeys(keys))
    out: dict[str, Any] = {}
    for i in range(0, len(want), IN_CHUNK):
        part = want[i:i + IN_CHUNK]
        out.update({k: v for k, v in conn.execute(select(pk, table.c[column]).where(pk.in_(part)))})
    return out
