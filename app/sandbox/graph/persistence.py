"""`--state DIR` for the Graph sandbox: the mailbox, change log, token-signing secret and issued
grants as one JSON file, written atomically, so a restart keeps data, delta links and sign-ins."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from app.atomic_file import write_atomic

from .oauth import Grant, Identity
from .store import Folder, Item, Store

FILE_NAME = "graph-sandbox.json"
VERSION = 1
_SAVING = threading.Lock()


def save(store: Store, identity: Identity, secret: bytes, directory: Path) -> Path:
    # one save at a time, so the snapshot taken last is the one left on disk; each is written to a
    # temporary file of its own (two saves sharing one name raced: the second rename found none)
    with _SAVING:
        with store.lock, identity.lock:
            data = {
                "version": VERSION, "address": store.address, "display_name": store.display_name,
                "user_id": store.user_id, "seq": store.seq, "log": store.log, "categories": store.categories,
                "folders": [dataclasses.asdict(f) for f in store.folders.values()],
                "items": [_item(i) for i in store.items.values()],
                "left": [[f, i, r] for (f, i), r in store.left.items()],
                "secret": base64.b64encode(secret).decode(),
                "tenant_id": identity.tenant_id, "user_oid": identity.user_oid,
                "access": {k: dataclasses.asdict(g) for k, g in identity.access.items()},
                "refresh": {k: dataclasses.asdict(g) for k, g in identity.refresh.items()},
            }
            text = json.dumps(data)
        target = directory / FILE_NAME
        write_atomic(target, text)
    return target


def load(directory: Path, store: Store, identity: Identity) -> bytes | None:
    """Fill `store` and `identity` from DIR; returns the signing secret (None: nothing saved)."""
    path = directory / FILE_NAME
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != VERSION:
        return None
    store.folders = {f["id"]: Folder(**f) for f in data["folders"]}
    store.items, store.rest_index = {}, {}
    for raw in data["items"]:
        item = Item(**{**raw, "ext": {k: tuple(v) for k, v in raw["ext"].items()},
                       "created": dt.datetime.fromisoformat(raw["created"]),
                       "modified": dt.datetime.fromisoformat(raw["modified"])})
        store.items[item.immutable_id] = item
        store.rest_index[item.rest_id] = item.immutable_id
    store.log = [tuple(e) for e in data["log"]]
    store.left = {(f, i): r for f, i, r in data["left"]}
    store.seq = int(data["seq"])
    store._seq = iter(range(store.seq + 1, 1 << 62))
    store.categories = list(data["categories"])
    store.user_id = data["user_id"]
    identity.tenant_id, identity.user_oid = data["tenant_id"], data["user_oid"]
    identity.access = {k: Grant(**g) for k, g in data["access"].items()}
    identity.refresh = {k: Grant(**g) for k, g in data["refresh"].items()}
    return base64.b64decode(data["secret"])


def _item(item: Item) -> dict[str, Any]:
    raw = dataclasses.asdict(item)
    raw["created"] = item.created.isoformat()
    raw["modified"] = item.modified.isoformat()
    raw["ext"] = {k: list(v) for k, v in item.ext.items()}
    return raw
