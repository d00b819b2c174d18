"""EmailStore: the `EmailJournal` of app/sync/emails.py over the journal file (design.md 4).

Uses the tables `sent_email`, `email_link`, `unmatched_address`, `crm_reference`, `cursor` and
`item_error` of app/journal/models.py on the same database as `SqlJournal`; every write method is
one transaction (a page with its token, a plan, an operation). Rows never leave this module.

The address index (O(1) per recipient) is kept as `crm_reference` rows of type "address": crm_id is
the normalised address, `person_ids_json` its owners as "type:id" (People by main, alternate, home or
Contact Details address, Sales Leads, Organisations by Contact Details), exactly as the CRM's
`owners_of_addresses` reported them. Person rows (type "person") keep the employer in
`organisation_id`; Organisation, Case, Opportunity and Sales Lead rows are the reference copy.
Bodies are never stored.

Stop-gap: the headers a not-yet-recorded message needs to be recorded later (From, To, Cc, Bcc,
size) have no column in `sent_email`, so they are kept in a small side table `email_header`
(created here if missing, dropped row by row once the message is recorded). It belongs in
models.py as `sent_email.headers_json` with a migration step.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from sqlalchemy import delete, text
from sqlmodel import Session, select

from app.domain.records import HighWater, Kind, LinkTarget, Reference, RefKind
from app.errors import AppError
from app.journal import models as m
from app.journal.db import Database, open_database
from app.sync.state import Link
from app.sync.emails import (
    EXCLUDED, PENDING, RECORDING, REF_TYPES, SENT_CURSOR, EmailError, PendingLink, PersonInfo,
    PlannedLink, Recorded, SentRow, StagedMessage,
)

HEADER_DDL = (
    "CREATE TABLE IF NOT EXISTS email_header ("
    " sent_email_id INTEGER PRIMARY KEY REFERENCES sent_email(id) ON DELETE CASCADE,"
    " headers_json TEXT NOT NULL)"
)
# Which "Related in Workbooks" block was last written onto which Outlook contact, per CRM person
# (app/sync/related_notes.py); a digest only, never the text.
RELATED_DDL = (
    "CREATE TABLE IF NOT EXISTS related_note ("
    " crm_id TEXT PRIMARY KEY, ews_item_id TEXT NOT NULL, block_digest TEXT NOT NULL)"
)
INDEX_TYPE = "address"  # crm_reference rows of the address index: crm_id = address, person_ids_json = ["type:id"]
KIND_OF_TYPE = {v: k for k, v in REF_TYPES.items()}
PERSON_DETAILS = "details"  # crm_reference.status of a person row whose employer has been read


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    """Stored the way SQLModel stores datetimes in SQLite (naive UTC text)."""
    u = _utc(value)
    return None if u is None else u.strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunked(items: list, size: int = 400):  # noqa: ANN001
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _target(text_: str):  # noqa: ANN202
    ttype, _, tid = str(text_).partition(":")
    return LinkTarget(ttype, tid) if ttype and tid else None


def _loads(text_: str | None, default):  # noqa: ANN001
    try:
        return json.loads(text_) if text_ else default
    except ValueError:
        return default


class EmailStore:
    def __init__(self, db: Database):
        self.db = db
        self.engine = db.engine
        with self.engine.begin() as con:
            con.execute(text(HEADER_DDL))
            con.execute(text(RELATED_DDL))

    def close(self) -> None:
        self.db.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- Sent Items feed ---------------------------------------------------------------------------
    def sent_token(self) -> str | None:
        with self._session() as s:
            row = s.get(m.Cursor, SENT_CURSOR)
            return row.token if row else None

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        ids = list(dict.fromkeys(message_ids))
        with self._session() as s:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                out.update(s.exec(select(m.SentEmail.internet_message_id)
                                  .where(m.SentEmail.internet_message_id.in_(chunk))))  # type: ignore[attr-defined]
        return out

    def stage_page(self, token: str, staged: Sequence[StagedMessage], gone_item_ids: Sequence[str],
                   now: datetime, expires_at: datetime | None) -> None:
        exp = _iso(expires_at)
        with self.engine.begin() as con:
            if staged:
                con.execute(text("INSERT INTO sent_email(internet_message_id, ews_item_id, sent_at, subject, state)"
                                 " VALUES (:mid, :iid, :at, :subj, :state)"),
                            [{"mid": st.message.message_id, "iid": st.message.item_id, "at": _iso(st.message.sent_at),
                              "subj": st.message.subject, "state": st.state} for st in staged])
                ids = self._ids_of(con, [st.message.message_id for st in staged])
                heads, watch = [], []
                for st in staged:
                    if st.state != PENDING:
                        continue
                    msg, sid = st.message, ids[st.message.message_id]
                    heads.append({"i": sid, "h": json.dumps({"from": msg.sender, "to": list(msg.to), "cc": list(msg.cc),
                                                              "bcc": list(msg.bcc), "size": int(msg.size or 0)})})
                    watch += [{"a": a, "i": sid, "e": exp} for a in st.addresses]
                if heads:
                    con.execute(text("INSERT OR REPLACE INTO email_header(sent_email_id, headers_json) VALUES (:i, :h)"),
                                heads)
                if watch:
                    con.execute(text("INSERT INTO unmatched_address(address, sent_email_id, expires_at) VALUES (:a, :i, :e)"),
                                watch)
            for chunk in _chunked(list(gone_item_ids)):
                # no longer in Sent Items before any match: stop watching it
                params = {f"g{k}": v for k, v in enumerate(chunk)}
                names = ",".join(f":g{k}" for k in range(len(chunk)))
                rows = [int(r[0]) for r in con.execute(text(
                    f"SELECT id FROM sent_email WHERE state = :p AND ews_item_id IN ({names})"), {"p": PENDING, **params})]
                if rows:
                    ids_sql = ",".join(str(i) for i in rows)
                    con.execute(text(f"UPDATE sent_email SET state = :x WHERE id IN ({ids_sql})"), {"x": EXCLUDED})
                    con.execute(text(f"DELETE FROM unmatched_address WHERE sent_email_id IN ({ids_sql})"))
                    con.execute(text(f"DELETE FROM email_header WHERE sent_email_id IN ({ids_sql})"))
            con.execute(text("INSERT INTO cursor(side, name, token, full_scan_done, progress_done, committed_at)"
                             " VALUES (:s, :n, :t, 1, 0, :c)"
                             " ON CONFLICT(side, name) DO UPDATE SET token = excluded.token,"
                             " committed_at = excluded.committed_at, full_scan_done = 1"),
                        {"s": SENT_CURSOR[0], "n": SENT_CURSOR[1], "t": token, "c": _iso(now)})

    @staticmethod
    def _ids_of(con, message_ids: Sequence[str]) -> dict[str, int]:  # noqa: ANN001
        out: dict[str, int] = {}
        for chunk in _chunked(list(message_ids)):
            params = {f"m{k}": v for k, v in enumerate(chunk)}
            names = ",".join(f":m{k}" for k in range(len(chunk)))
            for sid, mid in con.execute(text(f"SELECT id, internet_message_id FROM sent_email"
                                             f" WHERE internet_message_id IN ({names})"), params):
                out[mid] = int(sid)
        return out

    # --- state for matching ------------------------------------------------------------------------
    def _with_headers(self, s: Session, rows: Sequence[m.SentEmail]) -> list[SentRow]:
        heads: dict[int, dict] = {}
        ids = [r.id for r in rows if r.id is not None]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = text(f"SELECT sent_email_id, headers_json FROM email_header WHERE sent_email_id IN "
                     f"({','.join(str(int(x)) for x in chunk)})")
            for sid, hj in s.exec(q):  # type: ignore[call-overload]
                heads[int(sid)] = _loads(hj, {})
        out = []
        for r in rows:
            h = heads.get(int(r.id or 0), {})
            out.append(SentRow(
                id=int(r.id or 0), message_id=r.internet_message_id, item_id=r.ews_item_id, sent_at=_utc(r.sent_at),
                subject=r.subject or "", state=r.state, crm_email_id=r.crm_email_id, sender=h.get("from") or "",
                to=tuple(h.get("to") or ()), cc=tuple(h.get("cc") or ()), bcc=tuple(h.get("bcc") or ()),
                size=int(h.get("size") or 0)))
        return out

    def unrecorded(self) -> list[SentRow]:
        with self._session() as s:
            rows = list(s.exec(select(m.SentEmail).where(m.SentEmail.state.in_((PENDING, RECORDING)))  # type: ignore[attr-defined]
                               .order_by(m.SentEmail.id)))
            return self._with_headers(s, rows)

    def watched(self, now: datetime) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        now_u = _utc(now)
        with self._session() as s:
            for r in s.exec(select(m.UnmatchedAddress)):
                if r.sent_email_id is None:
                    continue
                if r.expires_at is not None and now_u is not None and _utc(r.expires_at) < now_u:
                    continue
                ids = out.setdefault(r.address, [])
                if r.sent_email_id not in ids:
                    ids.append(r.sent_email_id)
        return out

    def rows(self, ids: Sequence[int]) -> dict[int, SentRow]:
        with self._session() as s:
            rows: list[m.SentEmail] = []
            lst = list(ids)
            for i in range(0, len(lst), 500):
                rows += list(s.exec(select(m.SentEmail).where(m.SentEmail.id.in_(lst[i:i + 500]))))  # type: ignore[union-attr]
            return {r.id: r for r in self._with_headers(s, rows)}

    def linked_targets(self, ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
        out: dict[int, set[tuple[str, str]]] = {}
        lst = list(ids)
        with self._session() as s:
            for i in range(0, len(lst), 500):
                for r in s.exec(select(m.EmailLink).where(m.EmailLink.sent_email_id.in_(lst[i:i + 500]))):  # type: ignore[attr-defined]
                    out.setdefault(r.sent_email_id, set()).add((r.target_type, r.target_id))
        return out

    # --- address index and the reference copy ---------------------------------------------------
    def address_owners(self, addresses: Sequence[str]) -> dict[str, list[LinkTarget]]:
        """Owners of addresses the CRM has already resolved (index rows of type "address")."""
        out: dict[str, list[LinkTarget]] = {}
        with self._session() as s:
            for chunk in _chunked(list(dict.fromkeys(addresses))):
                q = select(m.CrmReference).where(m.CrmReference.crm_type == INDEX_TYPE,
                                                 m.CrmReference.crm_id.in_(chunk))  # type: ignore[attr-defined]
                for r in s.exec(q):
                    targets = [_target(x) for x in _loads(r.person_ids_json, [])]
                    out[r.crm_id] = [t for t in targets if t is not None]
        return {a: ts for a, ts in out.items() if ts}

    def save_owners(self, owners: Mapping[str, Sequence[LinkTarget]]) -> None:
        with self._session() as s:
            for addr, targets in owners.items():
                if not targets:
                    continue
                row = s.get(m.CrmReference, (INDEX_TYPE, addr)) or m.CrmReference(crm_type=INDEX_TYPE, crm_id=addr)
                have = list(_loads(row.person_ids_json, []))
                for t in targets:
                    key = f"{t.crm_type}:{t.crm_id}"
                    if key not in have:
                        have.append(key)
                row.person_ids_json = json.dumps(have)
                row.emails_json = json.dumps([addr])
                s.add(row)
            s.commit()

    def people(self, ids: Sequence[str]) -> dict[str, PersonInfo]:
        out: dict[str, PersonInfo] = {}
        lst = list(ids)
        with self._session() as s:
            for i in range(0, len(lst), 500):
                q = select(m.CrmReference).where(m.CrmReference.crm_type == "person",
                                                 m.CrmReference.crm_id.in_(lst[i:i + 500]),  # type: ignore[attr-defined]
                                                 m.CrmReference.status == PERSON_DETAILS)
                for r in s.exec(q):
                    out[r.crm_id] = PersonInfo(r.crm_id, r.name, r.object_ref, r.organisation_id)
        return out

    def save_people(self, people: Sequence[PersonInfo]) -> None:
        with self._session() as s:
            for p in people:
                row = s.get(m.CrmReference, ("person", p.id)) or m.CrmReference(crm_type="person", crm_id=p.id)
                row.name, row.object_ref, row.organisation_id = p.name, p.object_ref, p.organisation_id
                row.status = PERSON_DETAILS
                s.add(row)
            s.commit()

    def people_by_ref(self, object_refs: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with self._session() as s:
            for chunk in _chunked(list(dict.fromkeys(object_refs))):
                q = select(m.CrmReference).where(m.CrmReference.crm_type == "person",
                                                 m.CrmReference.object_ref.in_(chunk))  # type: ignore[attr-defined]
                for r in s.exec(q):
                    out[r.object_ref.upper()] = r.crm_id
        return out

    def references(self) -> list[Reference]:
        out = []
        with self._session() as s:
            q = select(m.CrmReference).where(m.CrmReference.crm_type.in_(tuple(KIND_OF_TYPE)))  # type: ignore[attr-defined]
            for r in s.exec(q):
                out.append(Reference(
                    kind=KIND_OF_TYPE[r.crm_type], id=r.crm_id, object_ref=r.object_ref, name=r.name, status=r.status,
                    person_ids=tuple(_loads(r.person_ids_json, [])), organisation_id=r.organisation_id,
                    emails=tuple(_loads(r.emails_json, [])), deleted=not r.in_scope))
        return out

    def ref_mark(self, kind: RefKind) -> HighWater | None:
        with self._session() as s:
            row = s.get(m.Cursor, ("crm", f"ref:{kind.value}"))
            if row is None or row.high_water_at is None:
                return None
            return HighWater(_utc(row.high_water_at), int(row.high_water_id or 0))  # type: ignore[arg-type]

    def save_references(self, kind: RefKind, refs: Sequence[Reference], mark: HighWater | None) -> None:
        ttype = REF_TYPES[kind]
        with self._session() as s:
            try:
                for ref in refs:
                    row = s.get(m.CrmReference, (ttype, ref.id)) or m.CrmReference(crm_type=ttype, crm_id=ref.id)
                    row.object_ref, row.name, row.status = ref.object_ref, ref.name, ref.status
                    row.person_ids_json = json.dumps(list(ref.person_ids))
                    row.organisation_id = ref.organisation_id
                    row.emails_json = json.dumps([e.lower() for e in ref.emails])
                    row.in_scope = not ref.deleted
                    s.add(row)
                if mark is not None:
                    cur = s.get(m.Cursor, ("crm", f"ref:{kind.value}")) or m.Cursor(side="crm", name=f"ref:{kind.value}")
                    cur.high_water_at, cur.high_water_id = _utc(mark.updated_at), int(mark.last_id or 0)
                    cur.token = f"{_utc(mark.updated_at).isoformat()}|{int(mark.last_id or 0)}"  # type: ignore[union-attr]
                    cur.committed_at = datetime.now(timezone.utc)
                    s.add(cur)
                s.commit()
            except Exception:
                s.rollback()
                raise

    # --- recording --------------------------------------------------------------------------------
    def mark_state(self, ids: Sequence[int], state: str) -> None:
        with self.engine.begin() as con:
            for chunk in _chunked([int(i) for i in ids]):
                con.execute(text(f"UPDATE sent_email SET state = :s WHERE id IN ({','.join(map(str, chunk))})"),
                            {"s": state})

    def save_recorded(self, outcomes: Sequence[Recorded]) -> None:
        if not outcomes:
            return
        with self.engine.begin() as con:
            ids = [o.sent_email_id for o in outcomes]
            have: set[tuple[int, str, str]] = set()
            for chunk in _chunked(ids):
                have |= {(int(a), b, c) for a, b, c in con.execute(text(
                    f"SELECT sent_email_id, target_type, target_id FROM email_link"
                    f" WHERE sent_email_id IN ({','.join(map(str, chunk))})"))}
            con.execute(text("UPDATE sent_email SET state = :s, crm_email_id = :c WHERE id = :i"),
                        [{"s": o.state, "c": o.crm_email_id, "i": o.sent_email_id} for o in outcomes])
            links = [ln for o in outcomes for ln in o.links
                     if (ln.sent_email_id, ln.target.crm_type, ln.target.crm_id) not in have]
            self._insert_links(con, links)
            gone = [{"i": o.sent_email_id, "a": a} for o in outcomes for a in o.matched_addresses]
            if gone:
                con.execute(text("DELETE FROM unmatched_address WHERE sent_email_id = :i AND address = :a"), gone)
            con.execute(text("DELETE FROM email_header WHERE sent_email_id = :i"), [{"i": i} for i in ids])

    @staticmethod
    def _insert_links(con, links: Sequence[PlannedLink]) -> None:  # noqa: ANN001
        if links:
            con.execute(text("INSERT INTO email_link(sent_email_id, target_type, target_id, matched_address, reason,"
                             " retroactive) VALUES (:i, :t, :d, :a, :r, :x)"),
                        [{"i": ln.sent_email_id, "t": ln.target.crm_type, "d": ln.target.crm_id,
                          "a": ln.matched_address, "r": ln.reason, "x": bool(ln.retroactive)} for ln in links])

    def add_links(self, links: Sequence[PlannedLink], matched: Sequence[tuple[int, str]]) -> None:
        with self.engine.begin() as con:
            self._insert_links(con, links)
            if matched:
                con.execute(text("DELETE FROM unmatched_address WHERE sent_email_id = :i AND address = :a"),
                            [{"i": i, "a": a} for i, a in matched])

    def pending_links(self) -> list[PendingLink]:
        with self._session() as s:
            q = (select(m.EmailLink, m.SentEmail.crm_email_id)
                 .join(m.SentEmail, m.SentEmail.id == m.EmailLink.sent_email_id)  # type: ignore[arg-type]
                 .where(m.EmailLink.crm_link_id == None, m.SentEmail.crm_email_id != None,  # noqa: E711
                        # links the user added or removed go through app/sync/email_link_edits.py
                        m.EmailLink.state == "linked", m.EmailLink.reason != "manual")
                 .order_by(m.EmailLink.id))
            return [PendingLink(int(ln.id or 0), ln.sent_email_id, str(cid), LinkTarget(ln.target_type, ln.target_id))
                    for ln, cid in s.exec(q)]

    def retroactive_link_ids(self, ids: Sequence[int]) -> list[int]:
        out: list[int] = []
        lst = list(ids)
        with self._session() as s:
            for i in range(0, len(lst), 500):
                out += [int(x) for x in s.exec(select(m.EmailLink.id).where(
                    m.EmailLink.id.in_(lst[i:i + 500]), m.EmailLink.retroactive == True))]  # type: ignore[union-attr]  # noqa: E712
        return out

    def confirm_links(self, done: Sequence[tuple[int, str]]) -> None:
        if done:
            with self.engine.begin() as con:
                con.execute(text("UPDATE email_link SET crm_link_id = :c WHERE id = :i"),
                            [{"c": c, "i": int(i)} for i, c in done])

    def touch_probe(self, addresses: Sequence[str], now: datetime) -> None:
        with self.engine.begin() as con:
            for chunk in _chunked(list(addresses)):
                params = {f"a{k}": v for k, v in enumerate(chunk)}
                names = ",".join(f":a{k}" for k in range(len(chunk)))
                con.execute(text(f"UPDATE unmatched_address SET last_probe_at = :now WHERE address IN ({names})"),
                            {"now": _iso(now), **params})

    def prune_watch(self, now: datetime) -> int:
        """Expired watch rows go; pending messages with nothing left to watch are excluded."""
        with self.engine.begin() as con:
            con.execute(text("DELETE FROM unmatched_address WHERE expires_at IS NOT NULL AND expires_at < :now"),
                        {"now": _iso(now)})
            ids = [int(r[0]) for r in con.execute(text(
                "SELECT id FROM sent_email WHERE state = :p AND NOT EXISTS"
                " (SELECT 1 FROM unmatched_address u WHERE u.sent_email_id = sent_email.id)"), {"p": PENDING})]
            for chunk in _chunked(ids):
                ids_sql = ",".join(map(str, chunk))
                con.execute(text(f"UPDATE sent_email SET state = :x WHERE id IN ({ids_sql})"), {"x": EXCLUDED})
                con.execute(text(f"DELETE FROM email_header WHERE sent_email_id IN ({ids_sql})"))
            return len(ids)

    # --- per-item back-off ----------------------------------------------------------------------
    def email_errors(self) -> dict[str, EmailError]:
        with self._session() as s:
            return {r.key: EmailError(r.key, r.attempts, _utc(r.retry_after))
                    for r in s.exec(select(m.ItemErrorRow).where(m.ItemErrorRow.kind == "email"))}

    def save_error(self, key: str, label: str, err: AppError, attempts: int, now: datetime, retry_at: datetime) -> None:
        with self._session() as s:
            s.merge(m.ItemErrorRow(key=key, remote_id=label, side="crm", kind="email", op="record_email",
                                   error_class=type(err).__name__, title=err.title, message=err.message,
                                   attempts=attempts, last_try_at=_utc(now), retry_after=_utc(retry_at)))
            s.commit()

    def clear_errors(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self._session() as s:
            s.exec(delete(m.ItemErrorRow).where(m.ItemErrorRow.key.in_(list(keys))))  # type: ignore[call-overload,attr-defined]
            s.commit()

    def capture_start(self, now: datetime) -> datetime:
        """The day sent mail is captured from: the first email run on this journal (setup day)."""
        with self.engine.begin() as con:
            row = con.execute(text("SELECT value FROM meta WHERE key = 'email_capture_start'")).fetchone()
            if row is not None:
                return _utc(datetime.fromisoformat(row[0]))  # type: ignore[return-value]
            start = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)  # type: ignore[union-attr]
            con.execute(text("INSERT INTO meta(key, value) VALUES ('email_capture_start', :v)"), {"v": start.isoformat()})
            return start

    # --- the "Related in Workbooks" block ------------------------------------------------------------
    def shared_contacts(self) -> list[Link]:
        """Shared Person links, light: ids, ChangeKey and the CRM company only (one narrow query,
        no JSON decoding of whole records; 10,000 contacts are read in a fraction of a second).
        Not for writing back: the journal's full link is read for that."""
        with self.engine.begin() as con:
            rows = con.execute(text(
                "SELECT id, ews_item_id, ews_change_key, crm_id, json_extract(crm_json, '$.company'),"
                " json_extract(base_json, '$.company') FROM item_link"
                " WHERE kind = 'person' AND state = 'shared' AND ews_item_id IS NOT NULL AND crm_id IS NOT NULL"))
            return [Link(id=str(i), kind=Kind.PERSON, ews_item_id=str(iid), ews_change_key=ck, crm_id=str(cid),
                         crm_fields={"company": company or base_company} if (company or base_company) else {})
                    for i, iid, ck, cid, company, base_company in rows]

    def related_written(self, person_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """CRM person id -> (Outlook item id, block digest) of the block last written there."""
        out: dict[str, tuple[str, str]] = {}
        with self.engine.begin() as con:
            for chunk in _chunked(list(dict.fromkeys(person_ids))):
                params = {f"p{k}": v for k, v in enumerate(chunk)}
                names = ",".join(f":p{k}" for k in range(len(chunk)))
                for cid, iid, dig in con.execute(text(
                        f"SELECT crm_id, ews_item_id, block_digest FROM related_note WHERE crm_id IN ({names})"), params):
                    out[str(cid)] = (str(iid), str(dig))
        return out

    def save_related_written(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """(person id, Outlook item id, digest) per contact written, in one transaction."""
        if rows:
            with self.engine.begin() as con:
                con.execute(text("INSERT INTO related_note(crm_id, ews_item_id, block_digest) VALUES (:c, :i, :d)"
                                 " ON CONFLICT(crm_id) DO UPDATE SET ews_item_id = excluded.ews_item_id,"
                                 " block_digest = excluded.block_digest"),
                            [{"c": c, "i": i, "d": d} for c, i, d in rows])

    # --- read-side helpers (explain / history) ----------------------------------------------------
    def explain_address(self, address: str, *, never_record: Sequence[str] = (),
                        own_domains: Sequence[str] = ()) -> dict:
        return explain_address(self.db, address, never_record=never_record, own_domains=own_domains)

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            out: dict[str, int] = {}
            for state in ("pending_match", "recorded", "excluded", "too_large", "recording"):
                out[state] = len(s.exec(select(m.SentEmail.id).where(m.SentEmail.state == state)).all())
            out["links"] = len(s.exec(select(m.EmailLink.id).where(m.EmailLink.crm_link_id != None,  # noqa: E711
                                                                   m.EmailLink.state == "linked")).all())
            return out


REASON_TEXT = {
    "manual": "linked by you",
    "subject_ref": "its reference is in the subject",
    "employer": "employer of a person the mail went to",
    "domain": "organisation with the address's domain",
}


def with_state(why: str, state: str | None) -> str:
    """A link's reason in words, with what the user did to it (B36)."""
    if state == "unlinking":
        return f"removed by you, to be taken out of Workbooks at the next sync (was: {why})"
    if state == "removed":
        return f"removed by you (was: {why}); it is not linked again automatically"
    return why


def _address_reason(target_type: str, target_id: str, address: str, main: dict[str, set[str]]) -> str:
    """Why `address` belongs to the record, in the terms of the explain command."""
    if target_type == "person":
        if target_id not in main:  # not synced, so its own addresses are not known here
            return "matched one of the person's addresses (main, alternate, home or Contact Details)"
        if address in main[target_id]:
            return "matched the person's main, alternate or home address"
        return "matched an address in the person's Contact Details"
    if target_type == "sales_lead":
        return "matched the Sales Lead's address"
    if target_type == "organisation":
        return "matched an address in the organisation's Contact Details"
    return "matched the address"


def explain_address(db: Database, address: str, *, never_record: Sequence[str] = (),
                    own_domains: Sequence[str] = ()) -> dict:
    """Read-only: the records an address belongs to, the sent emails recorded and linked through
    it and why, and the emails still waiting for it. Works on a read-only connection."""
    from app.domain.matching import normalise_address
    from app.sync.emails import NeverRecord, domain_of

    addr = normalise_address(address) or address.strip().lower()
    with Session(db.engine) as s:
        index = s.get(m.CrmReference, (INDEX_TYPE, addr))
        owners = [t for t in (_target(x) for x in _loads(index.person_ids_json if index else None, [])) if t]
        names = {(r.crm_type, r.crm_id): r.name for r in s.exec(select(m.CrmReference).where(
            m.CrmReference.crm_id.in_([t.crm_id for t in owners] or [""])))}  # type: ignore[attr-defined]
        main: dict[str, set[str]] = {}
        for link in s.exec(select(m.ItemLink).where(m.ItemLink.kind == "person",
                                                    m.ItemLink.crm_id.in_([t.crm_id for t in owners] or [""]))):  # type: ignore[union-attr]
            fields = _loads(link.crm_json, {}) or {}
            main[str(link.crm_id)] = {str(fields.get(f) or "").lower() for f in ("email1", "email2", "email3")}
            names.setdefault(("person", str(link.crm_id)), " ".join(
                str(fields.get(f) or "") for f in ("first_name", "last_name")).strip())
        direct = s.exec(select(m.EmailLink).where(m.EmailLink.matched_address == addr)).all()
        sent_ids = sorted({ln.sent_email_id for ln in direct})
        waiting_ids = sorted({w.sent_email_id for w in s.exec(select(m.UnmatchedAddress).where(
            m.UnmatchedAddress.address == addr)) if w.sent_email_id is not None})
        rows = {r.id: r for r in s.exec(select(m.SentEmail).where(
            m.SentEmail.id.in_(sorted(set(sent_ids) | set(waiting_ids)) or [0])))}  # type: ignore[union-attr]
        every = s.exec(select(m.EmailLink).where(m.EmailLink.sent_email_id.in_(sent_ids or [0]))).all()  # type: ignore[attr-defined]
    by_email: dict[int, list[dict]] = {}
    for ln in every:
        if ln.matched_address == addr and ln.reason == "address":
            why = _address_reason(ln.target_type, ln.target_id, addr, main)
        else:
            why = REASON_TEXT.get(ln.reason, ln.reason)
        by_email.setdefault(ln.sent_email_id, []).append({
            "type": ln.target_type, "id": ln.target_id, "reason": ln.reason, "why": with_state(why, ln.state),
            "state": ln.state or "linked", "late": bool(ln.retroactive),
            "in_workbooks": ln.crm_link_id is not None and ln.state != "removed"})
    emails = [{"sent_at": _iso_out(rows[i].sent_at), "subject": rows[i].subject, "state": rows[i].state,
               "workbooks_email_id": rows[i].crm_email_id, "links": by_email.get(i, [])}
              for i in sent_ids if i in rows]
    waiting = [{"sent_at": _iso_out(rows[i].sent_at), "subject": rows[i].subject, "state": rows[i].state}
               for i in waiting_ids if i in rows and i not in set(sent_ids)]
    own = {d.lower().lstrip("@") for d in own_domains if d}
    if addr in NeverRecord.build(never_record):
        status, text_ = "never_recorded", "never recorded: on the never-log list"
    elif own and domain_of(addr) in own:
        status, text_ = "never_recorded", "never recorded: your own domain is on the never-log list"
    elif owners or emails:
        status, text_ = "linked", "sent mail to this address is recorded and linked"
    else:
        status, text_ = "waiting", "waiting: no CRM record has this address yet"
    return {
        "address": addr, "status": status, "explanation": text_,
        "owners": [{"type": t.crm_type, "id": t.crm_id, "name": names.get((t.crm_type, t.crm_id), ""),
                    "why": _address_reason(t.crm_type, t.crm_id, addr, main)} for t in owners],
        "emails": emails, "waiting": waiting,
        "emails_linked": len(emails), "emails_waiting": len(waiting),
    }


def _iso_out(value: datetime | None) -> str | None:
    u = _utc(value)
    return u.isoformat() if u else None


def open_email_store(path: Path | str | None) -> EmailStore:
    """An EmailStore on its own connection pool (tests, tools). In the engine, build it over the
    journal's Database instead: `EmailStore(sql_journal.db)`."""
    return EmailStore(open_database(path))
