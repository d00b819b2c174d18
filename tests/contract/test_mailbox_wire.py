"""What the adapter actually puts on the wire (recorded at our HTTP adapter, nothing mocked):
calendar writes never invite, updates are NeverOverwrite with the stored ChangeKey and only the
changed fields, deletes go to Deleted Items, sync asks for a short field list and GetItem for the
mapper's fields only."""
from __future__ import annotations

import re

import pytest

from app.connectors.ews.client import EwsHttpAdapter
from app.domain.records import Kind, NewItem, Sharing, Update
from tests.fixtures.mailbox_sandbox import ews_sandbox


@pytest.fixture
def wire(monkeypatch):
    bodies: list[str] = []
    real_send = EwsHttpAdapter.send

    def recording_send(self, request, **kw):
        if request.body:
            body = request.body if isinstance(request.body, str) else request.body.decode("utf-8", "replace")
            bodies.append(body)
        return real_send(self, request, **kw)

    monkeypatch.setattr(EwsHttpAdapter, "send", recording_send)
    with ews_sandbox() as env:
        yield env, bodies


def _ops(bodies, op):
    return [b for b in bodies if f"<m:{op} " in b or f"<m:{op}>" in b]


def test_calendar_writes_send_to_none_and_updates_never_overwrite(wire):
    env, bodies = wire
    port = env.mailbox()
    [s] = port.create(Kind.MEETING, [NewItem({"subject": "M", "all_day": False, "start": "2025-06-01T09:00Z",
                                              "end": "2025-06-01T10:00Z", "timezone": "Europe/London"}, link_id="m")])
    s2 = port.update(Kind.MEETING, Update(s.id, s.version, {"location": "Room"}, frozenset({"location"})))
    s3 = port.update(Kind.MEETING, Update(s2.id, s2.version, {"all_day": False, "start": "2025-06-01T11:00Z",
                                                              "end": "2025-06-01T12:00Z"}, frozenset({"start", "end"})))
    port.set_sharing(Kind.MEETING, s3.id, s3.version, Sharing.UNSHARED, crm_id=None, link_id=None)
    [create] = _ops(bodies, "CreateItem")
    assert 'SendMeetingInvitations="SendToNone"' in create and 'MessageDisposition="SaveOnly"' in create
    updates = _ops(bodies, "UpdateItem")
    assert len(updates) == 3
    for body, version in zip(updates, (s.version, s2.version, s3.version)):
        assert 'ConflictResolution="NeverOverwrite"' in body
        assert 'SendMeetingInvitationsOrCancellations="SendToNone"' in body
        assert f'ChangeKey="{version}"' in body
    assert re.findall(r'FieldURI="([^"]+)"', updates[0]) == ["calendar:Location"]
    uris = set(re.findall(r'FieldURI="([^"]+)"', updates[1]))
    assert {"calendar:Start", "calendar:End", "calendar:StartTimeZone", "calendar:EndTimeZone"} <= uris
    assert "2025-06-01T12:00:00+01:00" in updates[1]  # written in the item's own zone (BST)
    assert "item:Categories" in updates[2] and "WorkbooksSharing" in updates[2]


def test_trash_moves_to_deleted_items_never_hard_deletes(wire):
    env, bodies = wire
    port = env.mailbox()
    stamps = port.create(Kind.TASK, [NewItem({"subject": f"T{i}"}, link_id=f"t{i}") for i in range(3)])
    port.trash(Kind.TASK, [s.id for s in stamps])
    [delete] = _ops(bodies, "DeleteItem")
    assert 'DeleteType="MoveToDeletedItems"' in delete and "HardDelete" not in "".join(bodies)
    assert 'SendMeetingCancellations="SendToNone"' in delete


def test_sync_is_id_only_plus_a_short_list_and_getitem_only_mapper_fields(wire):
    env, bodies = wire
    port = env.mailbox()
    port.create(Kind.PERSON, [NewItem({"first_name": "A"}, link_id="a")])
    bodies.clear()
    list(port.changes(Kind.PERSON, None))
    [sync] = _ops(bodies, "SyncFolderItems")
    assert "<t:BaseShape>IdOnly</t:BaseShape>" in sync
    assert re.findall(r'<t:FieldURI FieldURI="([^"]+)"', sync) == ["item:LastModifiedTime"]
    assert 'DistinguishedFolderId Id="contacts"' in sync and "<m:MaxChangesReturned>100<" in sync
    [get] = _ops(bodies, "GetItem")
    uris = set(re.findall(r'FieldURI="([^"]+)"', get))
    assert "item:Body" in uris and "contacts:EmailAddress" in uris
    assert not any(u.startswith(("calendar:", "task:", "message:")) for u in uris)  # not "everything"
    assert "GetFolder" not in env.requests()
