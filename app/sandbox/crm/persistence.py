"""`--state DIR`: the sandbox's data as one JSON file, written atomically (temp file + rename).

`snapshot` copies the rows under the sandbox lock (cheap shallow copies); `encode` and the file
write happen outside it, so a save never stalls requests for long. Datetimes and dates are stored
as ISO strings and turned back into objects by column datatype on load; None columns are omitted
(a missing column reads as None).
"""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.sandbox.crm.metadata import TYPES

if TYPE_CHECKING:
    from app.sandbox.crm.state import CrmSandbox

FORMAT = 2
INTERNAL_DATETIMES = ("created_at", "updated_at")


def snapshot(box: "CrmSandbox") -> dict[str, Any]:
    """A consistent copy of everything worth keeping; call with box.lock held."""
    dbs = []
    for db in box.dbs.values():
        dbs.append({
            "id": db.id, "name": db.name, "instance_id": db.instance_id, "created_at": db.created_at,
            "counters": dict(db.counters),
            "tables": {k: [dict(row) for row in table.values()] for k, table in db.tables.items()},
            "watched": {k: sorted([list(p) for p in pairs]) for k, pairs in db.watched.items() if pairs},
        })
    return {"format": FORMAT, "seed": box.dataset.seed, "databases": dbs, "outbox": list(box.outbox),
            "permissions": {str(u.id): u.permissions for u in box.users.values() if u.permissions}}


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def encode(snap: dict[str, Any]) -> str:
    for db in snap["databases"]:
        for rows in db["tables"].values():
            for i, row in enumerate(rows):
                rows[i] = {k: v for k, v in row.items() if v is not None}
    return json.dumps(snap, ensure_ascii=False, separators=(",", ":"), default=_default)


def dump(box: "CrmSandbox") -> dict[str, Any]:
    """The state as plain JSON data (for tests and tools)."""
    with box.lock:
        snap = snapshot(box)
    return json.loads(encode(snap))


def _revive(key: str, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    t = TYPES[key]
    dt_cols = [n for n, f in t.fields.items() if f.datatype == "datetime" and n in _stored(t)] + list(INTERNAL_DATETIMES)
    d_cols = [n for n, f in t.fields.items() if f.datatype == "date" and n in _stored(t)]
    out = {}
    for row in rows:
        for c in dt_cols:
            v = row.get(c)
            if isinstance(v, str):
                row[c] = datetime.fromisoformat(v)
        for c in d_cols:
            v = row.get(c)
            if isinstance(v, str):
                row[c] = date.fromisoformat(v)
        out[row["id"]] = row
    return out


def _stored(t: Any) -> set[str]:
    """Columns kept on rows (the `_date`/`_datetime` views of var_date_time fields are derived)."""
    views = {f"{n}_{s}" for n, f in t.fields.items() if f.datatype == "var_date_time" for s in ("date", "datetime")}
    return set(t.fields) - views


def load(box: "CrmSandbox", path: Path) -> None:
    from app.sandbox.crm.store import Db, Table

    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported sandbox state format {data.get('format')!r}")
    box.dbs.clear()
    for d in data["databases"]:
        db = Db(d["id"], d["name"], d["instance_id"], datetime.fromisoformat(d["created_at"]))
        db.counters = {k: int(v) for k, v in d["counters"].items()}
        for key, rows in d["tables"].items():
            if key in db.tables:
                db.tables[key] = Table(_revive(key, rows))
        for key, pairs in d.get("watched", {}).items():
            if key in db.watched:
                db.watched[key] = {(int(a), int(b)) for a, b in pairs}
        box.dbs[db.id] = db
    box.outbox[:] = data.get("outbox", [])
    for uid, perms in data.get("permissions", {}).items():
        if int(uid) in box.users:
            box.users[int(uid)].permissions = perms
