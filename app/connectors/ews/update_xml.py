"""UpdateItem with each field path's XML built once and copied.

An UpdateItem of a contact's phone numbers, e-mail addresses or postal addresses names every
label and subfield of the indexed field: set elements for the values it has and delete elements
for all the others (19 phone labels, 3 addresses of 5 parts, ...), about 35 field paths per
contact. exchangelib builds each path's `t:IndexedFieldURI` (or `t:FieldURI`,
`t:ExtendedFieldURI`) as a validated element object every time, which made building the request
for the contacts a first sync links cost several milliseconds per contact. The path elements are
the same for every item, so they are built once by the library and deep-copied. The request is
the library's own (tests/unit/test_ews_update_xml.py compares the payloads).
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any

from exchangelib.services import UpdateItem
from exchangelib.util import create_element, set_xml_value

_PATHS: dict[tuple[int, Any, int], tuple[Any, Any, Any]] = {}


def path_element(field_path: Any) -> Any:
    """A fresh copy of `field_path.to_xml()`."""
    key = (id(field_path.field), field_path.label, id(field_path.subfield))
    got = _PATHS.get(key)
    # fields are the models' class attributes, so their ids are stable; the entry keeps the field
    # alive and is checked, so a reused id never returns another field's path
    if got is None or got[0] is not field_path.field or got[1] is not field_path.subfield:
        got = _PATHS[key] = (field_path.field, field_path.subfield, field_path.to_xml())
    return deepcopy(got[2])


class CachedPathUpdateItem(UpdateItem):
    """UpdateItem whose set and delete elements take their field paths from `path_element`."""

    def _set_field_elem(self, target_model: Any, field_path: Any, value: Any) -> Any:
        set_field = create_element(self.SET_FIELD_ELEMENT_NAME)
        set_field.append(path_element(field_path))
        target = create_element(target_model.request_tag())
        field_elem = field_path.field.to_xml(value, version=self.account.version)
        set_xml_value(target, field_elem, version=self.account.version)
        set_field.append(target)
        return set_field

    def _delete_field_elem(self, field_path: Any) -> Any:
        delete_field = create_element(self.DELETE_FIELD_ELEMENT_NAME)
        delete_field.append(path_element(field_path))
        return delete_field
