"""`/_sandbox/crm/...` control endpoints: the HTTP face of the test helpers, knobs and recordings.

    GET  /_sandbox/crm/requests          recorded requests and protocol violations
    POST /_sandbox/crm/requests/reset    forget them
    GET  /_sandbox/crm/outbox            emails the API was asked to SEND (nothing leaves the machine)
    GET  /_sandbox/crm/state             counts per type, credentials, knobs
    POST /_sandbox/crm/edit              {"action": "bump_version"|"reassign"|"set_watched"|"toggle_watched"|
                                          "soft_delete"|"add_contact_email"|"expire_sessions"|"expire_key"|
                                          "inject_error"|"set_permission", "type": "people", "id": N, ...}
    POST /_sandbox/crm/knobs             {"page_cap", "batch_cap", "strict_protocol", "strict_attributes_default",
                                          "rotate_cookie", "session_ttl", "migrating": [db ids]}
    POST /_sandbox/crm/faults            {"clear": true, "rules": [{"operation": "GET crm/people", "kind": "http500",
                                          "every": 3, "times": 2, "latency_ms": 0}]} (per-endpoint faults)
    POST /_sandbox/crm/clock             {"freeze": ISO or null, "advance": seconds, "unfreeze": true}
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app.sandbox.crm import formats as F

if TYPE_CHECKING:
    from app.sandbox.crm.routes import CrmHandler

KNOBS = {"page_cap": int, "batch_cap": int, "strict_protocol": bool, "strict_attributes_default": bool,
         "rotate_cookie": bool, "session_ttl": float}


def _edit(box: Any, doc: dict[str, Any]) -> Any:
    action = doc.get("action")
    kind = str(doc.get("type", "people"))
    rid = doc.get("id")
    if action == "bump_version":
        return {"lock_version": box.bump_version(kind, rid, **dict(doc.get("changes") or {}))}
    if action == "reassign":
        box.reassign(kind, rid, doc.get("queue_id"), to_user=doc.get("to_user"))
        return {}
    if action == "set_watched":
        box.set_watched(kind, rid, bool(doc.get("watched", True)), doc.get("user_id"))
        return {}
    if action == "toggle_watched":
        return {"watched": box.toggle_watched(kind, rid, doc.get("user_id"))}
    if action == "soft_delete":
        box.soft_delete(kind, rid)
        return {}
    if action == "add_contact_email":
        return {"id": box.add_contact_email(rid, str(doc["email"]), str(doc.get("location_name", "Other")))}
    if action == "expire_sessions":
        box.expire_sessions()
        return {}
    if action == "expire_key":
        box.expire_key(doc.get("api_key"))
        return {}
    if action == "inject_error":
        box.inject_error(kind, int(rid or 0), str(doc.get("field", "name")), str(doc.get("message", "is invalid")))
        return {}
    if action == "set_permission":
        box.set_permission(kind, str(doc["permission"]), bool(doc.get("allowed", False)), doc.get("user_id"))
        return {}
    raise ValueError(f"unknown action {action!r}")


def handle_control(handler: "CrmHandler", method: str, path: str, body: bytes) -> bool:
    box = handler.box
    if not path.startswith("/_sandbox/crm/"):
        return False
    sub = path[len("/_sandbox/crm/"):].strip("/")
    try:
        doc = json.loads(body or b"{}") if method in ("POST", "PUT") else {}
        if not isinstance(doc, dict):
            raise ValueError("a JSON object is expected")
        if sub == "requests" and method == "GET":
            with box.lock:
                handler.send_json(200, {"requests": [r.full() if hasattr(r, "full") else r for r in box.requests],
                                        "violations": list(box.violations),
                                        "internal_errors": list(box.internal_errors)})
        elif sub == "requests/reset" and method == "POST":
            box.reset_recording()
            handler.send_json(200, {"ok": True})
        elif sub == "outbox" and method == "GET":
            handler.send_json(200, {"outbox": list(box.outbox)})
        elif sub == "state" and method == "GET":
            with box.lock:
                counts = {k: sum(1 for r in v.values() if not r.get("is_deleted")) for k, v in box.db.tables.items()}
            handler.send_json(200, {"counts": counts, "username": box.username, "api_key": box.api_key,
                                    "database_id": box.database_id, "user_id": box.user_id,
                                    "my_queues": box.my_queues, "now": F.fmt_datetime(box.clock.now()),
                                    "knobs": {k: getattr(box, k) for k in KNOBS}})
        elif sub == "edit" and method == "POST":
            with box.lock:
                result = _edit(box, doc)
            handler.send_json(200, {"ok": True, **result})
        elif sub == "knobs" and method == "POST":
            with box.lock:
                for name, conv in KNOBS.items():
                    if name in doc:
                        setattr(box, name, conv(doc[name]))
                if "migrating" in doc:
                    box.migrating = {int(x) for x in doc["migrating"] or []}
            handler.send_json(200, {"ok": True})
        elif sub == "faults" and method == "POST":
            if doc.get("clear"):
                box.clear_faults()
            for rule in doc.get("rules", []):
                box.add_fault(rule.get("kind"), operation=rule.get("operation"), every=int(rule.get("every", 1)),
                              times=rule.get("times", 1), latency_ms=float(rule.get("latency_ms", 0.0)))
            handler.send_json(200, {"ok": True, "rules": box.fault_rules})
        elif sub == "clock" and method == "POST":
            if doc.get("unfreeze"):
                box.clock.unfreeze()
            if "freeze" in doc:
                box.clock.freeze(F.parse_datetime(doc["freeze"]) if doc["freeze"] else None)
            if doc.get("advance"):
                box.clock.advance(float(doc["advance"]))
            handler.send_json(200, {"ok": True, "now": F.fmt_datetime(box.clock.now())})
        else:
            return False
    except Exception as exc:  # noqa: BLE001 - a bad control document is the caller's error
        handler.send_json(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return True
