"""Raw SOAP against the EWS sandbox, checked with lxml: envelopes, namespaces, response classes,
codes, ids and ChangeKeys, faults."""
from __future__ import annotations

import base64
import http.client
import re

import pytest
from lxml import etree

from app.sandbox.ews import start_ews_sandbox

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": S, "m": M, "t": T, "e": E}
GUID = "5f0b9a3e-6c55-4d3a-9a43-6b2a1e7c0d11"


@pytest.fixture(scope="module")
def sandbox():
    server, sb = start_ews_sandbox(people=20, seed=2, auth=("basic",))
    yield server, sb
    server.stop()


def envelope(body: str, version: str | None = "Exchange2016") -> bytes:
    rsv = f'<t:RequestServerVersion Version="{version}"/>' if version else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}" xmlns:m="{M}" xmlns:t="{T}">'
            f"<s:Header>{rsv}</s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()


def post(sandbox, body: str, version: str | None = "Exchange2016", path=None):
    server, sb = sandbox
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    auth = base64.b64encode(f"{sb.username}:{sb.password}".encode()).decode()
    conn.request("POST", path or sb.endpoint_path, body=envelope(body, version),
                 headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {auth}"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, etree.fromstring(data)


def version_info(root):
    info = root.find(f"{{{S}}}Header/{{{T}}}ServerVersionInfo")
    assert info is not None
    return info


def messages(root, op):
    return root.findall(f"{{{S}}}Body/{{{M}}}{op}Response/{{{M}}}ResponseMessages/{{{M}}}{op}ResponseMessage")


def test_get_folder_envelope_shape(sandbox):
    resp, root = post(sandbox, '<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>'
                               '<m:FolderIds><t:DistinguishedFolderId Id="contacts"/><t:DistinguishedFolderId Id="nope"/>'
                               '</m:FolderIds></m:GetFolder>')
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/xml; charset=utf-8"
    info = version_info(root)
    assert (info.get("MajorVersion"), info.get("MinorVersion"), info.get("MajorBuildNumber"),
            info.get("MinorBuildNumber"), info.get("Version")) == ("15", "1", "2507", "6", "V2017_07_11")
    resp_el = root.find(f"{{{S}}}Body/{{{M}}}GetFolderResponse")
    assert resp_el.nsmap.get("m") == M and resp_el.nsmap.get("t") == T
    ok, bad = messages(root, "GetFolder")
    assert ok.get("ResponseClass") == "Success" and ok.findtext(f"{{{M}}}ResponseCode") == "NoError"
    folder = ok.find(f"{{{M}}}Folders/{{{T}}}ContactsFolder")
    fid = folder.find(f"{{{T}}}FolderId")
    assert fid.get("Id") and fid.get("ChangeKey")
    assert folder.findtext(f"{{{T}}}FolderClass") == "IPF.Contact"
    assert [etree.QName(c).localname for c in folder][:6] == [
        "FolderId", "ParentFolderId", "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount"]
    assert bad.get("ResponseClass") == "Error"
    assert bad.findtext(f"{{{M}}}ResponseCode") == "ErrorFolderNotFound" and bad.findtext(f"{{{M}}}MessageText")


def test_all_distinguished_folders_exist(sandbox):
    names = ["msgfolderroot", "root", "inbox", "sentitems", "drafts", "deleteditems", "junkemail", "outbox",
             "contacts", "calendar", "tasks", "recoverableitemsdeletions"]
    ids = "".join(f'<t:DistinguishedFolderId Id="{n}"><t:Mailbox><t:EmailAddress>user@example.com</t:EmailAddress>'
                  f'</t:Mailbox></t:DistinguishedFolderId>' for n in names)
    _resp, root = post(sandbox, f'<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
                                f'<m:FolderIds>{ids}</m:FolderIds></m:GetFolder>', version=None)
    assert [m.findtext(f"{{{M}}}ResponseCode") for m in messages(root, "GetFolder")] == ["NoError"] * len(names)


def _find_contacts(sandbox, extra=""):
    return post(sandbox, '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                         f'{extra}</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="2" Offset="1" BasePoint="Beginning"/>'
                         '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>')


def test_find_item_paging_ids_and_change_keys(sandbox):
    _server, sb = sandbox
    total = len(sb.items("contacts"))
    _resp, root = _find_contacts(sandbox)
    (msg,) = messages(root, "FindItem")
    rf = msg.find(f"{{{M}}}RootFolder")
    assert (rf.get("IndexedPagingOffset"), rf.get("TotalItemsInView"), rf.get("IncludesLastItemInRange")) == (
        "3", str(total), "true" if total <= 3 else "false")
    items = rf.findall(f"{{{T}}}Items/{{{T}}}Contact")
    assert len(items) == 2
    for it in items:
        assert [etree.QName(c).localname for c in it] == ["ItemId"]  # IdOnly
        iid = it.find(f"{{{T}}}ItemId")
        assert re.fullmatch(r"[A-Za-z0-9_\-]+=*", iid.get("Id")) and 140 <= len(iid.get("Id")) <= 160
        assert base64.b64decode(iid.get("ChangeKey"))[:4] == b"\x09\x00\x00\x00"


def test_get_item_schema_order_foreign_fields_and_extended_echo(sandbox):
    _server, sb = sandbox
    cid = sb.add_item("contacts", "Contact", {"GivenName": "Ord", "Surname": "Er", "DisplayName": "Ord Er",
                                             "CompanyName": "Co", "Categories": ["Workbooks"]})
    sb.set_extended(cid, "PER-1", PropertySetId=GUID, PropertyName="CrmId", PropertyType="String")
    fields = "".join(f'<t:FieldURI FieldURI="{u}"/>' for u in (
        "contacts:Surname", "item:Subject", "task:DueDate", "calendar:Start", "contacts:GivenName",
        "item:Categories", "contacts:CompanyName", "item:ItemClass", "item:LastModifiedTime", "message:IsRead"))
    ext = (f'<t:ExtendedFieldURI PropertySetId="{GUID.upper()}" PropertyName="CrmId" PropertyType="String"/>'
           '<t:ExtendedFieldURI PropertyTag="0x3001" PropertyType="String"/>'
           '<t:ExtendedFieldURI PropertyTag="12289" PropertyType="String"/>')
    _resp, root = post(sandbox, f'<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
                                f'{fields}{ext}{fields}</t:AdditionalProperties></m:ItemShape>'
                                f'<m:ItemIds><t:ItemId Id="{cid}"/></m:ItemIds></m:GetItem>')
    (msg,) = messages(root, "GetItem")
    contact = msg.find(f"{{{M}}}Items/{{{T}}}Contact")
    names = [etree.QName(c).localname for c in contact]
    assert names == ["ItemId", "ItemClass", "Subject", "Categories", "ExtendedProperty", "ExtendedProperty",
                     "ExtendedProperty", "LastModifiedTime", "GivenName", "CompanyName", "Surname"]
    exts = contact.findall(f"{{{T}}}ExtendedProperty")
    assert dict(exts[0].find(f"{{{T}}}ExtendedFieldURI").attrib) == {
        "PropertySetId": GUID.upper(), "PropertyName": "CrmId", "PropertyType": "String"}
    assert exts[0].findtext(f"{{{T}}}Value") == "PER-1"
    assert exts[1].find(f"{{{T}}}ExtendedFieldURI").get("PropertyTag") == "0x3001"
    assert exts[1].findtext(f"{{{T}}}Value") == "Ord Er" and exts[2].findtext(f"{{{T}}}Value") == "Ord Er"


def test_convert_id_probe_and_conversion(sandbox):
    _server, sb = sandbox
    cid = sb.item_ids("contacts")[0]
    body = ('<m:ConvertId DestinationFormat="EntryId"><m:SourceIds>'
            '<t:AlternateId Format="EwsId" Id="DUMMY" Mailbox="DUMMY"/>'
            f'<t:AlternateId Format="EwsId" Id="{cid}" Mailbox="someone@else.example"/>'
            '</m:SourceIds></m:ConvertId>')
    resp, root = post(sandbox, body)
    version_info(root)
    bad, ok = messages(root, "ConvertId")
    assert bad.get("ResponseClass") == "Error" and bad.findtext(f"{{{M}}}ResponseCode") == "ErrorInvalidIdMalformed"
    alt = ok.find(f"{{{M}}}AlternateId")
    assert alt.get("Format") == "EntryId" and alt.get("Mailbox") == "user@example.com"
    back = ('<m:ConvertId DestinationFormat="EwsId"><m:SourceIds>'
            f'<t:AlternateId Format="EntryId" Id="{alt.get("Id")}" Mailbox="user@example.com"/>'
            '</m:SourceIds></m:ConvertId>')
    _resp, root = post(sandbox, back)
    assert messages(root, "ConvertId")[0].find(f"{{{M}}}AlternateId").get("Id") == cid


def test_faults_unknown_operation_and_malformed(sandbox):
    resp, root = post(sandbox, "<m:FrobnicateItem/>")
    assert resp.status == 500
    fault = root.find(f"{{{S}}}Body/{{{S}}}Fault")
    assert fault.find("detail").findtext(f"{{{E}}}ResponseCode") == "ErrorInvalidRequest"
    version_info(root)
    server, sb = sandbox
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    auth = base64.b64encode(f"{sb.username}:{sb.password}".encode()).decode()
    conn.request("POST", sb.endpoint_path, body=b"<not xml", headers={"Authorization": f"Basic {auth}"})
    r = conn.getresponse()
    root = etree.fromstring(r.read())
    assert r.status == 500
    assert root.find(f".//{{{E}}}ResponseCode").text == "ErrorSchemaValidation"


def test_busy_fault_shape(sandbox):
    _server, sb = sandbox
    sb.fail_operation("GetFolder", "busy", 1)
    resp, root = post(sandbox, '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
                               '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>')
    assert resp.status == 500
    fault = root.find(f"{{{S}}}Body/{{{S}}}Fault")
    assert fault.findtext("faultcode").endswith("ErrorServerBusy")
    detail = fault.find("detail")
    assert detail.findtext(f"{{{E}}}Message") == "The server cannot service this request right now. Try again later."
    value = detail.find(f"{{{T}}}MessageXml/{{{T}}}Value")
    assert value.get("Name") == "BackOffMilliseconds" and int(value.text) > 0


def test_sync_error_still_carries_state_and_last_flag(sandbox):
    _resp, root = post(sandbox, '<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                                '<m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>'
                                '<m:SyncState>Zm9v</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned>'
                                '</m:SyncFolderItems>')
    (msg,) = messages(root, "SyncFolderItems")
    assert msg.get("ResponseClass") == "Error"
    assert msg.findtext(f"{{{M}}}ResponseCode") == "ErrorInvalidSyncStateData"
    assert msg.find(f"{{{M}}}SyncState") is not None and msg.find(f"{{{M}}}IncludesLastItemInRange") is not None


def test_update_conflict_and_success_shapes(sandbox):
    _server, sb = sandbox
    cid = sb.add_item("contacts", "Contact", {"GivenName": "Up", "DisplayName": "Up"})
    current = sb.describe(cid)["change_key"]
    stale = sb.bump_change_key(cid) and current

    def update(ck, resolution):
        return post(sandbox, f'<m:UpdateItem ConflictResolution="{resolution}" MessageDisposition="SaveOnly">'
                             f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{cid}" ChangeKey="{ck}"/><t:Updates>'
                             '<t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact>'
                             '<t:JobTitle>Boss</t:JobTitle></t:Contact></t:SetItemField>'
                             '<t:SetItemField><t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" FieldIndex="Home"/>'
                             '<t:Contact><t:PhysicalAddresses><t:Entry Key="Home"><t:City>Bath</t:City></t:Entry>'
                             '</t:PhysicalAddresses></t:Contact></t:SetItemField>'
                             '<t:SetItemField><t:FieldURI FieldURI="task:Status"/><t:Task><t:Status>Completed</t:Status>'
                             '</t:Task></t:SetItemField>'
                             '</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>')[1]
    root = update(stale, "NeverOverwrite")
    (msg,) = messages(root, "UpdateItem")
    assert msg.get("ResponseClass") == "Error" and msg.findtext(f"{{{M}}}ResponseCode") == "ErrorIrresolvableConflict"
    assert "change key" in msg.findtext(f"{{{M}}}MessageText")
    root = update(stale, "AlwaysOverwrite")
    (msg,) = messages(root, "UpdateItem")
    assert msg.get("ResponseClass") == "Success"
    new = msg.find(f"{{{M}}}Items/{{{T}}}Contact/{{{T}}}ItemId")
    assert new.get("Id") == cid and new.get("ChangeKey") not in (current, stale)
    assert msg.findtext(f"{{{M}}}ConflictResults/{{{T}}}Count") == "0"
    props = sb.describe(cid)["props"]
    assert props["JobTitle"] == "Boss" and props["PhysicalAddresses"] == {"Home": {"City": "Bath"}}
    assert "Status" not in props  # foreign FieldURI skipped


def test_naive_datetimes_are_local_to_the_time_zone_context(sandbox):
    _server, sb = sandbox
    body = ('<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
            '<t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>'
            '<t:Subject>Naive</t:Subject><t:Start>2026-07-01T10:00:00</t:Start><t:End>2026-07-01T11:00:00</t:End>'
            '</t:CalendarItem></m:Items></m:CreateItem>')
    server, _ = sandbox
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    auth = base64.b64encode(f"{sb.username}:{sb.password}".encode()).decode()
    env = (f'<s:Envelope xmlns:s="{S}" xmlns:m="{M}" xmlns:t="{T}"><s:Header>'
           '<t:RequestServerVersion Version="Exchange2016"/><t:TimeZoneContext>'
           '<t:TimeZoneDefinition Id="Pacific Standard Time"/></t:TimeZoneContext></s:Header>'
           f'<s:Body>{body}</s:Body></s:Envelope>').encode()
    conn.request("POST", sb.endpoint_path, body=env, headers={"Authorization": f"Basic {auth}"})
    root = etree.fromstring(conn.getresponse().read())
    item_id = root.find(f".//{{{T}}}ItemId").get("Id")
    assert sb.describe(item_id)["props"]["Start"] == "2026-07-01T17:00:00Z"


def test_restriction_and_sort_on_mapi_aliases(sandbox):
    _server, sb = sandbox
    for name in ("Zoe", "Adam", "Mia"):
        sb.add_item("contacts", "Contact", {"GivenName": name, "Surname": "Alias", "DisplayName": f"{name} Alias"})
    body = ('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
            '<t:ExtendedFieldURI PropertyTag="0x3a06" PropertyType="String"/>'
            '<t:ExtendedFieldURI PropertyTag="0x0E23" PropertyType="Integer"/></t:AdditionalProperties></m:ItemShape>'
            '<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI PropertyTag="0x3A11" PropertyType="String"/>'
            '<t:FieldURIOrConstant><t:Constant Value="alias"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>'
            '<m:SortOrder><t:FieldOrder Order="Ascending"><t:ExtendedFieldURI PropertyTag="14854" PropertyType="String"/>'
            '</t:FieldOrder></m:SortOrder>'
            '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>')
    _resp, root = post(sandbox, body)
    contacts = root.findall(f".//{{{T}}}Contact")
    given = [c.find(f"{{{T}}}ExtendedProperty/{{{T}}}Value").text for c in contacts]
    assert given == ["Adam", "Mia", "Zoe"]
    uris = [c.findall(f"{{{T}}}ExtendedProperty")[0].find(f"{{{T}}}ExtendedFieldURI").get("PropertyTag") for c in contacts]
    assert uris == ["0x3a06"] * 3  # echoed as the request spelled it
    numbers = [int(c.findall(f"{{{T}}}ExtendedProperty")[1].findtext(f"{{{T}}}Value")) for c in contacts]
    assert all(n > 0 for n in numbers) and len(set(numbers)) == 3


def test_body_type_conversion_gzip_and_chunked_requests(sandbox):
    import gzip

    server, sb = sandbox
    cid = sb.add_item("contacts", "Contact", {"GivenName": "Body", "DisplayName": "Body",
                                             "Body": ("HTML", "<p>Hello &amp; welcome</p>")})
    for body_type, expect in (("Text", "Hello & welcome"), ("HTML", "<p>Hello &amp; welcome</p>")):
        _resp, root = post(sandbox, f'<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                                    f'<t:BodyType>{body_type}</t:BodyType><t:AdditionalProperties>'
                                    '<t:FieldURI FieldURI="item:Body"/></t:AdditionalProperties></m:ItemShape>'
                                    f'<m:ItemIds><t:ItemId Id="{cid}"/></m:ItemIds></m:GetItem>')
        body = root.find(f".//{{{T}}}Body")
        assert body.get("BodyType") == body_type and body.text == expect
    # gzip for clients that ask, chunked request bodies accepted
    raw = envelope('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>'
                   '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>')
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    auth = base64.b64encode(f"{sb.username}:{sb.password}".encode()).decode()
    conn.putrequest("POST", sb.endpoint_path, skip_accept_encoding=True)
    for k, v in (("Authorization", f"Basic {auth}"), ("Content-Type", "text/xml; charset=utf-8"),
                 ("Transfer-Encoding", "chunked"), ("Accept-Encoding", "gzip")):
        conn.putheader(k, v)
    conn.endheaders()
    for i in range(0, len(raw), 100):
        part = raw[i:i + 100]
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip", (len(data), data[:300])
    root = etree.fromstring(gzip.decompress(data))
    assert root.find(f".//{{{M}}}ResponseCode").text == "NoError"
