"""Batch writes: parallel arrays with `__method[]` POST/PUT/DELETE (workbooks-api.md §4, §7.14-19).

All-or-nothing by default (an undo log restores every touched row), each record on its own under
`_per_object_transactions`. Versions start at 0 and move only on a real change; deletes are soft.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.sandbox.crm import formats as F
from app.sandbox.crm.metadata import TYPES, TypeDef, canonical_field
from app.sandbox.crm.query import Params, first, many
from app.sandbox.crm.store import LOCATION_TYPES, NULL, Db, FieldError, is_blank_name, person_name, rfc822_attachments, rfc822_defaults

STALE = "This record cannot be saved since it has already been updated elsewhere."
NO_VALUE = ":no_value:"
NULL_VALUE = ":null_value:"
RESERVED = frozenset({  # request-level parameters the bindings send next to the record arrays
    "client", "api_key", "api_version", "json", "callback", "jsonp", "json_utf8_encoding", "application_name",
    "user_agent", "logical_database_id", "username", "password", "session_id", "id", "lock_version",
    "api_logging_key", "api_logging_seq",
})
OPS = {"POST": "create", "PUT": "update", "DELETE": "destroy"}


@dataclass
class Ctx:
    db: Db
    t: TypeDef
    user_id: int
    now: datetime
    tz: str | None
    through: str
    my_queue: int | None
    strict_attributes: bool
    outbox: list[dict[str, Any]]
    injected: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)


class Undo:
    def __init__(self, db: Db):
        self.db = db
        self.saved: dict[tuple[str, int], dict[str, Any] | None] = {}
        self.counters = dict(db.counters)
        self.watched = {k: set(v) for k, v in db.watched.items() if v}

    def touch(self, table: str, rid: Any) -> None:
        if (table, rid) not in self.saved:
            row = self.db.tables[table].get(rid)
            self.saved[(table, rid)] = dict(row) if row is not None else None

    def rollback(self) -> None:
        for (table, rid), row in self.saved.items():
            if row is None:
                self.db.tables[table].pop(rid, None)
            else:
                self.db.tables[table][rid] = row
        for key, t in TYPES.items():
            space = t.id_space or key
            limit = self.counters.get(space, t.id_start - 1)
            if self.db.counters.get(space, 0) > limit:
                for rid in [r for r in self.db.tables[key] if r > limit]:
                    del self.db.tables[key][rid]
        self.db.counters = dict(self.counters)
        for key in self.db.watched:
            self.db.watched[key] = set(self.watched.get(key, set()))


def field_arrays(params: Params) -> dict[str, list[str]]:
    """Field name (read spelling) -> per-record values, for every non-control parameter."""
    out: dict[str, list[str]] = {}
    for key, values in params.items():
        if key.startswith("_") or key in RESERVED:
            continue
        name = key[:-2] if key.endswith("[]") else key
        if name in RESERVED:
            continue
        out[canonical_field(name)] = values
    return out


def parse(params: Params, http_method: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Records as {"method", "id", "lock_version", "values"} and protocol violations."""
    violations: list[str] = []
    methods = many(params, "__method")
    ids = list(params.get("id[]") or params.get("id") or [])
    versions = list(params.get("lock_version[]") or params.get("lock_version") or [])
    arrays = field_arrays(params)
    n = len(methods) or max([len(ids), len(versions)] + [len(v) for v in arrays.values()] + [0])
    if not methods:
        default = {"PUT": "PUT", "DELETE": "DELETE"}.get(http_method, "POST")
        methods = [default] * n
    for name, values in list(arrays.items()) + [("id", ids), ("lock_version", versions)]:
        if values and len(values) != n:
            violations.append(f"ragged arrays: {name} has {len(values)} values for {n} records")
    records = []
    for i in range(n):
        values = {}
        for name, vals in arrays.items():
            raw = vals[i] if i < len(vals) else NO_VALUE
            if raw == NO_VALUE:
                continue
            values[name] = NULL if raw == NULL_VALUE else raw
        records.append({"method": methods[i].strip().upper() if i < len(methods) else "POST",
                        "id": ids[i] if i < len(ids) else "0",
                        "lock_version": versions[i] if i < len(versions) else "0", "values": values})
    filter_ids = set()
    ff, ft, fc = many(params, "_ff"), many(params, "_ft"), many(params, "_fc")
    for i, name in enumerate(ff):
        if name.strip() == "id" and (ft[i] if i < len(ft) else "eq").strip() == "eq" and i < len(fc):
            filter_ids.update(x.strip() for x in fc[i].split(","))
    for r in records:
        if r["method"] == "POST" and (str(r["id"]).strip() != "0" or str(r["lock_version"]).strip() != "0"):
            violations.append(f"a create must send id 0 and lock_version 0, not {r['id']}/{r['lock_version']}")
    missing = [r["id"] for r in records if str(r["id"]).strip() not in filter_ids]
    if records and missing:
        violations.append(f"id filter missing or incomplete: no _ff[]=id filter for {', '.join(map(str, missing[:10]))}")
    return records, violations


def _int(text: Any, name: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise FieldError(name, "is not a number") from None


def apply_one(ctx: Ctx, rec_in: dict[str, Any], undo: Undo) -> tuple[dict[str, Any], dict[str, str], bool]:
    """Apply one record; returns (affected object, errors, stale?)."""
    db, t = ctx.db, ctx.t
    method = rec_in["method"]
    try:
        rid = _int(rec_in["id"], "id")
        version = _int(rec_in["lock_version"], "lock_version")
    except FieldError as exc:
        return {"id": rec_in["id"], "lock_version": rec_in["lock_version"]}, {exc.field: exc.message}, False
    if method not in OPS:
        return {"id": rid, "lock_version": version}, {"__method": f"'{method}' is not a valid operation"}, False
    injected = ctx.injected.pop((t.key, rid), None)
    if injected is not None:
        return {"id": rid, "lock_version": version}, {injected[0]: injected[1]}, False
    table = db.tables[t.key]
    if method == "POST":
        return _create(ctx, rec_in["values"], undo)
    row = table.get(rid)
    if row is None or row.get("is_deleted"):
        return {"id": rid, "lock_version": version}, {"id": f"{t.class_name.split('::')[-1]} {rid} not found"}, False
    if row["lock_version"] != version:
        return {"id": rid, "lock_version": row["lock_version"]}, {"lock_version": STALE}, True
    undo.touch(t.key, rid)
    if method == "DELETE":
        row["is_deleted"] = True
        row["lock_version"] += 1
        row["updated_at"], row["updated_by"] = ctx.now, ctx.user_id
        if t.key == "party_locations":
            _touch_owner(ctx, row, undo)
        return {"id": rid, "lock_version": row["lock_version"]}, {}, False
    for which in ("main_location_id", "_home_location_id"):
        if row.get(which) is not None:
            undo.touch("party_locations", row[which])
    errors, changed = _assign(ctx, row, rec_in["values"], creating=False)
    if errors:
        return {"id": rid, "lock_version": row["lock_version"]}, errors, False
    material = [c for c in changed if c != "watched"]
    if material:
        row["lock_version"] += 1
    if changed:
        # [UNKNOWN] whether watching/assigning touches updated_at; the sandbox moves it so delta
        # feeds (updated_at ge t) see records enter and leave "My People".
        row["updated_at"], row["updated_by"] = ctx.now, ctx.user_id
        changed = changed + ["updated_at", "updated_by", "updated_by_user[person_name]"]
    if material and t.key == "party_locations":
        _touch_owner(ctx, row, undo)
    out = {"id": rid, "lock_version": row["lock_version"]}
    out.update(db.render(t, row, ctx.user_id, columns=[c for c in changed if c in t.fields]))
    return out, {}, False


def _touch_owner(ctx: Ctx, loc: dict[str, Any], undo: Undo) -> None:
    """[UNKNOWN] An edit of a person's or organisation's main or home location row changes that
    record's `main_location[...]` columns; the sandbox bumps the owner's version and updated_at
    so clients comparing versions see it."""
    for key in LOCATION_TYPES:
        owner = ctx.db.tables[key].get(loc.get("party_id"))
        if owner is not None and loc["id"] in (owner.get("main_location_id"), owner.get("_home_location_id")):
            undo.touch(key, owner["id"])
            owner["lock_version"] += 1
            owner["updated_at"], owner["updated_by"] = ctx.now, ctx.user_id
            return


def _create(ctx: Ctx, values: dict[str, Any], undo: Undo) -> tuple[dict[str, Any], dict[str, str], bool]:
    db, t = ctx.db, ctx.t
    if t.key == "emails" and isinstance(values.get("rfc822"), str):
        for k, v in rfc822_defaults(values["rfc822"]).items():
            if k not in values:
                values[k] = F.fmt_datetime(v) if isinstance(v, datetime) else v
    rid = db.next_id(t)
    base: dict[str, Any] = {"name": None}
    if t.queue_class:
        base["assigned_to"] = ctx.my_queue
    if t.key == "emails":
        base["status"] = "DRAFT"
    row = db.insert(t, base, ctx.user_id, ctx.now, ctx.through, rid=rid)
    undo.touch(t.key, rid)  # records absence... then the row exists
    undo.saved[(t.key, rid)] = None
    errors, _changed = _assign(ctx, row, values, creating=True)
    if not errors:
        if t.key == "people" and not row.get("name"):
            row["name"] = person_name(row)
        if t.key in ("people", "organisations", "tasks", "meetings") and is_blank_name(row):
            errors["name"] = "can't be blank"
        if t.key == "party_locations":
            owner = db.tables["people"].get(row.get("party_id")) or db.tables["organisations"].get(row.get("party_id"))
            if owner is None:
                errors["party_id"] = f"Party {row.get('party_id')} does not exist"
            else:
                row["party_type"] = "Private::Crm::Person" if row.get("party_id") in db.tables["people"] else "Private::Crm::Organisation"
        for name, f in t.fields.items():
            if f.required and row.get(name) is None and name not in errors:
                errors[name] = "can't be blank"
        if t.key in ("activity_links", "email_links") and not errors:
            errors.update(_check_link(db, t, row))
        if t.key == "emails" and isinstance(row.get("rfc822"), str):
            row.update(rfc822_attachments(row["rfc822"]))
    if errors:
        return {"id": 0, "lock_version": 0}, errors, False
    return db.render(t, row, ctx.user_id), {}, False


LINK_TARGETS = {"Private::Crm::Person": "people", "Private::Crm::Organisation": "organisations",
                "Private::Crm::SalesLead": "sales_leads", "Private::Crm::Case": "cases",
                "Private::Crm::Opportunity": "opportunities", "Private::Activity::Task": "tasks",
                "Private::Activity::Meeting": "meetings"}


def _check_link(db: Db, t: TypeDef, row: dict[str, Any]) -> dict[str, str]:
    """Links must point at existing records of a linkable class. [UNKNOWN] whether the service
    accepts links to soft-deleted records; the sandbox does (they still exist)."""
    errors: dict[str, str] = {}
    target = LINK_TARGETS.get(str(row.get("resource_type")))
    if target is None or target in ("tasks", "meetings"):
        errors["resource_type"] = "is not included in the list"
    else:
        other = db.tables[target].get(row.get("resource_id"))
        if other is None:
            errors["resource_id"] = f"{row.get('resource_type')} {row.get('resource_id')} does not exist"
    if t.key == "activity_links":
        kind = LINK_TARGETS.get(str(row.get("activity_type")))
        activity = db.tables[kind].get(row.get("activity_id")) if kind in ("tasks", "meetings") else None
        if activity is None:
            errors["activity_id"] = f"Activity {row.get('activity_id')} does not exist"
    return errors


def _assign(ctx: Ctx, row: dict[str, Any], values: dict[str, Any], creating: bool) -> tuple[dict[str, str], list[str]]:
    db, t = ctx.db, ctx.t
    errors: dict[str, str] = {}
    changed: list[str] = []
    name_parts = False
    for name, value in values.items():
        f = t.fields.get(name)
        if f is None or not (f.createable if creating else f.updateable) or t.read_only:
            if ctx.strict_attributes:
                errors[name] = "is not a recognised attribute" if f is None else "is read only"
            continue
        try:
            if db.set_value(t, row, f, value, ctx.user_id, ctx.now, ctx.tz, creating):
                changed.append(name)
                if name.startswith("person_") and name.endswith(("_name", "_title", "_suffix")):
                    name_parts = True
        except FieldError as exc:
            errors[exc.field] = exc.message
    if t.key == "people" and name_parts and "name" not in values and not creating:
        new = person_name(row)
        if new != row.get("name"):
            row["name"] = new
            changed.append("name")
    if t.key == "emails" and row.get("status") == "SEND" and not errors:
        row["status"] = "SENT"  # never leaves the machine: the sandbox outbox is the only recipient
        ctx.outbox.append({"email_id": row["id"], "at": F.fmt_datetime(ctx.now), "subject": row.get("subject"),
                           "from_address": row.get("from_address"), "to_addresses": row.get("to_addresses"),
                           "cc_addresses": row.get("cc_addresses"), "bcc_addresses": row.get("bcc_addresses"),
                           "message_id": row.get("message_id")})
        if "status" not in changed:
            changed.append("status")
    return errors, changed


def run(ctx: Ctx, records: list[dict[str, Any]], per_object: bool) -> dict[str, Any]:
    db, t = ctx.db, ctx.t
    objects: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    object_errors: list[dict[str, list[str]]] = []
    merged: dict[str, str] = {}
    stale_any = False
    undo = Undo(db)
    for rec_in in records:
        own = Undo(db) if per_object else undo
        obj, errors, stale = apply_one(ctx, rec_in, own)
        if errors and per_object:
            own.rollback()
        objects.append(obj)
        stale_any = stale_any or stale
        object_errors.append({k: [v] for k, v in errors.items()})
        if errors:
            for k, v in errors.items():
                merged.setdefault(k, v)
            infos.append({"success": False, "errors": dict(errors), "warnings": []})
        else:
            infos.append({"success": True, "errors": [], "warnings": []})
    if merged and not per_object:
        undo.rollback()
        out: dict[str, Any] = {"success": False, "errors": {"[]": merged},
                               "affected_object_errors": object_errors,
                               "affected_object_information": [
                                   i if not i["success"] else {"success": False, "errors": [], "warnings": []}
                                   for i in infos]}
        if stale_any:
            out["failures"] = [STALE]
        return out
    immediate = ["private_crm_party", "private_crm_person"] if t.key == "people" else [t.class_name.lower().replace("::", "_")]
    return {"success": True, "affected_objects": objects, "affected_object_information": infos,
            "updates": {"data": {"immediate": immediate}}, "flash": "saved successfully"}


def strict_flag(params: Params, default: bool) -> bool:
    value = first(params, "_strict_attribute_checking")
    return default if value is None else F.as_bool(value)


def per_object_flag(params: Params, default: bool = False) -> bool:
    value = first(params, "_per_object_transactions")
    return default if value is None else F.as_bool(value)


__all__ = ["Ctx", "parse", "run", "STALE"]
