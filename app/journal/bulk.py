"""Set-based statements for the journal's big tables (staged changes, links, outbox, sharing,
errors, history): one executemany per table and batch instead of one ORM object per row.

A first sync writes tens of thousands of rows; building an instrumented SQLModel object for each
cost more CPU than the SQL itself. These statements use the same Table objects (so the same
column types and stored formats) inside the caller's transaction. Rows are plain dicts with
every column the statement names.

The statements are compiled by SQLAlchemy once per table and column set and then run straight on
the driver: per row, SQLAlchemy's parameter building cost about as much as SQLite's own work. Each
value still goes through its column type's bind processor, so what is stored is byte for byte what
the Core statement would store (dates in SQLAlchemy's text format).
"""
from __future__ import annotations

from collections import namedtuple
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Boolean, DateTime, Table, and_, bindparam, delete, func, insert, update
from sqlalchemy.sql import Executable
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from app.journal import stored_dates

IN_CHUNK = 400  # ids per IN (...) lookup, well under SQLite's variable limit


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, keep: Iterable[str] = (),
           keep_if_null: Iterable[str] = ()) -> None:
    """Insert each row or, when its primary key exists, overwrite its columns (except `keep`,
    which an existing row retains, and `keep_if_null`, which it retains when the new value is
    NULL). Columns a row does not name are left alone. Later rows for the same key win, as with
    ORM writes."""
    if not rows:
        return
    kept, soft = tuple(sorted(keep)), tuple(sorted(keep_if_null))
    names = tuple(rows[0])

    def build() -> Executable:
        pk = {c.name for c in table.primary_key.columns}
        stmt = sqlite_insert(table)
        return stmt.on_conflict_do_update(index_elements=sorted(pk), set_={
            n: func.coalesce(stmt.excluded[n], table.c[n]) if n in soft else stmt.excluded[n]
            for n in names if n not in pk and n not in kept})

    _run(conn, table, ("upsert", table.name, names, kept, soft), build, names, rows)


def set_column(conn: Connection, table: Table, column: str, pairs: Sequence[tuple[Any, Any]]) -> None:
    """`column` = value for each (primary key, value); keys with no row are skipped."""
    if not pairs:
        return
    (pk,) = [c for c in table.primary_key.columns]
    stmt = update(table).where(pk == bindparam("k_id")).values({column: bindparam("k_value")})
    conn.execute(stmt, [{"k_id": k, "k_value": v} for k, v in pairs])


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        names = tuple(rows[0])
        _run(conn, table, ("insert", table.name, names), lambda: insert(table), names, rows)


# (statement form, table, columns...) -> (SQL text, the columns its parameters stand for, in order)
_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[str, ...]] | None] = {}


def _run(conn: Connection, table: Table, key: tuple[Any, ...], build: Callable[[], Executable],
         names: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> None:
    """executemany of the statement `build` makes, for rows naming the columns `names`."""
    if key not in _COMPILED:
        _COMPILED[key] = _compile(conn, table, build(), names)
    compiled = _COMPILED[key]
    if compiled is None:  # a form the driver path does not cover: SQLAlchemy runs it
        conn.execute(build(), list(rows))
        return
    sql, order = compiled
    conn.exec_driver_sql(sql, _driver_params(conn, table, order, rows))


def _compile(conn: Connection, table: Table, stmt: Executable, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    # A column an insert leaves out would get its Python-side default from SQLAlchemy, which the
    # driver would not apply: such a form stays with SQLAlchemy. (A delete sets no column.)
    if stmt.is_insert and any(c.default is not None and c.name not in names for c in table.columns):  # type: ignore[attr-defined]
        return None
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ())
    if sorted(order) != sorted(names) or any(_column(table, n) is None for n in order):
        return None
    return compiled.string, order


def _column(table: Table, param: str) -> Any:
    """The column a parameter stands for: its name, or k_<name> in the key conditions."""
    name = param[2:] if param.startswith("k_") and param not in table.c else param
    return table.c.get(name)


def _driver_params(conn: Connection, table: Table, order: tuple[str, ...],
                   rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as parameter tuples in `order`, each value through its column type's bind processor.
    Column by column: the columns with no processor (most of them) are not touched in Python."""
    procs = [(i, p) for i, n in enumerate(order) if (p := _bind_processor(conn.dialect, _column(table, n).type))]
    get = itemgetter(*order)
    if len(order) == 1:
        values = [(get(r),) for r in rows]
    else:
        values = list(map(get, rows))
    if not procs or not values:
        return values
    columns: list[Any] = list(zip(*values))
    for i, p in procs:
        columns[i] = map(p, columns[i])
    return list(zip(*columns))


# (column type, dialect class) -> the bind processor _driver_params applies for it
_PROCESSORS: dict[tuple[Any, Any], Callable[[Any], Any] | None] = {}


def _bind_processor(dialect: Any, typ: Any) -> Callable[[Any], Any] | None:
    key = (typ, type(dialect))  # what SQLite binds depends on the column type alone
    if key not in _PROCESSORS:
        process = typ.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and (isinstance(typ, DateTime) or isinstance(getattr(typ, "impl", None), DateTime)):
            process = stored_dates.processor(process)
        elif process is not None and isinstance(typ, Boolean):
            process = _booleans(process)
        _PROCESSORS[key] = process
    return _PROCESSORS[key]


_BOOLEAN_INTS = {None: None, True: 1, False: 0}  # what SQLAlchemy's Boolean binds on SQLite (1 == True)


def _booleans(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's Boolean processor by a lookup, when it binds what _BOOLEAN_INTS holds; any
    other value (a wrong type, an unhashable one) still goes through it, for its own error."""
    if any(type(process(v)) is not type(want) or process(v) != want for v, want in _BOOLEAN_INTS.items()):
        return process

    def boolean(value: Any) -> Any:
        try:
            return _BOOLEAN_INTS[value]
        except (KeyError, TypeError):
            return process(value)

    return boolean


def delete_keys(conn: Connection, table: Table, keys: Sequence[Any], *, version: Sequence[str] | None = None) -> None:
    """Delete rows by primary key (a value, or a tuple for composite keys); with `version`, only
    the rows whose `version` column still equals the one given for that key."""
    if not keys:
        return
    cols = [c for c in table.primary_key.columns]
    params = []
    for n, key in enumerate(keys):
        values = tuple(key) if len(cols) > 1 else (key,)
        p = {f"k_{c.name}": v for c, v in zip(cols, values)}
        if version is not None:
            p["k_version"] = version[n]
        params.append(p)

    def build() -> Executable:
        cond = and_(*[c == bindparam(f"k_{c.name}") for c in cols])
        if version is not None:
            cond = and_(cond, table.c.version == bindparam("k_version"))
        return delete(table).where(cond)

    names = tuple(params[0])
    _run(conn, table, ("delete", table.name, names), build, names, params)


def has_rows(conn: Connection, table: Table) -> bool:
    """The table holds a row. Asked in the caller's transaction, so the answer holds for the rest
    of it: a settle clears every linked item's errors and staged changes, and a first sync's
    chunks would otherwise run hundreds of deletes that find nothing."""
    return conn.exec_driver_sql(f"SELECT 1 FROM {table.name} LIMIT 1").first() is not None


def column_by_key(conn: Connection, table: Table, column: str, keys: Sequence[str]) -> dict[str, Any]:
    """`column` of the rows with these (single-column) primary keys, in bulk."""
    (pk,) = [c for c in table.primary_key.columns]
    dialect = conn.dialect
    process = table.c[column].type.dialect_impl(dialect).result_processor(dialect, None)
    want = list(dict.fromkeys(keys))
    out: dict[str, Any] = {}
    for i in range(0, len(want), IN_CHUNK):
        part = want[i:i + IN_CHUNK]
        # straight on the driver: SQLAlchemy built and compiled the select again for every chunk
        rows = conn.exec_driver_sql(f"SELECT {pk.name}, {column} FROM {table.name} WHERE {pk.name} IN {in_list(len(part))}",
                                    tuple(part))
        out.update({k: process(v) for k, v in rows} if process else dict(rows.all()))
    return out


def select_rows(conn: Connection, table: Table, where: str, params: Sequence[Any], *, order_by: str = "") -> Iterator[Any]:
    """Rows of `table` meeting the SQL condition `where` (with ? parameters), as named tuples of
    every column, each value through its column type's result processor: what a Core select
    gives (dates as aware UTC datetimes, booleans as bools), without its cost per row. Rows are
    fetched as they are consumed (a plan reads tens of thousands of JSON-heavy rows, each turned
    into a value at once), so consume them before the connection goes back."""
    shape, sql = _row_shape(table)
    dialect = conn.dialect
    procs = [(i, p) for i, c in enumerate(table.columns)
             if (p := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None]
    make = shape._make
    cur = conn.connection.cursor()
    try:
        cur.execute(f"{sql} WHERE {where}" + (f" ORDER BY {order_by}" if order_by else ""), tuple(params))
        while rows := cur.fetchmany(FETCH_ROWS):
            for r in rows:
                if procs:
                    values = list(r)
                    for i, p in procs:
                        values[i] = p(values[i])
                    r = values
                yield make(r)
    finally:
        cur.close()


FETCH_ROWS = 200


_SHAPES: dict[str, tuple[Any, str]] = {}


def _row_shape(table: Table) -> tuple[Any, str]:
    if table.name not in _SHAPES:
        names = [c.name for c in table.columns]
        _SHAPES[table.name] = (namedtuple(f"{table.name}_row", names),  # type: ignore[misc]
                               f"SELECT {', '.join(names)} FROM {table.name}")
    return _SHAPES[table.name]


def in_list(n: int) -> str:
    """`(?, ?, ...)` for an IN condition of n values."""
    return "(" + ", ".join("?" * n) + ")"
