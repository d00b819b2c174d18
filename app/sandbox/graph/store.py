"""In-memory mailbox behind the Graph sandbox: folders, items, change log, etags.

Items keep their Graph JSON properties in `data` (never `id`, `@odata.etag` or `changeKey`,
which are rendered from the item), single-value extended properties in `ext` (keyed by the
property id lower-cased, the original spelling kept) and open extensions in `open_ext`.

Identity follows Exchange: the REST id changes when an item moves to another folder, the
immutable id (`Prefer: IdType="ImmutableId"`) does not. Every write makes a new changeKey, so the
weak etag `W/"<changeKey>"` changes on every write. The change log records (seq, folder, item)
per write and per move-out; delta feeds are computed from it (one net change per item).
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import itertools
import os
import threading
from typing import Any, Iterable
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc

# A few Windows zone names Graph clients send (the sandbox accepts these and IANA names).
WINDOWS_ZONES = {
    "utc": "UTC", "gmt standard time": "Europe/London", "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris", "central europe standard time": "Europe/Budapest",
    "eastern standard time": "America/New_York", "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver", "pacific standard time": "America/Los_Angeles",
    "tokyo standard time": "Asia/Tokyo", "india standard time": "Asia/Kolkata",
    "aus eastern standard time": "Australia/Sydney",
}


def zone(name: str | None) -> dt.tzinfo:
    """IANA or Windows zone name -> tzinfo (ValueError for unknown names)."""
    if not name:
        return UTC
    key = WINDOWS_ZONES.get(name.strip().lower(), name.strip())
    try:
        return ZoneInfo(key)
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_dtz(value: Any) -> dt.datetime:
    """dateTimeTimeZone {"dateTime", "timeZone"} -> aware datetime (ValueError when malformed)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError("a dateTimeTimeZone object is expected")
    text = value["dateTime"].strip()
    if "." in text:
        head, frac = text.split(".", 1)
        text = head + "." + frac.rstrip("Z")[:6]
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(value.get("timeZone")))
    return parsed


def fmt_dtz(value: dt.datetime, tz_name: str) -> dict[str, str]:
    local = value.astimezone(zone(tz_name))
    return {"dateTime": local.replace(tzinfo=None).isoformat(timespec="microseconds") + "0", "timeZone": tz_name}


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(prefix: str = "AAMkAG") -> str:
    return prefix + base64.urlsafe_b64encode(os.urandom(30)).decode().rstrip("=").replace("_", "-")


def new_change_key() -> str:
    return base64.b64encode(os.urandom(12)).decode()


@dataclasses.dataclass
class Folder:
    id: str
    kind: str  # contact | event | task | message
    name: str
    wellknown: str | None = None
    hidden: bool = False
    parent: str | None = None


@dataclasses.dataclass
class Item:
    immutable_id: str
    rest_id: str
    kind: str
    folder: str  # Folder.id
    data: dict[str, Any]
    change_key: str = ""
    ext: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # lower id -> (id, value)
    open_ext: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    created: dt.datetime = dataclasses.field(default_factory=now)
    modified: dt.datetime = dataclasses.field(default_factory=now)

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'


class Store:
    def __init__(self, address: str, display_name: str):
        self.address = address
        self.display_name = display_name
        self.user_id = "00000000-0000-0000-0000-" + base64.b16encode(os.urandom(6)).decode().lower()
        self.lock = threading.RLock()
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}  # immutable id -> item
        self.rest_index: dict[str, str] = {}  # rest id -> immutable id
        self.left: dict[tuple[str, str], str] = {}  # (folder id, immutable id) -> rest id it had there
        self.log: list[tuple[int, str, str]] = []  # (seq, folder id, immutable id)
        self._seq = itertools.count(1)
        self.seq = 0
        self.categories: list[dict[str, str]] = [
            {"id": new_id("cat-"), "displayName": "Red category", "color": "preset0"},
        ]
        for kind, name, wk in (("contact", "Contacts", "contacts"), ("event", "Calendar", "calendar"),
                               ("message", "Sent Items", "sentitems"), ("message", "Deleted Items", "deleteditems"),
                               ("message", "Inbox", "inbox"), ("message", "Drafts", "drafts"),
                               ("task", "Tasks", "defaultList")):
            self.add_folder(kind, name, wellknown=wk)

    # --- folders -------------------------------------------------------------------------------
    def add_folder(self, kind: str, name: str, *, wellknown: str | None = None, hidden: bool = False,
                   parent: str | None = None) -> Folder:
        folder = Folder(new_id("AQMkAD"), kind, name, wellknown, hidden, parent)
        self.folders[folder.id] = folder
        return folder

    def folder(self, key: str) -> Folder | None:
        """By id or well-known name (case-insensitive)."""
        if key in self.folders:
            return self.folders[key]
        low = key.lower()
        for f in self.folders.values():
            if f.wellknown and f.wellknown.lower() == low:
                return f
        return None

    def wk(self, name: str) -> Folder:
        folder = self.folder(name)
        assert folder is not None, name
        return folder

    # --- items ---------------------------------------------------------------------------------
    def get(self, any_id: str) -> Item | None:
        key = self.rest_index.get(any_id, any_id)
        return self.items.get(key)

    def in_folder(self, folder_id: str) -> list[Item]:
        return sorted((i for i in self.items.values() if i.folder == folder_id), key=lambda i: i.created)

    def _log(self, folder_id: str, item: Item) -> None:
        self.seq = next(self._seq)
        self.log.append((self.seq, folder_id, item.immutable_id))

    def touch(self, item: Item, *, instance: str | None = None) -> None:
        """A write to the item. On a recurring master, `instance` names the one occurrence written
        (its original-start key); otherwise the whole series changed (recurrence.changed_since)."""
        item.change_key = new_change_key()
        item.modified = now()
        self._log(item.folder, item)
        if item.kind == "event" and item.data.get("recurrence"):
            if instance is None:
                item.data["_series_seq"], item.data["_series_ck"] = self.seq, item.change_key
            else:
                item.data.setdefault("_instance_seq", {})[instance] = self.seq

    def add(self, kind: str, folder_id: str, data: dict[str, Any], *, ext: Iterable[tuple[str, str]] = (),
            open_ext: dict[str, dict[str, Any]] | None = None, created: dt.datetime | None = None) -> Item:
        prefix = "AAkALg" if kind == "task" else "AAMkAG"
        item = Item(new_id(prefix), new_id(prefix), kind, folder_id, dict(data))
        for pid, value in ext:
            item.ext[pid.lower()] = (pid, value)
        item.open_ext = dict(open_ext or {})
        if created is not None:
            item.created = created
        self.items[item.immutable_id] = item
        self.rest_index[item.rest_id] = item.immutable_id
        self.touch(item)
        return item

    def move(self, item: Item, folder_id: str) -> Item:
        self._log(item.folder, item)  # a removal in the source folder's feed
        self.left[(item.folder, item.immutable_id)] = item.rest_id
        self.rest_index.pop(item.rest_id, None)
        item.rest_id = new_id("AAMkAG")
        self.rest_index[item.rest_id] = item.immutable_id
        item.folder = folder_id
        self.touch(item)
        return item

    def remove(self, item: Item) -> None:
        self._log(item.folder, item)
        self.left[(item.folder, item.immutable_id)] = item.rest_id
        self.items.pop(item.immutable_id, None)
        self.rest_index.pop(item.rest_id, None)

    # --- change feed ---------------------------------------------------------------------------
    def net_changes(self, folder_id: str, since: int, present) -> list[tuple[int, str, str]]:
        """One net change per item after `since`: (last seq, "upsert"|"removed", immutable id),
        in log order. `present(item)` says whether an item belongs to the feed now."""
        last: dict[str, int] = {}
        before: dict[str, bool] = {}
        for seq, folder, item_id in self.log:
            if folder != folder_id:
                continue
            if seq <= since:
                before[item_id] = True
                continue
            last[item_id] = seq
            before.setdefault(item_id, False)
        out = []
        for item_id, seq in sorted(last.items(), key=lambda kv: kv[1]):
            item = self.items.get(item_id)
            if item is not None and item.folder == folder_id and present(item):
                out.append((seq, "upsert", item_id))
            elif before[item_id]:
                out.append((seq, "removed", item_id))
        return out
