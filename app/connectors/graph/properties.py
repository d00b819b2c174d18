"""Our markers as Graph sees them (ews.md 5.1 and 9.2).

The named properties the EWS adapter writes (app/connectors/ews/properties.py: one fixed product
GUID, names WorkbooksCrmId / WorkbooksLinkId / WorkbooksSharing / WorkbooksLease) are the same
MAPI named properties Graph exposes as singleValueExtendedProperties with the ids below, so links
made over EWS survive a switch to Graph (contacts, events, messages). The GUID and names must
never change; a unit test checks they equal the EWS adapter's.

To Do tasks have no extended properties in v1.0: there the markers live in the open extension
EXTENSION_NAME (crmId, linkId, sharing).
"""
from __future__ import annotations

import re

PRODUCT_PROPERTY_SET_GUID = "8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54"  # == ews.properties.PRODUCT_PROPERTY_SET_GUID
CRM_ID_NAME = "WorkbooksCrmId"
LINK_ID_NAME = "WorkbooksLinkId"
SHARING_NAME = "WorkbooksSharing"
LEASE_NAME = "WorkbooksLease"
SLOTS_NAME = "WorkbooksSlots"  # Graph only: which Exchange slots a contact's address/phone lists fill

SHARED = "shared"
UNSHARED = "unshared"


def named(name: str) -> str:
    return f"String {{{PRODUCT_PROPERTY_SET_GUID}}} Name {name}"


CRM_ID = named(CRM_ID_NAME)
LINK_ID = named(LINK_ID_NAME)
SHARING = named(SHARING_NAME)
LEASE = named(LEASE_NAME)
SLOTS = named(SLOTS_NAME)
FAX = "String 0x3A24"  # PidTagBusinessFaxNumber
SENSITIVITY = "Integer 0x0036"  # PidTagSensitivity
SIZE = "Integer 0x0E08"  # PidTagMessageSize

EXTENSION_NAME = "com.workbooks.connector"


def same_id(a: str, b: str) -> bool:
    """Graph echoes property ids with its own spacing/casing (GUIDs lower-case, tags upper)."""
    norm = lambda s: re.sub(r"\s+", " ", s.strip()).lower()  # noqa: E731
    return norm(a) == norm(b)
