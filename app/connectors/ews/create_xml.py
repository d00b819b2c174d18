"""CreateItem requests for items that are already validated, without validating them again.

exchangelib's `Item.to_xml` first runs `clean()` over every field of the model (about 80 for a
Contact, each with a version check) and then walks the same field list again to serialise. Our
create path has just cleaned each item itself (so a bad value fails that one item, not the whole
request); doing it a second time inside the request builder was a third of the cost of a first
sync's contact creation. `item_element` is the library's own serialisation minus that repeated
clean, with the writable field list worked out once per model and server version and the
ExtendedFieldURI of our marker properties built once; models that serialise specially
(CalendarItem) keep the library's `to_xml`. The XML is the same either way
(tests/unit/test_ews_create_xml.py compares them).
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Sequence

from exchangelib.fields import ExtendedPropertyField
from exchangelib.items import SAVE_ONLY
from exchangelib.properties import EWSElement, ItemId
from exchangelib.services import CreateItem
from exchangelib.services.common import EWSService, folder_ids_element
from exchangelib.util import MNS, create_element, safe_xml_value, set_xml_value, value_to_xml_text
from lxml.etree import Comment, _Element

_FIELDS: dict[tuple[type, Any, int], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}


def writable_fields(cls: type, version: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    # extended properties registered later extend FIELDS: its length is part of the key
    key = (cls, version.build, len(cls.FIELDS))  # type: ignore[attr-defined]
    got = _FIELDS.get(key)
    if got is None:
        attrs = tuple(f for f in cls.attribute_fields() if not f.is_read_only)  # type: ignore[attr-defined]
        elems = tuple(f for f in cls.supported_fields(version=version) if not f.is_read_only)  # type: ignore[attr-defined]
        got = _FIELDS[key] = (attrs, elems)
    return got


def item_element(item: Any, version: Any) -> Any:
    """The item's XML element as `item.to_xml(version)` builds it, for an item already cleaned."""
    cls = type(item)
    if cls.to_xml is not EWSElement.to_xml:
        return item.to_xml(version=version)
    attr_fields, elem_fields = writable_fields(cls, version)
    attrs = {}
    for f in attr_fields:
        value = getattr(item, f.name)
        if value is None or (f.is_list and not value):
            continue
        attrs[f.field_uri] = value_to_xml_text(value)
    elem = create_element(item.request_tag(), attrs=attrs)
    for f in elem_fields:
        value = getattr(item, f.name)
        if value is None or (f.is_list and not value):
            continue
        if f.__class__ is ExtendedPropertyField and value.__class__ is str and not f.value_cls.is_array_type():
            elem.append(string_extended_property(f, value))
            continue
        out = f.to_xml(value, version=version)
        if isinstance(out, _Element):
            elem.append(out)  # what set_xml_value does with an element, minus its per-call imports
        else:
            set_xml_value(elem, out, version=version)
    return elem


# libxml2's escaping of element text in UTF-8 output: bytes written by hand (contact_xml,
# update_xml) stand in a request exactly as lxml would have serialised the element
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def escaped_text(value: str) -> str:
    """Element text as the library sets it (illegal characters replaced), as lxml writes it."""
    if value.isascii() and value.isprintable():
        # (most text: no character to replace, no CR; a first sync escapes ~20 values per contact)
        if "&" in value or "<" in value or ">" in value:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return value
    return safe_xml_value(value).translate(_TEXT_ESCAPES)


# libxml2's escaping of attribute values (UTF-8 output)
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;",
                               "\n": "&#10;", "\t": "&#9;"})


def escaped_attribute(value: str) -> str:
    """An attribute's text as the library sets it (illegal characters replaced), as lxml writes it."""
    if value.isascii() and value.isprintable():  # (as in escaped_text: no CR, LF or tab either)
        if "&" in value or "<" in value or ">" in value or '"' in value:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        return value
    return safe_xml_value(value).translate(_ATTR_ESCAPES)


def item_id_bytes(item_id: str, changekey: str | None) -> bytes:
    """`ItemId(item_id, changekey).to_xml()` as it stands in a request (t prefix declared above)."""
    if changekey is None:
        return f'<t:ItemId Id="{escaped_attribute(item_id)}"/>'.encode("utf-8")
    return f'<t:ItemId Id="{escaped_attribute(item_id)}" ChangeKey="{escaped_attribute(changekey)}"/>'.encode("utf-8")


_URIS: dict[int, tuple[Any, Any]] = {}


def string_extended_property(field: Any, value: str) -> Any:
    """`field.to_xml(value)` for a single string value (our markers): the ExtendedFieldURI part is
    the same for every item, so it is built (and validated) once and copied, not rebuilt 3 times
    per item."""
    got = _URIS.get(id(field))
    if got is None or got[0] is not field:
        got = _URIS[id(field)] = (field, field.field_uri_xml())
    prop = create_element(field.value_cls.request_tag())
    prop.append(deepcopy(got[1]))
    text = create_element("t:Value")
    text.text = value_to_xml_text(value)
    prop.append(text)
    return prop


@dataclass(frozen=True)
class Created:
    """What a CreateItem response says of one created item: all the create path keeps of it."""
    id: str | None
    changekey: str | None


_ITEM_ID_TAG = ItemId.response_tag()
_RESPONSE_CODE_TAG = f"{{{MNS}}}ResponseCode"


def first_child(elem: Any, tag: str) -> Any:
    """`elem.find(tag)` for a namespaced tag: the first child so named, or None. lxml answers
    `find` through its path language, written in Python; its child iteration is not."""
    for child in elem.iterchildren(tag):
        return child
    return None


def first_child_text(elem: Any, tag: str) -> str | None:
    """exchangelib's `get_xml_attr(elem, tag)`: the first such child's text, None without one."""
    child = first_child(elem, tag)
    return None if child is None else child.text


_SPLICE = "workbooks-connector: the items' bytes go here"
_SPLICE_BYTES = f"<!--{_SPLICE}-->".encode()


class SplicedRequest:
    """Mixed into an exchangelib service (before it) whose request carries bytes we wrote: the
    payload holds a marker comment where they go, and `wrap` puts `_spliced` in its place in the
    serialised request, so they are neither parsed nor serialised again."""

    _spliced: bytes | None = None
    _marker: bytes = b""
    _lost: str = ""  # the error should the marker not be found

    def wrap(self, content: Any, api_version: Any = None) -> bytes:
        data = super().wrap(content, api_version=api_version)  # type: ignore[misc]
        if self._spliced is None:
            return data
        before, found, after = data.partition(self._marker)
        if not found:
            raise RuntimeError(self._lost)
        return before + self._spliced + after


class SuccessWalk:
    """Mixed into an exchangelib service (before it) whose response messages hold their items in
    `element_container_name`: the library's walk over the messages (`_get_element_container` per
    message, then its items), with a successful message's items taken straight from it, their
    children found by lxml's C child iteration (`find` goes through lxml's path language, written
    in Python: most of the CPU of reading a first sync's write answers). Any other message (a
    warning, an error, no items) is the library's to judge, message by message in order."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        # the shortcut gives a message's items as the library's container reading does only for
        # these two readings (all the children; CreateItem: or True when there are none)
        if cls._get_elements_in_container.__func__ not in _PLAIN_CONTAINERS:  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__name__} reads its response containers its own way")

    def _get_elements_in_response(self, response: Any) -> Any:
        for msg in response:
            if msg.get("ResponseClass") == "Success" and first_child_text(msg, _RESPONSE_CODE_TAG) == "NoError":
                items = first_child(msg, self.element_container_name)  # type: ignore[attr-defined]
                if items is not None and len(items):
                    yield from items
                    continue
            yield from super()._get_elements_in_response([msg])  # type: ignore[misc]


_PLAIN_CONTAINERS = (EWSService._get_elements_in_container.__func__,  # type: ignore[attr-defined]
                     CreateItem._get_elements_in_container.__func__)  # type: ignore[attr-defined]


class PrebuiltCreateItem(SuccessWalk, SplicedRequest, CreateItem):
    """CreateItem whose items arrive as finished XML elements (see `item_element`) or as the
    finished bytes of their elements (contact_xml.contact_xml: spliced into the serialised
    request in place of a marker, so they are neither parsed nor serialised again), and whose
    response items are read as their ids only: the library builds a BulkCreateResult per item,
    parsing every field of the model from an element that holds just the ItemId."""

    _marker = _SPLICE_BYTES
    _lost = "the CreateItem request lost the place of its items"

    def _elem_to_obj(self, elem: Any) -> Any:
        if isinstance(elem, bool):  # the library's answer for a response without items
            return elem
        id_elem = first_child(elem, _ITEM_ID_TAG)
        if id_elem is None:
            return Created(None, None)
        return Created(id_elem.get("Id"), id_elem.get("ChangeKey"))

    def get_payload(self, items: Sequence[Any], folder: Any, message_disposition: str,
                    send_meeting_invitations: str) -> Any:
        payload = create_element(
            f"m:{self.SERVICE_NAME}",
            attrs=dict(MessageDisposition=message_disposition, SendMeetingInvitations=send_meeting_invitations),
        )
        if folder:
            payload.append(saved_folder_element(folder, self.account.version))
        item_elems = create_element("m:Items")
        if items and all(isinstance(elem, bytes) for elem in items):
            item_elems.append(Comment(_SPLICE))
            self._spliced = b"".join(items)
        else:
            self._spliced = None
            for elem in items:
                if isinstance(elem, bytes):
                    raise TypeError("a CreateItem request takes all its items as elements or all as bytes")
                item_elems.append(elem)
        payload.append(item_elems)
        return payload


_SAVED_FOLDERS: dict[int, tuple[Any, tuple[Any, ...], Any]] = {}


def saved_folder_element(folder: Any, version: Any) -> Any:
    """`folder_ids_element([folder], version, tag="m:SavedItemFolderId")`, built (and validated)
    once per folder object and id, a copy per request: a distinguished folder's element costs
    about a quarter of a millisecond to build, a deep copy a few microseconds."""
    ident = (getattr(folder, "id", None), getattr(folder, "changekey", None), version.build)
    got = _SAVED_FOLDERS.get(id(folder))
    if got is None or got[0] is not folder or got[1] != ident:
        if len(_SAVED_FOLDERS) >= 64:  # folders of accounts opened since (a long-running app): start over
            _SAVED_FOLDERS.clear()
        got = _SAVED_FOLDERS[id(folder)] = (folder, ident, folder_ids_element(folders=[folder], version=version,
                                                                               tag="m:SavedItemFolderId"))
    return deepcopy(got[2])


def create_prebuilt(account: Any, folder: Any, elements: Sequence[Any], *, send_meeting_invitations: str) -> list[Any]:
    """Like `account.bulk_create(folder, items)` for one request's worth of prebuilt elements
    (all lxml elements, or all the bytes of elements): a Created (id, changekey) or an exception
    per element, in order."""
    if not elements:
        return []
    service = PrebuiltCreateItem(account=account, chunk_size=len(elements))
    return list(service.call(items=list(elements), folder=folder, message_disposition=SAVE_ONLY,
                             send_meeting_invitations=send_meeting_invitations))

