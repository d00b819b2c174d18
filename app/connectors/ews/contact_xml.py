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
  with the library's error, as before (text fields whose `clean` is the library's plain one or its
  length check are asked only when the text is longer: below that it returns the text as it is);
  entries carry fixed valid labels and non-empty text, which is all their `clean` checks;
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
from exchangelib.fields import CharField, Field
from exchangelib.indexed_properties import PhysicalAddress
from exchangelib.util import TNS, create_element
from lxml import etree

from app.connectors.ews import mapping
from app.connectors.ews.create_xml import escaped_attribute, escaped_text, string_extended_property, writable_fields
from app.connectors.ews.properties import SHARED, UNSHARED
from app.domain.records import SHARE_CATEGORY, Sharing

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
        self.steps = _Steps(self, version).compile()


_LAYOUTS: dict[Any, _Layout] = {}


def _layout(version: Any) -> _Layout:
    key = (version.build, len(Contact.FIELDS))  # extended properties registered later extend FIELDS
    got = _LAYOUTS.get(key)
    if got is None:
        got = _LAYOUTS[key] = _Layout(version)
    return got


def contact_xml(fields: Mapping[str, Any], related: str | None, *, sharing: Sharing, crm_id: str | None,
                link_id: str | None, version: Any) -> bytes:
    """The bytes of the `t:Contact` element exchangelib would send for this new contact, as they
    stand in the request; raises ValueError (or TypeError) as the library's clean does for a
    value it refuses, and UnicodeEncodeError for text it cannot encode."""
    new = _New(related, sharing, crm_id, link_id)
    return "".join([step if step.__class__ is str else step(fields, new)
                    for step in _layout(version).steps]).encode("utf-8")


class _New:
    """What a new contact carries besides its canonical fields."""
    __slots__ = ("related", "sharing", "crm_id", "link_id")

    def __init__(self, related: str | None, sharing: Sharing, crm_id: str | None, link_id: str | None):
        self.related, self.sharing, self.crm_id, self.link_id = related, sharing, crm_id, link_id


Step = Any  # a constant XML text, or a function (fields, _New) -> the XML text of one part ("" when left out)


class _Steps:
    """A layout's parts in the library's order as steps: the constant ones (the model's defaults)
    merged into text, each value's part a function made for its field once, so a contact costs one
    call per part (about a third of a walk over the plan through a dict of its values). The values
    are those mapping.new_item + apply_markers give, each checked by its field's own clean."""

    def __init__(self, lay: "_Layout", version: Any):
        self.lay, self.version = lay, version

    def compile(self) -> tuple[Step, ...]:
        steps: list[Step] = ["<t:Contact>"]
        simple = {attr: canon for canon, attr in mapping.PERSON_SIMPLE.items()}
        run: list[str] = []  # adjacent plain text parts: one step writes them all
        for name, default in self.lay.plan:
            if default is None and name in simple:
                run.append(name)
                continue
            if run:
                _add(steps, self.texts([(name, simple[name]) for name in run]))
                run = []
            _add(steps, default if default is not None else self.step(name))
        if run:
            _add(steps, self.texts([(name, simple[name]) for name in run]))
        _add(steps, _CLOSE)
        return tuple(steps)

    def step(self, name: str) -> Step:
        lay, version = self.lay, self.version
        if name == "display_name":  # always there: the names, else the company, else ...
            field, open_tag, close_tag = lay.fields[name], lay.open[name], lay.close[name]
            limit = _clean_limit(field, version)

            def display_name(fields: Mapping[str, Any], _new: _New) -> str:
                value = mapping.display_name(fields)
                if len(value) > limit:
                    value = field.clean(value, version=version)
                return f"{open_tag}{escaped_text(value)}{close_tag}"
            return display_name
        if name == "email_addresses":
            return self.entries(name, mapping.EMAIL_SLOTS, lower=True)
        if name == "phone_numbers":
            return self.entries(name, mapping.PHONE_SLOTS, lower=False)
        if name == "physical_addresses":
            return self.addresses()
        if name in _MARKERS:
            return self.marker(name)
        if name == "categories":  # a new contact carries the one category when shared, else none
            shared = lay.category_xml
            return lambda _fields, new: shared if new.sharing is Sharing.SHARED else ""
        if name == "body":
            field, (before, after) = lay.fields[name], lay.body_xml

            def body(fields: Mapping[str, Any], new: _New) -> str:
                notes = fields.get("notes")
                if notes is None and new.related is None:
                    return ""
                value = mapping.join_notes(mapping.clean_str(notes), new.related) or None
                if value is None:
                    return ""
                return f"{before}{escaped_text(str(field.clean(Body(value), version=version)))}{after}"
            return body
        raise RuntimeError(f"no writer for the contact part {name}")

    def texts(self, parts: list[tuple[str, str]]) -> Step:
        """Plain text parts (field name, canonical name): each value trimmed (mapping.clean_str),
        left out when empty, through its field's clean when `_clean_limit` says it may matter."""
        lay, version = self.lay, self.version
        table = tuple((canon, lay.open[name], lay.close[name], _clean_limit(lay.fields[name], version), lay.fields[name])
                      for name, canon in parts)

        def texts(fields: Mapping[str, Any], _new: _New) -> str:
            out = []
            for canon, open_tag, close_tag, limit, field in table:
                value = fields.get(canon)
                if value is None:
                    continue
                value = str(value).strip()
                if not value:
                    continue
                if len(value) > limit:
                    value = field.clean(value, version=version)  # the library's error, or its value
                out.append(f"{open_tag}{escaped_text(value)}{close_tag}")
            return "".join(out)
        return texts

    def entries(self, name: str, slots: Mapping[str, str], *, lower: bool) -> Step:
        """Single-value entries in label order, those with text (lower-cased addresses)."""
        opened, closed = self.lay.parent_open[name], self.lay.parent_close[name]
        order = tuple((canon, f'<t:Entry Key="{_attr(label)}">') for label, canon in _by_label(slots))

        def entries(fields: Mapping[str, Any], _new: _New) -> str:
            out = []
            for canon, tag in order:
                value = fields.get(canon)
                if value is None:
                    continue
                value = str(value).strip()  # mapping.clean_str, or clean_email when `lower`
                if value:
                    out.append(f"{tag}{escaped_text(value.lower() if lower else value)}</t:Entry>")
            return f"{opened}{''.join(out)}{closed}" if out else ""
        return entries

    def addresses(self) -> Step:
        """Address entries in label order, those with any part; their parts in the library's order."""
        name = "physical_addresses"
        opened, closed = self.lay.parent_open[name], self.lay.parent_close[name]
        labels: dict[str, dict[str, str]] = {}
        for canon, (label, attr) in mapping.ADDRESS_SLOTS.items():
            labels.setdefault(label, {})[attr] = canon
        order = tuple((f'<t:Entry Key="{_attr(label)}">',
                       tuple((labels[label][attr], open_tag, close_tag) for attr, open_tag, close_tag in self.lay.address_xml
                             if attr in labels[label]))
                      for label in sorted(labels))

        def addresses(fields: Mapping[str, Any], _new: _New) -> str:
            out = []
            for tag, parts in order:
                entry = []
                for canon, open_tag, close_tag in parts:
                    value = fields.get(canon)
                    if value is None:
                        continue
                    value = str(value).strip()  # mapping.clean_str
                    if value:
                        entry.append(f"{open_tag}{escaped_text(value)}{close_tag}")
                if entry:
                    out.append(f"{tag}{''.join(entry)}</t:Entry>")
            return f"{opened}{''.join(out)}{closed}" if out else ""
        return addresses

    def marker(self, name: str) -> Step:
        field, (before, after), version = self.lay.fields[name], self.lay.marker_xml[name], self.version
        if name == "sharing_state":
            value_of = lambda new: (SHARED if new.sharing is Sharing.SHARED  # noqa: E731
                                    else UNSHARED if new.sharing is Sharing.UNSHARED else None)
        else:
            value_of = lambda new, attr=name: getattr(new, attr)  # noqa: E731

        def marker(_fields: Mapping[str, Any], new: _New) -> str:
            value = value_of(new)
            if value is None:
                return ""
            if value.__class__ is not str:
                field.clean(value, version=version)  # the library's error for a value of another type
            return f"{before}{escaped_text(value)}{after}"
        return marker


def _clean_limit(field: Any, version: Any) -> float:
    """The length up to which the field's clean returns a text value as it is (-1: always ask it):
    only the two cleans whose behaviour on text is known, for a field of this version."""
    if not field.supports_version(version):
        return -1
    if type(field).clean is Field.clean:
        return float("inf")
    if type(field).clean is CharField.clean:
        return field.max_length
    return -1


def _add(steps: list[Step], step: Step) -> None:
    """Appends a step; adjacent texts become one."""
    if step.__class__ is str and steps and steps[-1].__class__ is str:
        steps[-1] += step
    else:
        steps.append(step)


def _by_label(slots: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, canonical name) sorted by label, as the library's entries are ordered."""
    if len(set(slots.values())) != len(slots):
        raise RuntimeError("two fields of one contact entry label")
    return sorted((label, canon) for canon, label in slots.items())


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
