"""Links of recorded emails as the user sees and changes them (B36; design.md 9, History window).

Over the journal tables `sent_email`, `email_link`, `crm_reference` and `item_link`. A change is a
decision written here in one transaction; the next sync carries it to Workbooks
(app/sync/email_link_edits.py), like `share`, `unshare` and `resolve`:

* adding makes an `email_link` row with reason "manual" and no `crm_link_id` yet (re-using the
  row of a link removed before, so each (email, record) pair keeps one row);
* removing marks the row `unlinking` when Workbooks has it, else `removed` at once. After the
  CRM row is deleted it becomes `removed` and stays: automatic and late linking skip every
  (email, record) pair that has a row, so a removed link is never added again.

Bodies are never read here; subjects are shown to the user only (never logged).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy import text

from app.domain.matching import normalise_address
from app.domain.records import LinkTarget
from app.errors import JournalError, UsageError
from app.journal.db import Database
from app.journal.email_store import INDEX_TYPE, REASON_TEXT, with_state

LINKED, UNLINKING, REMOVED = "linked", "unlinking", "removed"
MANUAL = "manual"
RECORDED_STATES = ("recorded", "too_large")
LINKABLE = ("person", "sales_lead", "organisation", "case", "opportunity")
TYPE_LABEL = {"person": "Person", "sales_lead": "Sales Lead", "organisation": "Organisation", "case": "Case",
              "opportunity": "Opportunity"}
MIN_REF_DIGITS = 6  # a shorter hex prefix of the short ref is too likely to name several emails


def short_hash(message_id: str) -> str:
    """The 10 hex digits of app.sync.emails.short_ref ("email 1a2b3c4d5e"), as `emails` shows them."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:10]


@dataclass(frozen=True)
class TargetView:
    """A linkable CRM record known to the journal."""

    crm_type: str
    crm_id: str
    name: str = ""
    object_ref: str = ""

    @property
    def target(self) -> LinkTarget:
        return LinkTarget(self.crm_type, self.crm_id)

    @property
    def label(self) -> str:
        ref = f" ({self.object_ref})" if self.object_ref else ""
        return f"{TYPE_LABEL.get(self.crm_type, self.crm_type)} {self.name or self.crm_id}{ref}"


@dataclass(frozen=True)
class EmailLinkView:
    record: TargetView
    reason: str  # address | subject_ref | employer | domain | manual
    why: str  # in words, e.g. "matched the address jane@example.com"
    state: str  # linked | unlinking | removed
    in_workbooks: bool  # the email_links row exists in Workbooks now
    late: bool = False

    def as_json(self) -> dict:
        return {"type": self.record.crm_type, "id": self.record.crm_id, "name": self.record.name,
                "object_ref": self.record.object_ref, "reason": self.reason, "why": self.why, "state": self.state,
                "in_workbooks": self.in_workbooks, "late": self.late}


@dataclass(frozen=True)
class EmailView:
    sent_email_id: int
    ref: str  # short ref, 10 hex digits
    message_id: str
    subject: str
    sent_at: datetime | None
    state: str
    workbooks_email_id: str | None
    links: tuple[EmailLinkView, ...] = ()

    @property
    def recorded(self) -> bool:
        return self.state in RECORDED_STATES and bool(self.workbooks_email_id)

    def as_json(self) -> dict:
        return {"ref": self.ref, "message_id": self.message_id, "subject": self.subject,
                "sent_at": self.sent_at.isoformat() if self.sent_at else None, "state": self.state,
                "workbooks_email_id": self.workbooks_email_id, "links": [ln.as_json() for ln in self.links]}


@dataclass(frozen=True)
class PendingAdd:
    row_id: int
    crm_email_id: str
    target: LinkTarget
    email_ref: str = ""  # "email 1a2b3c4d5e", how the history names it


@dataclass(frozen=True)
class PendingRemoval:
    row_id: int
    crm_email_id: str
    crm_link_id: str
    target: LinkTarget
    email_ref: str = ""


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[union-attr]


def why_text(reason: str, matched_address: str | None, state: str) -> str:
    if reason == "address" and matched_address:
        base = f"matched the address {matched_address}"
    else:
        base = REASON_TEXT.get(reason, reason or "linked")
    return with_state(base, state)


class EmailLinkStore:
    def __init__(self, db: Database):
        self.db = db
        self.engine = db.engine

    # --- finding emails and records ---------------------------------------------------------------
    def find_email(self, message_ref: str) -> EmailView:
        """The email named by its Message-ID (angle brackets optional) or the short ref `emails`
        shows ("email 1a2b3c4d5e", or at least 6 of its digits). UsageError when none or several."""
        q = message_ref.strip()
        with self.engine.connect() as con:
            rows = con.execute(text("SELECT id, internet_message_id FROM sent_email")).fetchall()
        bare = q.strip("<>").lower()
        hits = [int(i) for i, mid in rows if mid.strip("<>").lower() == bare]
        if not hits:
            digits = q.lower().removeprefix("email").strip()
            if len(digits) >= MIN_REF_DIGITS and all(c in "0123456789abcdef" for c in digits):
                hits = [int(i) for i, mid in rows if short_hash(mid).startswith(digits)]
        if not hits:
            raise UsageError(f"no sent email matches {message_ref!r}; `workbooks-connector emails` lists them "
                             "with their refs")
        if len(hits) > 1:
            raise UsageError(f"{len(hits)} sent emails match {message_ref!r}; give more digits or the Message-ID")
        return self.emails(ids=hits)[0]

    def emails(self, *, since: datetime | None = None, ids: Sequence[int] | None = None,
               limit: int | None = None) -> list[EmailView]:
        """Recorded emails (or the given ones), newest first, with every link and why."""
        sql = "SELECT id, internet_message_id, subject, sent_at, state, crm_email_id FROM sent_email"
        params: dict = {}
        if ids is not None:
            sql += f" WHERE id IN ({','.join(str(int(i)) for i in ids) or '0'})"
        else:
            sql += " WHERE state IN ('recorded', 'too_large')"
            if since is not None:
                sql += " AND sent_at >= :since"
                params["since"] = _iso(since)
        sql += " ORDER BY sent_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.engine.connect() as con:
            self._check_schema(con)
            rows = con.execute(text(sql), params).fetchall()
            links: dict[int, list] = {}
            for chunk in _chunks([int(r[0]) for r in rows]):
                for ln in con.execute(text(
                        "SELECT sent_email_id, target_type, target_id, matched_address, reason, retroactive,"
                        f" crm_link_id, state FROM email_link WHERE sent_email_id IN ({','.join(map(str, chunk))})"
                        " ORDER BY id")):
                    links.setdefault(int(ln[0]), []).append(ln)
            names = self._names(con, {(ln[1], ln[2]) for lns in links.values() for ln in lns})
        out = []
        for sid, mid, subject, sent_at, state, crm_id in rows:
            views = tuple(EmailLinkView(
                names.get((t, i)) or TargetView(t, i), reason, why_text(reason, addr, lstate or LINKED),
                lstate or LINKED, bool(crm_link_id) and (lstate or LINKED) != REMOVED, bool(late))
                for _s, t, i, addr, reason, late, crm_link_id, lstate in links.get(int(sid), ()))
            out.append(EmailView(int(sid), short_hash(mid), mid, subject or "", _utc(sent_at), state,
                                 str(crm_id) if crm_id else None, views))
        return out

    @staticmethod
    def _check_schema(con) -> None:  # noqa: ANN001
        """A read-only connection does not migrate: a journal from before schema 3 waits for a sync."""
        if "state" not in {r[1] for r in con.execute(text("PRAGMA table_info(email_link)"))}:
            raise JournalError("The sync journal is from an earlier version; the next sync updates it, then the "
                               "email links can be shown.", title="Email links are not available yet")

    def _names(self, con, keys: set[tuple[str, str]]) -> dict[tuple[str, str], TargetView]:  # noqa: ANN001
        """Names and object refs from the reference copy, else from the synced contacts."""
        out: dict[tuple[str, str], TargetView] = {}
        ids = sorted({i for _t, i in keys})
        for chunk in _chunks(ids):
            params = {f"i{k}": v for k, v in enumerate(chunk)}
            names = ",".join(f":i{k}" for k in range(len(chunk)))
            for t, i, name, ref in con.execute(text(
                    f"SELECT crm_type, crm_id, name, object_ref FROM crm_reference WHERE crm_id IN ({names})"), params):
                if (t, i) in keys:
                    out[(t, i)] = TargetView(t, i, name or "", ref or "")
            for i, first, last in con.execute(text(
                    "SELECT crm_id, json_extract(crm_json, '$.first_name'), json_extract(crm_json, '$.last_name')"
                    f" FROM item_link WHERE kind = 'person' AND crm_id IN ({names})"), params):
                old = out.get(("person", i))
                name = " ".join(p for p in (first, last) if p)
                if ("person", i) in keys and name and not (old and old.name):
                    out[("person", i)] = TargetView("person", i, name, old.object_ref if old else "")
        return out

    def linkable(self, query: str = "", limit: int = 50) -> list[TargetView]:
        """Linkable records known to the journal (the reference copy of Organisations, Cases,
        Opportunities and Sales Leads, People read by the email phase, and synced contacts' People)
        whose name, reference, id or address contains `query`."""
        q = query.strip().lower()
        found: dict[tuple[str, str], TargetView] = {}
        with self.engine.connect() as con:
            for t, i, name, ref, emails in con.execute(text(
                    "SELECT crm_type, crm_id, name, object_ref, emails_json FROM crm_reference"
                    f" WHERE crm_type IN ({','.join(repr(x) for x in LINKABLE)})")):
                hay = " ".join([name or "", ref or "", i, emails or ""]).lower()
                if not q or q in hay:
                    found[(t, i)] = TargetView(t, i, name or "", ref or "")
            for i, first, last, e1, e2, e3 in con.execute(text(
                    "SELECT crm_id, json_extract(crm_json, '$.first_name'), json_extract(crm_json, '$.last_name'),"
                    " json_extract(crm_json, '$.email1'), json_extract(crm_json, '$.email2'),"
                    " json_extract(crm_json, '$.email3') FROM item_link WHERE kind = 'person' AND crm_id IS NOT NULL")):
                name = " ".join(p for p in (first, last) if p)
                hay = " ".join(str(x or "") for x in (name, i, e1, e2, e3)).lower()
                old = found.get(("person", str(i)))
                if (not q or q in hay) or old is not None:
                    found[("person", str(i))] = TargetView("person", str(i), name or (old.name if old else ""),
                                                           old.object_ref if old else "")
        return sorted(found.values(), key=lambda v: (LINKABLE.index(v.crm_type), v.name.lower(), v.crm_id))[:limit]

    def resolve_target(self, target: str) -> TargetView:
        """TARGET as the user gives it: an object ref (CASE-12, ORG-3), TYPE:ID (case:500001), a
        bare id, or a synced person's email address. UsageError when nothing or several match."""
        q = target.strip()
        ttype, sep, tid = q.partition(":")
        if sep and ttype.lower().replace(" ", "_") in LINKABLE and tid.strip():
            key = (ttype.lower().replace(" ", "_"), tid.strip())
            with self.engine.connect() as con:
                view = self._names(con, {key}).get(key)
            return view or TargetView(*key)  # an id the journal has not seen: Workbooks will say if it exists
        with self.engine.connect() as con:
            hits = {(t, i): TargetView(t, i, n or "", r or "") for t, i, n, r in con.execute(text(
                "SELECT crm_type, crm_id, name, object_ref FROM crm_reference WHERE crm_type IN"
                f" ({','.join(repr(x) for x in LINKABLE)}) AND (upper(object_ref) = :r OR crm_id = :i)"),
                {"r": q.upper(), "i": q})}
            if not hits:
                hits.update({("person", str(i)): TargetView("person", str(i)) for (i,) in con.execute(text(
                    "SELECT crm_id FROM item_link WHERE kind = 'person' AND crm_id = :i"), {"i": q})})
            addr = normalise_address(q) if "@" in q else None
            if not hits and addr:
                for (owners,) in con.execute(text("SELECT person_ids_json FROM crm_reference WHERE crm_type = :t"
                                                  " AND crm_id = :a"), {"t": INDEX_TYPE, "a": addr}):
                    for owner in json.loads(owners or "[]"):
                        t, _, i = str(owner).partition(":")
                        if t in LINKABLE and i:
                            hits[(t, i)] = TargetView(t, i)
                for (i,) in con.execute(text(
                        "SELECT crm_id FROM item_link WHERE kind = 'person' AND crm_id IS NOT NULL AND :a IN"
                        " (lower(json_extract(crm_json, '$.email1')), lower(json_extract(crm_json, '$.email2')),"
                        " lower(json_extract(crm_json, '$.email3')))"), {"a": addr}):
                    hits[("person", str(i))] = TargetView("person", str(i))
            if hits:
                named = self._names(con, set(hits))
                hits = {k: (named.get(k) if named.get(k) and not v.name else v) or v for k, v in hits.items()}
        if not hits:
            raise UsageError(f"no linkable Workbooks record matches {target!r}; give its reference (CASE-12), "
                             "TYPE:ID (e.g. organisation:200001), its id, or a synced person's email address")
        if len(hits) > 1:
            labels = "; ".join(v.label for v in list(hits.values())[:5])
            raise UsageError(f"{len(hits)} records match {target!r} ({labels}); use TYPE:ID")
        return next(iter(hits.values()))

    # --- the user's decisions -----------------------------------------------------------------------
    def add_link(self, email: EmailView, target: LinkTarget, now: datetime) -> str:
        """"added", or "already" when the email is linked to it. Applied at the next sync."""
        if not email.recorded:
            raise UsageError("that email is not recorded in Workbooks (yet), so it has no links to change; "
                             "it is recorded once one of its recipients matches a record")
        with self.engine.begin() as con:
            row = con.execute(text("SELECT id, state FROM email_link WHERE sent_email_id = :s"
                                   " AND target_type = :t AND target_id = :i ORDER BY id LIMIT 1"),
                              {"s": email.sent_email_id, "t": target.crm_type, "i": target.crm_id}).fetchone()
            if row is None:
                con.execute(text("INSERT INTO email_link(sent_email_id, target_type, target_id, reason, retroactive,"
                                 " state, changed_at) VALUES (:s, :t, :i, :r, 0, :st, :at)"),
                            {"s": email.sent_email_id, "t": target.crm_type, "i": target.crm_id, "r": MANUAL,
                             "st": LINKED, "at": _iso(now)})
                return "added"
            rid, state = int(row[0]), row[1] or LINKED
            if state == LINKED:
                return "already"
            # removed earlier, linked again by the user: the next sync looks the pair up in
            # Workbooks first, so a CRM row not deleted yet is kept rather than doubled
            con.execute(text("UPDATE email_link SET state = :st, reason = :r, matched_address = NULL,"
                             " retroactive = 0, changed_at = :at, crm_link_id = NULL WHERE id = :id"),
                        {"st": LINKED, "r": MANUAL, "at": _iso(now), "id": rid})
            return "added"

    def remove_link(self, email: EmailView, target: LinkTarget, now: datetime) -> str:
        """"removing" (Workbooks' row is deleted at the next sync), "removed" (it never reached
        Workbooks), or "not_linked"."""
        with self.engine.begin() as con:
            row = con.execute(text("SELECT id, state, crm_link_id FROM email_link WHERE sent_email_id = :s"
                                   " AND target_type = :t AND target_id = :i ORDER BY id LIMIT 1"),
                              {"s": email.sent_email_id, "t": target.crm_type, "i": target.crm_id}).fetchone()
            if row is None or (row[1] or LINKED) != LINKED:
                return "not_linked"
            state = UNLINKING if row[2] else REMOVED
            con.execute(text("UPDATE email_link SET state = :st, changed_at = :at WHERE id = :id"),
                        {"st": state, "at": _iso(now), "id": int(row[0])})
            return "removing" if state == UNLINKING else "removed"

    # --- for the sync that applies them -------------------------------------------------------------
    def pending_adds(self) -> list[PendingAdd]:
        with self.engine.connect() as con:
            return [PendingAdd(int(i), str(c), LinkTarget(t, d), "email " + short_hash(mid))
                    for i, c, t, d, mid in con.execute(text(
                "SELECT l.id, s.crm_email_id, l.target_type, l.target_id, s.internet_message_id"
                " FROM email_link l JOIN sent_email s"
                " ON s.id = l.sent_email_id WHERE l.reason = :r AND l.state = :st AND l.crm_link_id IS NULL"
                " AND s.crm_email_id IS NOT NULL ORDER BY l.id"), {"r": MANUAL, "st": LINKED})]

    def pending_removals(self) -> list[PendingRemoval]:
        with self.engine.connect() as con:
            return [PendingRemoval(int(i), str(c), str(k), LinkTarget(t, d), "email " + short_hash(mid))
                    for i, c, k, t, d, mid in con.execute(text(
                "SELECT l.id, s.crm_email_id, l.crm_link_id, l.target_type, l.target_id, s.internet_message_id"
                " FROM email_link l"
                " JOIN sent_email s ON s.id = l.sent_email_id WHERE l.state = :st AND l.crm_link_id IS NOT NULL"
                " ORDER BY l.id"), {"st": UNLINKING})]

    def confirm_added(self, done: Sequence[tuple[int, str]]) -> None:
        if done:
            with self.engine.begin() as con:
                con.execute(text("UPDATE email_link SET crm_link_id = :c WHERE id = :i AND state = :st"),
                            [{"c": c, "i": int(i), "st": LINKED} for i, c in done])

    def drop_adds(self, row_ids: Sequence[int]) -> None:
        """Adds Workbooks refused for good (the record is gone, or cannot take links): kept as
        `removed` so neither a retry nor automatic linking brings them back."""
        if row_ids:
            with self.engine.begin() as con:
                con.execute(text("UPDATE email_link SET state = :rm WHERE id = :i AND state = :st"
                                 " AND crm_link_id IS NULL"), [{"rm": REMOVED, "i": int(i), "st": LINKED} for i in row_ids])

    def confirm_removed(self, row_ids: Sequence[int]) -> None:
        """The CRM rows are gone: the links stay `removed` (the user may have re-added one meanwhile:
        that row is left alone)."""
        if row_ids:
            with self.engine.begin() as con:
                con.execute(text("UPDATE email_link SET state = :rm, crm_link_id = NULL WHERE id = :i AND state = :st"),
                            [{"rm": REMOVED, "i": int(i), "st": UNLINKING} for i in row_ids])


def _chunks(items: list, size: int = 400):  # noqa: ANN001
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["EmailLinkStore", "EmailLinkView", "EmailView", "PendingAdd", "PendingRemoval", "TargetView",
           "short_hash", "why_text"]
