"""The batched update's UpdateItem (app/connectors/ews/update_xml.py, item changes written as
bytes) sends exactly the request of exchangelib's own UpdateItem: set and delete elements for
every label and subfield of indexed fields, plain fields, bodies, task and meeting fields (the
meeting's time zone fields too) and our marker properties, for several items in one request, and
again for a second request (nothing cached is used up). No sockets."""
from __future__ import annotations

from exchangelib.properties import ItemId
from exchangelib.services import UpdateItem

from app.connectors.ews import mapping
from app.connectors.ews.update_xml import CachedPathUpdateItem
from app.domain.fields import PERSON_FIELDS
from app.domain.records import Kind, Sharing
from tests.unit.test_ews_create_xml import MEETING, TASK
from tests.unit.test_ews_mapping import FULL_PERSON, account  # noqa: F401 - the module's account fixture

KW = dict(conflict_resolution="NeverOverwrite", message_disposition="SaveOnly",
          send_meeting_invitations_or_cancellations="SendToNone", suppress_read_receipts=True)


def _changed(kind, fields, acct, n, crm_id=None, link_id=None):
    item = mapping.new_item(kind, fields, related=None, default_zone=acct.default_timezone, account=acct)
    item._id = ItemId(f"ID{n}", f"CK{n}")
    if kind is Kind.PERSON:
        names = mapping.write_person(item, fields, set(PERSON_FIELDS), "Case C-1", replace_related=True)
    elif kind is Kind.TASK:
        names = mapping.write_task(item, fields, set(fields))
    else:
        names = mapping.write_meeting(item, fields, set(fields), acct.default_timezone)
    names += mapping.apply_markers(item, sharing=Sharing.SHARED, crm_id=f"{n}" if crm_id is None else crm_id,
                                   link_id=f"link-{n}" if link_id is None else link_id)
    return item, list(dict.fromkeys(names))


def _request(service, items):
    return service.wrap(service.get_payload(items=items, **KW), api_version="Exchange2016")


def test_request_is_the_librarys(account):  # noqa: F811
    sparse = {"first_name": "Bo", "email2": "bo@x.example", "home_city": "York", "mobile_phone": "1"}
    awkward = dict(FULL_PERSON, first_name="a\r\nb & <c>", business_street="", job_title='"q"', notes="x\ry",
                   business_city="K\u00f6ln\r\n& <x>", mobile_phone="1 & 2 <3>\x01", home_street="\ue000slot\ue000")
    cases = [(Kind.PERSON, FULL_PERSON), (Kind.PERSON, sparse), (Kind.PERSON, FULL_PERSON), (Kind.TASK, TASK),
             (Kind.MEETING, MEETING), (Kind.PERSON, awkward), (Kind.PERSON, {})]
    items = [_changed(kind, fields, account, n) for n, (kind, fields) in enumerate(cases)]
    items += [_changed(Kind.PERSON, sparse, account, 7, crm_id="", link_id="a & <b>\r\x01")]  # markers: empty, awkward
    theirs = _request(UpdateItem(account=account), items)
    ours = _request(CachedPathUpdateItem(account=account), items)
    assert ours == theirs
    assert theirs.count(b"DeleteItemField") > 20 and b"link-4" in theirs  # deletes and markers are in it
    assert b"MeetingTimeZone" in theirs or b"StartTimeZone" in theirs  # the meeting's zone fields too
    assert _request(CachedPathUpdateItem(account=account), items) == theirs  # again: nothing used up
    for one in items:
        assert _request(CachedPathUpdateItem(account=account), [one]) == _request(UpdateItem(account=account), [one])
