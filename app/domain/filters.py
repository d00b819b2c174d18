"""Per-type sync filters: conditions on Workbooks fields with the API's own operators.

The same model is sent to the server (the CRM connector turns it into `_ff[]/_ft[]/_fc[]/_fm`)
and evaluated locally on delta records, so both must agree; `evaluate` here is the reference.
The symbolic value MY_QUEUE stands for the user's personal queue id of the record's type and is
resolved from the login's `my_queues`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping

from app.domain.records import Kind
from app.errors import ConfigError

MY_QUEUE = ":my_queue:"

OPERATORS = frozenset(
    {
        "eq", "ne", "bg", "nbg", "ct", "nct", "gt", "ge", "lt", "le", "between", "not_between",
        "blank", "not_blank", "true", "false", "today", "ge_today", "gt_today", "le_today", "lt_today",
    }
)
VALUELESS = frozenset({"blank", "not_blank", "true", "false", "today", "ge_today", "gt_today", "le_today", "lt_today"})


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ConfigError(f"unknown filter operator {self.op!r}; use one of {', '.join(sorted(OPERATORS))}")
        if not self.field or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\[\]]*", self.field):
            raise ConfigError(f"bad filter field name {self.field!r}")


@dataclass(frozen=True)
class Filter:
    """Conditions joined by `match`: "and", "or", or a 1-based expression like "(1 OR 2) AND 3".
    No conditions means every live record."""

    conditions: tuple[Condition, ...] = ()
    match: str = "and"
    name: str = "custom"  # "my-people", "all", "open-activities" or "custom"

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "match": self.match, "conditions": [[c.field, c.op, c.value] for c in self.conditions]}
        )

    @staticmethod
    def from_json(text: str) -> "Filter":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"the filter is not valid JSON: {exc}") from None
        if isinstance(data, list):  # the API's _filter_json form: [[field, op, value], ...]
            data = {"conditions": data}
        if not isinstance(data, dict) or not isinstance(data.get("conditions", []), list):
            raise ConfigError('a filter is {"match": "and|or|<expression>", "conditions": [[field, op, value], ...]}')
        conds = []
        for item in data.get("conditions", []):
            if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
                raise ConfigError(f"bad filter condition {item!r}: expected [field, operator, value]")
            conds.append(Condition(str(item[0]), str(item[1]), "" if len(item) == 2 or item[2] is None else str(item[2])))
        match = str(data.get("match", "and"))
        flt = Filter(tuple(conds), match, str(data.get("name", "custom")))
        flt.check()
        return flt

    def check(self) -> None:
        m = self.match.strip().lower()
        if m in ("and", "or"):
            return
        try:
            _Expr(self.match, len(self.conditions)).parse()
        except ValueError as exc:
            raise ConfigError(f"bad filter expression {self.match!r}: {exc}") from None


def my_people() -> Filter:
    return Filter((Condition("assigned_to", "eq", MY_QUEUE), Condition("watched", "true")), "or", "my-people")


def everything() -> Filter:
    return Filter((), "and", "all")


def open_activities() -> Filter:
    return Filter(
        (
            Condition("assigned_to", "eq", MY_QUEUE),
            Condition("watched", "true"),
            Condition("activity_status", "ne", "Complete"),
        ),
        "(1 OR 2) AND 3",
        "open-activities",
    )


def default_filter(kind: Kind) -> Filter:
    return my_people() if kind is Kind.PERSON else open_activities()


def parse_cli_filter(text: str) -> Filter:
    """`--filter my-people|all|<filter JSON>`."""
    if text == "my-people":
        return my_people()
    if text == "all":
        return everything()
    return Filter.from_json(text)


def resolve(flt: Filter, my_queue: int | str | None) -> Filter:
    """Replace MY_QUEUE with the user's queue id."""
    if not any(c.value == MY_QUEUE for c in flt.conditions):
        return flt
    if my_queue is None:
        raise ConfigError("your personal queue is unknown, so 'assigned to me' cannot be evaluated")
    conds = tuple(Condition(c.field, c.op, str(my_queue) if c.value == MY_QUEUE else c.value) for c in flt.conditions)
    return Filter(conds, flt.match, flt.name)


# --- local evaluation ------------------------------------------------------------------------

def evaluate(flt: Filter, record: Mapping[str, Any], today: date | None = None) -> bool:
    """Does a raw CRM record (bracketed column names) pass the (resolved) filter?"""
    if not flt.conditions:
        return True
    today = today or datetime.now(timezone.utc).date()
    results = [_test(c, record.get(c.field), today) for c in flt.conditions]
    m = flt.match.strip().lower()
    if m == "and":
        return all(results)
    if m == "or":
        return any(results)
    return _Expr(flt.match, len(results)).evaluate(results)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "t", "on", "1", "yes", "y")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _as_number(value: Any) -> float | None:
    try:
        return float(str(value).split()[0])
    except (ValueError, IndexError):
        return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:  # an impossible date such as 2026-13-45 matches nothing
            return None
    return None


def _compare_key(value: Any, criterion: str) -> tuple[Any, Any] | None:
    a, b = _as_number(value), _as_number(criterion)
    if a is not None and b is not None and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", criterion or ""):
        return a, b
    da, db = _as_date(value), _as_date(criterion)
    if da is not None and db is not None:
        return da, db
    if value is None:
        return None
    return str(value).lower(), str(criterion).lower()


def _test(c: Condition, value: Any, today: date) -> bool:
    op = c.op
    if op == "blank":
        return _blank(value)
    if op == "not_blank":
        return not _blank(value)
    if op == "true":
        return _as_bool(value) if value is not None else False
    if op == "false":
        return not _as_bool(value) if value is not None else True
    if op in ("today", "ge_today", "gt_today", "le_today", "lt_today"):
        d = _as_date(value)
        if d is None:
            return False
        return {"today": d == today, "ge_today": d >= today, "gt_today": d > today,
                "le_today": d <= today, "lt_today": d < today}[op]
    text = "" if value is None else (("1" if value else "0") if isinstance(value, bool) else str(value))
    if op in ("eq", "ne"):
        options = [o.replace("\\,", ",") for o in re.split(r"(?<!\\),", c.value)]
        hit = any(_equal(value, text, o) for o in options)
        return hit if op == "eq" else not hit
    if op in ("bg", "nbg"):
        hit = text.lower().startswith(c.value.lower())
        return hit if op == "bg" else not hit
    if op in ("ct", "nct"):
        hit = c.value.lower() in text.lower()
        return hit if op == "ct" else not hit
    if op in ("between", "not_between"):
        try:
            low, high = json.loads(c.value)
        except (ValueError, TypeError):
            return False
        k1, k2 = _compare_key(value, str(low)), _compare_key(value, str(high))
        hit = bool(k1 and k2 and k1[1] <= k1[0] and k2[0] <= k2[1])
        return hit if op == "between" else not hit
    key = _compare_key(value, c.value)
    if key is None:
        return False
    a, b = key
    try:
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
    except TypeError:
        return False


def _equal(value: Any, text: str, criterion: str) -> bool:
    if isinstance(value, bool):
        return value == _as_bool(criterion)
    if value is None or value == "":  # whitespace is a value for eq, though `blank` ignores it
        return criterion == ""
    if text.lower() == criterion.lower():
        return True
    d1, d2 = _as_date(value), _as_date(criterion)
    if d1 is not None and d2 is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", criterion.strip()):
        return d1 == d2  # a bare date matches the whole day
    n1, n2 = _as_number(value), _as_number(criterion)
    return n1 is not None and n2 is not None and n1 == n2 and re.fullmatch(r"-?\d+(\.\d+)?", criterion.strip()) is not None


class _Expr:
    """Tiny parser for `_fm` expressions: 1-based numbers, AND OR XOR NOT ! and parentheses."""

    def __init__(self, text: str, count: int):
        self.tokens = re.findall(r"\d+|\(|\)|!|[A-Za-z]+", text)
        joined = "".join(self.tokens)
        if joined != re.sub(r"\s+", "", text):
            raise ValueError("unexpected characters")
        self.count = count
        self.pos = 0
        self.values: list[bool] = []

    def parse(self) -> None:
        self.values = [False] * self.count
        self.pos = 0
        self._or()
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")

    def evaluate(self, values: list[bool]) -> bool:
        self.values = values
        self.pos = 0
        result = self._or()
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos].upper() if self.pos < len(self.tokens) else None

    def _or(self) -> bool:
        left = self._and()
        while self._peek() in ("OR", "XOR"):
            op = self._peek()
            self.pos += 1
            right = self._and()
            left = (left or right) if op == "OR" else (left != right)
        return left

    def _and(self) -> bool:
        left = self._not()
        while self._peek() == "AND":
            self.pos += 1
            right = self._not()
            left = left and right
        return left

    def _not(self) -> bool:
        if self._peek() in ("NOT", "!"):
            self.pos += 1
            return not self._not()
        return self._atom()

    def _atom(self) -> bool:
        tok = self._peek()
        if tok is None:
            raise ValueError("unexpected end")
        self.pos += 1
        if tok == "(":
            val = self._or()
            if self._peek() != ")":
                raise ValueError("missing )")
            self.pos += 1
            return val
        if tok.isdigit():
            n = int(tok)
            if not 1 <= n <= len(self.values):
                raise ValueError(f"condition {n} does not exist")
            return self.values[n - 1]
        raise ValueError(f"unexpected {tok!r}")
