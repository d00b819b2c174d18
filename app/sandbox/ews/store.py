"""The mailbox: folders, items, the per-mailbox change log and HMAC'd sync states."""
from __future__ import annotations

import base64
import bisect
import copy
import datetime as dt
import gzip
import hashlib
import hmac
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import ids, schema
from .soap import EwsError


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class ExtProp:
    key: tuple
    attrs: dict[str, str]  # ExtendedFieldURI attributes as first written
    values: list[str]
    is_array: bool


@dataclass
class Folder:
    id: str
    change_key: str
    parent_id: str | None
    display_name: str
    folder_class: str | None
    distinguished: str | None = None


@dataclass
class Item:
    id: str
    change_key: str
    folder_id: str
    kind: str  # element name: Contact, Task, CalendarItem, Message, ...
    props: dict[str, Any] = field(default_factory=dict)  # element local name -> lxml element
    ext: dict[tuple, ExtProp] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=utcnow)
    modified: dt.datetime = field(default_factory=utcnow)
    created_seq: int = 0
    article: int = 0  # PR_INTERNET_ARTICLE_NUMBER: positive, increasing
    is_read: bool = True
    message_flags: int | None = None  # PR_MESSAGE_FLAGS for messages
    sent: dt.datetime | None = None
    received: dt.datetime | None = None
    complete_date: dt.datetime | None = None
    is_associated: bool = False
    change_count: int = 1

    @property
    def is_draft(self) -> bool:
        return bool(self.message_flags is not None and self.message_flags & 0x8)


class Mailbox:
    """All state of one mailbox, guarded by one re-entrant lock (`with mailbox.lock:`)."""

    def __init__(self, address: str, display_name: str, guid: str | None = None, secret: bytes | None = None):
        self.lock = threading.RLock()
        self.address = address
        self.display_name = display_name
        self.guid = guid or str(uuid.uuid4())
        self.secret = secret or os.urandom(32)
        self.folders: dict[str, Folder] = {}
        self.distinguished: dict[str, str] = {}
        self.items: dict[str, Item] = {}
        self.log: list[tuple[int, str, str, str]] = []  # (seq, folder id, item id, kind)
        self.folder_log: list[tuple[int, str, str, str]] = []  # (seq, parent id, folder id, kind)
        self._log_seqs: list[int] = []
        self.seq = 0
        self.article = 0
        self.dirty = False
        self.on_change: list = []

    # --- folders --------------------------------------------------------------------------
    def ensure_distinguished(self) -> None:
        for name, (display, cls, parent, _el) in schema.DISTINGUISHED.items():
            if name in self.distinguished:
                continue
            parent_id = self.distinguished.get(parent) if parent else None
            f = Folder(ids.new_id(self.guid, ids.FOLDER), ids.new_change_key(), parent_id, display, cls, name)
            self.folders[f.id] = f
            self.distinguished[name] = f.id

    def folder(self, folder_id: str) -> Folder:
        f = self.folders.get(folder_id)
        if f is None:
            raise EwsError("ErrorFolderNotFound")
        return f

    def dfolder(self, name: str) -> Folder:
        return self.folders[self.distinguished[name]]

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def create_folder(self, parent_id: str, name: str, folder_class: str | None) -> Folder:
        for f in self.children(parent_id):
            if f.display_name.casefold() == name.casefold():
                raise EwsError("ErrorFolderExists")
        f = Folder(ids.new_id(self.guid, ids.FOLDER), ids.new_change_key(), parent_id, name, folder_class)
        self.folders[f.id] = f
        self.folders[parent_id].change_key = ids.new_change_key()
        self.log_folder(f, "create")
        return f

    def log_folder(self, f: Folder, kind: str) -> None:
        """Record a hierarchy change (create, update, delete) for SyncFolderHierarchy."""
        self.seq += 1
        self.folder_log.append((self.seq, f.parent_id or "", f.id, kind))
        self.touch()

    def folder_items(self, folder_id: str) -> list[Item]:
        return [i for i in self.items.values() if i.folder_id == folder_id]

    # --- items and the change log ---------------------------------------------------------
    def _append(self, folder_id: str, item_id: str, kind: str) -> int:
        self.seq += 1
        self.log.append((self.seq, folder_id, item_id, kind))
        self._log_seqs.append(self.seq)
        return self.seq

    def add_item(self, item: Item) -> Item:
        self.article += 1
        item.article = self.article
        item.created_seq = self._append(item.folder_id, item.id, "create")
        self.items[item.id] = item
        self.touch()
        return item

    def new_item(self, folder_id: str, kind: str) -> Item:
        now = utcnow()
        return Item(ids.new_id(self.guid, ids.ITEM), ids.new_change_key(), folder_id, kind,
                    created=now, modified=now, received=now)

    def updated(self, item: Item, kind: str = "update") -> None:
        """Record a modification: new ChangeKey, LastModifiedTime, log entry."""
        item.change_key = ids.new_change_key()
        item.modified = utcnow()
        item.change_count += 1
        self._append(item.folder_id, item.id, kind)
        self.touch()

    def read_flag(self, item: Item, is_read: bool) -> None:
        item.is_read = is_read
        item.change_key = ids.new_change_key()
        self._append(item.folder_id, item.id, "read")
        self.touch()

    def remove_item(self, item: Item) -> None:
        del self.items[item.id]
        self._append(item.folder_id, item.id, "delete")
        self.touch()

    def move_item(self, item: Item, target_id: str) -> Item:
        """Delete in the source, create in the target with a new id (and ChangeKey)."""
        self.remove_item(item)
        moved = copy.copy(item)
        moved.id = ids.new_id(self.guid, ids.ITEM)
        moved.folder_id = target_id
        moved.change_key = ids.new_change_key()
        moved.modified = utcnow()
        self.article += 1
        moved.article = self.article
        moved.created_seq = self._append(target_id, moved.id, "create")
        self.items[moved.id] = moved
        return moved

    def get_item(self, item_id: str | None, change_key: str | None = None, check_ck: bool = False) -> Item:
        try:
            ids.check_id(item_id, self.guid, ids.ITEM)
        except ids.MalformedId:
            raise EwsError("ErrorInvalidIdMalformed")
        if check_ck and change_key is not None and not ids.change_key_ok(change_key):
            raise EwsError("ErrorInvalidChangeKey")
        item = self.items.get(item_id)
        if item is None:
            raise EwsError("ErrorItemNotFound")
        return item

    def touch(self) -> None:
        self.dirty = True
        for cb in list(self.on_change):
            cb()

    # --- sync ---------------------------------------------------------------------------
    def encode_state(self, folder_id: str, seq: int, scope: str) -> str:
        payload = json.dumps({"f": folder_id, "s": seq, "c": scope, "m": self.guid}, separators=(",", ":")).encode()
        mac = hmac.new(self.secret, payload, hashlib.sha256).digest()[:16]
        return base64.b64encode(gzip.compress(mac + payload, mtime=0)).decode("ascii")

    def decode_state(self, token: str, folder_id: str, scopes: tuple[str, ...] | None = None) -> int:
        try:
            raw = gzip.decompress(base64.b64decode(token.strip().encode("ascii"), validate=True))
            mac, payload = raw[:16], raw[16:]
            if not hmac.compare_digest(mac, hmac.new(self.secret, payload, hashlib.sha256).digest()[:16]):
                raise ValueError("bad mac")
            data = json.loads(payload)
            if data["f"] != folder_id or data["m"] != self.guid:
                raise ValueError("foreign state")
            if scopes is not None and data.get("c") not in scopes:
                raise ValueError("state of another kind")
            return int(data["s"])
        except Exception:
            raise EwsError("ErrorInvalidSyncStateData")

    def net_changes(self, folder_id: str, since: int, limit: int, ignore: Iterable[str] = (),
                    associated: bool = False) -> tuple[list[tuple[str, str, Item | None]], int, bool]:
        """Net changes of a folder after `since`: [(kind, item id, item)], new seq, last-in-range.

        One entry per item. Items are taken in the order of their first change after `since`, so
        a cut never hides an item's creation from the next page; a page is then ordered by each
        item's last change. The new state is just before the first item left out, or the log head.
        """
        start = bisect.bisect_right(self._log_seqs, since)
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        kinds: dict[str, set] = {}
        for seq, fid, iid, kind in self.log[start:]:
            if fid != folder_id:
                continue
            first.setdefault(iid, seq)
            last[iid] = seq
            kinds.setdefault(iid, set()).add(kind)
        skip = set(ignore)
        picked: list[tuple[int, str, str, Item | None]] = []
        cut = None
        for iid in sorted(first, key=first.__getitem__):
            item = self.items.get(iid)
            if item is not None and item.folder_id != folder_id:
                item = None
            ks = kinds[iid]
            if item is None:
                change = None if "create" in ks else "delete"
            elif item.is_associated and not associated:
                change = None
            elif item.created_seq > since:
                change = "create"
            elif ks == {"read"}:
                change = "read"
            else:
                change = "update"
            if change is None or iid in skip:
                continue
            if len(picked) >= limit:
                cut = first[iid] - 1
                break
            picked.append((last[iid], change, iid, item))
        picked.sort(key=lambda p: p[0])
        new_seq = self.seq if cut is None else cut
        return [(c, i, it) for _s, c, i, it in picked], new_seq, cut is None

    # --- assertions helpers -------------------------------------------------------------
    def folder_by_name(self, name: str) -> Folder:
        if name in self.distinguished:
            return self.dfolder(name)
        for f in self.folders.values():
            if f.display_name == name or f.id == name:
                return f
        raise KeyError(name)
