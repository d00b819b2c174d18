"""The create path's serialiser (app/connectors/ews/create_xml.py) sends exactly the XML that
exchangelib's own `to_xml` builds, for every kind and every field the mapping writes. No sockets."""
from __future__ import annotations

import pytest
from exchangelib.properties import FolderId
from exchangelib.services import CreateItem
from exchangelib.util import safe_xml_value
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from app.connectors.ews import create_xml, mapping
from app.connectors.ews.create_xml import PrebuiltCreateItem, escaped_attribute, escaped_text, item_element
from app.domain.records import Kind, Sharing
from tests.unit.test_ews_mapping import FULL_PERSON, account  # noqa: F401 - the module's account fixture

TASK = {"subject": "Call Ann", "description": "About the quote", "status": "In progress", "priority": "high",
        "due_date": "2025-06-01", "start_date": "2025-05-20", "percent_complete": 40}
MEETING = {"subject": "Review", "description": "Quarterly", "location": "Room 1", "all_day": False,
           "start": "2025-06-02T09:00:00+01:00", "end": "2025-06-02T10:00:00+01:00"}
ALL_DAY = {"subject": "Offsite", "all_day": True, "start_date": "2025-06-03", "end_date": "2025-06-04"}
SPARSE_PERSON = {"first_name": "Bo", "email1": "bo@x.example"}


def _new(kind, fields, acct):
    item = mapping.new_item(kind, fields, related="Opportunity OPP-1" if kind is Kind.PERSON else None,
                            default_zone=acct.default_timezone, account=acct, folder=None)
    mapping.apply_markers(item, sharing=Sharing.SHARED, crm_id="42", link_id="link-1")
    item.clean(version=acct.version)
    return item


@pytest.mark.parametrize("kind, fields", [(Kind.PERSON, FULL_PERSON), (Kind.PERSON, SPARSE_PERSON),
                                          (Kind.TASK, TASK), (Kind.MEETING, MEETING), (Kind.MEETING, ALL_DAY)])
def test_item_element_is_the_librarys_xml(account, kind, fields):  # noqa: F811
    ours = etree.tostring(item_element(_new(kind, fields, account), account.version))
    theirs = etree.tostring(_new(kind, fields, account).to_xml(version=account.version))
    assert ours == theirs
    assert b"link-1" in ours  # the markers are in it, not only the plain fields


def test_prebuilt_request_matches_create_item_payload(account):  # noqa: F811
    folder = FolderId(id="F1", changekey="CK")  # no request: the folder is named by id
    items = [_new(Kind.PERSON, dict(FULL_PERSON, first_name=f"P{i}"), account) for i in range(3)]
    kw = dict(folder=folder, message_disposition="SaveOnly", send_meeting_invitations="SendToNone")
    theirs = CreateItem(account=account).get_payload(items=items, **kw)
    ours = PrebuiltCreateItem(account=account).get_payload(items=[item_element(i, account.version) for i in items], **kw)
    assert etree.tostring(ours) == etree.tostring(theirs)


def _same_escaping(value):
    assert escaped_text(value) == safe_xml_value(value).translate(create_xml._TEXT_ESCAPES)
    assert escaped_attribute(value) == safe_xml_value(value).translate(create_xml._ATTR_ESCAPES)


@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_escaping_is_the_old_algorithms(value):
    _same_escaping(value)  # the plain-ASCII shortcut gives what escaping every value the long way gave


def test_escaping_of_awkward_text_is_the_old_algorithms():
    for text in ('a & b <c> "d"', "plain", "tab\there", "cr\r\nlf", "\x01ctl", "K\u00f6ln &", "", "\x7f", "\ufffe"):
        _same_escaping(text)
