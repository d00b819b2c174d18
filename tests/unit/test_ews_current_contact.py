"""The batched writes' lean path (app/connectors/ews/current_contact.py + update_xml) against
exchangelib's own: a GetItem answer's contact reads to the values the library's Contact holds,
and updating or re-sharing it sends the UpdateItem request byte for byte as the library's
UpdateItem built from the library's Contact does (merged phones, e-mails and addresses, names,
the notes block, markers and categories, awkward text). The GetItem request with its ids written
as bytes is the library's too. No sockets."""
from __future__ import annotations

import copy

import pytest
from exchangelib import Contact
from exchangelib.properties import ItemId
from exchangelib.services import GetItem, UpdateItem
from exchangelib.util import create_element

from app.connectors.ews import mapping
from app.connectors.ews.current_contact import FIELD_NAMES, read_current_contact
from app.connectors.ews.folders import FolderSet, _GetItem, field_paths
from app.connectors.ews.mailbox import _UpdateItems
from app.connectors.ews.properties import register_properties
from app.domain.fields import PERSON_FIELDS
from app.domain.records import SHARE_CATEGORY, Kind, Sharing
from tests.unit.test_ews_mapping import FULL_PERSON, ME, account  # noqa: F401 - the module's account fixture

KW = dict(conflict_resolution="NeverOverwrite", message_disposition="SaveOnly",
          send_meeting_invitations_or_cancellations="SendToNone", suppress_read_receipts=True)
AWKWARD = dict(FULL_PERSON, first_name="a\r\nb & <c>", job_title='"q"', notes="x\ry & <z>", business_city="K\u00f6ln\r\n& <x>",
               mobile_phone="1 & 2 <3>\x01", home_street="\ue000slot\ue000", email2="o'neil&co@x.example")
SPARSE = {"first_name": "Bo", "email2": "bo@x.example", "home_city": "York", "mobile_phone": "1"}


def _answer(fields, account, n, *, related=None, categories=None, sharing=Sharing.SHARED, html=False):
    """A contact as a GetItem answer element holds it (the request format of the same fields)."""
    register_properties()
    item = mapping.new_item(Kind.PERSON, fields, related=related, default_zone=account.default_timezone, account=account)
    mapping.apply_markers(item, sharing=sharing, crm_id=f"{n}", link_id=f"link-{n}")
    if categories is not None:
        item.categories = categories
    if html and item.body is not None:
        from exchangelib import HTMLBody
        item.body = HTMLBody(f"<p>{item.body}</p>")
    item.clean(version=account.version)
    elem = item.to_xml(version=account.version)
    elem.insert(0, ItemId(f"ID{n}&<\"", f"CK{n}").to_xml(version=account.version))
    return elem


def _theirs(elem, account):
    return Contact.from_xml(elem=copy.deepcopy(elem), account=account)


def _entries(value):
    if value is None:
        return None
    return [tuple(getattr(e, f) for f in type(e)._fields) if isinstance(e, tuple) else
            (e.label, *(getattr(e, s.name) for s in type(e).FIELDS if s.name != "label")) for e in value]


def _same_values(mine, theirs):
    assert (mine.id, mine.changekey) == (theirs.id, theirs.changekey)
    for name in FIELD_NAMES:
        a, b = getattr(mine, name), getattr(theirs, name)
        if name in ("email_addresses", "phone_numbers", "physical_addresses"):
            assert _entries(a) == _entries(b), name
        else:
            assert (type(a), a) == (type(b), b), name


CASES = [
    (FULL_PERSON, {}), (SPARSE, {}), (AWKWARD, {"related": "Case C-1 & <x>"}), ({}, {}),
    (FULL_PERSON, {"categories": ["Red", SHARE_CATEGORY, "Blue & <Green>"], "html": True}),
    (SPARSE, {"sharing": Sharing.UNSHARED, "categories": ["Only"]}),
]


def test_an_answer_reads_to_the_librarys_values(account):  # noqa: F811
    for n, (fields, kw) in enumerate(CASES):
        elem = _answer(fields, account, n, **kw)
        _same_values(read_current_contact(copy.deepcopy(elem), account), _theirs(elem, account))


def test_odd_answers_read_as_the_library_reads_them(account):  # noqa: F811
    elem = _answer(FULL_PERSON, account, 1)
    t = "{http://schemas.microsoft.com/exchange/services/2006/types}"
    emails = elem.find(f"{t}EmailAddresses")
    emails[0].text = None
    emails[0].set("Name", "by-name@x.example")  # Exchange sometimes keeps the address in Name only
    elem.find(f"{t}JobTitle").text = None  # present but empty
    elem.append(copy.deepcopy(elem.find(f"{t}GivenName")))  # a second element of a tag: the first counts
    elem.find(f"{t}GivenName").text = "First"
    cats = create_element("t:Categories")
    for text in ("A", None, "B"):
        s = create_element("t:String")
        s.text = text
        cats.append(s)
    elem.append(cats)
    address = elem.find(f"{t}PhysicalAddresses")[0]
    address.find(f"{t}City").text = None
    props = elem.findall(f"{t}ExtendedProperty")
    props[0].find(f"{t}Value").text = None  # a marker present with no text reads as ""
    elem.append(copy.deepcopy(props[1]))  # a repeated marker: the first counts
    elem.findall(f"{t}ExtendedProperty")[-1].find(f"{t}Value").text = "later"
    _same_values(read_current_contact(copy.deepcopy(elem), account), _theirs(elem, account))
    bare = create_element("t:Contact")  # nothing but the element: every value absent
    _same_values(read_current_contact(copy.deepcopy(bare), account), _theirs(bare, account))


UPDATES = [
    ({"business_city", "business_country", "business_phone", "job_title", "mobile_phone"}, None),  # a first sync's
    ({"business_city", "business_country", "business_phone", "email2", "job_title", "mobile_phone"}, None),
    (set(PERSON_FIELDS), "Case C-2"),
    ({"first_name", "notes"}, None),
    ({"email1", "email2", "email3", "home_street", "business_street"}, ""),
    ({"mobile_phone", "business_fax", "home_phone", "business_phone2"}, None),
    ({"website", "company", "spouse_name", "suffix", "middle_name"}, None),
]


def _request(service, changes):
    return service.wrap(service.get_payload(items=changes, **KW), api_version="Exchange2016")


def _update(item, values, changed, related, version_key):
    names = mapping.write_person(item, values, changed, related, replace_related=related is not None)
    item._id = ItemId(item.id, version_key)
    return list(dict.fromkeys(names))


def test_update_and_sharing_requests_are_the_librarys(account):  # noqa: F811
    answers = [_answer(fields, account, n, **kw) for n, (fields, kw) in enumerate(CASES)]
    for values in (FULL_PERSON, AWKWARD, SPARSE, dict.fromkeys(PERSON_FIELDS)):  # (all None: every field cleared)
        for changed, related in UPDATES:
            theirs_items, mine_bytes = [], []
            for n, elem in enumerate(answers):
                theirs = _theirs(elem, account)
                mine = read_current_contact(copy.deepcopy(elem), account)
                theirs_items.append((theirs, _update(theirs, values, changed, related, f"stored{n}")))
                names = _update(mine, values, changed, related, f"stored{n}")
                assert names == theirs_items[-1][1]
                mine_bytes.append(_UpdateItems(account=account).change_bytes(mine, names))
            assert _request(_UpdateItems(account=account), mine_bytes) == _request(UpdateItem(account=account), theirs_items)
    for sharing, crm_id, link_id in ((Sharing.SHARED, "7", "l-7"), (Sharing.UNSHARED, None, "a & <b>\r"),
                                     (None, "", None)):
        theirs_items, mine_bytes = [], []
        for elem in answers:
            theirs, mine = _theirs(elem, account), read_current_contact(copy.deepcopy(elem), account)
            for item, out in ((theirs, None), (mine, mine_bytes)):
                names = mapping.apply_markers(item, sharing=sharing, crm_id=crm_id, link_id=link_id)
                item._id = ItemId(item.id, "stored")
                if out is None:
                    theirs_items.append((item, names))
                else:
                    out.append(_UpdateItems(account=account).change_bytes(item, names))
        ours = _request(_UpdateItems(account=account), mine_bytes)
        assert ours == _request(UpdateItem(account=account), theirs_items)
        assert ours.count(b"<t:ItemChange>") == len(answers)


def test_a_value_the_library_refuses_is_refused_the_same(account):  # noqa: F811
    elem = _answer(FULL_PERSON, account, 1)
    for item in (_theirs(elem, account), read_current_contact(copy.deepcopy(elem), account)):
        names = _update(item, {"middle_name": "x" * 300}, {"middle_name"}, None, "k")
        with pytest.raises(ValueError, match="exceeds length"):
            _UpdateItems(account=account).change_bytes(item, names)


def test_getitem_request_is_the_librarys(account):  # noqa: F811
    folder = FolderSet(account).get(Kind.PERSON)
    fields = field_paths(folder, mapping.ONLY_FIELDS[Kind.PERSON])
    ids = [("AAMk-1_x==", "CQAAAB"), ('odd & <"id">\r\n', None), ("AAMk-3", "")]
    for _ in range(2):  # the second request reuses the shape made for the first
        mine = _GetItem(account=account)
        theirs = GetItem(account=account)
        ours = mine.wrap(mine.get_payload(items=ids, additional_fields=fields, shape="IdOnly"), api_version="Exchange2016")
        assert ours == theirs.wrap(theirs.get_payload(items=[ItemId(*i) for i in ids], additional_fields=fields,
                                                      shape="IdOnly"), api_version="Exchange2016")
        assert ours.count(b"<t:ItemId ") == 3 and b"IndexedFieldURI" in ours


def test_update_answers_read_as_the_library_reads_them(account):  # noqa: F811
    answers = [create_element("t:Contact"), create_element("t:Task")]
    answers[0].append(ItemId("ID1", "CK1").to_xml(version=account.version))
    answers[1].append(create_element("t:ItemId", attrs={"Id": "ID2"}))  # no ChangeKey
    answers.append(create_element("t:Contact"))  # no ItemId at all
    for elem in answers:
        assert _UpdateItems(account=account)._elem_to_obj(elem) == UpdateItem(account=account)._elem_to_obj(elem)


def test_the_change_feed_maps_a_lean_contact_as_the_librarys(account):  # noqa: F811
    stamps = ("2026-11-26T10:20:29Z", "2026-03-29T01:30:00+01:00", "2026-11-26T10:20:29", None)
    for n, ((fields, kw), stamp) in enumerate(zip(CASES * 2, stamps * 3)):
        elem = _answer(fields, account, n, **kw)
        if stamp is not None:
            modified = create_element("t:LastModifiedTime")
            modified.text = stamp
            elem.insert(1, modified)
        mine = read_current_contact(copy.deepcopy(elem), account)
        theirs = _theirs(elem, account)
        assert mine.last_modified_time == theirs.last_modified_time
        assert mapping.to_outlook_item(Kind.PERSON, mine, ME) == mapping.to_outlook_item(Kind.PERSON, theirs, ME)
