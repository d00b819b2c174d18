"""The CreateItem element of a new contact, built straight from canonical fields.

A first sync creates thousands of contacts. Building each as an exchangelib Contact (about 80
fields, each set through the model's checking `__setattr__`), cleaning all of them and then
serialising every e-mail, phone and address entry as its own element object was over a third of
the sync's CPU. `contact_element` builds the same `t:Contact` element the library's path does
(mapping.new_item + apply_markers + clean + create_xml.item_element; tests/unit/test_ews_contact_xml.py
compares them byte for byte, seeded people included):
* element order, tags and the model's defaults (Sensitivity, Importance, ...) come from
  exchangelib's own Contact fields for the server version, worked out once;
* each plain value goes through its field's own `clean`, so an over-long name fails that item
  with the library's error, as before; entries carry fixed valid labels and non-empty text, which
  is all their `clean` checks;
* text is escaped with the library's `safe_xml_value`, as `value_to_xml_text` does.
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Mapping

from exchangelib import Body, Contact
from exchangelib.indexed_properties import PhysicalAddress
from exchangelib.util import create_element, safe_xml_value

from app.connectors.ews import mapping
from app.connectors.ews.create_xml import string_extended_property, writable_fields
from app.connectors.ews.properties import SHARED, UNSHARED
from app.domain.records import SHARE_CATEGORY, Sharing

_INDEXED = ("email_addresses", "phone_numbers")  # single-value entries: <t:Entry Key="...">text</t:Entry>
_MARKERS = ("sharing_state", "link_id", "crm_id")


class _Layout:
    """What a Contact serialises to for one server version, independent of its values."""

    def __init__(self, version: Any):
        attrs, elems = writable_fields(Contact, version)
        self.fields = {f.name: f for f in elems}
        self.names = tuple(f.name for f in elems)
        self.tags = {f.name: f.request_tag() for f in elems if hasattr(f, "request_tag")}
        self.parent_tags = {f.name: f"t:{f.PARENT_ELEMENT_NAME}" for f in elems if hasattr(f, "PARENT_ELEMENT_NAME")}
        self.address_parts = tuple((f.name, f.request_tag()) for f in PhysicalAddress.supported_fields(version=version)
                                   if not f.is_attribute)
        # the model's own defaults: a contact with only a display name, cleaned by the library
        proto = Contact(display_name="-")
        proto.clean(version=version)
        ours = {"display_name", "body", "categories", *_MARKERS, *mapping.PERSON_SIMPLE.values(),
                "email_addresses", "phone_numbers", "physical_addresses"}
        self.defaults: dict[str, Any] = {}
        for f in elems:
            value = getattr(proto, f.name)
            if f.name in ours or value is None or (f.is_list and not value):
                continue
            self.defaults[f.name] = f.to_xml(value, version=version)
        if any(getattr(proto, f.name) is not None for f in attrs):
            raise RuntimeError("a Contact with attribute defaults needs the library's serialiser")
        # our markers are string properties: their definition is checked once here (the library
        # re-checks it for every value), then each item's copy only gets its value
        self.markers: dict[str, Any] = {}
        for name in _MARKERS:
            field = self.fields[name]
            field.clean("-", version=version)
            self.markers[name] = string_extended_property(field, "")
        # the one category a new contact can carry (shared): its element, copied per item
        categories = self.fields["categories"]
        self.shared_category = categories.to_xml(categories.clean([SHARE_CATEGORY], version=version), version=version)


_LAYOUTS: dict[Any, _Layout] = {}


def _layout(version: Any) -> _Layout:
    key = (version.build, len(Contact.FIELDS))  # extended properties registered later extend FIELDS
    got = _LAYOUTS.get(key)
    if got is None:
        got = _LAYOUTS[key] = _Layout(version)
    return got


def contact_values(fields: Mapping[str, Any], related: str | None, *, sharing: Sharing, crm_id: str | None,
                   link_id: str | None) -> dict[str, Any]:
    """The exchangelib field values `mapping.new_item` + `mapping.apply_markers` give a new
    contact, as plain values: strings, (label, text) entries, (label, {part: text}) addresses."""
    present = {k for k, v in fields.items() if v is not None}
    out: dict[str, Any] = {}
    for name, attr in mapping.PERSON_SIMPLE.items():
        if name in present:
            out[attr] = mapping.clean_str(fields[name])
    out["display_name"] = mapping.display_name(fields)
    emails = {label: mapping.clean_email(fields[n]) for n, label in mapping.EMAIL_SLOTS.items() if n in present}
    out["email_addresses"] = [(k, v) for k, v in sorted(emails.items()) if v]
    phones = {label: mapping.clean_str(fields[n]) for n, label in mapping.PHONE_SLOTS.items() if n in present}
    out["phone_numbers"] = [(k, v) for k, v in sorted(phones.items()) if v]
    addresses: dict[str, dict[str, Any]] = {}
    for name, (label, attr) in mapping.ADDRESS_SLOTS.items():
        if name in present:
            addresses.setdefault(label, {})[attr] = mapping.clean_str(fields[name])
    out["physical_addresses"] = [(k, v) for k, v in sorted(addresses.items()) if any(v.values())]
    if "notes" in present or related is not None:
        notes = mapping.clean_str(fields["notes"]) if "notes" in present else None
        out["body"] = mapping.join_notes(notes, related) or None
    out["sharing_state"] = SHARED if sharing is Sharing.SHARED else UNSHARED if sharing is Sharing.UNSHARED else None
    out["categories"] = [SHARE_CATEGORY] if sharing is Sharing.SHARED else None
    out["crm_id"] = crm_id
    out["link_id"] = link_id
    return out


def contact_element(fields: Mapping[str, Any], related: str | None, *, sharing: Sharing, crm_id: str | None,
                    link_id: str | None, version: Any) -> Any:
    """The `t:Contact` element exchangelib would send for this new contact; raises ValueError
    (or TypeError) as the library's clean does for a value it refuses."""
    lay = _layout(version)
    values = contact_values(fields, related, sharing=sharing, crm_id=crm_id, link_id=link_id)
    elem = create_element("t:Contact")
    for name in lay.names:
        default = lay.defaults.get(name)
        if default is not None:
            elem.append(deepcopy(default))
            continue
        value = values.get(name)
        if value is None or (value.__class__ is list and not value):  # the library leaves both out
            continue
        field = lay.fields[name]
        if name in _INDEXED:
            elem.append(_entries(lay.parent_tags[name], value))
        elif name == "physical_addresses":
            elem.append(_addresses(lay, value))
        elif name in _MARKERS:
            if value.__class__ is not str:
                field.clean(value, version=version)  # the library's error for a value of another type
            prop = deepcopy(lay.markers[name])
            prop[-1].text = safe_xml_value(value)
            elem.append(prop)
        elif name == "categories":  # contact_values gives [SHARE_CATEGORY] or None
            elem.append(deepcopy(lay.shared_category))
        elif name == "body":
            elem.append(field.to_xml(field.clean(Body(value), version=version), version=version))
        else:
            sub = create_element(lay.tags[name])
            sub.text = safe_xml_value(field.clean(value, version=version))
            elem.append(sub)
    return elem


def _entries(tag: str, entries: list[tuple[str, str]]) -> Any:
    parent = create_element(tag)
    for label, text in entries:
        entry = create_element("t:Entry", attrs={"Key": label})
        entry.text = safe_xml_value(text)
        parent.append(entry)
    return parent


def _addresses(lay: _Layout, addresses: list[tuple[str, dict[str, Any]]]) -> Any:
    parent = create_element(lay.parent_tags["physical_addresses"])
    for label, parts in addresses:
        entry = create_element("t:Entry", attrs={"Key": label})
        for attr, tag in lay.address_parts:
            text = parts.get(attr)
            if text is not None:
                sub = create_element(tag)
                sub.text = safe_xml_value(text)
                entry.append(sub)
        parent.append(entry)
    return parent
