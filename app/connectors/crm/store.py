"""`CrmStore`: the CrmPort implementation over `WorkbooksClient` (app/sync/ports.py)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from app.connectors.crm import batch, mapping as M
from app.connectors.crm.client import WorkbooksClient
from app.connectors.crm.emails import EmailAdapter
from app.connectors.crm.errors import ADMIN_WHERE
from app.connectors.crm.query import PAGE_SIZE, all_of, eq_list, scan, scan_id_ranges, wire_datetime
from app.domain import filters as F
from app.domain.filters import Condition, Filter
from app.domain.records import (
    CrmEmailLink,
    CrmIdentity,
    CrmPage,
    CrmRecord,
    EmailRecord,
    HighWater,
    Kind,
    LinkTarget,
    NewItem,
    Reference,
    RefKind,
    Stamp,
    Update,
)
from app.errors import AppError, ConfigError, ItemRejected, PrerequisiteError

log = logging.getLogger("app.connectors.crm")

EPOCH = datetime(1970, 1, 2, tzinfo=timezone.utc)
LIVE_OR_DELETED = (Condition("is_deleted", "true"), Condition("is_deleted", "false"))

# (controller path, actions needed, capability area named to the admin)
REQUIREMENTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("crm/people", ("index", "create", "update"), "CRM People"),
    ("crm/party_locations", ("index",), "CRM People"),
    ("activity/tasks", ("index", "create", "update", "destroy"), "Activities"),
    ("activity/meetings", ("index", "create", "update", "destroy"), "Activities"),
    ("email/emails", ("index", "create"), "Emails"),
    ("email/email_links", ("index", "create"), "Emails"),
    ("crm/organisations", ("index",), "CRM Organisations"),
    ("crm/cases", ("index",), "CRM Cases"),
    ("crm/opportunities", ("index",), "CRM Opportunities"),
    ("crm/sales_leads", ("index",), "CRM Sales Leads"),
)


class RefType:
    def __init__(self, path: str, queue_class: str, columns: tuple[str, ...]):
        self.path, self.queue_class, self.columns = path, queue_class, columns


REF_BASE = ("id", "lock_version", "object_ref", "name", "updated_at", "is_deleted", "assigned_to")
REF_TYPES: dict[RefKind, RefType] = {
    RefKind.ORGANISATION: RefType("crm/organisations", "Private::Crm::OrganisationQueue",
                                  REF_BASE + ("main_location[email]",)),
    RefKind.CASE: RefType("crm/cases", "Private::Crm::CaseQueue",
                          REF_BASE + ("contact_person_id", "contact_email", "case_status", "case_status_id")),
    RefKind.OPPORTUNITY: RefType("crm/opportunities", "Private::Crm::OpportunityQueue",
                                 REF_BASE + ("description", "opportunity_contact_ids", "opportunity_stage",
                                             "party_id")),
    RefKind.SALES_LEAD: RefType("crm/sales_leads", "Private::Crm::SalesLeadQueue",
                                REF_BASE + ("person_lead_party_id", "org_lead_party_id", "sales_lead_status_type",
                                            "person_lead_party[main_location[email]]")),
}
LEAD_EMAIL_FIELD = "person_lead_party[main_location[email]]"


class CrmStore:
    """CrmPort over one `WorkbooksClient`.

    `filters` (the sync filters per kind) or `extra_columns` add raw columns to every read of a
    kind, so `changes_since` records carry what local filter evaluation needs; the columns of a
    filter passed to `list_scope` are selected automatically for that listing.
    """

    def __init__(
        self,
        client: WorkbooksClient,
        *,
        extra_columns: Mapping[Kind, Sequence[str]] | None = None,
        filters: Mapping[Kind, Filter] | None = None,
        page_size: int = PAGE_SIZE,
    ):
        self.client = client
        self.page_size = page_size
        self.extra_columns = {k: tuple(v) for k, v in (extra_columns or {}).items()}
        for kind, flt in (filters or {}).items():  # the sync filters' columns ride along in every delta
            self.extra_columns[kind] = self.extra_columns.get(kind, ()) + tuple(c.field for c in flt.conditions)
        self.emails = EmailAdapter(client, page_size=page_size)
        self._metadata: list[dict[str, Any]] | None = None
        self._queues: dict[str, int] | None = None
        self._known_identity: CrmIdentity | None = None

    # --- identity and prerequisites -------------------------------------------------------------
    def use_known_identity(self, ident: CrmIdentity) -> None:
        """An identity (with my queues) confirmed by an earlier run: `identity()` and
        `my_queues()` answer from it, so a key-mode cycle needs no key login just to ask."""
        self._known_identity = ident
        self._queues = {str(k): int(v) for k, v in ident.my_queues.items()}

    def identity(self) -> CrmIdentity:
        known = getattr(self, "_known_identity", None)
        if known is not None:
            return known
        info = self.client.login_info()
        return CrmIdentity(
            user_id=str(info.get("user_id", "")),
            login_name=str(info.get("login_name", "")),
            person_name=str(info.get("person_name", "")),
            database_id=str(info.get("logical_database_id", "")),
            database_name=str(info.get("database_name", "")),
            my_queues=self.my_queues(),
        )

    def my_queues(self) -> dict[str, int]:
        """Queue class name -> my queue id: login `my_queues`, else person queues by owner_id."""
        if self._queues is None:
            info = self.client.login_info()
            queues = {str(k): int(v) for k, v in (info.get("my_queues") or {}).items() if M.as_int(v) is not None}
            if not queues and info.get("user_id") is not None:
                queues = self._queues_by_owner(info["user_id"])
            self._queues = queues
        return self._queues

    def _queues_by_owner(self, user_id: Any) -> dict[str, int]:
        flt = Filter((Condition("owner_id", "eq", str(user_id)), Condition("queue_type", "eq", "user")), "and")
        for rows, _done in self._scan("crm/person_queues", ("id", "owner_id", "queue_type", "type"), flt):
            for row in rows:
                return {"Private::Crm::PersonQueue": int(row["id"])}
        return {}

    def my_queue(self, queue_class: str) -> int | None:
        return self.my_queues().get(queue_class)

    def metadata(self) -> list[dict[str, Any]]:
        if self._metadata is None:
            body = self.client.read("metadata/types.api", [])
            self._metadata = [r for r in body.get("data") or () if isinstance(r, dict)]
        return self._metadata

    def missing_prerequisites(self) -> list[str]:
        by_path = {str(r.get("controller_path", "")).strip("/"): r for r in self.metadata()}
        missing: list[str] = []
        for path, actions, area in REQUIREMENTS:
            row = by_path.get(path)
            if row is None:
                text = (f"{area} ({path}) is not available in this Workbooks database: ask your Workbooks "
                        f"administrator to enable it for your licence and to give you the 'View {area}' "
                        f"capability ({ADMIN_WHERE}).")
            else:
                permitted = {str(a.get("name")): bool(a.get("permitted")) for a in row.get("actions") or ()
                             if isinstance(a, dict)}
                lacking = [a for a in actions if not permitted.get(a, False)]
                if not lacking:
                    continue
                capability = f"View {area}" if "index" in lacking else f"Modify {area}"
                text = (f"{capability}: ask your Workbooks administrator to give you this capability "
                        f"({ADMIN_WHERE}); without it the connector cannot {_verbs(lacking)} {path}.")
            if text not in missing:
                missing.append(text)
        return missing

    def writable_fields(self, path: str, *, creating: bool) -> set[str] | None:
        """Names metadata confirms as createable/updateable for `path`; None when unknown."""
        try:
            rows = self.metadata()
        except AppError as exc:
            log.info("metadata unavailable (%s); writing unconfirmed fields", type(exc).__name__)
            return None
        row = next((r for r in rows if str(r.get("controller_path", "")).strip("/") == path), None)
        if row is None or not row.get("fields"):
            return None
        flag = "is_createable" if creating else "is_updateable"
        return {str(f.get("name")) for f in row["fields"] if isinstance(f, dict) and f.get(flag, True)}

    def _confirmed(self, path: str, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        allowed = self.writable_fields(path, creating=creating)
        if allowed is None:
            return fields
        dropped = sorted(k for k in fields if k not in allowed)
        if dropped:
            log.info("not writing %s to %s: not in this database's metadata", ", ".join(dropped), path)
        return {k: v for k, v in fields.items() if k in allowed}

    def check_prerequisites(self) -> None:
        missing = self.missing_prerequisites()
        if missing:
            raise PrerequisiteError(" ".join(missing), missing=tuple(missing))

    # --- reads ----------------------------------------------------------------------------------
    def _columns(self, kind: Kind, flt: Filter | None = None) -> tuple[str, ...]:
        cols = M.TYPES[kind].columns + self.extra_columns.get(kind, ())
        if flt is not None:
            cols += tuple(c.field for c in flt.conditions)
        return tuple(dict.fromkeys(cols))

    def _scan(
        self, path: str, columns: Sequence[str], flt: Filter | None, *, deleted: bool = False
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Rows passing `flt` (deleted ones too when `deleted`), keyset-paged by id."""
        base = all_of(flt, Filter(LIVE_OR_DELETED, "or")) if deleted else (flt or Filter())

        def page_filter(last: Mapping[str, Any] | None) -> Filter:
            if last is None:
                return base
            return all_of(base, Filter((Condition("id", "gt", str(last.get("id"))),)))

        yield from scan(self.client.read, path + ".api", columns=columns, page_filter=page_filter,
                        sort=[("id", "ASC")], page_size=self.page_size)

    def _record(self, kind: Kind, row: Mapping[str, Any]) -> CrmRecord:
        return self._reader(kind).record(row)

    def _reader(self, kind: Kind) -> M.RecordReader:
        """Reads rows of `kind` as records owned or not by the user signed in now (a page's worth)."""
        info = self.client.known_login() or {}  # never a login just for this
        queue = (self._queues or {}).get(M.TYPES[kind].queue_class) if self._queues is not None else (
            (info.get("my_queues") or {}).get(M.TYPES[kind].queue_class))
        return M.RecordReader(kind, user_id=info.get("user_id"), my_queue=queue)

    def resolve(self, kind: Kind, flt: Filter) -> Filter:
        """MY_QUEUE -> my queue id; a `watched` condition the database cannot filter on (per the
        metadata already read) becomes never-true, so "My People" degrades to "assigned to me"."""
        if any(c.value == F.MY_QUEUE for c in flt.conditions):
            flt = F.resolve(flt, self.my_queue(M.TYPES[kind].queue_class))
        if any(c.field == "watched" for c in flt.conditions) and not self.watched_filterable(kind):
            log.warning("Workbooks cannot filter %s on 'watched'; syncing records assigned to you only",
                        M.TYPES[kind].path)
            flt = Filter(tuple(Condition("id", "blank") if c.field == "watched" else c for c in flt.conditions),
                         flt.match, flt.name)
        return flt

    def watched_filterable(self, kind: Kind) -> bool:
        """False only when already-read metadata says `watched` is not filterable for the kind."""
        if self._metadata is None:
            return True
        row = next((r for r in self._metadata if str(r.get("controller_path", "")).strip("/") == M.TYPES[kind].path), None)
        for f in (row or {}).get("fields") or ():
            if isinstance(f, dict) and f.get("name") == "watched":
                return f.get("is_filterable", True) is not False
        return row is None or not row.get("fields")

    def list_scope(self, kind: Kind, flt: Filter) -> Iterator[CrmPage]:
        flt = self.resolve(kind, flt)
        cols = self._columns(kind, flt)
        pages = scan_id_ranges(self.client.read, M.TYPES[kind].path + ".api", columns=cols, base=flt or Filter(),
                               page_size=self.page_size,
                               convert=lambda rows: self._reader(kind).records(rows))  # (rows handed over)
        try:
            for records, done in pages:
                yield CrmPage(records, None, done)
        finally:
            pages.close()  # a listing left early stops its range readers and waits for them

    def changes_since(self, kind: Kind, mark: HighWater) -> Iterator[CrmPage]:
        cols = self._columns(kind)
        for rows, done, hw in self._delta(M.TYPES[kind].path, cols, mark):
            reader = self._reader(kind)
            yield CrmPage(tuple([reader.record(r) for r in rows]), hw, done)

    def _delta(
        self, path: str, columns: Sequence[str], mark: HighWater
    ) -> Iterator[tuple[list[dict[str, Any]], bool, HighWater]]:
        """Updated at or after the mark, deleted or not, ascending by (updated_at, id); rows in the
        mark's own second with ids up to `mark.last_id` are skipped (timestamps have 1 s resolution)."""
        start_key = (_second(mark.updated_at), int(mark.last_id or 0))

        def page_filter(last: Mapping[str, Any] | None) -> Filter:
            when, last_id = start_key if last is None else _key(last, start_key)
            t = wire_datetime(when)
            if last_id <= 0:
                return Filter((Condition("updated_at", "ge", t), *LIVE_OR_DELETED), "1 AND (2 OR 3)")
            return Filter(
                (Condition("updated_at", "gt", t), Condition("updated_at", "ge", t), Condition("id", "gt", str(last_id)),
                 *LIVE_OR_DELETED),
                "(1 OR (2 AND 3)) AND (4 OR 5)",
            )

        hw = mark
        for rows, done in scan(self.client.read, path + ".api", columns=tuple(dict.fromkeys((*columns, "updated_at"))),
                               page_filter=page_filter, sort=[("updated_at", "ASC"), ("id", "ASC")],
                               page_size=self.page_size):
            fresh = [r for r in rows if _key(r, start_key) > start_key]
            if rows:
                when, last_id = _key(rows[-1], start_key)
                if (when, last_id) > (_second(hw.updated_at), hw.last_id):
                    hw = HighWater(when, last_id)
            yield fresh, done, hw

    def fetch(self, kind: Kind, ids: Sequence[str]) -> list[CrmRecord]:
        out: list[CrmRecord] = []
        wanted = [str(i) for i in dict.fromkeys(ids) if str(i).strip()]
        for chunk in _chunks(wanted, 100):
            flt = Filter((Condition("id", "eq", eq_list(chunk)),))
            for rows, _done in self._scan(M.TYPES[kind].path, self._columns(kind), flt, deleted=True):
                out += [self._record(kind, r) for r in rows]
        return out

    def find_by_link(self, kind: Kind, link_ids: Sequence[str]) -> list[CrmRecord]:
        out: list[CrmRecord] = []
        for chunk in _chunks([str(x) for x in dict.fromkeys(link_ids) if x], 100):
            flt = Filter((Condition("created_through_reference", "eq", eq_list(chunk)),))
            for rows, _done in self._scan(M.TYPES[kind].path, self._columns(kind), flt, deleted=True):
                out += [self._record(kind, r) for r in rows]
        return out

    def find_by_email(self, kind: Kind, addresses: Sequence[str]) -> list[CrmRecord]:
        if kind is not Kind.PERSON:
            return []
        out: dict[str, CrmRecord] = {}
        for chunk in _chunks(_addresses(addresses), 100):
            value = eq_list(chunk)
            flt = Filter(tuple(Condition(c, "eq", value) for c in M.PERSON_EMAIL_COLUMNS), "or")
            for rows, _done in self._scan(M.TYPES[kind].path, self._columns(kind), flt):
                for r in rows:
                    out[str(r.get("id"))] = self._record(kind, r)
        return list(out.values())

    # --- writes ---------------------------------------------------------------------------------
    def create(self, kind: Kind, items: Sequence[NewItem]) -> list[CrmRecord | AppError]:
        info = M.TYPES[kind]
        queue = self.my_queue(info.queue_class)
        ops = []
        for item in items:
            fields = {k: v for k, v in M.to_wire(kind, item.fields).items() if v is not None}
            fields["created_through_reference"] = item.link_id
            if queue is not None:
                fields["assigned_to"] = queue
            fields = self._confirmed(info.path, fields, creating=True)
            ops.append(batch.Op("POST", 0, 0, fields, ref=f"new {kind.value} {item.link_id}"))
        out: list[CrmRecord | AppError] = []
        for item, res in zip(items, batch.run(self.client, info.path + ".api", ops)):
            if isinstance(res, AppError):
                out.append(res)
            else:
                row = dict(res)
                row.setdefault("created_through_reference", item.link_id)
                out.append(self._record(kind, row))
        return out

    def update(self, kind: Kind, updates: Sequence[Update]) -> list[Stamp | AppError]:
        path = M.TYPES[kind].path
        ops = [
            batch.Op("PUT", u.id, u.version, self._confirmed(path, M.to_wire(kind, u.fields, u.changed), creating=False),
                     ref=f"{kind.value} {u.id}")
            for u in updates
        ]
        return [
            r if isinstance(r, AppError) else Stamp(str(r.get("id", u.id)), str(r.get("lock_version", "")))
            for u, r in zip(updates, batch.run(self.client, M.TYPES[kind].path + ".api", ops))
        ]

    def delete(self, kind: Kind, stamps: Sequence[Stamp]) -> list[None | AppError]:
        if kind is Kind.PERSON:
            return [ItemRejected("The connector never deletes Workbooks People.", ref=s.id) for s in stamps]
        ops = [batch.Op("DELETE", s.id, s.version, {}, ref=f"{kind.value} {s.id}") for s in stamps]
        return [r if isinstance(r, AppError) else None
                for r in batch.run(self.client, M.TYPES[kind].path + ".api", ops)]

    # --- references and email ------------------------------------------------------------------
    def references_since(
        self, kind: RefKind, mark: HighWater | None
    ) -> Iterator[tuple[list[Reference], HighWater | None]]:
        rt = REF_TYPES[kind]
        queue = self.my_queue(rt.queue_class)
        for rows, _done, hw in self._delta(rt.path, rt.columns, mark or HighWater(EPOCH, 0)):
            yield [_reference(kind, r, queue) for r in rows], hw

    def owners_of_addresses(self, addresses: Sequence[str]) -> Mapping[str, list[LinkTarget]]:
        """One query per type: people (main/alternate/home), Contact Details, sales leads."""
        wanted = _addresses(addresses)
        out: dict[str, list[LinkTarget]] = {a: [] for a in wanted}
        if not wanted:
            return out
        value = eq_list(wanted)

        def add(addr: Any, target: LinkTarget) -> None:
            key = M.email(addr)
            if key in out and target not in out[key]:
                out[key].append(target)

        people = Filter(tuple(Condition(c, "eq", value) for c in M.PERSON_EMAIL_COLUMNS), "or")
        for rows, _ in self._scan("crm/people", ("id", *M.PERSON_EMAIL_COLUMNS), people):
            for r in rows:
                for c in M.PERSON_EMAIL_COLUMNS:
                    add(r.get(c), LinkTarget("person", str(r["id"])))
        locations = Filter((Condition("email", "eq", value), Condition("alternate_email", "eq", value)), "or")
        for rows, _ in self._scan("crm/party_locations", ("id", "party_id", "party_type", "email", "alternate_email"),
                                  locations):
            for r in rows:
                if r.get("party_id") is None:
                    continue
                kind = "organisation" if "organisation" in str(r.get("party_type") or "").lower() else "person"
                for c in ("email", "alternate_email"):
                    add(r.get(c), LinkTarget(kind, str(r["party_id"])))
        leads = Filter((Condition(LEAD_EMAIL_FIELD, "eq", value),))
        for rows, _ in self._scan("crm/sales_leads", ("id", LEAD_EMAIL_FIELD), leads):
            for r in rows:
                add(r.get(LEAD_EMAIL_FIELD), LinkTarget("sales_lead", str(r["id"])))
        return out

    def find_emails(self, message_ids: Sequence[str]) -> Mapping[str, str]:
        return self.emails.find(message_ids)

    def record_emails(self, emails: Sequence[EmailRecord]) -> list[str | AppError]:
        allowed = self.writable_fields("email/emails", creating=True)
        self.emails.include_body = allowed is not None and "body" in allowed
        self.emails.include_rfc822 = allowed is None or "rfc822" in allowed  # documented writable [BIND]
        return self.emails.record(emails)

    def link_emails(self, links: Sequence[tuple[str, LinkTarget]]) -> list[str | AppError]:
        return self.emails.link(links)

    def email_links_of(self, email_ids: Sequence[str]) -> list[CrmEmailLink]:
        return self.emails.links_of(email_ids)

    def unlink_emails(self, links: Sequence[CrmEmailLink]) -> list[str | AppError]:
        return self.emails.unlink(links)

    # --- conveniences ---------------------------------------------------------------------------
    def my_people(self) -> Filter:
        return self.resolve(Kind.PERSON, F.my_people())


def _verbs(actions: Iterable[str]) -> str:
    names = {"index": "read", "create": "create", "update": "update", "destroy": "delete"}
    return "/".join(names.get(a, a) for a in actions)


def _second(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).replace(microsecond=0)


def _key(row: Mapping[str, Any], default: tuple[datetime, int]) -> tuple[datetime, int]:
    when = M.parse_datetime(row.get("updated_at"))
    return (_second(when) if when else default[0], M.as_int(row.get("id")) or 0)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def _addresses(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(a for a in (M.email(x) for x in addresses) if a))


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value).strip().strip("[]").split(",")
    return tuple(s for s in (str(i).strip() for i in items) if s and s != "None")


def _reference(kind: RefKind, row: Mapping[str, Any], queue: int | None) -> Reference:
    persons: tuple[str, ...] = ()
    org = None
    emails: tuple[str, ...] = ()
    status = None
    name = M.text(row.get("name"))
    if kind is RefKind.ORGANISATION:
        emails = tuple(e for e in (M.email(row.get("main_location[email]")),) if e)
    elif kind is RefKind.CASE:
        persons = _ids(row.get("contact_person_id"))
        emails = tuple(e for e in (M.email(row.get("contact_email")),) if e)
        status = M.text(row.get("case_status")) or M.text(row.get("case_status_id"))
    elif kind is RefKind.OPPORTUNITY:
        persons = _ids(row.get("opportunity_contact_ids"))
        name = name or M.text(row.get("description"))
        status = M.text(row.get("opportunity_stage"))
    elif kind is RefKind.SALES_LEAD:
        persons = _ids(row.get("person_lead_party_id"))
        org = M.text(row.get("org_lead_party_id"))
        status = M.text(row.get("sales_lead_status_type"))
        emails = tuple(e for e in (M.email(row.get(LEAD_EMAIL_FIELD)),) if e)
    assigned = row.get("assigned_to")
    return Reference(
        kind=kind,
        id=str(row.get("id")),
        object_ref=M.text(row.get("object_ref")) or "",
        name=name or "",
        status=status,
        person_ids=persons,
        organisation_id=org,
        emails=emails,
        updated_at=M.parse_datetime(row.get("updated_at")),
        deleted=M.as_bool(row.get("is_deleted")) if row.get("is_deleted") is not None else False,
        assigned_to_me=queue is not None and assigned is not None and str(assigned) == str(queue),
    )


__all__ = ["CrmStore", "REQUIREMENTS", "ConfigError"]
