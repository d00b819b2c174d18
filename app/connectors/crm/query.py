"""Filters, columns, sorting and paging on the wire (workbooks-api.md section 3).

A `Filter` of app.domain.filters becomes parallel `_ff[]/_ft[]/_fc[]` arrays plus `_fm`.
Filters are combined with `all_of` (positions renumbered, expressions parenthesised), which the
store uses to add keyset conditions: every page is a fresh query "after the last row seen", so
rows changing while we page are never skipped (offsets would drift).
"""
from __future__ import annotations

import queue
import re
import threading
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


LISTING_READERS = 5  # id ranges read at once: the client sends at most 5 requests at a time, and nothing
# else in a sync reads from Workbooks while a listing runs (its deletion lookups wait for its end)
WAITING_PAGES = 2  # pages a listing's readers may hold beyond the ones being read


def scan_id_ranges(
    read: Callable[[str, Params], Mapping[str, Any]],
    path: str,
    *,
    columns: Sequence[str],
    base: Filter,
    page_size: int = PAGE_SIZE,
    readers: int = LISTING_READERS,
    convert: Callable[[list[dict[str, Any]]], Any] = list,
) -> Iterator[tuple[Any, bool]]:
    """The rows of `base` by id, several id ranges read at once. Yields `(convert(rows), done)`,
    each row once, the pages in the order they arrive; `done` only on the last. `convert` runs on
    the thread that read the page, so turning rows into records overlaps the other reads.

    Keyset pages of one range follow one another (each asks for the ids after the last one seen),
    so a long listing read as one range is as slow as its pages one after another. The first page
    (lowest ids, counting the total) shows how densely ids are used; the ids above it are split
    into up to `readers` ranges of whole pages each, read on helper threads at once. Each range is
    keyset-paged upwards between fixed bounds, the highest one downwards from the top without an
    upper bound, so a range is complete when a page comes back short or reaches the range's other
    end; the total and the density are only estimates that size the ranges. So every row that
    exists throughout the listing is read exactly once, whatever is added, deleted or moved
    meanwhile (rows added above the top when the downward read began are left to the next delta,
    as a listing's cursor already provides). When ids are used densely the requests are those of
    one upward scan; otherwise at most one more per range. A listing of up to two pages is read
    upwards only, its expected last page counting what is left in the same query."""
    rows, total = _bounded_page(read, path, columns, base, page_size, "ASC", None, None, True)
    if len(rows) < page_size or (total is not None and total <= len(rows)):
        yield convert(rows), True
        return
    first_id, above = _ident(rows[0]), _ident(rows[-1])
    left = None if total is None else total - len(rows)
    if left is None or left <= page_size or readers < 2:
        yield convert(rows), False
        for more, done in _upward(read, path, columns, base, page_size, above, left):
            yield convert(more), done
        return
    ranges = _split(above, left, page_size, readers, density=len(rows) / max(1, above - first_id + 1))
    with _RangeReaders(read, path, columns, base, page_size, ranges, convert) as pages:
        yield convert(rows), False
        yield from pages


def _ident(row: Mapping[str, Any]) -> int:
    return int(row.get("id") or 0)


def _bounded_page(read, path, columns, base: Filter, page_size: int, direction: str, above: int | None,
                  below: int | None, count: bool) -> tuple[list[dict[str, Any]], int | None]:
    """One page of `base` with above < id < below (either bound may be absent), sorted by id."""
    bounds = tuple(c for c in (Condition("id", "gt", str(above)) if above is not None else None,
                               Condition("id", "lt", str(below)) if below is not None else None) if c)
    return read_page(read, path, columns=columns, flt=all_of(base, Filter(bounds)) if bounds else base,
                     sort=[("id", direction)], page_size=page_size, count=count)


def _upward(read, path, columns, base: Filter, page_size: int, above: int,
            left: int | None) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """Keyset pages above `above`; the page expected to be the last also counts what is left, in
    the same query, so a full page that holds all of it ends the listing without one more request."""
    while True:
        last = left is not None and left <= page_size
        rows, in_rest = _bounded_page(read, path, columns, base, page_size, "ASC", above, None, last)
        if left is not None:
            left -= len(rows)
        if len(rows) < page_size or (in_rest is not None and in_rest <= len(rows)):
            yield rows, True
            return
        yield rows, False
        above = _ident(rows[-1])


def _split(above: int, left: int, page_size: int, readers: int, density: float) -> list[tuple[int, int | None]]:
    """Ranges (low, high) of ids above `above`, low exclusive and high inclusive, each expected to
    hold whole pages of the `left` rows at `density` rows per id; the last has no upper bound."""
    pages = -(-left // page_size)
    per_range = -(-pages // readers)
    count = -(-pages // per_range)
    width = max(1, round(per_range * page_size / max(density, 1e-9)))
    lows = [above + i * width for i in range(count)]
    return [(low, low + width) for low in lows[:-1]] + [(lows[-1], None)]


class _RangeReaders:
    """Reads id ranges on helper threads and hands their pages over in arrival order.

    At most one page per range plus `WAITING_PAGES` are read or waiting to be taken at a time (a
    slot is taken before a read and given back when its page is taken): a slow consumer holds a
    few pages, never the listing (a page of 100 people as records is ~0.5 MB), and a consumer
    slower than the reads (the engine staging the pages) never waits for one. The first error
    stops the other readers and is raised to the consumer; leaving early (closing the generator)
    stops them after the reads in hand and waits for them."""

    def __init__(self, read, path, columns, base: Filter, page_size: int, ranges: list[tuple[int, int | None]],
                 convert: Callable[[list[dict[str, Any]]], Any]):
        self.read, self.path, self.columns, self.base, self.page_size = read, path, columns, base, page_size
        self.ranges, self.convert = ranges, convert
        self.out: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.slots = threading.Semaphore(len(ranges) + WAITING_PAGES)
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="crm-listing")

    def __enter__(self) -> Iterator[tuple[Any, bool]]:
        for low, high in self.ranges:
            self.pool.submit(self._range, low, high)
        return self._pages()

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for _ in self.ranges:
            self.slots.release()  # wakes readers waiting for room
        self.pool.shutdown(wait=True)

    def _pages(self) -> Iterator[tuple[Any, bool]]:
        open_ranges = len(self.ranges)
        while True:
            tag, value = self.out.get()
            if tag == _RAISED:
                raise value
            self.slots.release()
            page, empty, range_done = value
            open_ranges -= range_done
            if open_ranges == 0:
                yield page, True
                return
            if not empty:
                yield page, False

    def _range(self, low: int, high: int | None) -> None:
        """Upwards from `low` to `high`; without `high`, downwards from the top to `low`."""
        try:
            upward = high is not None
            above, below = low, (high + 1 if upward else None)
            while self._room():
                rows, _ = _bounded_page(self.read, self.path, self.columns, self.base, self.page_size,
                                        "ASC" if upward else "DESC", above, below, False)
                if rows:
                    if upward:
                        above = _ident(rows[-1])
                    else:
                        below = _ident(rows[-1])
                done = len(rows) < self.page_size or (above >= high if upward else below <= low + 1)
                self.out.put((_PAGE, (self.convert(rows), not rows, done)))
                if done:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self.stop.set()
            self.out.put((_RAISED, exc))

    def _room(self) -> bool:
        """Wait for a free slot; False once the listing is stopped."""
        while not self.stop.is_set():
            if self.slots.acquire(timeout=0.5):
                return not self.stop.is_set()
        return False


_PAGE, _RAISED = "page", "raised"
