"""Read-only snapshots of the journal for the CLI and windows (status, conflicts, history, explain).

Open with `open_reader(path)` (a read-only connection) or pass the `Database` of an open journal
(`journal.db`). Every function returns plain dicts/lists ready for JSON; no row leaves this module.
Writes (resolve, hold decisions, share/unshare) go through `SqlJournal` methods instead.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlmodel import Session, func, select

from app.journal import models as m
from app.journal.db import Database, open_database
from app.journal.repo import link_from_row

LABEL_FIELDS = ("first_name", "last_name", "subject", "company", "email1")


def open_reader(path: Path | str) -> Database:
    return open_database(path, read_only=True)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _meta(s: Session, key: str) -> str | None:
    row = s.get(m.Meta, key)
    return row.value if row else None


def status(db: Database) -> dict[str, Any]:
    with Session(db.engine) as s:
        linked = {k: n for k, n in s.exec(select(m.ItemLink.kind, func.count()).where(m.ItemLink.state == "shared").group_by(m.ItemLink.kind))}
        conflicts = s.exec(select(func.count()).select_from(m.Conflict).where(m.Conflict.status == "open")).one()
        pending = {k: n for k, n in s.exec(select(m.ItemLink.kind, func.count()).where(
            m.ItemLink.crm_gone_seen_at.is_not(None)).group_by(m.ItemLink.kind))}  # type: ignore[union-attr]
        errors = [
            {"item": e.link_id or e.remote_id or e.key, "kind": e.kind, "op": e.op, "title": e.title, "message": e.message,
             "attempts": e.attempts, "retry_after": _iso(e.retry_after), "flagged": e.attempts >= 5}
            for e in s.exec(select(m.ItemErrorRow).where(m.ItemErrorRow.muted == False))  # noqa: E712
        ]
        holds = [
            {"id": h.id, "kind": h.kind, "side": h.side, "reason": h.reason, "planned": h.planned, "linked": h.linked}
            for h in s.exec(select(m.SafetyHold).where(m.SafetyHold.status == "open"))
        ]
        last = s.exec(select(m.History).where(m.History.action == "run").order_by(m.History.id.desc()).limit(1)).first()
        lease = s.get(m.LeaseRow, 1)
        return {
            "last_sync_at": _meta(s, "last_sync_at"),
            "last_sync_ok": _meta(s, "last_sync_ok") == "true" if _meta(s, "last_sync_ok") else None,
            "last_run": json.loads(last.summary) if last and last.summary else None,
            "linked": {"person": linked.get("person", 0), "task": linked.get("task", 0), "meeting": linked.get("meeting", 0)},
            "conflicts": int(conflicts),
            # B7: CRM deletions seen once; the Outlook copies stay until a later run confirms them
            "pending_deletions": {k: pending.get(k, 0) for k in ("person", "task", "meeting")},
            "errors": errors,
            "holds": holds,
            "lease": None if lease is None else {"holder_host": lease.holder_host, "heartbeat_at": _iso(lease.heartbeat_at)},
            "recovered_from": _meta(s, "recovered_from"),
        }


def _label(fields: dict[str, Any] | None) -> str:
    if not fields:
        return ""
    parts = [str(fields[f]) for f in LABEL_FIELDS[:2] if fields.get(f)] or [str(fields.get("subject") or "")]
    return " ".join(p for p in parts if p)


def conflicts(db: Database, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    states = ("open", "resolved") if include_resolved else ("open",)
    with Session(db.engine) as s:
        out = []
        for c in s.exec(select(m.Conflict).where(m.Conflict.status.in_(states)).order_by(m.Conflict.created_at)):
            o, cr, b = json.loads(c.ews_json or "null"), json.loads(c.crm_json or "null"), json.loads(c.base_json or "null")
            fields = json.loads(c.fields_json or "[]")
            shown = fields or sorted({k for k in (o or {}) if (o or {}).get(k) != (cr or {}).get(k)})
            out.append({
                "id": c.id, "kind": c.kind, "type": c.conflict_kind, "status": c.status, "label": c.label or _label(cr or o),
                "fields": fields,
                "differences": [{"field": f, "outlook": (o or {}).get(f), "last_synced": (b or {}).get(f),
                                 "workbooks": (cr or {}).get(f)} for f in shown],
                "candidates": json.loads(c.candidates_json or "[]"), "created_at": _iso(c.created_at),
            })
        return out


def history(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    with Session(db.engine) as s:
        runs = s.exec(select(m.History).where(m.History.action == "run").order_by(m.History.id.desc()).limit(limit))
        out = []
        for r in runs:
            actions = s.exec(select(m.History).where(m.History.run_id == r.run_id, m.History.action != "run",
                                                     m.History.action != "plan")).all()
            out.append({"run_id": r.run_id, "at": _iso(r.at), "result": r.result,
                        "summary": json.loads(r.summary) if r.summary else None,
                        "actions": [{"action": a.action, "kind": a.kind, "item": a.link_id, "direction": a.direction,
                                     "reason": a.reason, "result": a.result} for a in actions]})
        return out


def find_links(db: Database, query: str) -> list[dict[str, Any]]:
    """Links whose ids, object refs, addresses or names match `query` (case-insensitive)."""
    q = query.strip().lower()
    with Session(db.engine) as s:
        out = []
        for row in s.exec(select(m.ItemLink)):
            hay = " ".join(filter(None, [row.id, row.crm_id, row.ews_item_id, row.ews_json, row.crm_json])).lower()
            if q and q in hay:
                link = link_from_row(row)
                out.append({"link_id": link.id, "kind": link.kind.value, "state": link.state, "crm_id": link.crm_id,
                            "ews_item_id": link.ews_item_id, "in_scope": link.in_scope,
                            "label": _label(dict(link.crm_fields or link.ews_fields or {})),
                            "last_synced_at": _iso(link.last_synced_at),
                            "pending_deletion": None if link.crm_gone_seen_at is None else {
                                "seen_at": _iso(link.crm_gone_seen_at),
                                "note": "deletion seen once, waiting for confirmation"}})
        return out


def explain(db: Database, query: str) -> list[dict[str, Any]]:
    """Why an item does or does not sync: link, sharing state, last error, open conflict, recent history."""
    q = query.strip().lower()
    results = find_links(db, query)
    with Session(db.engine) as s:
        for r in results:
            err = s.get(m.ItemErrorRow, r["link_id"])
            r["error"] = None if err is None else {"title": err.title, "message": err.message, "attempts": err.attempts,
                                                     "retry_after": _iso(err.retry_after)}
            conf = s.exec(select(m.Conflict).where(m.Conflict.link_id == r["link_id"], m.Conflict.status == "open")).first()
            r["conflict"] = None if conf is None else {"id": conf.id, "fields": json.loads(conf.fields_json or "[]")}
            r["sharing"] = "shared"
            r["history"] = [{"at": _iso(h.at), "action": h.action, "reason": h.reason} for h in s.exec(
                select(m.History).where(m.History.link_id == r["link_id"]).order_by(m.History.id.desc()).limit(5))]
        for sh in s.exec(select(m.SharingRow).where(m.SharingRow.state != "shared")):
            if q and q in " ".join(filter(None, [sh.crm_id, sh.ews_item_id, sh.key, sh.label])).lower():
                results.append({"link_id": None, "kind": sh.kind, "state": sh.state, "crm_id": sh.crm_id,
                                "ews_item_id": sh.ews_item_id, "sharing": sh.state, "reason": sh.reason,
                                "recreate_blocked": sh.recreate_blocked, "label": sh.label})
    return results


def unshared(db: Database) -> list[dict[str, Any]]:
    """Items the connector no longer syncs and that the user can share again: Unshared Outlook items,
    and CRM records whose Outlook copy the user deleted ("removed from Outlook"). Rows whose item is
    linked again, or whose share request is waiting for the next sync, are left out."""
    with Session(db.engine) as s:
        linked_crm = set(s.exec(select(m.ItemLink.crm_id).where(m.ItemLink.crm_id.is_not(None))))
        linked_ews = set(s.exec(select(m.ItemLink.ews_item_id).where(m.ItemLink.ews_item_id.is_not(None))))
        out = []
        for row in s.exec(select(m.SharingRow).where(m.SharingRow.state == "unshared").order_by(m.SharingRow.changed_at.desc())):
            if (row.crm_id and row.crm_id in linked_crm) or (row.ews_item_id and row.ews_item_id in linked_ews):
                continue
            out.append({"key": row.key, "kind": row.kind, "crm_id": row.crm_id, "ews_item_id": row.ews_item_id,
                        "state": row.state, "reason": row.reason, "label": row.label or row.crm_id or "",
                        "removed_from_outlook": bool(row.reason == "outlook_delete" and row.crm_id),
                        "changed_at": _iso(row.changed_at)})
        return out
