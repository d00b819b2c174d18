"""JSON forms of the canonical records, so the journal can keep staged snapshots as text."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.records import CrmRecord, Kind, OutlookItem, Sharing
from app.domain.timeutil import from_json_time, to_json_time


def outlook_to_dict(item: OutlookItem) -> dict[str, Any]:
    return {
        "kind": item.kind.value, "item_id": item.item_id, "change_key": item.change_key,
        "fields": dict(item.fields), "marker": item.marker.value if item.marker else None,
        "categorised": item.categorised, "crm_id": item.crm_id, "link_id": item.link_id,
        "global_id": item.global_id, "has_attendees": item.has_attendees,
        "organised_by_me": item.organised_by_me, "attendees": list(item.attendees),
        "last_modified": to_json_time(item.last_modified),
    }


def outlook_from_dict(d: dict[str, Any]) -> OutlookItem:
    return OutlookItem(
        kind=Kind(d["kind"]), item_id=d["item_id"], change_key=d["change_key"], fields=dict(d["fields"]),
        marker=Sharing(d["marker"]) if d.get("marker") else None, categorised=bool(d.get("categorised")),
        crm_id=d.get("crm_id"), link_id=d.get("link_id"), global_id=d.get("global_id"),
        has_attendees=bool(d.get("has_attendees")), organised_by_me=bool(d.get("organised_by_me", True)),
        attendees=tuple(d.get("attendees") or ()), last_modified=from_json_time(d.get("last_modified")),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_json_time(value)
    return value


def crm_to_dict(rec: CrmRecord) -> dict[str, Any]:
    return {
        "kind": rec.kind.value, "id": rec.id, "lock_version": rec.lock_version, "fields": dict(rec.fields),
        "raw": {k: _plain(v) for k, v in rec.raw.items()}, "updated_at": to_json_time(rec.updated_at),
        "deleted": rec.deleted, "link_id": rec.link_id, "object_ref": rec.object_ref,
        "owned_by_me": rec.owned_by_me, "emails": list(rec.emails),
    }


def crm_from_dict(d: dict[str, Any]) -> CrmRecord:
    return CrmRecord(
        kind=Kind(d["kind"]), id=d["id"], lock_version=int(d["lock_version"]), fields=dict(d["fields"]),
        raw=dict(d.get("raw") or {}), updated_at=from_json_time(d.get("updated_at")),
        deleted=bool(d.get("deleted")), link_id=d.get("link_id"), object_ref=d.get("object_ref"),
        owned_by_me=bool(d.get("owned_by_me")), emails=tuple(d.get("emails") or ()),
    )
