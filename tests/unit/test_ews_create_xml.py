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


def test_the_saved_folder_element_is_the_librarys_each_time(account):  # noqa: F811
    """Built once per folder and id, copied per request: the library's element for a folder named
    by id and for a distinguished folder, a request after another, and again after the id changes."""
    from exchangelib.properties import DistinguishedFolderId, Mailbox
    from exchangelib.services.common import folder_ids_element

    by_id = FolderId(id="F1", changekey="CK")
    distinguished = DistinguishedFolderId(id="contacts", mailbox=Mailbox(email_address="me@x.example"))
    for folder in (by_id, distinguished, by_id, distinguished):
        theirs = folder_ids_element(folders=[folder], version=account.version, tag="m:SavedItemFolderId")
        first = create_xml.saved_folder_element(folder, account.version)
        etree.SubElement(first, "moved")  # a request's copy is its own
        assert etree.tostring(create_xml.saved_folder_element(folder, account.version)) == etree.tostring(theirs)
    by_id.changekey = "CK2"
    theirs = folder_ids_element(folders=[by_id], version=account.version, tag="m:SavedItemFolderId")
    assert b"CK2" in etree.tostring(theirs)
    assert etree.tostring(create_xml.saved_folder_element(by_id, account.version)) == etree.tostring(theirs)


def _same_escaping(value):
    assert escaped_text(value) == safe_xml_value(value).translate(create_xml._TEXT_ESCAPES)
    assert escaped_attribute(value) == safe_xml_value(value).translate(create_xml._ATTR_ESCAPES)


@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_escaping_is_the_old_algorithms(value):
    _same_escaping(value)  # the plain-ASCII shortcut gives what escaping every value the long way gave


def test_escaping_of_awkward_text_is_the_old_algorithms():
    for text in ('a & b <c> "d"', "plain", "tab\there", "cr\r\nlf", "\x01ctl", "K\u00f6ln &", "", "\x7f", "\ufffe"):
        _same_escaping(text)


_RESPONSE = """<m:CreateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>
<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
  <m:Items><t:Contact><t:ItemId Id="A1" ChangeKey="C1"/></t:Contact></m:Items></m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Error"><m:MessageText>Bad value</m:MessageText>
  <m:ResponseCode>ErrorInvalidIdMalformed</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
  <m:Items/></m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
  <m:Items><t:Contact><t:ItemId Id="A2"/></t:Contact><t:Contact/></m:Items></m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items/>
  </m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Warning"><m:MessageText>Partly</m:MessageText>
  <m:ResponseCode>ErrorBatchProcessingStopped</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>ErrorItemSave</m:ResponseCode>
  <m:Items><t:Contact><t:ItemId Id="A3" ChangeKey="C3"/></t:Contact></m:Items></m:CreateItemResponseMessage>
<m:CreateItemResponseMessage ResponseClass="Success"><m:MessageText>x</m:MessageText>
  <m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:ItemId Id="A4" ChangeKey="C4"/></t:Message></m:Items>
  </m:CreateItemResponseMessage>
</m:ResponseMessages></m:CreateItemResponse>"""


def _outcome(results):
    return [(type(r).__name__, str(r)) if isinstance(r, Exception) else r for r in results]


def _services(acct):
    from exchangelib.services import GetItem, UpdateItem

    from app.connectors.ews.folders import _GetItem
    from app.connectors.ews.mailbox import _UpdateItems
    return [(PrebuiltCreateItem(account=acct, chunk_size=10), CreateItem, "CreateItem"),
            (_UpdateItems(account=acct, chunk_size=10), UpdateItem, "UpdateItem"),
            (_GetItem(account=acct, chunk_size=10), GetItem, "GetItem")]


def test_write_and_read_answers_are_walked_as_the_library_walks_them(account):  # noqa: F811
    """Successful messages give their items straight away; every other message (errors, warnings,
    no items, an item without an id) gives what the library's walk gives, in order: the same
    elements, the same exceptions, the same True for an empty create."""
    for service, library, name in _services(account):
        text = _RESPONSE.replace("CreateItem", name)
        messages = list(etree.fromstring(text.encode())[0])
        ours = list(service._get_elements_in_response(messages))
        theirs = list(library._get_elements_in_response(service, messages))
        assert _outcome(ours) == _outcome(theirs), name
        assert sum(isinstance(r, etree._Element) for r in ours) == 4, name
        # a message whose error the library raises is raised the same, after the messages before it
        raising = list(etree.fromstring(text.replace("ErrorInvalidIdMalformed", "ErrorAccessDenied").encode())[0])
        for walk in (service._get_elements_in_response, lambda m: library._get_elements_in_response(service, m)):
            seen = []
            with pytest.raises(Exception) as err:
                for r in walk(raising):
                    seen.append(r)
            assert type(err.value).__name__ == "ErrorAccessDenied" and len(seen) == 1, name


def test_write_answers_read_to_the_same_ids(account):  # noqa: F811
    from exchangelib.items import Item

    create, update, _get = _services(account)
    messages = list(etree.fromstring(_RESPONSE.encode())[0])
    got = list(create[0]._elems_to_objs(create[0]._get_elements_in_response(messages)))
    assert got[0] == create_xml.Created("A1", "C1") and got[2:5] == [create_xml.Created("A2", None),
                                                                     create_xml.Created(None, None), True]
    assert isinstance(got[1], Exception) and got[-1] == create_xml.Created("A4", "C4")
    items = [e for e in update[0]._get_elements_in_response(messages) if isinstance(e, etree._Element)]
    assert [update[0]._elem_to_obj(e) for e in items] == [Item.id_from_xml(e) for e in items]
