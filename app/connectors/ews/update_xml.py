"""UpdateItem whose item changes are written as the bytes they have in the request.

An UpdateItem of a contact's phone numbers, e-mail addresses or postal addresses names every
label and subfield of the indexed field: set elements for the values it has and delete elements
for all the others (19 phone labels, 3 addresses of 5 parts, ...), about 35 field paths per
contact. exchangelib builds each path's `t:IndexedFieldURI` (or `t:FieldURI`,
`t:ExtendedFieldURI`) as a validated element object every time, then moves every element into
the request and serialises it, which made building the request for the contacts a first sync
links cost several milliseconds per contact. Here the library still decides what to set and
delete (its own `_update_elems`), but each delete element and each field path is serialised by
lxml once and reused as bytes, so is each indexed set element around its value's text (escaped
as libxml2 escapes it), other set elements are serialised once, and the request's
item changes are spliced into the serialised envelope in place of a marker (as
create_xml.PrebuiltCreateItem does). The request is byte for byte the library's
(tests/unit/test_ews_update_xml.py compares the whole request).
"""
from __future__ import annotations

from typing import Any

from exchangelib.fields import ExtendedPropertyField, FieldPath, IndexedField
from exchangelib.properties import ItemId
from exchangelib.services import UpdateItem
from exchangelib.services.common import to_item_id
from exchangelib.util import MNS, TNS, create_element, safe_xml_value, set_xml_value, value_to_xml_text
from lxml import etree

from app.connectors.ews.create_xml import escaped_text

_HOLDER_OPEN = f'<m:Holder xmlns:m="{MNS}" xmlns:t="{TNS}">'
_HOLDER_CLOSE = "</m:Holder>"


def request_bytes(elem: Any) -> bytes:
    """`elem` serialised as it stands in a request whose envelope declares the m and t prefixes."""
    holder = create_element("m:Holder", nsmap={"m": MNS, "t": TNS})
    holder.append(elem)
    whole = etree.tostring(holder, encoding="unicode")
    inner = whole[len(_HOLDER_OPEN):-len(_HOLDER_CLOSE)]
    if not (whole.startswith(_HOLDER_OPEN) and whole.endswith(_HOLDER_CLOSE)) or "xmlns" in inner:
        raise RuntimeError(f"an element with a namespace of its own: {whole[:200]}")
    return inner.encode("utf-8")


_PATHS: dict[tuple[int, Any, int], tuple[Any, Any, bytes]] = {}


def path_bytes(field_path: Any) -> bytes:
    """`field_path.to_xml()` as request bytes, serialised once per field, label and subfield."""
    key = (id(field_path.field), field_path.label, id(field_path.subfield))
    got = _PATHS.get(key)
    # fields are the models' class attributes, so their ids are stable; the entry keeps the field
    # alive and is checked, so a reused id never returns another field's path
    if got is None or got[0] is not field_path.field or got[1] is not field_path.subfield:
        got = _PATHS[key] = (field_path.field, field_path.subfield, request_bytes(field_path.to_xml()))
    return got[2]


_SLOT = "\ue000slot\ue000"  # a private-use character pair no label or tag contains
_SHAPES: dict[tuple[int, Any], tuple[Any, tuple[str, ...], tuple[Any, ...]]] = {}
_DELETES: dict[tuple[int, str, int], tuple[Any, Any, bytes]] = {}
_SETS: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _indexed_shape(field: Any, version: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """An indexed field's labels and subfields for the server version, as the library lists them."""
    key = (id(field), version.build)
    got = _SHAPES.get(key)
    if got is None or got[0] is not field:
        labels = tuple(field.value_cls.get_field_by_fieldname("label").supported_choices(version=version))
        got = _SHAPES[key] = (field, labels, tuple(field.value_cls.supported_fields(version=version)))
    return got[1], got[2]


def _delete_bytes(field: Any, label: str, subfield: Any) -> bytes:
    key = (id(field), label, id(subfield))
    got = _DELETES.get(key)
    if got is None or got[0] is not field or got[1] is not subfield:
        path = FieldPath(field=field, label=label, subfield=subfield)
        got = _DELETES[key] = (field, subfield, b"".join((b"<t:DeleteItemField>", path_bytes(path), b"</t:DeleteItemField>")))
    return got[2]


def _indexed_set(target_model: Any, field: Any, label: str, subfield: Any, version: Any) -> tuple[bytes, bytes]:
    """The SetItemField bytes of one label and subfield of an indexed field, before and after
    the value's text: the library's own element for a placeholder value, serialised once."""
    key = (id(target_model), id(field), label, id(subfield), version.build)
    got = _SETS.get(key)
    if got is None or got[0] is not target_model or got[1] is not field or got[2] is not subfield:
        entry = field.value_cls(**{"label": label, subfield.name: _SLOT})
        target = create_element(target_model.request_tag())
        set_xml_value(target, field.to_xml(entry, version=version), version=version)
        path = FieldPath(field=field, label=label, subfield=subfield)
        before, after = _around_slot(path_bytes(path), target)
        got = _SETS[key] = (target_model, field, subfield, before, after)
    return got[3], got[4]


def _string_property_set(target_model: Any, field_path: Any, version: Any) -> tuple[bytes, bytes]:
    """The SetItemField bytes of a single-string extended property, before and after its text:
    the library's own element for a placeholder value, serialised once."""
    field = field_path.field
    key = (id(target_model), id(field), None, None, version.build)
    got = _SETS.get(key)
    if got is None or got[0] is not target_model or got[1] is not field:
        target = create_element(target_model.request_tag())
        set_xml_value(target, field.to_xml(_SLOT, version=version), version=version)
        before, after = _around_slot(path_bytes(field_path), target)
        got = _SETS[key] = (target_model, field, None, before, after)
    return got[3], got[4]


def _around_slot(path: bytes, target: Any) -> tuple[bytes, bytes]:
    """A SetItemField's bytes for `path` and the placeholder-valued `target`, split at the placeholder."""
    whole = b"".join((b"<t:SetItemField>", path, request_bytes(target), b"</t:SetItemField>"))
    before, found, after = whole.partition(_SLOT.encode("utf-8"))
    if not found or _SLOT.encode("utf-8") in after:
        raise RuntimeError(f"no single place for the value in {whole[:200]!r}")
    return before, after


_SPLICE = "workbooks-connector: the item changes' bytes go here"
_SPLICE_BYTES = f"<!--{_SPLICE}-->".encode()


class CachedPathUpdateItem(UpdateItem):
    """UpdateItem whose set and delete elements, and item changes, are request bytes (see above)."""

    _spliced: bytes | None = None

    def _set_field_elems(self, target_model: Any, field: Any, value: Any) -> Any:
        """The library's loop over an indexed field's labels and subfields (set the values it
        has, delete the rest), with each element taken from bytes made once per label and
        subfield (a set element's around the value's text): the library builds and validates
        a FieldPath and an entry object per label and subfield, the values being already
        validated with the item (`_get_value`)."""
        if not isinstance(field, IndexedField):
            yield from super()._set_field_elems(target_model, field, value)
            return
        version = self.account.version
        labels, subfields = _indexed_shape(field, version)
        seen_labels = set()
        for v in value:
            label = v.label
            seen_labels.add(label)
            for subfield in subfields:
                subfield_value = getattr(v, subfield.name)
                if not subfield_value:
                    yield _delete_bytes(field, label, subfield)
                else:
                    text = safe_xml_value(subfield_value) if subfield_value.__class__ is str else value_to_xml_text(subfield_value)
                    before, after = _indexed_set(target_model, field, label, subfield, version)
                    yield b"".join((before, escaped_text(text).encode("utf-8"), after))
            # (as the library does: after each value, deletes for every label not seen so far)
            for other in labels:
                if other not in seen_labels:
                    for subfield in subfields:
                        yield _delete_bytes(field, other, subfield)

    def _set_field_elem(self, target_model: Any, field_path: Any, value: Any) -> bytes:
        field = field_path.field
        if field.__class__ is ExtendedPropertyField and value.__class__ is str and not field.value_cls.is_array_type():
            # a single string property (our markers): bytes around its text, made once per property
            before, after = _string_property_set(target_model, field_path, self.account.version)
            return b"".join((before, escaped_text(value).encode("utf-8"), after))
        target = create_element(target_model.request_tag())
        field_elem = field_path.field.to_xml(value, version=self.account.version)
        set_xml_value(target, field_elem, version=self.account.version)
        return b"".join((b"<t:SetItemField>", path_bytes(field_path), request_bytes(target), b"</t:SetItemField>"))

    def _delete_field_elem(self, field_path: Any) -> bytes:
        return b"".join((b"<t:DeleteItemField>", path_bytes(field_path), b"</t:DeleteItemField>"))

    def _change_elem(self, target: Any, fieldnames: Any) -> bytes:  # type: ignore[override]
        if not fieldnames:
            raise ValueError("'fieldnames' must not be empty")
        item_id = request_bytes(to_item_id(target, ItemId).to_xml(version=self.account.version))
        updates = b"".join(self._update_elems(target=target, fieldnames=fieldnames))
        body = b"".join((b"<t:Updates>", updates, b"</t:Updates>")) if updates else b"<t:Updates/>"
        return b"".join((b"<t:ItemChange>", item_id, body, b"</t:ItemChange>"))

    def _changes_elem(self, target_changes: Any) -> Any:
        changes = create_element(self.CHANGES_ELEMENT_NAME)
        parts = []
        for target, fieldnames in target_changes:
            if not target.account:
                target.account = self.account
            parts.append(self._change_elem(target=target, fieldnames=fieldnames))
        if parts:
            changes.append(etree.Comment(_SPLICE))
        self._spliced = b"".join(parts)
        return changes

    def wrap(self, content: Any, api_version: Any = None) -> bytes:
        data = super().wrap(content, api_version=api_version)
        if not self._spliced:
            return data
        before, found, after = data.partition(_SPLICE_BYTES)
        if not found:
            raise RuntimeError("the UpdateItem request lost the place of its item changes")
        return before + self._spliced + after
