"""The library's `field.clean(value, version)` for the values a batched update writes, without
re-checking what cannot have changed.

UpdateItem checks every value it sends with its field's `clean` (exchangelib's `_get_value`).
For our marker properties that checks the property's class definition each time (the same
answer for every item), for phone numbers, e-mail addresses and postal addresses it cleans every
entry field by field (label choices for the server version, required text): together about a
fifth of building a contact's change. `clean_value` gives the same value, and raises the same
errors (by leaving every case it does not recognise to the library), with the fixed parts
worked out once per field and server version (tests/unit/test_ews_current_contact.py sends the
library's request byte for byte, refused values included).
"""
from __future__ import annotations

from typing import Any

from exchangelib.fields import (
    EmailAddressesField, EmailSubField, ExtendedPropertyField, NamedSubField, PhoneNumberField, PhysicalAddressField,
    SingleFieldIndexedField, SubField,
)


_CHECKED: dict[int, Any] = {}


_ENTRY_FIELDS = (EmailAddressesField, PhoneNumberField, PhysicalAddressField)
_ENTRY_RULES: dict[tuple[int, Any], tuple[Any, Any, frozenset[str], tuple[tuple[str, bool], ...], int | None]] = {}


def _entry_rules(field: Any, version: Any) -> tuple[frozenset[str], tuple[tuple[str, bool], ...], int | None] | None:
    """What the library's clean of an indexed field's entries checks, worked out once per field
    and version: the labels it accepts, each other part's name and whether it must have text,
    and (single-value entries) how many entries it takes. None when the field itself is not
    supported (its clean raises)."""
    key = (id(field), version.build)
    got = _ENTRY_RULES.get(key)
    if got is None or got[0] is not field:
        cls = field.value_cls
        if not field.supports_version(version):
            return None
        labels: frozenset[str] = frozenset()
        parts = []
        for f in cls.FIELDS:
            if not f.supports_version(version):
                continue
            if f.name == "label":
                labels = frozenset(f.supported_choices(version=version))
            elif f.__class__ in (SubField, EmailSubField, NamedSubField) and f.value_cls is str:
                parts.append((f.name, f.is_required))
            else:
                return None
        most = len(cls.LABEL_CHOICES) if isinstance(field, SingleFieldIndexedField) else None
        got = _ENTRY_RULES[key] = (field, version.build, labels, tuple(parts), most)
    return got[2], got[3], got[4]


def _plain_entries(field: Any, value: list, version: Any) -> bool:
    """True when the library's clean would pass these entries as they are (each an entry of the
    field's own class with an accepted label and text or nothing in each part, text where a
    part is required); anything else is left to the library's clean (and its errors)."""
    rules = _entry_rules(field, version)
    if rules is None:
        return False
    labels, parts, most = rules
    if most is not None and len(value) > most:
        return False
    cls = field.value_cls
    for entry in value:
        if entry.__class__ is not cls or entry.label not in labels:
            return False
        for name, required in parts:
            text = getattr(entry, name)
            if text is None:
                if required:
                    return False
            elif text.__class__ is not str or (required and not text):
                return False
    return True


def clean_value(field: Any, value: Any, version: Any) -> Any:
    """`field.clean(value, version)`: entries the library would pass unchanged are passed as
    they are; a single-string property's definition is checked once per field (then only that
    the value is text, as the library's clean does); everything else is the library's clean."""
    if value.__class__ is list and field.__class__ in _ENTRY_FIELDS and _plain_entries(field, value, version):
        return value
    if value.__class__ is str and field.__class__ is ExtendedPropertyField:
        if _CHECKED.get(id(field)) is field:
            return value
        cls = field.value_cls
        cleaned = field.clean(value, version=version)
        if not cls.is_array_type() and cls.python_type() is str:
            _CHECKED[id(field)] = field
        return cleaned
    return field.clean(value, version=version)
