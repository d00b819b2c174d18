"""`--state DIR`: the sandbox's data as one JSON file, written atomically (temp file + rename)."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.sandbox.crm.state import CrmSandbox

FORMAT = 1


def _enc(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _dec(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$d" in obj:
            return date.fromisoformat(obj["$d"])
    return obj


def dump(box: "CrmSandbox") -> dict[str, Any]:
    dbs = []
    for db in box.dbs.values():
        dbs.append({
            "id": db.id, "name": db.name, "instance_id": db.instance_id, "created_at": _enc(db.created_at),
            "counters": db.counters,
            "tables": {k: [{c: _enc(v) for c, v in row.items()} for row in table.values()]
                       for k, table in db.tables.items()},
            "watched": {k: sorted([list(p) for p in pairs]) for k, pairs in db.watched.items() if pairs},
        })
    return {"format": FORMAT, "seed": box.dataset.seed, "databases": dbs, "outbox": box.outbox,
            "permissions": {str(u.id): u.permissions for u in box.users.values() if u.permissions}}


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".workbooks-state-", suffix=".json", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(box: "CrmSandbox", path: Path) -> None:
    from app.sandbox.crm.store import Db

    with open(path, encoding="utf-8") as fh:
        data = json.load(fh, object_hook=_dec)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported sandbox state format {data.get('format')!r}")
    box.dbs.clear()
    for d in data["databases"]:
        db = Db(d["id"], d["name"], d["instance_id"], d["created_at"])
        db.counters = {k: int(v) for k, v in d["counters"].items()}
        for key, rows in d["tables"].items():
            if key in db.tables:
                db.tables[key] = {row["id"]: row for row in rows}
        for key, pairs in d.get("watched", {}).items():
            if key in db.watched:
                db.watched[key] = {(int(a), int(b)) for a, b in pairs}
        box.dbs[db.id] = db
    box.outbox[:] = data.get("outbox", [])
    for uid, perms in data.get("permissions", {}).items():
        if int(uid) in box.users:
            box.users[int(uid)].permissions = perms
