"""`--state DIR`: the mailbox as one JSON document, written atomically (temp file + rename)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from pathlib import Path

from lxml import etree

from app.atomic_file import write_atomic

from .attachments import Attachment
from .store import ExtProp, Folder, Item, Mailbox

FILE_NAME = "ews-mailbox.json"
_SAVING = threading.Lock()


def _d(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _p(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def dump(mb: Mailbox) -> dict:
    return {
        "format": 1, "address": mb.address, "display_name": mb.display_name, "guid": mb.guid,
        "secret": base64.b64encode(mb.secret).decode(), "seq": mb.seq, "article": mb.article,
        "distinguished": mb.distinguished,
        "folders": [vars(f) for f in mb.folders.values()],
        "items": [{
            "id": i.id, "change_key": i.change_key, "folder_id": i.folder_id, "kind": i.kind,
            "props": [etree.tostring(el, encoding="unicode") for el in i.props.values()],
            "ext": [{"key": list(e.key), "attrs": e.attrs, "values": e.values, "is_array": e.is_array}
                    for e in i.ext.values()],
            "created": _d(i.created), "modified": _d(i.modified), "created_seq": i.created_seq,
            "article": i.article, "is_read": i.is_read, "message_flags": i.message_flags, "sent": _d(i.sent),
            "received": _d(i.received), "complete_date": _d(i.complete_date), "is_associated": i.is_associated,
            "change_count": i.change_count, "exceptions": i.exceptions,
            "attachments": [{**vars(a), "content": base64.b64encode(a.content).decode("ascii"),
                             "modified": _d(a.modified)} for a in i.attachments],
        } for i in mb.items.values()],
        "log": mb.log,
        "folder_log": mb.folder_log,
        "associated_ids": sorted(mb.associated_ids),
    }


def load(data: dict) -> Mailbox:
    mb = Mailbox(data["address"], data["display_name"], data["guid"], base64.b64decode(data["secret"]))
    mb.seq, mb.article = data["seq"], data["article"]
    mb.distinguished = dict(data["distinguished"])
    for f in data["folders"]:
        folder = Folder(**f)
        mb.folders[folder.id] = folder
    for d in data["items"]:
        props = {}
        for text in d["props"]:
            el = etree.fromstring(text)
            props[etree.QName(el).localname] = el
        ext = {}
        for e in d["ext"]:
            key = tuple(e["key"])
            ext[key] = ExtProp(key, e["attrs"], e["values"], e["is_array"])
        item = Item(d["id"], d["change_key"], d["folder_id"], d["kind"], props, ext, _p(d["created"]),
                    _p(d["modified"]), d["created_seq"], d["article"], d["is_read"], d["message_flags"],
                    _p(d["sent"]), _p(d["received"]), _p(d["complete_date"]), d["is_associated"],
                    d["change_count"], d.get("exceptions") or {})
        item.attachments = [Attachment(**{**a, "content": base64.b64decode(a["content"]), "modified": _p(a["modified"])})
                            for a in d.get("attachments") or ()]
        mb.items[item.id] = item
    mb.log = [tuple(e) for e in data["log"]]
    mb._log_seqs = [e[0] for e in mb.log]
    mb.folder_log = [tuple(e) for e in data.get("folder_log", [])]
    mb.associated_ids = set(data.get("associated_ids", []))
    mb.ensure_distinguished()
    return mb


def save(mb: Mailbox, directory: Path) -> Path:
    # one save at a time, so the snapshot taken last is the one left on disk; each is written to a
    # temporary file of its own (two saves sharing one name raced: the second rename found none)
    target = directory / FILE_NAME
    with _SAVING:
        with mb.lock:
            data = json.dumps(dump(mb), ensure_ascii=False, separators=(",", ":"))
            mb.dirty = False
        write_atomic(target, data)
    return target


def load_dir(directory: Path) -> Mailbox | None:
    path = directory / FILE_NAME
    if not path.exists():
        return None
    return load(json.loads(path.read_text(encoding="utf-8")))
