"""Reads: filters (`_ff[]/_ft[]/_fc[]`, `_filter_json`, `_fm`), sorting, paging and column
selection (workbooks-api.md §3, §7.10-13).

Semantics follow `app.domain.filters` (the project's reference evaluation, whose `_Expr` parses
`_fm`), made type-aware here: datetime columns compare as instants to the second, a bare date
criterion matches the whole day, numbers compare numerically, strings case-insensitively.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable

from app.domain.filters import OPERATORS, Condition, _equal, _Expr
from app.domain.filters import _test as _reference_test
from app.sandbox.crm import formats as F
from app.sandbox.crm.metadata import TypeDef, canonical_field
from app.sandbox.crm.store import Db


class QueryError(Exception):
    """Unacceptable read parameters: answered 406 like the service's parameter errors."""


Params = dict[str, list[str]]


def first(params: Params, *names: str) -> str | None:
    for name in names:
        values = params.get(name)
        if values:
            return values[-1]
    return None


def many(params: Params, name: str) -> list[str]:
    """`name[]` values, or the bracket-less single value."""
    return list(params.get(name + "[]") or params.get(name) or [])


@dataclass
class Cond:
    field: str
    op: str
    value: str


def conditions(params: Params) -> tuple[list[Cond], str]:
    ff, ft, fc = many(params, "_ff"), many(params, "_ft"), many(params, "_fc")
    conds: list[Cond] = []
    for i, name in enumerate(ff):
        op = ft[i] if i < len(ft) else "eq"
        conds.append(Cond(canonical_field(name.strip()), op.strip().lower(), fc[i] if i < len(fc) else ""))
    raw_json = first(params, "_filter_json")
    if raw_json:
        try:
            triples = json.loads(raw_json)
        except ValueError:
            raise QueryError("_filter_json is not valid JSON") from None
        if not isinstance(triples, list):
            raise QueryError("_filter_json must be a list of [field, operator, value]")
        for item in triples:
            if not isinstance(item, list) or len(item) not in (2, 3):
                raise QueryError(f"bad _filter_json entry {item!r}")
            value = "" if len(item) == 2 or item[2] is None else item[2]
            if isinstance(value, (list, dict)):
                value = json.dumps(value)
            conds.append(Cond(canonical_field(str(item[0])), str(item[1]).lower(), str(value)))
    match = first(params, "_fm", "_fm[]") or "and"
    for c in conds:
        if c.op not in OPERATORS:
            raise QueryError(f"Unknown filter operator '{c.op}'")
    m = match.strip().lower()
    if m not in ("and", "or") and conds:
        try:
            _Expr(match, len(conds)).parse()
        except ValueError as exc:
            raise QueryError(f"Invalid filter match expression '{match}': {exc}") from None
    return conds, match


def _criterion_instant(text: str, tz: str | None) -> tuple[datetime, bool] | None:
    try:
        return F.parse_instant(text, tz)
    except (ValueError, OverflowError, OSError):
        return None


def _make_test(t: TypeDef, c: Cond, today: date, tz: str | None) -> Callable[[Any], bool]:
    f = t.fields.get(c.field)
    dtype = f.datatype if f is not None else "string"
    op = c.op
    if op in ("blank", "not_blank"):
        want = op == "blank"
        return lambda v: (v is None or (isinstance(v, str) and v.strip() == "")) == want
    if op in ("true", "false"):
        want = op == "true"
        return lambda v: (v is not None and F.as_bool(v)) == want
    if dtype == "var_date_time":
        return _wrap(_make_test_typed("datetime", op, c.value, today, tz), F.vdt_instant)
    return _make_test_typed(dtype, op, c.value, today, tz)


def _wrap(test: Callable[[Any], bool], conv: Callable[[Any], Any]) -> Callable[[Any], bool]:
    return lambda v: test(conv(v))


def _make_test_typed(dtype: str, op: str, crit: str, today: date, tz: str | None) -> Callable[[Any], bool]:
    if op.endswith("today"):
        def day_of(v: Any) -> date | None:
            if isinstance(v, datetime):
                return v.astimezone(F.zone(tz)).date()
            if isinstance(v, date):
                return v
            return None
        cmp = {"today": lambda d: d == today, "ge_today": lambda d: d >= today, "gt_today": lambda d: d > today,
               "le_today": lambda d: d <= today, "lt_today": lambda d: d < today}[op]
        return lambda v: (d := day_of(v)) is not None and cmp(d)
    if dtype in ("datetime", "date"):
        return _date_test(dtype, op, crit, tz)
    if dtype in ("integer", "has_one", "float", "currency"):
        return _number_test(op, crit)
    if dtype == "boolean":
        options = [F.as_bool(x) for x in _in_list(crit)] if op in ("eq", "ne") else []
        if op in ("eq", "ne"):
            return lambda v: ((v is not None and F.as_bool(v)) in options) == (op == "eq")
    return _string_test(op, crit)


def _in_list(crit: str) -> list[str]:
    return [o.replace("\\,", ",") for o in re.split(r"(?<!\\),", crit)]


def _string_test(op: str, crit: str) -> Callable[[Any], bool]:
    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "1" if v else "0"
        return str(v).lower()

    if op in ("eq", "ne"):
        opts = _in_list(crit)
        options = {o.lower() for o in opts}
        # numeric and date criteria also match other spellings, as in app.domain.filters._equal
        special = [o for o in opts if re.fullmatch(r"\s*(-?\d+(\.\d+)?|\d{4}-\d{2}-\d{2})\s*", o)]

        def hit(v: Any) -> bool:
            if text(v) in options:
                return True
            return bool(special) and v is not None and not isinstance(v, bool) and any(
                _safe(_equal, v, str(v), o) for o in special)
        return lambda v: hit(v) == (op == "eq")
    if op in ("gt", "ge", "lt", "le", "between", "not_between"):
        # strings holding numbers or dates compare as such: the reference evaluation decides
        try:
            cond = Condition("x", op, crit)
        except Exception:  # noqa: BLE001 - the operator was validated already; stay total
            return lambda v: False
        return lambda v: _safe(_reference_test, cond, v, date.today())
    low = crit.lower()
    if op in ("bg", "nbg"):
        return lambda v: text(v).startswith(low) == (op == "bg")
    if op in ("ct", "nct"):
        return lambda v: (low in text(v)) == (op == "ct")
    if op in ("between", "not_between"):
        lo, hi = _pair(crit)
        lo, hi = str(lo).lower(), str(hi).lower()
        return lambda v: (v is not None and lo <= text(v) <= hi) == (op == "between")
    return lambda v: v is not None and {"gt": text(v) > low, "ge": text(v) >= low, "lt": text(v) < low,
                                        "le": text(v) <= low}[op]


def _safe(fn: Callable[..., bool], *args: Any) -> bool:
    """The reference evaluation raises on impossible dates ("2026-13-45"); such values never match."""
    try:
        return fn(*args)
    except (ValueError, OverflowError):
        return False


def _pair(crit: str) -> tuple[Any, Any]:
    try:
        pair = json.loads(crit)
        if isinstance(pair, list) and len(pair) == 2:
            return pair[0], pair[1]
    except ValueError:
        pass
    parts = crit.split(",")
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    raise QueryError(f"between needs a JSON [low,high] criterion, not {crit!r}")


def _number_test(op: str, crit: str) -> Callable[[Any], bool]:
    def num(x: Any) -> float | None:
        if x is None or isinstance(x, bool):
            return None if x is None else float(x)
        try:
            return float(str(x).split()[0])
        except (ValueError, IndexError):
            return None

    if op in ("eq", "ne"):
        options = [num(o) if o.strip() else "" for o in _in_list(crit)]
        return lambda v: ((num(v) if v is not None else "") in options) == (op == "eq")
    if op in ("between", "not_between"):
        lo, hi = (num(x) for x in _pair(crit))
        if lo is None or hi is None:
            return lambda v: op == "not_between"
        return lambda v: ((n := num(v)) is not None and lo <= n <= hi) == (op == "between")
    if op in ("bg", "nbg", "ct", "nct"):
        return _string_test(op, crit)
    c = num(crit)
    if c is None:
        return lambda v: False
    return lambda v: (n := num(v)) is not None and {"gt": n > c, "ge": n >= c, "lt": n < c, "le": n <= c}[op]


def _span(text: str, tz: str | None) -> tuple[datetime, datetime] | None:
    """[start, end) of a criterion: a whole day for a bare date, one second otherwise."""
    parsed = _criterion_instant(text, tz)
    if parsed is None:
        return None
    at, has_time = parsed
    try:
        return at, at + (timedelta(seconds=1) if has_time else timedelta(days=1))
    except OverflowError:
        return at, datetime.max.replace(tzinfo=timezone.utc)


def _date_test(dtype: str, op: str, crit: str, tz: str | None) -> Callable[[Any], bool]:
    def inst(v: Any) -> datetime | None:
        if isinstance(v, datetime):
            return v
        if isinstance(v, date):
            return datetime.combine(v, time(0), timezone.utc)
        return None

    if op in ("bg", "nbg", "ct", "nct"):
        return _string_test(op, crit)
    if op in ("eq", "ne"):
        spans = [_span(o, tz) for o in _in_list(crit)]
        blank_ok = any(o.strip() == "" for o in _in_list(crit))

        def eq(v: Any) -> bool:
            i = inst(v)
            if i is None:
                return blank_ok
            return any(s is not None and s[0] <= i < s[1] for s in spans)
        return lambda v: eq(v) == (op == "eq")
    if op in ("between", "not_between"):
        lo, hi = (_span(str(x), tz) for x in _pair(crit))
        if lo is None or hi is None:
            return lambda v: op == "not_between"
        return lambda v: ((i := inst(v)) is not None and lo[0] <= i < hi[1]) == (op == "between")
    span = _span(crit, tz)
    if span is None:
        return lambda v: False
    start, end = span
    tests = {"gt": lambda i: i >= end, "ge": lambda i: i >= start, "lt": lambda i: i < start, "le": lambda i: i < end}
    test = tests[op]
    return lambda v: (i := inst(v)) is not None and test(i)


Pred = Callable[[dict[str, Any]], bool]
_NO_TYPE = TypeDef("plain", "", "", None, 0)


def compile_match(match: str, count: int, cond: Callable[[int], Pred]) -> Pred:
    """`_fm` as a short-circuiting predicate, with `_Expr`'s grammar: OR and XOR (left-assoc) bind
    loosest, then AND, then NOT/!; numbers are 1-based condition positions."""
    m = match.strip().lower()
    preds = [cond(i) for i in range(count)]
    if m == "and":
        return lambda r: all(p(r) for p in preds)
    if m == "or":
        return lambda r: any(p(r) for p in preds)
    tokens = [tok.upper() for tok in _Expr(match, count).tokens]
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def p_or() -> Pred:
        left = p_and()
        while peek() in ("OR", "XOR"):
            op, right = take(), p_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right) if op == "OR" else \
                (lambda a, b: lambda r: a(r) != b(r))(left, right)
        return left

    def p_and() -> Pred:
        left = p_not()
        while peek() == "AND":
            take()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, p_not())
        return left

    def p_not() -> Pred:
        if peek() in ("NOT", "!"):
            take()
            inner = p_not()
            return lambda r: not inner(r)
        tok = take()
        if tok == "(":
            inner = p_or()
            take()
            return inner
        return preds[int(tok) - 1]

    return p_or()


def filter_plain(rows: list[dict[str, Any]], params: Params) -> list[dict[str, Any]]:
    """Filters and column selection over plain rows (metadata): string semantics throughout."""
    conds, match = conditions(params)
    if conds:
        tests = [(c.field, _string_test(c.op, c.value) if c.op not in ("blank", "not_blank", "true", "false")
                  else _make_test(_NO_TYPE, c, date.today(), None)) for c in conds]

        def cond(i: int) -> Pred:
            name, test = tests[i]
            return lambda r: test(r.get(name))

        pred = compile_match(match, len(conds), cond)
        rows = [r for r in rows if pred(r)]
    wanted = [c.strip() for c in many(params, "_select_columns") if c.strip()]
    if wanted:
        rows = [{k: v for k, v in r.items() if k in wanted or k in ("id", "lock_version")} for r in rows]
    return rows


def mentions_deleted(conds: list[Cond]) -> bool:
    return any(c.field == "is_deleted" for c in conds)


def select(db: Db, t: TypeDef, params: Params, user_id: int, today: date, tz: str | None,
           page_cap: int = 100, only_id: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Matching records (internal dicts) for one page, and the total."""
    conds, match = conditions(params)
    table = db.tables[t.key]
    live_only = not mentions_deleted(conds)
    start, limit = _paging(params, page_cap)
    skip = first(params, "_skip_total_rows", "__skip_total_rows")
    counted = not (skip is not None and F.as_bool(skip))
    pred: Pred | None = None
    if conds:
        tests = [(c.field, _make_test(t, c, today, tz)) for c in conds]

        def cond(i: int) -> Callable[[dict[str, Any]], bool]:
            name, test = tests[i]
            return lambda r: test(db.get(t, r, name, user_id))

        pred = compile_match(match, len(conds), cond)
        order = _id_order(params)
        after = _id_bound(conds, match, order == "DESC") if order is not None else None
        if after is not None and not counted and only_id is None:
            page = _keyset_page(table, pred, after, start + limit, order == "DESC", live_only)[start:]
            return page, len(page)
    rows: Any = table.values()
    if only_id is not None:  # /<module>/<controller>/<id>.api
        rows = [r for r in rows if r["id"] == only_id]
    if live_only:
        rows = [r for r in rows if not r.get("is_deleted")]
    else:
        rows = list(rows)
    if pred is not None:
        rows = [r for r in rows if pred(r)]
    rows = _sort(db, t, rows, params, user_id)
    page = rows[start:start + limit]
    return page, len(rows) if counted else len(page)


# A client's keyset page ("id > last id" sorted by id, or "id < last id" sorted by id descending;
# total skipped) is the first `limit`
# matching rows after the bound: only those are tested, not the whole table, so paging through
# N records costs O(N) rather than O(N^2 / page). The answer is the one the general path gives:
# every condition is still applied to the rows taken, the bound only skips rows its own
# condition would refuse, and the rows come in id order as the sort asks.

def _id_bound(conds: list[Cond], match: str, desc: bool) -> tuple[bool, float] | None:
    """(inclusive, bound) of an ANDed `id gt|ge <number>` condition (`lt|le` when `desc`), as
    _number_test reads it."""
    if match.strip().lower() != "and":
        return None
    ops = ("lt", "le") if desc else ("gt", "ge")
    for c in conds:
        if c.field == "id" and c.op in ops:
            try:
                return c.op in ("ge", "le"), float(c.value.split()[0])
            except (ValueError, IndexError):
                return None
    return None


def _id_order(params: Params) -> str | None:
    """"ASC" or "DESC" when the rows are sorted by id alone (unsorted is by id, ascending)."""
    fields = [canonical_field(s.strip()) for s in many(params, "_sort") if s.strip()]
    dirs = [d.strip().upper() for d in many(params, "_dir")]
    if any(f != "id" for f in fields):
        return None
    order = {(dirs[i] if i < len(dirs) else "ASC") == "DESC" for i in range(len(fields))}
    if len(order) > 1:
        return None
    return "DESC" if order == {True} else "ASC"


def _keyset_page(table: dict[int, dict[str, Any]], pred: Pred, after: tuple[bool, float], want: int, desc: bool,
                 live_only: bool) -> list[dict[str, Any]]:
    inclusive, bound = after
    sorted_ids = getattr(table, "sorted_ids", None)  # a store Table keeps its ids in order
    ids = sorted_ids() if sorted_ids is not None else sorted(table)
    if desc:
        i = bisect_right(ids, bound) if inclusive else bisect_left(ids, bound)
        candidates: Any = (ids[j] for j in range(i - 1, -1, -1))
    else:
        i = bisect_left(ids, bound) if inclusive else bisect_right(ids, bound)
        candidates = (ids[j] for j in range(i, len(ids)))
    out: list[dict[str, Any]] = []
    for rid in candidates:
        if len(out) >= want:
            break
        r = table[rid]
        if live_only and r.get("is_deleted"):
            continue
        if pred(r):
            out.append(r)
    return out


def _paging(params: Params, cap: int) -> tuple[int, int]:
    start_text = first(params, "_start")
    if start_text is None:
        return 0, min(100, cap)  # `_limit` is ignored unless `_start` is sent too
    try:
        start = max(0, int(start_text.strip()))
    except ValueError:
        return 0, min(100, cap)
    limit_text = first(params, "_limit")
    try:
        limit = int(limit_text.strip()) if limit_text is not None else 100
    except ValueError:
        limit = 100
    if limit <= 0:
        limit = 100
    return start, min(limit, cap)


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None or v == "":
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (1, v)
    if isinstance(v, datetime):
        return (2, v.timestamp())
    if isinstance(v, date):
        return (2, datetime.combine(v, time(0), timezone.utc).timestamp())
    return (3, str(v).lower())


def _sort(db: Db, t: TypeDef, rows: list[dict[str, Any]], params: Params, user_id: int) -> list[dict[str, Any]]:
    fields = [canonical_field(s.strip()) for s in many(params, "_sort") if s.strip()]
    dirs = [d.strip().upper() for d in many(params, "_dir")]
    by_id = _id_order(params)
    if by_id is not None:  # ids are unique integers: one sort gives what the sorts below would
        return sorted(rows, key=lambda r: r["id"], reverse=by_id == "DESC")
    rows = sorted(rows, key=lambda r: r["id"])  # ties are broken by id, ascending
    for i in range(len(fields) - 1, -1, -1):
        name = fields[i]
        if name not in t.fields:
            continue  # unknown sort columns are ignored like other unknown read parameters
        desc = (dirs[i] if i < len(dirs) else "ASC") == "DESC"
        rows.sort(key=lambda r: _sort_key(db.get(t, r, name, user_id)), reverse=desc)
    return rows


def columns(t: TypeDef, params: Params) -> list[str] | None:
    wanted = [canonical_field(c.strip()) for c in many(params, "_select_columns") if c.strip()]
    if not wanted:
        return None
    out = ["id", "lock_version"]
    for c in wanted:
        if c not in out:
            out.append(c)
    return out


__all__ = ["QueryError", "select", "columns", "conditions", "filter_plain", "first", "many"]
