"""Batch writes (workbooks-api.md section 4): square parallel arrays, <= 100 records per PUT,
`_per_object_transactions=true`, and one result per record in request order."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from app.connectors.crm import errors as E
from app.connectors.crm.query import Params, wire_datetime
from app.errors import AppError, TransientError

log = logging.getLogger("app.connectors.crm")

BATCH_SIZE = 100
NO_VALUE = ":no_value:"
NULL_VALUE = ":null_value:"


@dataclass(frozen=True)
class Op:
    method: str  # "POST" (create), "PUT" (update), "DELETE"
    id: int | str = 0
    lock_version: int | str = 0
    fields: Mapping[str, Any] = field(default_factory=dict)
    ref: str = ""  # how errors name the record


def wire_key(name: str) -> str:
    """`main_location[email]` -> `main_location[email][]`;
    `org_lead_party[main_location[email]]` -> `org_lead_party[main_location][email][]`."""
    root, _, rest = name.partition("[")
    if not rest:
        return f"{name}[]"
    parts = [p for p in re.split(r"[\[\]]+", rest) if p]
    return root + "".join(f"[{p}]" for p in parts) + "[]"


def encode_value(value: Any) -> str:
    if value is None:
        return NULL_VALUE
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return wire_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def encode(ops: Sequence[Op], *, per_object: bool = True) -> Params:
    """The request parameters of one batch: id filter, `_fm=or`, then the square arrays."""
    out: Params = []
    if per_object:
        out.append(("_per_object_transactions", "true"))
    for op in ops:
        out += [("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", str(op.id if op.method != "POST" else 0))]
    out.append(("_fm", "or"))
    keys = sorted({k for op in ops for k in op.fields})
    out += [("__method[]", op.method) for op in ops]
    out += [("id[]", str(op.id if op.method != "POST" else 0)) for op in ops]
    out += [("lock_version[]", str(op.lock_version if op.method != "POST" else 0)) for op in ops]
    for key in keys:
        wk = wire_key(key)
        for op in ops:
            out.append((wk, encode_value(op.fields[key]) if key in op.fields and op.method != "DELETE" else NO_VALUE))
    return out


def run(client: Any, path: str, ops: Sequence[Op]) -> list[dict[str, Any] | AppError]:
    """Send `ops` in chunks of 100; each slot gets the affected object (a dict) or an AppError.

    A chunk that fails in transport gets a TransientError in every slot, and so do the chunks
    after it (they were not sent). Auth and prerequisite errors propagate: they stop the cycle.
    """
    results: list[dict[str, Any] | AppError] = []
    for start in range(0, len(ops), BATCH_SIZE):
        chunk = ops[start:start + BATCH_SIZE]
        try:
            body = client.write(path, encode(chunk))
        except TransientError as exc:
            results += [exc] * (len(ops) - start)
            return results
        results += judge_chunk(body, chunk, path)
    return results


def _non_empty(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_non_empty(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_empty(v) for v in value)
    return value not in (None, "", False)


def judge_chunk(body: Mapping[str, Any], chunk: Sequence[Op], path: str) -> list[dict[str, Any] | AppError]:
    objs = [o for o in body.get("affected_objects") or ()]
    infos = list(body.get("affected_object_information") or ())
    aoes = list(body.get("affected_object_errors") or ())
    envelope_ok = body.get("success") is True
    failed: list[AppError | None] = []
    for i, op in enumerate(chunk):
        info = infos[i] if i < len(infos) else None
        aoe = aoes[i] if i < len(aoes) else None
        info_failed = isinstance(info, Mapping) and info.get("success") is False
        own_errors = _non_empty(aoe) or (info_failed and _non_empty(info.get("errors")))
        if own_errors or (info_failed and envelope_ok):
            failed.append(E.item_error(info, aoe, op.ref or f"{path} record {op.id}"))
        elif not envelope_ok:
            if len(chunk) == 1:
                failed.append(E.body_error(body, op.ref or f"{path} record {op.id}"))
            else:
                failed.append(TransientError("Not saved: another record in the same batch was refused.", ref=op.ref))
        else:
            failed.append(None)
    if len(objs) != len(chunk):  # tolerate servers that list only the saved records
        it = iter(objs)
        objs = [None if f is not None else next(it, None) for f in failed]
    out: list[dict[str, Any] | AppError] = []
    for op, err, obj in zip(chunk, failed, objs):
        if err is not None:
            out.append(err)
        elif isinstance(obj, Mapping) and obj.get("id") is not None:
            out.append(dict(obj))
        else:
            out.append(TransientError(f"Workbooks did not confirm {op.ref or path}; it will be checked again."))
    return out
