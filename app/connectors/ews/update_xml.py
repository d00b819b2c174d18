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

The batched writes build each item's change on its own (`change_bytes`, so a value the library
refuses fails that item only) and hand the request the finished bytes. A target may also be a
current_contact.CurrentContact (a contact's values without the library's Contact): its changed
fields go through the library's loop with the Contact model's field order and `clean`
(field_clean.py). Text fields, bodies, our markers and the categories are written around their
text from bytes made once per field, an indexed field's set/delete sequence once per shape of
its values (tests/unit/test_ews_current_contact.py compares these requests too).
"""
from __future__ import annotations

from typing import Any

from exchangelib.fields import BodyField, CharField, CharListField, ExtendedPropertyField, FieldPath, IndexedField, TextField
from exchangelib.items.base import BaseItem
from exchangelib.properties import Body, HTMLBody, ItemId
from exchangelib.services import UpdateItem
from exchangelib.services.common import to_item_id
from exchangelib.util import MNS, TNS, create_element, set_xml_value, value_to_xml_text
from lxml import etree

from app.connectors.ews.create_xml import SuccessWalk, escaped_text, first_child, item_id_bytes
from app.connectors.ews.current_contact import CurrentContact
from app.connectors.ews.field_clean import clean_value

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
_SLOT2 = "\ue001slot\ue001"
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


_PLANS: dict[tuple[Any, ...], tuple[Any, Any, tuple[bytes, ...]]] = {}


def _indexed_plan(target_model: Any, field: Any, shape: tuple[tuple[str, tuple[bool, ...]], ...],
                  version: Any) -> tuple[bytes, ...]:
    """An indexed field's set and delete elements for values of one shape (each value's label and
    which of its subfields have text), as the bytes between the texts: made once per shape from
    the per-label bytes, in the library's order (set the subfields a value has, delete the
    others, then after each value delete every label not seen so far)."""
    key = (id(target_model), id(field), shape, version.build)
    got = _PLANS.get(key)
    if got is None or got[0] is not target_model or got[1] is not field:
        labels, subfields = _indexed_shape(field, version)
        parts = [b""]
        seen_labels = set()
        for label, present in shape:
            seen_labels.add(label)
            for subfield, has_text in zip(subfields, present):
                if has_text:
                    before, after = _indexed_set(target_model, field, label, subfield, version)
                    parts[-1] += before
                    parts.append(after)
                else:
                    parts[-1] += _delete_bytes(field, label, subfield)
            for other in labels:
                if other not in seen_labels:
                    for subfield in subfields:
                        parts[-1] += _delete_bytes(field, other, subfield)
        got = (target_model, field, tuple(parts))
        if len(_PLANS) < 4096:
            _PLANS[key] = got
    return got[2]


def _text_set(target_model: Any, field_path: Any, value_cls: type, version: Any) -> tuple[bytes, bytes]:
    """The SetItemField bytes of a single text value of `value_cls` (str for text fields and our
    single-string properties, Body or HTMLBody for a body), before and after its text: the
    library's own element for a placeholder value, serialised once."""
    field = field_path.field
    key = (id(target_model), id(field), value_cls, None, version.build)
    got = _SETS.get(key)
    if got is None or got[0] is not target_model or got[1] is not field:
        target = create_element(target_model.request_tag())
        set_xml_value(target, field.to_xml(value_cls(_SLOT), version=version), version=version)
        before, after = _around_slot(path_bytes(field_path), target)
        got = _SETS[key] = (target_model, field, None, before, after)
    return got[3], got[4]


# fields whose element is the value's text inside the field's tag (a body: with its BodyType)
_TEXT_FIELDS = {CharField: (str,), TextField: (str,), BodyField: (Body, HTMLBody)}


def _string_list_set(target_model: Any, field_path: Any, version: Any) -> tuple[bytes, bytes, bytes]:
    """The SetItemField bytes of a list of strings, before, between and after its texts: the
    library's own element for two placeholder values, serialised once."""
    field = field_path.field
    key = (id(target_model), id(field), "list", None, version.build)
    got = _SETS.get(key)
    if got is None or got[0] is not target_model or got[1] is not field:
        target = create_element(target_model.request_tag())
        set_xml_value(target, field.to_xml([_SLOT, _SLOT2], version=version), version=version)
        before, after = _around_slot(path_bytes(field_path), target, slot=_SLOT)
        between, found, after = after.partition(_SLOT2.encode("utf-8"))
        if not found or _SLOT2.encode("utf-8") in after:
            raise RuntimeError(f"no single place for the second value in {after[:200]!r}")
        got = _SETS[key] = (target_model, field, None, before, (between, after))
    return got[3], got[4][0], got[4][1]


def _plain_id(target: Any) -> bool:
    """A target whose ItemId the library writes as its id and ChangeKey, unchanged: an item or
    CurrentContact whose id is text and ChangeKey text or None (IdField: at most 512 characters)."""
    if target.__class__ is not CurrentContact and (not isinstance(target, BaseItem) or target._id.__class__ is not ItemId):
        return False
    item_id, changekey = target.id, target.changekey
    return (item_id.__class__ is str and len(item_id) <= 512
            and (changekey is None or (changekey.__class__ is str and len(changekey) <= 512)))


def _around_slot(path: bytes, target: Any, slot: str = _SLOT) -> tuple[bytes, bytes]:
    """A SetItemField's bytes for `path` and the placeholder-valued `target`, split at the placeholder."""
    whole = b"".join((b"<t:SetItemField>", path, request_bytes(target), b"</t:SetItemField>"))
    before, found, after = whole.partition(slot.encode("utf-8"))
    if not found or slot.encode("utf-8") in after:
        raise RuntimeError(f"no single place for the value in {whole[:200]!r}")
    return before, after


_ORDERS: dict[tuple[type, tuple[str, ...], int], tuple[Any, ...]] = {}


def _sorted_fields(model: type, fieldnames: Any) -> tuple[Any, ...]:
    """BaseUpdateService._sorted_fields (the named fields in the model's order, ValueError for an
    unknown name), worked out once per model and list of names."""
    names = tuple(fieldnames)
    key = (model, names, len(model.FIELDS))  # type: ignore[attr-defined]  # registered properties extend FIELDS
    got = _ORDERS.get(key)
    if got is None:
        got = tuple(UpdateItem._sorted_fields(target_model=model, fieldnames=names))
        if len(_ORDERS) < 4096:
            _ORDERS[key] = got
    return got


_ITEM_ID_TAG = ItemId.response_tag()
_SPLICE = "workbooks-connector: the item changes' bytes go here"
_SPLICE_BYTES = f"<!--{_SPLICE}-->".encode()


class CachedPathUpdateItem(SuccessWalk, UpdateItem):
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
        _labels, subfields = _indexed_shape(field, version)
        shape = []
        texts = []
        for v in value:
            present = []
            for subfield in subfields:
                subfield_value = getattr(v, subfield.name)
                present.append(bool(subfield_value))
                if subfield_value:
                    text = subfield_value if subfield_value.__class__ is str else value_to_xml_text(subfield_value)
                    texts.append(escaped_text(text).encode("utf-8"))
            shape.append((v.label, tuple(present)))
        parts = _indexed_plan(target_model, field, tuple(shape), version)
        out = [parts[0]]
        for text, part in zip(texts, parts[1:]):
            out.append(text)
            out.append(part)
        yield b"".join(out)

    def _get_value(self, target: Any, field: Any) -> Any:
        value = getattr(target, field.name)
        if value.__class__ is str and field.__class__ is ExtendedPropertyField:
            return clean_value(field, value, self.account.version)
        return super()._get_value(target, field)

    def _set_field_elem(self, target_model: Any, field_path: Any, value: Any) -> bytes:
        field = field_path.field
        if field.__class__ is ExtendedPropertyField and value.__class__ is str and not field.value_cls.is_array_type():
            # a single string property (our markers): bytes around its text, made once per property
            before, after = _text_set(target_model, field_path, str, self.account.version)
            return b"".join((before, escaped_text(value).encode("utf-8"), after))
        if value.__class__ in _TEXT_FIELDS.get(field.__class__, ()) and not field_path.label:
            # a text field or a body: bytes around its text, made once per field (and body type)
            before, after = _text_set(target_model, field_path, value.__class__, self.account.version)
            return b"".join((before, escaped_text(value).encode("utf-8"), after))
        if field.__class__ is CharListField and value.__class__ is list and all(v.__class__ is str for v in value):
            # a list of strings (the categories): bytes around and between its texts, made once per field
            before, between, after = _string_list_set(target_model, field_path, self.account.version)
            return b"".join((before, between.join(escaped_text(v).encode("utf-8") for v in value), after))
        target = create_element(target_model.request_tag())
        field_elem = field_path.field.to_xml(value, version=self.account.version)
        set_xml_value(target, field_elem, version=self.account.version)
        return b"".join((b"<t:SetItemField>", path_bytes(field_path), request_bytes(target), b"</t:SetItemField>"))

    def _delete_field_elem(self, field_path: Any) -> bytes:
        return b"".join((b"<t:DeleteItemField>", path_bytes(field_path), b"</t:DeleteItemField>"))

    def _update_elems(self, target: Any, fieldnames: Any) -> Any:
        """The library's loop over the changed fields (UpdateItem._update_elems), for a target that
        is not a model instance but carries its model's values (current_contact.CurrentContact):
        the same fields in the model's order, each value checked by its field's own `clean`."""
        model = getattr(target.__class__, "MODEL", None)
        if model is None:
            yield from super()._update_elems(target=target, fieldnames=fieldnames)
            return
        version = self.account.version
        for field in _sorted_fields(model, fieldnames):
            if field.is_read_only:
                raise ValueError(f"{field.name!r} is a read-only field")
            value = clean_value(field, getattr(target, field.name), version)
            if value is None or (field.is_list and not value):
                if field.is_required or field.is_required_after_save:
                    raise ValueError(f"{field.name!r} is a required field and may not be deleted")
                yield from self._delete_field_elems(field)
                continue
            yield from self._set_field_elems(target_model=model, field=field, value=value)

    def change_bytes(self, target: Any, fieldnames: Any) -> bytes:
        """One item's `t:ItemChange` as request bytes: built per item before the request, so a
        value the library refuses fails that item only; the request takes them as they are."""
        if not target.account:
            target.account = self.account
        return self._change_elem(target=target, fieldnames=fieldnames)

    def _change_elem(self, target: Any, fieldnames: Any) -> bytes:  # type: ignore[override]
        if not fieldnames:
            raise ValueError("'fieldnames' must not be empty")
        if _plain_id(target):
            item_id = item_id_bytes(target.id, target.changekey)  # what the library writes for it
        else:
            item_id = request_bytes(to_item_id(target, ItemId).to_xml(version=self.account.version))
        updates = b"".join(self._update_elems(target=target, fieldnames=fieldnames))
        body = b"".join((b"<t:Updates>", updates, b"</t:Updates>")) if updates else b"<t:Updates/>"
        return b"".join((b"<t:ItemChange>", item_id, body, b"</t:ItemChange>"))

    def _changes_elem(self, target_changes: Any) -> Any:
        changes = create_element(self.CHANGES_ELEMENT_NAME)
        parts = []
        for change in target_changes:
            if change.__class__ is bytes:  # made by change_bytes
                parts.append(change)
                continue
            target, fieldnames = change
            if not target.account:
                target.account = self.account
            parts.append(self._change_elem(target=target, fieldnames=fieldnames))
        if parts:
            changes.append(etree.Comment(_SPLICE))
        self._spliced = b"".join(parts)
        return changes

    def _elem_to_obj(self, elem: Any) -> tuple[str | None, str | None]:
        """`Item.id_from_xml(elem)` (the library's answer per item), the ItemId's tag looked up once."""
        id_elem = first_child(elem, _ITEM_ID_TAG)
        if id_elem is None:
            return None, None
        return id_elem.get(ItemId.ID_ATTR), id_elem.get(ItemId.CHANGEKEY_ATTR)

    def wrap(self, content: Any, api_version: Any = None) -> bytes:
        data = super().wrap(content, api_version=api_version)
        if not self._spliced:
            return data
        before, found, after = data.partition(_SPLICE_BYTES)
        if not found:
            raise RuntimeError("the UpdateItem request lost the place of its item changes")
        return before + self._spliced + after
