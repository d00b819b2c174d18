"""A contact's current values as the batched writes read them, straight from a GetItem answer.

`EwsMailbox.update_many` and `set_sharing_many` read each contact before writing it: the
indexed-field merges, the notes block and the display name need its present values, the sharing
change its categories. exchangelib turns each answer into a full Contact: about 80 fields set
through the model's checking `__setattr__`, every e-mail, phone and address entry parsed as an
element object, the modification time through strptime. For the few hundred contacts a first
sync links that was most of the 0.8-1 ms each of these writes cost, ten times a create.

`CurrentContact` holds only what `mapping.write_person` / `read_person` / `apply_markers` /
`to_outlook_item` read and set (mapping.ONLY_FIELDS of a person), each
value as the library's own `from_xml` gives it: text or None, entries with the library's
attribute names (label, email / phone_number / street...), a Body or HTMLBody, the categories'
strings, the marker properties' text. The update request is built from it by
update_xml.CachedPathUpdateItem with the Contact model's own fields, so the bytes sent are the
library's (tests/unit/test_ews_current_contact.py compares values and requests). The change
feed's reads of contacts (EwsMailbox._fetch_mapped) map it to the same OutlookItem as the
library's Contact.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from exchangelib import Contact
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import ExtendedPropertyField
from exchangelib.properties import Body, ExtendedFieldURI, HTMLBody, ItemId
from exchangelib.util import TNS, create_element

from app.connectors.ews import mapping


class EmailEntry(NamedTuple):
    label: str | None
    email: str | None


class PhoneEntry(NamedTuple):
    label: str | None
    phone_number: str | None


class AddressEntry(NamedTuple):
    label: str | None
    street: str | None
    city: str | None
    state: str | None
    country: str | None
    zipcode: str | None


_TEXT = ("display_name", "given_name", "middle_name", "surname", "generation", "job_title", "company_name",
         "business_homepage", "spouse_name")
_MARKERS = ("crm_id", "link_id", "sharing_state")
_LISTS = ("email_addresses", "phone_numbers", "physical_addresses", "categories")
_SET_FIELDS = _TEXT + _LISTS + ("body",) + _MARKERS  # the ones the writers may set
FIELD_NAMES = _SET_FIELDS + ("last_modified_time",)
if set(FIELD_NAMES) != set(mapping.ONLY_FIELDS[mapping.Kind.PERSON]):
    raise RuntimeError("CurrentContact must read the fields the person mapper reads")


class CurrentContact:
    """The fields of one contact a batched write reads and sets (see the module's doc); `MODEL`
    tells the request builder which exchangelib model's fields these are."""

    MODEL = Contact
    __slots__ = ("id", "changekey", "account", "_modified_text", *_SET_FIELDS)

    def __init__(self, item_id: str | None, changekey: str | None, values: dict[str, Any], account: Any = None):
        self.id = item_id
        self.changekey = changekey
        self.account = account
        self._modified_text = values.get("last_modified_time")
        for name in _SET_FIELDS:
            setattr(self, name, values.get(name))

    @property
    def last_modified_time(self) -> Any:
        """Read when asked (the change feed maps it, the writes never do), as the library reads it."""
        holder = create_element(f"t:{Contact.ELEMENT_NAME}")
        if self._modified_text is not None:
            modified = create_element(_MODIFIED_FIELD.request_tag())
            modified.text = self._modified_text
            holder.append(modified)
        return _MODIFIED_FIELD.from_xml(elem=holder, account=self.account)

    @property
    def _id(self) -> ItemId | None:
        """The id as an item's `_id` (an ItemId, None without an id), settable like an item's."""
        return None if self.id is None and self.changekey is None else ItemId(self.id, self.changekey)

    @_id.setter
    def _id(self, value: ItemId | None) -> None:
        self.id, self.changekey = (None, None) if value is None else (value.id, value.changekey)


def _t(name: str) -> str:
    return f"{{{TNS}}}{name}"


_TEXT_TAGS = {Contact.get_field_by_fieldname(n).response_tag(): n for n in _TEXT}
_EMAILS, _PHONES, _ADDRESSES = (Contact.get_field_by_fieldname(n).response_tag() for n in _LISTS[:3])
_CATEGORIES = Contact.get_field_by_fieldname("categories").response_tag()
_BODY = Contact.get_field_by_fieldname("body").response_tag()
_MODIFIED_FIELD = Contact.get_field_by_fieldname("last_modified_time")
_MODIFIED = _MODIFIED_FIELD.response_tag()
_ITEM_ID = ItemId.response_tag()
_EXTENDED = ExtendedProperty.response_tag()
_URI = ExtendedFieldURI.response_tag()
_ENTRY, _STRING, _VALUE = _t("Entry"), _t("String"), _t("Value")
_ADDRESS_PARTS = {_t("Street"): 1, _t("City"): 2, _t("State"): 3, _t("CountryOrRegion"): 4, _t("PostalCode"): 5}
_BODIES = {Body.body_type: Body, HTMLBody.body_type: HTMLBody}
# which of our marker fields an ExtendedFieldURI's attributes name (None: none of them), decided
# by the library's own matching once per distinct URI
_MARKER_OF_URI: dict[tuple[Any, ...], str | None] = {}


def read_current_contact(elem: Any, account: Any) -> CurrentContact:
    """A GetItem answer's `t:Contact` element (asked for mapping.ONLY_FIELDS) as a CurrentContact."""
    values: dict[str, Any] = {}
    id_elem = None
    for child in elem:
        tag = child.tag
        name = _TEXT_TAGS.get(tag)
        if name is not None:
            if name not in values:  # the library reads the first element of a tag
                values[name] = child.text or None
        elif tag == _EXTENDED:
            _read_marker(child, values)
        elif tag in values:
            continue
        elif tag == _ITEM_ID:
            if id_elem is None:
                id_elem = child
        elif tag == _EMAILS:
            values[tag] = [EmailEntry(e.get("Key"), e.text or e.get("Name")) for e in child.iterchildren(_ENTRY)]
        elif tag == _PHONES:
            values[tag] = [PhoneEntry(e.get("Key"), e.text) for e in child.iterchildren(_ENTRY)]
        elif tag == _ADDRESSES:
            values[tag] = [_address(e) for e in child.iterchildren(_ENTRY)]
        elif tag == _CATEGORIES:
            values[tag] = [s.text for s in child.iterchildren(_STRING) if s.text is not None]
        elif tag == _BODY:
            text = child.text or None
            values[tag] = None if text is None else _BODIES[child.get("BodyType")](text)
        elif tag == _MODIFIED:
            values[tag] = child.text  # (its reading: CurrentContact.last_modified_time)
    for name, tag in (("email_addresses", _EMAILS), ("phone_numbers", _PHONES),
                      ("physical_addresses", _ADDRESSES), ("categories", _CATEGORIES), ("body", _BODY),
                      ("last_modified_time", _MODIFIED)):
        values[name] = values.pop(tag, None)
    if id_elem is None:
        return CurrentContact(None, None, values, account)
    # (ItemId's attribute fields read an empty attribute as None)
    return CurrentContact(id_elem.get("Id") or None, id_elem.get("ChangeKey") or None, values, account)


def _address(entry: Any) -> AddressEntry:
    parts: list[Any] = [entry.get("Key"), None, None, None, None, None]
    for part in entry:
        n = _ADDRESS_PARTS.get(part.tag)
        if n is not None and parts[n] is None:
            parts[n] = part.text or None
    return AddressEntry(*parts)


def _read_marker(prop: Any, values: dict[str, Any]) -> None:
    # (the property's two children by a look at each: an ElementPath find costs several us)
    uri = value = None
    for child in prop:
        tag = child.tag
        if tag == _URI and uri is None:
            uri = child
        elif tag == _VALUE and value is None:
            value = child
    key = None if uri is None else tuple(uri.items())  # (spelled as written: the same few every time)
    if key not in _MARKER_OF_URI:
        name = None
        for candidate in _MARKERS:
            field = Contact.get_field_by_fieldname(candidate)
            if isinstance(field, ExtendedPropertyField) and field.value_cls.is_property_instance(prop):
                name = candidate
                break
        if len(_MARKER_OF_URI) < 4096:
            _MARKER_OF_URI[key] = name
    else:
        name = _MARKER_OF_URI[key]
    if name is not None and name not in values:  # the first matching property, as the library reads it
        values[name] = (value.text if value is not None else None) or ""
