"""The CreateItem element of a new contact, written straight from canonical fields.

A first sync creates thousands of contacts. Building each as an exchangelib Contact (about 80
fields, each set through the model's checking `__setattr__`), cleaning all of them and then
serialising every e-mail, phone and address entry as its own element object was over a third of
the sync's CPU. `contact_xml` writes the same `t:Contact` the library's path sends
(mapping.new_item + apply_markers + clean + create_xml.item_element; tests/unit/test_ews_contact_xml.py
compares the CreateItem requests byte for byte, seeded people included):
* element order, tags and the model's defaults (Sensitivity, Importance, ...) come from
  exchangelib's own Contact fields for the server version, worked out once;
* each plain value goes through its field's own `clean`, so an over-long name fails that item
  with the library's error, as before; entries carry fixed valid labels and non-empty text, which
  is all their `clean` checks;
* text is escaped with the library's `safe_xml_value`, as `value_to_xml_text` does.

`contact_xml` writes those bytes directly, exactly as lxml serialises the library's element inside
a request (whose envelope declares the `t` prefix): the parts that are the same for every contact
(defaults, marker definitions, the category) are serialised by lxml once per layout, the values
are escaped as libxml2 escapes text. create_xml.create_prebuilt splices them into the request.
Element objects made and deep-copied one by one (then serialised again with the request) cost
about 150 us a contact, most of a first sync's EWS client CPU.
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Mapping

from exchangelib import Body, Contact
from exchangelib.indexed_properties import PhysicalAddress
from exchangelib.util import TNS, create_element
from lxml import etree

from app.connectors.ews import mapping
from app.connectors.ews.create_xml import escaped_attribute, escaped_text, string_extended_property, writable_fields
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
        # the same parts as XML text, and each value's tags around it
        self.default_xml = {name: xml_text(el) for name, el in self.defaults.items()}
        self.category_xml = xml_text(self.shared_category)
        self.marker_xml: dict[str, tuple[str, str]] = {}
        for name, prop in self.markers.items():
            before, _, after = xml_text(_with_value(prop, _SLOT)).partition(_SLOT)
            self.marker_xml[name] = (before, after)
        body = self.fields["body"]
        before, _, after = xml_text(body.to_xml(body.clean(Body(_SLOT), version=version), version=version)).partition(_SLOT)
        self.body_xml = (before, after)
        self.open = {name: f"<{_prefixed(tag)}>" for name, tag in self.tags.items()}
        self.close = {name: f"</{_prefixed(tag)}>" for name, tag in self.tags.items()}
        self.parent_open = {name: f"<{tag}>" for name, tag in self.parent_tags.items()}
        self.parent_close = {name: f"</{tag}>" for name, tag in self.parent_tags.items()}
        self.address_xml = tuple((attr, f"<{_prefixed(tag)}>", f"</{_prefixed(tag)}>") for attr, tag in self.address_parts)
        # (name, default XML or None) of the fields a new contact can carry, in the library's order
        self.plan = tuple((name, self.default_xml.get(name)) for name in self.names if name in self.defaults or name in ours)


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


def contact_xml(fields: Mapping[str, Any], related: str | None, *, sharing: Sharing, crm_id: str | None,
                link_id: str | None, version: Any) -> bytes:
    """The bytes of the `t:Contact` element exchangelib would send for this new contact, as they
    stand in the request; raises ValueError (or TypeError) as the library's clean does for a
    value it refuses, and UnicodeEncodeError for text it cannot encode."""
    lay = _layout(version)
    values = contact_values(fields, related, sharing=sharing, crm_id=crm_id, link_id=link_id)
    out = ["<t:Contact>"]
    for name, default in lay.plan:
        if default is not None:
            out.append(default)
            continue
        value = values.get(name)
        if value is None or (value.__class__ is list and not value):  # the library leaves both out
            continue
        if name in _INDEXED:
            out.append(lay.parent_open[name])
            for label, text in value:
                out.append(f'<t:Entry Key="{_attr(label)}">{escaped_text(text)}</t:Entry>')
            out.append(lay.parent_close[name])
        elif name == "physical_addresses":
            out.append(lay.parent_open[name])
            for label, parts in value:
                out.append(f'<t:Entry Key="{_attr(label)}">')
                for attr, open_tag, close_tag in lay.address_xml:
                    text = parts.get(attr)
                    if text is not None:
                        out.append(f"{open_tag}{escaped_text(text)}{close_tag}")
                out.append("</t:Entry>")
            out.append(lay.parent_close[name])
        elif name in _MARKERS:
            if value.__class__ is not str:
                lay.fields[name].clean(value, version=version)  # the library's error for a value of another type
            before, after = lay.marker_xml[name]
            out.append(f"{before}{escaped_text(value)}{after}")
        elif name == "categories":  # contact_values gives [SHARE_CATEGORY] or None
            out.append(lay.category_xml)
        elif name == "body":
            field = lay.fields[name]
            before, after = lay.body_xml
            out.append(f"{before}{escaped_text(str(field.clean(Body(value), version=version)))}{after}")
        else:
            out.append(f"{lay.open[name]}{escaped_text(lay.fields[name].clean(value, version=version))}{lay.close[name]}")
    out.append(_CLOSE)
    return "".join(out).encode("utf-8")


_OPEN, _CLOSE = f'<t:Contact xmlns:t="{TNS}">', "</t:Contact>"
_SLOT = "\ue000slot\ue000"  # a private-use character pair no template contains
_attr = escaped_attribute


def _prefixed(tag: str) -> str:
    """`{types namespace}Name` or `t:Name` -> `t:Name` (the only namespace of a contact's parts)."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        if ns != TNS:
            raise RuntimeError(f"a contact part outside the types namespace: {tag}")
        return f"t:{name}"
    if not tag.startswith("t:"):
        raise RuntimeError(f"a contact part outside the types namespace: {tag}")
    return tag


def _with_value(prop: Any, text: str) -> Any:
    prop = deepcopy(prop)
    prop[-1].text = text
    return prop


def xml_text(elem: Any) -> str:
    """`elem` as XML text inside a `t:Contact` (its namespace declared there, not on it)."""
    holder = create_element("t:Contact", nsmap={"t": TNS})
    holder.append(deepcopy(elem))
    whole = etree.tostring(holder, encoding="unicode")
    if not (whole.startswith(_OPEN) and whole.endswith(_CLOSE)) or "xmlns" in whole[len(_OPEN):]:
        raise RuntimeError(f"a contact part with a namespace of its own: {whole[:200]}")
    return whole[len(_OPEN):-len(_CLOSE)]
