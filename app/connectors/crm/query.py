"""Filters, columns, sorting and paging on the wire (workbooks-api.md section 3).

A `Filter` of app.domain.filters becomes parallel `_ff[]/_ft[]/_fc[]` arrays plus `_fm`.
Filters are combined with `all_of` (positions renumbered, expressions parenthesised), which the
store uses to add keyset conditions: every page is a fresh query "after the last row seen", so
rows changing while we page are never skipped (offsets would drift).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

from app.domain.filters import VALUELESS, Condition, Filter

Params = list[tuple[str, str]]
PAGE_SIZE = 100
WIRE_DATETIME = "%a %b %d %H:%M:%S UTC %Y"


def escape_item(value: str) -> str:
    """One element of an `eq` comma list: commas are escaped as `\\,`."""
    return str(value).replace(",", "\\,")


def eq_list(values: Sequence[Any]) -> str:
    return ",".join(escape_item(str(v)) for v in values)


def wire_datetime(value: datetime) -> str:
    """UTC datetime in the API's default text form, used for criteria and writes."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(WIRE_DATETIME)


def expression(flt: Filter, offset: int = 0) -> str | None:
    """The filter's match as an explicit 1-based expression, positions shifted by `offset`."""
    n = len(flt.conditions)
    if n == 0:
        return None
    m = flt.match.strip().lower()
    if m in ("and", "or"):
        joiner = " AND " if m == "and" else " OR "
        return joiner.join(str(offset + i) for i in range(1, n + 1))
    return re.sub(r"\d+", lambda mo: str(int(mo.group(0)) + offset), flt.match)


def all_of(*filters: Filter | None) -> Filter:
    """AND of several filters, each keeping its own inner logic."""
    parts = [f for f in filters if f is not None and f.conditions]
    if not parts:
        return Filter()
    if len(parts) == 1:
        return parts[0]
    conditions: list[Condition] = []
    exprs: list[str] = []
    simple_and = True
    for f in parts:
        exprs.append(f"({expression(f, len(conditions))})")
        simple_and = simple_and and (f.match.strip().lower() == "and" or len(f.conditions) == 1)
        conditions.extend(f.conditions)
    match = "and" if simple_and else " AND ".join(exprs)
    return Filter(tuple(conditions), match, parts[0].name)


def filter_params(flt: Filter | None) -> Params:
    """`_ff[]`, `_ft[]`, `_fc[]` per condition (value-less operators send an empty `_fc[]`), and `_fm`."""
    if flt is None or not flt.conditions:
        return []
    out: Params = []
    for c in flt.conditions:
        out += [("_ff[]", c.field), ("_ft[]", c.op), ("_fc[]", "" if c.op in VALUELESS else c.value)]
    m = flt.match.strip()
    out.append(("_fm", m.lower() if m.lower() in ("and", "or") else m))
    return out


def column_params(columns: Sequence[str]) -> Params:
    seen: dict[str, None] = {}
    for c in ("id", "lock_version", *columns):
        seen.setdefault(c, None)
    return [("_select_columns[]", c) for c in seen]


def sort_params(sort: Sequence[tuple[str, str]]) -> Params:
    out: Params = []
    for field, direction in sort:
        out += [("_sort[]", field), ("_dir[]", direction.upper())]
    return out


def page_params(start: int, limit: int, *, count_total: bool) -> Params:
    out: Params = [("_start", str(start)), ("_limit", str(limit))]
    if not count_total:
        out += [("_skip_total_rows", "true"), ("__skip_total_rows", "true")]
    return out


def scan(
    read: Callable[[str, Params], Mapping[str, Any]],
    path: str,
    *,
    columns: Sequence[str],
    page_filter: Callable[[Mapping[str, Any] | None], Filter],
    sort: Sequence[tuple[str, str]],
    page_size: int = PAGE_SIZE,
    extra: Params = (),  # type: ignore[assignment]
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """Keyset paging: page N+1 is the query `page_filter(last row of page N)` from offset 0.

    The first page also asks for `total`, so the scan knows when it is done without an extra
    empty request; later pages skip counting (both spellings of `_skip_total_rows`). Yields
    `(rows, done)`; an empty result is one `([], True)`.
    """
    last: Mapping[str, Any] | None = None
    remaining: int | None = None  # rows still expected, from the first page's total
    first = True
    while True:
        params = (
            column_params(columns)
            + filter_params(page_filter(last))
            + sort_params(sort)
            + page_params(0, page_size, count_total=first)
            + list(extra)
        )
        body = read(path, params)
        rows = [r for r in body.get("data") or () if isinstance(r, dict)]
        if first:
            first = False
            try:
                remaining = int(body.get("total"))
            except (TypeError, ValueError):
                remaining = None
        if remaining is not None:
            remaining -= len(rows)
        done = not rows or (remaining is not None and remaining <= 0) or (remaining is None and len(rows) < page_size)
        yield rows, done
        if done:
            return
        last = rows[-1]
