"""`JournalView` over `app.journal.reader` (the journal's read-only snapshots as dicts).

The windows read through this on their own read-only connection (design.md §3); every write
goes through the worker. The converters are plain functions so they can be tested on dicts.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from app.ui.ports import (
    ActionView, ConflictView, FieldRow, HoldView, IssueView, RunView, StatusSnapshot, UnsharedView,
)

log = logging.getLogger("workbooks_connector.ui")

FIRST_SYNC_TYPES = ("first_sync_mismatch", "ambiguous_match")
FIELD_LABELS = {"email1": "Email", "email2": "Alternate email", "email3": "Home email", "business_phone": "Work phone",
                "business_phone2": "Work phone 2", "mobile_phone": "Mobile phone", "business_postcode": "Postcode",
                "business_street": "Street", "business_city": "City", "business_state": "County/State",
                "business_country": "Country"}


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def status_from_dict(d: Mapping[str, Any]) -> StatusSnapshot:
    lease = d.get("lease") or {}
    return StatusSnapshot(
        last_sync=_dt(d.get("last_sync_at")), last_ok=d.get("last_sync_ok"),
        linked=dict(d.get("linked") or {}), conflicts=int(d.get("conflicts") or 0),
        issues=len(d.get("errors") or ()), holds=len(d.get("holds") or ()),
        lease_holder=str(lease.get("holder_host") or ""),
    )


def holds_from_status(d: Mapping[str, Any]) -> list[HoldView]:
    return [HoldView(str(h["id"]), str(h["kind"]), str(h["side"]), str(h["reason"]), int(h["planned"]),
                     int(h["linked"]), tuple(str(x) for x in h.get("items", ()))) for h in d.get("holds") or ()]


def issues_from_status(d: Mapping[str, Any]) -> list[IssueView]:
    return [IssueView(str(e.get("item") or ""), str(e.get("message") or e.get("title") or ""), int(e.get("attempts") or 0),
                      _dt(e.get("retry_after")), url=str(e.get("url") or "")) for e in d.get("errors") or ()]


def conflict_from_dict(c: Mapping[str, Any]) -> ConflictView:
    rows = tuple(FieldRow(str(x["field"]), field_label(str(x["field"])), _text(x.get("outlook")),
                          _text(x.get("last_synced")), _text(x.get("workbooks"))) for x in c.get("differences") or ())
    return ConflictView(str(c["id"]), str(c.get("kind") or ""), str(c.get("label") or c["id"][:8]), rows,
                        _dt(c.get("created_at")), first_sync=c.get("type") in FIRST_SYNC_TYPES)


VERBS = {"create": "created", "update": "updated", "delete": "deleted", "trash": "moved to Deleted Items",
         "link": "paired", "unlink": "unpaired", "unshare": "unshared", "share": "shared", "hold": "held",
         "conflict": "conflict raised", "record": "recorded", "skip": "skipped",
         "link_email": "email linked", "unlink_email": "email link removed"}
WHERE = {"to_outlook": "in Outlook", "to_crm": "in Workbooks", "outlook": "in Outlook", "crm": "in Workbooks"}


def action_text(action: Any, direction: Any) -> str:
    """"create", "to_outlook" -> "created in Outlook" (unknown words are kept as they are)."""
    verb = VERBS.get(str(action or ""), str(action or "").replace("_", " "))
    if verb == "moved to Deleted Items":
        return verb
    where = WHERE.get(str(direction or ""), str(direction or "").replace("_", " "))
    return f"{verb} {where}".strip()


def _total(counts: Any) -> int:
    if isinstance(counts, Mapping):
        return sum(_total(v) for v in counts.values())
    return int(counts or 0)


def run_from_dict(r: Mapping[str, Any]) -> RunView:
    s = r.get("summary") or {}
    counts = {"created": _total(s.get("created")), "updated": _total(s.get("updated")),
              "linked": int(s.get("email_links") or 0),
              "removed": _total(s.get("deleted")) + _total(s.get("unshared")), "failed": len(s.get("errors") or ())}
    actions = tuple(
        ActionView(str(a.get("kind") or ""), str(a.get("label") or a.get("item") or "")[:40],
                   action_text(a.get("action"), a.get("direction")), str(a.get("reason") or ""))
        for a in r.get("actions") or ())
    return RunView(str(r.get("run_id") or ""), _dt(r.get("at")) or datetime.min, float(s.get("seconds") or 0.0),
                   ok=r.get("result") == "ok", dry_run=bool(s.get("dry_run")), trigger=str(r.get("trigger") or "sync"),
                   counts=counts, actions=actions)


def explain_text(query: str, results: list[Mapping[str, Any]]) -> str:
    if not results:
        return (f"Nothing in the journal matches “{query}”: it is not linked. An Outlook item may be Native (no "
                "“Workbooks” category); a Workbooks record may be outside your filter.")
    lines = []
    for r in results:
        what = f"{r.get('kind')} {r.get('label') or r.get('crm_id') or ''}".strip()
        if r.get("link_id") is None:
            lines.append(f"{what}: not syncing, {r.get('sharing') or r.get('state')} ({r.get('reason') or 'by you'}).")
            continue
        parts = [f"{what}: {r.get('state')}, linked to Workbooks id {r.get('crm_id')}"]
        if r.get("conflict"):
            parts.append("waiting for a conflict decision")
        if r.get("error"):
            err = r["error"]
            parts.append(f"last error: {err.get('message')} (attempt {err.get('attempts')})")
        lines.append("; ".join(parts) + ".")
    return "\n".join(lines)


class ReaderJournalView:
    """JournalView for a profile's journal file; an absent journal reads as empty."""

    def __init__(self, journal_path: str | os.PathLike) -> None:
        self.path = Path(journal_path)
        self._db: Any = None

    def _reader(self) -> Any:
        from app.journal import reader

        if self._db is None:
            if not self.path.exists():
                return reader, None
            self._db = reader.open_reader(self.path)
        return reader, self._db

    def _status_dict(self) -> Mapping[str, Any]:
        reader, db = self._reader()
        return reader.status(db) if db is not None else {}

    def status(self) -> StatusSnapshot:
        return status_from_dict(self._status_dict())

    def holds(self) -> list[HoldView]:
        return holds_from_status(self._status_dict())

    def issues(self) -> list[IssueView]:
        return issues_from_status(self._status_dict())

    def conflicts(self) -> list[ConflictView]:
        reader, db = self._reader()
        return [conflict_from_dict(c) for c in reader.conflicts(db)] if db is not None else []

    def history(self, limit: int = 50) -> list[RunView]:
        reader, db = self._reader()
        return [run_from_dict(r) for r in reader.history(db, limit)] if db is not None else []

    def explain(self, query: str) -> str:
        reader, db = self._reader()
        return explain_text(query, reader.explain(db, query) if db is not None else [])

    def emails(self, limit: int = 100) -> list[Any]:
        _reader, db = self._reader()
        if db is None:
            return []
        from app.errors import AppError
        from app.journal.email_link_store import EmailLinkStore

        try:
            return EmailLinkStore(db).emails(limit=limit)
        except AppError as exc:  # an older journal, not migrated until the worker's next cycle
            log.info("sent emails not shown: %s", exc.title)
            return []

    def linkable(self, query: str = "", limit: int = 50) -> list[Any]:
        _reader, db = self._reader()
        if db is None:
            return []
        from app.journal.email_link_store import EmailLinkStore

        return EmailLinkStore(db).linkable(query, limit)

    def unshared(self) -> list[UnsharedView]:
        reader, db = self._reader()
        rows = reader.unshared(db) if db is not None else []
        return [UnsharedView(kind=r["kind"], label=r["label"], reason=r["reason"],
                             removed_from_outlook=r["removed_from_outlook"], changed_at=_dt(r["changed_at"]),
                             crm_id=r["crm_id"], ews_item_id=r["ews_item_id"]) for r in rows]
