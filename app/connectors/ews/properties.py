"""Our extended properties: one fixed product GUID, registered once per process (ews.md 5.1).

* `crm_id`        CRM record id of a linked item (recovery, duplicate detection)
* `link_id`       UUID of the journal link that created/linked the item (crash recovery)
* `sharing_state` "shared" / "unshared"; absent on Native items (interfaces.md section 4)
* `lease_data`    JSON of the mailbox lease (lease item only)

Registration is process-global in exchangelib and a repeated name raises ValueError, so
`register_properties()` is idempotent and guarded by a lock; `deregister_properties()` exists for
tests that want a clean process state.
"""
from __future__ import annotations

import threading

from exchangelib import CalendarItem, Contact, ExtendedProperty, Message, Task

# Fixed forever: changing it would orphan every marker ever written.
PRODUCT_PROPERTY_SET_GUID = "8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54"

SHARED = "shared"
UNSHARED = "unshared"


class CrmIdProperty(ExtendedProperty):
    property_set_id = PRODUCT_PROPERTY_SET_GUID
    property_name = "WorkbooksCrmId"
    property_type = "String"


class LinkIdProperty(ExtendedProperty):
    property_set_id = PRODUCT_PROPERTY_SET_GUID
    property_name = "WorkbooksLinkId"
    property_type = "String"


class SharingStateProperty(ExtendedProperty):
    property_set_id = PRODUCT_PROPERTY_SET_GUID
    property_name = "WorkbooksSharing"
    property_type = "String"


class LeaseDataProperty(ExtendedProperty):
    property_set_id = PRODUCT_PROPERTY_SET_GUID
    property_name = "WorkbooksLease"
    property_type = "String"


ITEM_PROPERTIES: dict[str, type[ExtendedProperty]] = {
    "crm_id": CrmIdProperty,
    "link_id": LinkIdProperty,
    "sharing_state": SharingStateProperty,
}
MODELS = (Contact, Task, CalendarItem, Message)
LEASE_FIELD = "lease_data"

_lock = threading.Lock()
_registered = False


def _is_registered(model: type, name: str, prop: type[ExtendedProperty]) -> bool:
    try:
        field = model.get_field_by_fieldname(name)
    except Exception:  # noqa: BLE001 - exchangelib raises InvalidField (a ValueError) for unknown names
        return False
    return getattr(field, "value_cls", None) is prop


def register_properties() -> None:
    """Register our properties on Contact, Task, CalendarItem and Message; safe to call repeatedly."""
    global _registered
    with _lock:
        if _registered:
            return
        for model in MODELS:
            for name, prop in ITEM_PROPERTIES.items():
                if not _is_registered(model, name, prop):
                    model.register(name, prop)
        if not _is_registered(Message, LEASE_FIELD, LeaseDataProperty):
            Message.register(LEASE_FIELD, LeaseDataProperty)
        _registered = True


def deregister_properties() -> None:
    """Undo `register_properties()` (tests only)."""
    global _registered
    with _lock:
        for model in MODELS:
            for name, prop in ITEM_PROPERTIES.items():
                if _is_registered(model, name, prop):
                    model.deregister(name)
        if _is_registered(Message, LEASE_FIELD, LeaseDataProperty):
            Message.deregister(LEASE_FIELD)
        _registered = False


def properties_registered() -> bool:
    return _registered
