"""Folder addressing and the per-page SyncFolderItems loop (ews.md 3.3).

Distinguished folders are addressed as `t:DistinguishedFolderId` + mailbox, exactly as
exchangelib does after a GetFolder, so the adapter needs no GetFolder at all for contacts, tasks,
calendar and sent items (and no FindFolder walk of the hierarchy). `resolve_folders()` checks
several of them in one GetFolder when a caller wants proof that they exist.

`sync_pages()` drives the SyncFolderItems service one page per request and yields after each
page, so the caller commits the page's SyncState together with its effects: a crash loses at
most the page in hand. Sync asks for ids plus a short field list; items are then read with
GetItem in batches of at most 100 with only the mapper's fields (`fetch_items()`).
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator, Sequence

from exchangelib import Account, CalendarItem
from exchangelib.folders import Calendar, Contacts, DeletedItems, FolderCollection, Root, SentItems, Tasks
from exchangelib.folders.base import BaseFolder
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import ExtendedPropertyField
from exchangelib.properties import DistinguishedFolderId, ExtendedFieldURI, ItemId, Mailbox
from exchangelib.services import GetItem, SyncFolderItems
from exchangelib.services.common import shape_element
from exchangelib.util import create_element
from lxml.etree import Comment

from app.connectors.ews.create_xml import SplicedRequest, SuccessWalk, item_id_bytes
from app.connectors.ews.errors import translated
from app.domain.records import Kind

PAGE_SIZE = 100  # MaxChangesReturned (server range 1..512)
FETCH_CHUNK = 100  # items per GetItem
FOLDER_CLASSES = {Kind.PERSON: Contacts, Kind.TASK: Tasks, Kind.MEETING: Calendar, "sent": SentItems,
                  "trash": DeletedItems}
CREATE, UPDATE, DELETE = SyncFolderItems.CREATE, SyncFolderItems.UPDATE, SyncFolderItems.DELETE


def _dist_id(account: Account, name: str) -> DistinguishedFolderId:
    return DistinguishedFolderId(id=name, mailbox=Mailbox(email_address=account.primary_smtp_address))


def unresolved_root(account: Account) -> Root:
    """The mailbox root as a distinguished id, without a GetFolder round trip."""
    return Root(account=account, _distinguished_id=_dist_id(account, "root"))


class FolderSet:
    """Distinguished folders of one account, addressed without GetFolder."""

    def __init__(self, account: Account):
        self.account = account
        self.root = unresolved_root(account)
        self._cache: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        folder = self._cache.get(key)
        if folder is None:
            cls = FOLDER_CLASSES[key]
            folder = cls(_distinguished_id=_dist_id(self.account, cls.DISTINGUISHED_FOLDER_ID), root=self.root)
            self._cache[key] = folder
        return folder

    def resolve(self, keys: Sequence[Any]) -> list[Any]:
        """One GetFolder for all `keys`; raises the first folder error (e.g. ErrorFolderNotFound)."""
        folders = [self.get(k) for k in keys]
        with translated("reading the mailbox folders"):
            resolved = list(FolderCollection(account=self.account, folders=folders).resolve())
            for f in resolved:
                if isinstance(f, Exception):
                    raise f
        return resolved


def parse_calendar_item(elem: Any, account: Account) -> CalendarItem:
    """A CalendarItem with start/end exactly as the server sent them. exchangelib's own parser
    turns all-day values into dates by subtracting a day in UTC *before* converting to the zone,
    which lands on the wrong date when the last day contains a DST change (e.g. an all-day event
    ending on 2025-03-30 in Europe/London reads back as ending on the 29th); mapping.read_meeting
    does the conversion in local time instead."""
    return super(CalendarItem, CalendarItem).from_xml(elem=elem, account=account)


_SPLICE = "workbooks-connector: the item ids' bytes go here"
_SPLICE_BYTES = f"<!--{_SPLICE}-->".encode()


class _GetItem(SuccessWalk, SplicedRequest, GetItem):
    """GetItem whose items are parsed field by field only for the fields the request named (see
    `_Reading`); calendar items keep their own reading (parse_calendar_item)."""

    wanted: frozenset[str] = frozenset()
    readers: dict[str, Callable[[Any, Any], Any]] = {}
    _marker = _SPLICE_BYTES
    _lost = "the GetItem request lost the place of its item ids"

    def get_payload(self, items: Any, additional_fields: Any, shape: str) -> Any:
        """The library's GetItem payload, its ItemShape built once per field list (an indexed
        field expands to every label and subfield, each path a validated element) and its
        ItemIds written as bytes: (id, changekey) pairs are spliced into the serialised request
        in place of a marker (as create_xml.PrebuiltCreateItem does)."""
        if not items or not all(_plain_id(item) for item in items):
            self._spliced = None
            return super().get_payload(items=items, additional_fields=additional_fields, shape=shape)
        payload = create_element(f"m:{self.SERVICE_NAME}")
        payload.append(deepcopy(_shape_element(shape, additional_fields, self.account.version)))
        ids = create_element("m:ItemIds")
        ids.append(Comment(_SPLICE))
        payload.append(ids)
        self._spliced = b"".join(item_id_bytes(i, ck) for i, ck in items)
        return payload

    def _elem_to_obj(self, elem: Any) -> Any:
        read = self.readers.get(elem.tag)
        if read is not None:
            return read(elem, self.account)
        if elem.tag == CalendarItem.response_tag():
            return parse_calendar_item(elem, self.account)
        model = BaseFolder.item_model_from_tag(elem.tag)
        reading = _reading(model, self.wanted)
        if reading is None or not reading.covers(elem):
            return super()._elem_to_obj(elem)
        kwargs = dict(reading.absent)
        account = self.account
        for f in reading.parsed:
            if f.__class__ is ExtendedPropertyField:
                kwargs[f.name] = _extended_property(f, elem, account)
            else:
                kwargs[f.name] = f.from_xml(elem=elem, account=account)
        model._clear(elem)
        item = model(**kwargs)
        item.account = account  # as BaseItem.from_xml does
        return item


def _plain_id(item: Any) -> bool:
    """An (id, changekey) pair the library's ItemId would accept as it is (IdField: text of at
    most 512 characters, the ChangeKey optional); anything else goes the library's way."""
    if item.__class__ is not tuple or len(item) != 2:
        return False
    item_id, changekey = item
    return (item_id.__class__ is str and len(item_id) <= 512
            and (changekey is None or (changekey.__class__ is str and len(changekey) <= 512)))


_SHAPES: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _shape_element(shape: str, additional_fields: Any, version: Any) -> Any:
    """`shape_element("m:ItemShape", ...)` for these fields, built once (not to be changed: copy it)."""
    paths = tuple(additional_fields or ())
    key = (shape, version.build, frozenset((id(p.field), p.label, id(p.subfield)) for p in paths))
    got = _SHAPES.get(key)
    if got is None:
        # the entry keeps the fields alive, so their ids in the key are never reused
        got = (paths, shape_element(tag="m:ItemShape", shape=shape, additional_fields=paths, version=version))
        if len(_SHAPES) < 256:
            _SHAPES[key] = got
    return got[1]


class _Reading:
    """How one item model is read from a GetItem answer that holds only the requested fields.

    exchangelib's `from_xml` asks every field of the model (about 80 for a Contact) to find its
    element, most of them absent. A field whose element is absent gives the value it gives for an
    empty element, worked out once here: kept only when immutable (None, text, numbers), and used
    only when none of the tags the field could read is in the answer (`covers`); every other field
    (the requested ones, attribute and extended-property fields, anything without a known tag)
    is parsed as the library parses it. So the item is the library's own result."""

    def __init__(self, model: type, wanted: frozenset[str]):
        empty = create_element(f"t:{model.ELEMENT_NAME}")
        self.parsed: list[Any] = []
        self.absent: dict[str, Any] = {}
        self.skipped_tags: set[str] = set()
        for f in model.FIELDS:
            tags = _read_tags(f)
            if f.name in wanted or tags is None:
                self.parsed.append(f)
                continue
            value = f.from_xml(elem=empty, account=None)
            if value is not None and value.__class__ not in _IMMUTABLE:
                self.parsed.append(f)
                continue
            self.absent[f.name] = value
            self.skipped_tags |= tags

    def covers(self, elem: Any) -> bool:
        skipped = self.skipped_tags
        return not any(child.tag in skipped for child in elem)


def _extended_property(field: Any, elem: Any, account: Any) -> Any:
    """`ExtendedPropertyField.from_xml`, with the match of each property's ExtendedFieldURI
    against the field's definition remembered: the library builds and normalises two
    ExtendedFieldURI objects per property and field (most of a contact's reading time), while
    the answer depends only on the URI's attributes (all of its fields are attributes)."""
    value_cls = field.value_cls
    for prop in elem.findall(_EXTENDED_PROPERTY_TAG):
        uri = prop.find(_EXTENDED_FIELD_URI_TAG)
        key = (value_cls, None if uri is None else tuple(sorted(uri.attrib.items())))
        matches = _PROPERTY_MATCHES.get(key)
        if matches is None:
            matches = value_cls.is_property_instance(prop)
            if len(_PROPERTY_MATCHES) < 4096:
                _PROPERTY_MATCHES[key] = matches
        if matches:
            return value_cls.from_xml(elem=prop, account=account)
    return field.default


_EXTENDED_PROPERTY_TAG = ExtendedProperty.response_tag()
_EXTENDED_FIELD_URI_TAG = ExtendedFieldURI.response_tag()
_PROPERTY_MATCHES: dict[tuple[Any, Any], bool] = {}
_IMMUTABLE = (str, int, float, bool, bytes, Decimal, tuple, frozenset)
_READINGS: dict[tuple[type, frozenset[str], int], _Reading | None] = {}


def _read_tags(field: Any) -> set[str] | None:
    """The child tags a field's from_xml can read, or None to always let it read (attributes,
    extended properties, fields without a tag of their own)."""
    if field.is_attribute or isinstance(field, ExtendedPropertyField):
        return None
    try:
        tags = {field.response_tag()}
    except Exception:  # noqa: BLE001 - no tag of its own (the library raises several types)
        return None
    value_cls = getattr(field, "value_cls", None)
    if value_cls is not None and hasattr(value_cls, "response_tag"):
        try:
            tags.add(value_cls.response_tag())
        except Exception:  # noqa: BLE001
            return None
    return tags


def _reading(model: type, wanted: frozenset[str]) -> _Reading | None:
    key = (model, wanted, len(model.FIELDS))  # extended properties registered later extend FIELDS
    if key not in _READINGS:
        try:
            _READINGS[key] = _Reading(model, wanted)
        except Exception:  # noqa: BLE001 - a model this cannot work out is read by the library
            _READINGS[key] = None
    return _READINGS[key]


@dataclass(frozen=True)
class RawPage:
    changes: list[tuple[str, Any]]  # (create|update|delete|read_flag_change, exchangelib item, ItemRef or ItemId)
    token: str
    done: bool


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A created or updated item of a change page, as far as an id-only reader needs it."""
    model: type  # the exchangelib item class its element names (Contact, DistributionList, ...)
    id: str | None
    changekey: str | None


_ITEM_ID_TAG = ItemId.response_tag()
_ID_FIELDS = frozenset({"_id", "id", "changekey"})
_CHANGE_TYPES = SyncFolderItems.change_types_map
_ITEM_MODELS = BaseFolder.ITEM_MODEL_MAP


class _IdOnlySyncFolderItems(SyncFolderItems):
    """SyncFolderItems whose created/updated items are read as ItemRefs: exchangelib would build
    a full item per change (every field of the model parsed from the element, most of them
    absent), which on a first sync's read past our own creates cost more than the request.
    The request, the paging and the error handling are the library's."""

    def _elem_to_obj(self, elem: Any) -> Any:
        change_type = _CHANGE_TYPES.get(elem.tag)
        if change_type != CREATE and change_type != UPDATE:
            return super()._elem_to_obj(elem)  # (a tag it does not know: the library's KeyError)
        item_elem = elem[0]
        tag = item_elem.tag
        # the library's map of item tags, read directly: through the models' metaclass each look
        # cost several microseconds, and a first sync reads past thousands of its own creates
        model = _ITEM_MODELS.get(tag) or BaseFolder.item_model_from_tag(tag)  # (ValueError if unknown)
        id_elem = item_elem.find(_ITEM_ID_TAG)
        if id_elem is None:
            return change_type, ItemRef(model, None, None)
        return change_type, ItemRef(model, id_elem.get("Id"), id_elem.get("ChangeKey"))


def field_paths(folder: Any, names: Sequence[str]) -> set:
    version = folder.account.version
    for name in names:
        folder.validate_item_field(field=name, version=version)
    return {f for f in folder.normalize_fields(fields=list(names)) if not f.field.is_attribute}


def sync_pages(folder: Any, token: str | None, names: Sequence[str], *, page_size: int = PAGE_SIZE,
               op: str = "reading mailbox changes", ids_only: bool = False) -> Iterator[RawPage]:
    """SyncFolderItems page by page from `token` (None: everything, as creates). With `ids_only`
    created/updated items come as ItemRefs (the request is the same)."""
    account = folder.account
    with translated(op):
        fields = field_paths(folder, names)
    state = token or None
    service = _IdOnlySyncFolderItems if ids_only else SyncFolderItems
    while True:
        svc = service(account=account)
        with translated(op):
            changes = list(
                svc.call(folder=folder, shape="IdOnly", additional_fields=fields, sync_state=state, ignore=None,
                         max_changes_returned=page_size, sync_scope=None)
            )
        new_state = svc.sync_state or state or ""
        done = bool(svc.includes_last_item_in_range) or new_state == state
        yield RawPage(changes, new_state, done)
        if done:
            return
        state = new_state


def fetch_items(folder: Any, ids: Sequence[tuple[str, str | None]], names: Sequence[str], *,
                chunk: int = FETCH_CHUNK, op: str = "reading mailbox items",
                readers: dict[str, Callable[[Any, Any], Any]] | None = None) -> list[Any]:
    """GetItem in batches of `chunk`; per id the item or an exception instance (e.g. not found).
    `readers`: the item element's tag -> reader(elem, account) that replaces the library's item
    for that model (the request is the same)."""
    if not ids:
        return []
    account = folder.account
    out: list[Any] = []
    with translated(op):
        fields = field_paths(folder, names)
        wanted = frozenset(f.field.name for f in fields) | _ID_FIELDS
        for start in range(0, len(ids), chunk):
            batch = [(i, ck) for i, ck in ids[start:start + chunk]]
            service = _GetItem(account=account, chunk_size=chunk)
            service.wanted = wanted
            if readers:
                service.readers = readers
            out.extend(service.call(items=batch, additional_fields=fields, shape="IdOnly"))
    return out
