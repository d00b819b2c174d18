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


def test_the_create_answer_is_read_as_the_library_reads_it(account):  # noqa: F811
    """Successful messages are read straight to ids; every other message (errors, warnings, no
    items, an item without an id) gives what the library's walk gives, in order."""
    service = PrebuiltCreateItem(account=account, chunk_size=10)
    messages = list(etree.fromstring(_RESPONSE.encode())[0])
    ours = list(service._elems_to_objs(service._get_elements_in_response(messages)))
    theirs = list(service._elems_to_objs(CreateItem._get_elements_in_response(service, messages)))
    assert _outcome(ours) == _outcome(theirs)
    assert ours[0] == create_xml.Created("A1", "C1") and ours[2:4] == [create_xml.Created("A2", None),
                                                                      create_xml.Created(None, None)]
    assert ours[4] is True and isinstance(ours[1], Exception) and ours[-1] == create_xml.Created("A4", "C4")
    # a message whose error the library raises is raised the same, after the messages before it
    raising = list(etree.fromstring(_RESPONSE.replace("ErrorInvalidIdMalformed", "ErrorAccessDenied").encode())[0])
    for walk in (service._get_elements_in_response, lambda m: CreateItem._get_elements_in_response(service, m)):
        seen = []
        with pytest.raises(Exception) as err:
            for r in service._elems_to_objs(walk(raising)):
                seen.append(r)
        assert type(err.value).__name__ == "ErrorAccessDenied" and seen == [create_xml.Created("A1", "C1")]
