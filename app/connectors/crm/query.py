"""Filters, columns, sorting and paging on the wire (workbooks-api.md section 3).

A `Filter` of app.domain.filters becomes parallel `_ff[]/_ft[]/_fc[]` arrays plus `_fm`.
Filters are combined with `all_of` (positions renumbered, expressions parenthesised), which the
store uses to add keyset conditions: every page is a fresh query "after the last row seen", so
rows changing while we page are never skipped (offsets would drift).
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
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


def read_page(
    read: Callable[[str, Params], Mapping[str, Any]],
    path: str,
    *,
    columns: Sequence[str],
    flt: Filter,
    sort: Sequence[tuple[str, str]],
    page_size: int,
    count: bool,
    extra: Params = (),  # type: ignore[assignment]
) -> tuple[list[dict[str, Any]], int | None]:
    """One page from offset 0: its rows, and the query's total when `count` asked for it (and the
    answer gave a number)."""
    body = read(path, column_params(columns) + filter_params(flt) + sort_params(sort)
                + page_params(0, page_size, count_total=count) + list(extra))
    rows = [r for r in body.get("data") or () if isinstance(r, dict)]
    if not count:
        return rows, None
    try:
        return rows, int(body.get("total"))
    except (TypeError, ValueError):
        return rows, None


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
        rows, total = read_page(read, path, columns=columns, flt=page_filter(last), sort=sort, page_size=page_size,
                                count=first, extra=extra)
        if first:
            first = False
            remaining = total
        if remaining is not None:
            remaining -= len(rows)
        done = not rows or (remaining is not None and remaining <= 0) or (remaining is None and len(rows) < page_size)
        yield rows, done
        if done:
            return
        last = rows[-1]


def scan_from_both_ends(
    read: Callable[[str, Params], Mapping[str, Any]],
    path: str,
    *,
    columns: Sequence[str],
    base: Filter,
    page_size: int = PAGE_SIZE,
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """The rows of `base` by id, read from both ends at once until the two reads meet.

    Keyset pages follow one another (each asks for the ids after the last one seen), so a long
    listing is as slow as its pages one after another. Here the lowest ids are read upwards on this
    thread while the highest are read downwards on a helper thread, each page asking only for the
    ids between what the two have read; a page shorter than a full one has found the gap empty,
    which ends the listing. So every row that exists throughout is read, new rows above the first
    downward page are left to the next delta (as a listing's cursor already provides). The first
    page's total is only a hint: it decides whether another downward read is worth starting and
    which upward page should count the rows left in the gap (in the same query, so a full page
    holding the whole gap ends the listing). The requests are those of an upward scan, plus one
    when rows change during the listing. A listing of one page is read upwards only. Yields
    `(rows, done)`, each row once."""
    def page(direction: str, above: int | None, below: int | None, count: bool) -> tuple[list[dict[str, Any]], int | None]:
        bounds = tuple(c for c in (Condition("id", "gt", str(above)) if above is not None else None,
                                   Condition("id", "lt", str(below)) if below is not None else None) if c)
        return read_page(read, path, columns=columns, flt=all_of(base, Filter(bounds)) if bounds else base,
                         sort=[("id", direction)], page_size=page_size, count=count)

    def ident(row: Mapping[str, Any]) -> int:
        return int(row.get("id") or 0)

    rows, total = page("ASC", None, None, True)
    if len(rows) < page_size or (total is not None and total <= len(rows)):
        yield rows, True
        return
    yield rows, False
    above = max(ident(r) for r in rows)  # every id up to here is read
    below: int | None = None  # every id from here up is read (None: nothing read downwards yet)
    taken = len(rows)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-listing-down") as helper:
        downward = (helper.submit(page, "DESC", above, None, False)
                    if total is None or total - taken > 2 * page_size else None)
        while True:
            if downward is not None:
                rows, _ = downward.result()
                keep = [r for r in rows if ident(r) > above]
                if rows:
                    low = min(ident(r) for r in rows)
                    below = low if below is None else min(below, low)
                taken += len(keep)
                if len(rows) < page_size:
                    yield keep, True
                    return
                yield keep, False
                # another downward read only while it cannot reach what the upward page beside it
                # reads (more than two pages left); the last page or two are read upwards alone
                downward = (helper.submit(page, "DESC", above, below, False)
                            if total is None or total - taken > 2 * page_size else None)
            # expected to be the last: it also counts the gap, in the same query, so a full page
            # that holds the whole gap ends the listing without one more request
            last = total is not None and total - taken <= page_size
            rows, in_gap = page("ASC", above, below, last)
            keep = [r for r in rows if below is None or ident(r) < below]
            if rows:
                above = max(above, max(ident(r) for r in rows))
            taken += len(keep)
            if len(rows) < page_size or (in_gap is not None and in_gap <= len(rows)):
                if downward is not None:
                    downward.result()  # the gap is empty: what it read is already read
                yield keep, True
                return
            yield keep, False
