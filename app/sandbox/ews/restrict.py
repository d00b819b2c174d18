"""Restrictions and sort orders of FindItem / FindFolder, evaluated against stored items."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Callable

from .properties import Path, parse_dt, parse_path
from .soap import EwsError, local, t

PATH_TAGS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")
COMPARE = {"IsEqualTo", "IsNotEqualTo", "IsGreaterThan", "IsGreaterThanOrEqualTo", "IsLessThan",
           "IsLessThanOrEqualTo"}


def _path_of(el) -> Path:
    for child in el:
        if local(child) in PATH_TAGS:
            return parse_path(child)
    raise EwsError("ErrorInvalidRestriction", "Restriction contains an invalid search expression.")


def _key(value: str):
    """A comparable key: datetimes as instants, numbers as numbers, booleans, else case-folded text."""
    v = value.strip()
    if len(v) >= 10 and v[4:5] == "-" and v[7:8] == "-":
        parsed = parse_dt(v)
        if parsed is not None:
            return (0, parsed)
        try:
            return (0, dt.datetime.fromisoformat(v[:10]).replace(tzinfo=dt.timezone.utc))
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return (1, v.lower() == "true")
    try:
        return (2, Decimal(v))
    except InvalidOperation:
        return (3, value.casefold())


XS_BOOLEAN = {"1": True, "0": False}  # xs:boolean's other lexical forms (exchangelib sends these)


def _cmp(op: str, a: str, b: str) -> bool:
    ka, kb = _key(a), _key(b)
    if ka[0] == 1 and b.strip() in XS_BOOLEAN:
        kb = (1, XS_BOOLEAN[b.strip()])
    elif kb[0] == 1 and a.strip() in XS_BOOLEAN:
        ka = (1, XS_BOOLEAN[a.strip()])
    if ka[0] != kb[0]:
        ka, kb = (3, a.casefold()), (3, b.casefold())
    if op == "IsEqualTo":
        return ka == kb
    if op == "IsNotEqualTo":
        return ka != kb
    if op == "IsGreaterThan":
        return ka > kb
    if op == "IsGreaterThanOrEqualTo":
        return ka >= kb
    if op == "IsLessThan":
        return ka < kb
    return ka <= kb


def compile_restriction(el, values: Callable[[object, Path], list[str]]) -> Callable[[object], bool]:
    """Turn a t:Restriction's child expression into a predicate over objects."""
    name = local(el)
    children = [c for c in el if isinstance(c.tag, str)]
    if name == "Restriction":
        if not children:
            return lambda obj: True
        return compile_restriction(children[0], values)
    if name == "And":
        parts = [compile_restriction(c, values) for c in children]
        return lambda obj: all(p(obj) for p in parts)
    if name == "Or":
        parts = [compile_restriction(c, values) for c in children]
        return lambda obj: any(p(obj) for p in parts)
    if name == "Not":
        inner = compile_restriction(children[0], values)
        return lambda obj: not inner(obj)
    if name == "Exists":
        path = _path_of(el)
        return lambda obj: bool(values(obj, path))
    if name in COMPARE:
        path = _path_of(el)
        const = el.find(t("FieldURIOrConstant"))
        if const is None:
            raise EwsError("ErrorInvalidRestriction", "Restriction contains an invalid search expression.")
        c = const.find(t("Constant"))
        if c is not None:
            right = c.get("Value", "")
            if name == "IsNotEqualTo":
                return lambda obj: all(_cmp(name, v, right) for v in values(obj, path))
            return lambda obj: any(_cmp(name, v, right) for v in values(obj, path))
        other = _path_of(const)
        return lambda obj: any(_cmp(name, a, b) for a in values(obj, path) for b in values(obj, other))
    if name == "Contains":
        path = _path_of(el)
        c = el.find(t("Constant"))
        needle = c.get("Value", "") if c is not None else ""
        mode = el.get("ContainmentMode", "FullString")
        comparison = el.get("ContainmentComparison", "Exact")
        fold = "Ignore" in comparison or "Loose" in comparison

        def contains(obj) -> bool:
            for v in values(obj, path):
                a, b = (v.casefold(), needle.casefold()) if fold else (v, needle)
                if mode == "FullString" and a == b:
                    return True
                if mode == "Prefixed" and a.startswith(b):
                    return True
                if mode == "Substring" and b in a:
                    return True
                if mode in ("PrefixOnWords", "ExactPhrase") and b in a:
                    return True
            return False
        return contains
    if name == "Excludes":
        path = _path_of(el)
        bm = el.find(t("Bitmask"))
        mask = int(bm.get("Value", "0"), 0) if bm is not None else 0
        return lambda obj: all(not (int(v or 0) & mask) for v in values(obj, path) if v.lstrip("-").isdigit())
    raise EwsError("ErrorUnsupportedQueryFilter", f"The restriction {name} is not supported.")


def sort_objects(objs: list, order_el, values: Callable[[object, Path], list[str]]) -> list:
    """Apply t:SortOrder's FieldOrder elements (first is most significant)."""
    if order_el is None:
        return objs
    orders = [(parse_path(next(c for c in fo if local(c) in PATH_TAGS)), fo.get("Order", "Ascending"))
              for fo in order_el.findall(t("FieldOrder"))]
    for path, direction in reversed(orders):
        def key(obj, path=path):
            vs = values(obj, path)
            return (0, _key(vs[0])) if vs else (1, (9, ""))
        present = [o for o in objs if values(o, path)]
        missing = [o for o in objs if not values(o, path)]
        try:
            present.sort(key=key, reverse=direction == "Descending")
        except TypeError:
            present.sort(key=lambda o, path=path: str(values(o, path)[0]).casefold(), reverse=direction == "Descending")
        objs = present + missing
    return objs


AQS_FIELDS = {
    "subject": ("item:Subject",), "body": ("item:Body",), "from": ("message:From", "message:Sender"),
    "to": ("message:ToRecipients",), "cc": ("message:CcRecipients",), "category": ("item:Categories",),
    "participants": ("message:From", "message:ToRecipients", "message:CcRecipients"),
    "attendees": ("calendar:RequiredAttendees", "calendar:OptionalAttendees"), "location": ("calendar:Location",),
}
AQS_DEFAULT = ("item:Subject", "item:Body", "contacts:DisplayName", "contacts:EmailAddress", "contacts:CompanyName",
               "message:From", "message:ToRecipients", "calendar:Location")


def compile_query_string(text: str, values: Callable[[object, Path], list[str]]) -> Callable[[object], bool]:
    """A small AQS subset (m:QueryString): words and "quoted phrases", optionally prefixed with
    subject:, body:, from:, to:, cc:, participants:, category:, attendees:, location:; every term
    must occur (case-insensitive substring). AND/OR keywords are ignored."""
    import shlex
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    terms = []
    for tok in tokens:
        if tok.upper() in ("AND", "OR"):
            continue
        field, sep, value = tok.partition(":")
        if sep and field.lower() in AQS_FIELDS:
            terms.append(([Path("field", u) for u in AQS_FIELDS[field.lower()]], value.casefold()))
        else:
            terms.append(([Path("field", u) for u in AQS_DEFAULT], tok.casefold()))

    def match(obj) -> bool:
        return all(any(needle in v.casefold() for p in paths for v in values(obj, p)) for paths, needle in terms)
    return match
