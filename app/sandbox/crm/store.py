"""One Workbooks database: tables of records, derived columns, value parsing and rendering.

Records are stored as flat dicts of *stored* columns. Derived columns (object_ref, object_url,
watched, assigned_to_name, main_location[...] of people and organisations, the `_date`/`_datetime`
views of var_date_time fields, ...) are computed on read by `Db.get` and `Db.render`, so they can
never drift from their sources. People's and organisations' `main_location[...]`/`home_location[...]`
live in `crm/party_locations` rows, as in Workbooks, so a search there finds every address.
"""
from __future__ import annotations

import base64
import json
import email.parser
import email.policy
import email.utils
import re
from bisect import insort
from datetime import date, datetime, timezone
from typing import Any, Callable

from app.sandbox.crm import formats as F
from app.sandbox.crm.metadata import TYPES, Field, TypeDef

LOCATION_TYPES = ("people", "organisations")
NULL = object()  # internal marker for an explicit :null_value:


class FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def dbref(instance_id: int) -> str:
    """reverse(base64(str(database_instance_id + 17))) - workbooks-api.md §5.0."""
    return base64.b64encode(str(instance_id + 17).encode()).decode()[::-1]


class Table(dict):
    """One table, rows by id, that also knows its ids in order: a keyset page ("id > last id")
    bisects them instead of sorting the table for every page. Only a change of the id set drops
    the order (a row replaced under its own id keeps it); the index is rebuilt on the next ask."""

    __slots__ = ("_ids",)

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self._ids: list[int] | None = None

    def sorted_ids(self) -> list[int]:
        if self._ids is None:
            self._ids = sorted(self)
        return self._ids

    def __setitem__(self, key: int, value: dict[str, Any]) -> None:
        if key not in self and self._ids is not None:
            if self._ids and key > self._ids[-1]:
                self._ids.append(key)  # the usual insert: a new highest id
            else:
                insort(self._ids, key)
        super().__setitem__(key, value)

    def __delitem__(self, key: int) -> None:
        super().__delitem__(key)
        self._ids = None

    def pop(self, *args: Any) -> Any:
        self._ids = None
        return super().pop(*args)

    def popitem(self) -> Any:
        self._ids = None
        return super().popitem()

    def clear(self) -> None:
        self._ids = None
        super().clear()

    def update(self, *args: Any, **kw: Any) -> None:
        self._ids = None
        super().update(*args, **kw)

    def setdefault(self, key: int, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> "Table":
        self.update(other)
        return self


class Db:
    def __init__(self, db_id: int, name: str, instance_id: int, created_at: datetime):
        self.id = db_id
        self.name = name
        self.instance_id = instance_id
        self.created_at = created_at
        self.tables: dict[str, dict[int, dict[str, Any]]] = {k: Table() for k in TYPES}
        self.counters: dict[str, int] = {}
        self.watched: dict[str, set[tuple[int, int]]] = {k: set() for k in TYPES}
        self.users: dict[int, Any] = {}  # filled by the sandbox (shared user objects)
        self.service_url = ""
        self.permissions: Callable[[int, str, str], bool] = lambda _u, _t, _a: True

    # --- ids and inserts ----------------------------------------------------------------------
    def next_id(self, t: TypeDef) -> int:
        space = t.id_space or t.key
        value = self.counters.get(space, t.id_start - 1) + 1
        self.counters[space] = value
        return value

    def insert(self, t: TypeDef, values: dict[str, Any], user_id: int, now: datetime,
               through: str = "Workbooks", rid: int | None = None) -> dict[str, Any]:
        rid = rid if rid is not None else self.next_id(t)
        rec = {"id": rid, "lock_version": 0, "created_at": now, "created_by": user_id, "updated_at": now,
               "updated_by": user_id, "created_through": through, "is_deleted": False, "owner_id": user_id}
        if "created_through_reference" in t.fields:
            rec["created_through_reference"] = None
        rec.update(values)
        self.tables[t.key][rid] = rec
        return rec

    def location_row(self, rec: dict[str, Any], t: TypeDef, which: str, create: bool, user_id: int,
                     now: datetime) -> dict[str, Any] | None:
        key = "main_location_id" if which == "main_location" else "_home_location_id"
        loc_id = rec.get(key)
        locs = self.tables["party_locations"]
        if loc_id in locs and not locs[loc_id].get("is_deleted"):
            return locs[loc_id]
        if not create:
            return None
        row = self.insert(TYPES["party_locations"], {
            "party_id": rec["id"], "party_type": t.class_name,
            "location_name": "Work" if which == "main_location" else "Home", "name": "Work" if which == "main_location" else "Home",
        }, user_id, now)
        rec[key] = row["id"]
        return row

    # --- reading -------------------------------------------------------------------------------
    def user_name(self, user_id: Any) -> str | None:
        u = self.users.get(user_id)
        return u.name if u is not None else None

    def get(self, t: TypeDef, rec: dict[str, Any], name: str, user_id: int) -> Any:
        """Internal value of a column (stored or derived); None for unknown columns."""
        if name in rec:
            return rec[name]
        getter = _DERIVED.get(name)
        if getter is not None:
            return getter(self, t, rec, user_id)
        if "[" in name:
            head, _, rest = name.partition("[")
            if head in ("main_location", "home_location") and t.key in LOCATION_TYPES:
                row = self.location_row(rec, t, head, False, 0, rec["updated_at"])
                part = rest[:-1]
                if part == "email_address_undeliverable" and row is not None:
                    return bool(row.get(part, False))
                return row.get(part) if row is not None else None
        elif name.endswith(("_date", "_datetime")) and t.fields.get(name) is not None:
            base = name.rsplit("_", 1)[0]
            if t.fields.get(base) is not None and t.fields[base].datatype == "var_date_time":
                vdt = rec.get(base)
                return F.vdt_date(vdt) if name.endswith("_date") else F.vdt_instant(vdt)
        return None

    def render(self, t: TypeDef, rec: dict[str, Any], user_id: int, columns: list[str] | None = None,
               fmt: dict[str, str] | None = None) -> dict[str, Any]:
        return self.renderer(t, user_id, columns, fmt)(rec)

    def renderer(self, t: TypeDef, user_id: int, columns: list[str] | None = None,
                 fmt: dict[str, str] | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """`render` for many records with the same columns: what each column needs (a stored
        value, a derived one, a party location) and how its type goes on the wire is worked out
        once, and a record's main/home location is looked up once, not once per location column.
        Each value is `to_wire(field, self.get(...))`, as for a single record."""
        names = list(t.fields) if columns is None else columns
        order: list[str] = []
        stored: list[str] = []  # columns a record holds or lacks (then None)
        located: dict[str, list[tuple[str, str, bool]]] = {}  # location id column -> (name, part, as bool)
        other: list[tuple[str, int, Any]] = []  # derived columns and views: computed
        converted: list[tuple[str, Callable[[Any], Any]]] = []
        for name in names:
            f = t.fields.get(name)
            if f is None:
                continue
            order.append(name)
            source, arg = self._column_source(t, name)
            if source == _STORED:
                stored.append(name)
            elif source == _LOCATION:
                located.setdefault(arg[0], []).append((name, arg[1], arg[2]))
            else:
                other.append((name, source, arg))
            convert = _wire_converter(f, fmt)
            if convert is not None:
                converted.append((name, convert))
        by_location = list(located.items())
        get = self.get
        locations = self.tables["party_locations"]

        def render_one(rec: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = dict.fromkeys(order)  # the columns' order; None unless found below
            for name in stored:
                if name in rec:
                    out[name] = rec[name]
            for key, cols in by_location:
                row = _live_location(locations, rec.get(key))
                for name, part, as_bool in cols:
                    if name in rec:
                        out[name] = rec[name]
                    elif row is not None:
                        out[name] = bool(row.get(part, False)) if as_bool else row.get(part)
            for name, source, arg in other:
                if name in rec:
                    out[name] = rec[name]
                elif source == _DERIVED_COLUMN:
                    out[name] = arg(self, t, rec, user_id)
                else:
                    out[name] = get(t, rec, name, user_id)
            for name, convert in converted:
                out[name] = convert(out[name])
            return out

        return render_one

    def _column_source(self, t: TypeDef, name: str) -> tuple[int, Any]:
        """How `get` finds a column that a record does not store: (kind, argument)."""
        getter = _DERIVED.get(name)
        if getter is not None:
            return _DERIVED_COLUMN, getter
        if "[" in name:
            head, _, rest = name.partition("[")
            if head in ("main_location", "home_location") and t.key in LOCATION_TYPES:
                part = rest[:-1]
                key = "main_location_id" if head == "main_location" else "_home_location_id"
                return _LOCATION, (key, part, part == "email_address_undeliverable")
            return _STORED, None
        if name.endswith(("_date", "_datetime")) and t.fields.get(name) is not None:
            return _GENERAL, None  # a var_date_time view: `get` decides
        return _STORED, None

    # --- writing -------------------------------------------------------------------------------
    def set_value(self, t: TypeDef, rec: dict[str, Any], f: Field, value: Any, user_id: int, now: datetime,
                  tz_name: str | None, creating: bool) -> bool:
        """Apply one parsed wire value (str or NULL); returns whether anything changed."""
        name = f.name
        parsed = None if value is NULL else parse_input(f, value, tz_name)
        if parsed is None and f.required:
            raise FieldError(name, "can't be blank")
        if name == "watched":
            key = (user_id, rec["id"])
            had = key in self.watched[t.key]
            if bool(parsed) and not had:
                self.watched[t.key].add(key)
            elif not parsed and had:
                self.watched[t.key].discard(key)
            return bool(parsed) != had
        if name == "assigned_to" and parsed is None:
            # [UNKNOWN] a null assignment; the sandbox files the record in the Unassigned queue.
            parsed = next((q["id"] for q in self.tables[_queue_key(t)].values() if q.get("queue_type") == "Unassigned"), None)
        if name == "assigned_to" and parsed is not None:
            queues = self.tables[_queue_key(t)]
            if parsed not in queues:
                raise FieldError(name, f"'{parsed}' is not a valid queue")
        if name == "employer_link" and parsed is not None:
            org = self.tables["organisations"].get(parsed)
            if org is None or org.get("is_deleted"):
                raise FieldError(name, f"Organisation {parsed} does not exist")
            changed = rec.get(name) != parsed or rec.get("employer_name") != org.get("name")
            rec[name], rec["employer_name"] = parsed, org.get("name")
            return changed
        if name == "employer_name" and t.key == "people":
            # [UNKNOWN] how Workbooks links a typed employer name; the sandbox links an existing
            # organisation of that name (case-insensitive) and otherwise unlinks, never creating one.
            org_id = None
            if parsed:
                org_id = next((o["id"] for o in self.tables["organisations"].values()
                               if not o.get("is_deleted") and str(o.get("name") or "").lower() == parsed.lower()), None)
            changed = rec.get(name) != parsed or rec.get("employer_link") != org_id
            rec[name], rec["employer_link"] = parsed, org_id
            return changed
        if name in ("contact_person_id", "primary_contact_id") and parsed is not None:
            if parsed not in self.tables["people"]:
                raise FieldError(name, f"Person {parsed} does not exist")
        if name == "email_id" and parsed is not None and parsed not in self.tables["emails"]:
            raise FieldError(name, f"Email {parsed} does not exist")
        if "[" in name and name.split("[", 1)[0] in ("main_location", "home_location") and t.key in LOCATION_TYPES:
            head = name.split("[", 1)[0]
            part = name[len(head) + 1:-1]
            row = self.location_row(rec, t, head, parsed is not None, user_id, now)
            if row is None or row.get(part) == parsed:
                return False
            row[part] = parsed
            row["lock_version"] += 1
            row["updated_at"], row["updated_by"] = now, user_id
            return True
        if f.datatype in ("date", "datetime") and name.endswith(("_date", "_datetime")):
            base = name.rsplit("_", 1)[0]
            bf = t.fields.get(base)
            if bf is not None and bf.datatype == "var_date_time":
                if parsed is None:
                    new = None
                elif name.endswith("_date"):
                    new = F.parse_vdt_input(parsed.isoformat(), tz_name)
                else:
                    new = F.make_vdt(parsed, True, tz_name)
                changed = rec.get(base) != new
                rec[base] = new
                return changed
        if name == "refcode" and parsed and t.key in LOCATION_TYPES:
            for other in self.tables[t.key].values():
                if other.get("refcode") == parsed and other["id"] != rec.get("id") and not other.get("is_deleted"):
                    raise FieldError(name, f"'{parsed}' is already used")
        if name == "status" and t.key == "emails" and parsed is not None:
            parsed = parsed.upper()
            if parsed not in ("DRAFT", "SEND", "SENT", "RECEIVED"):
                raise FieldError(name, "is not included in the list")
        changed = rec.get(name) != parsed
        rec[name] = parsed
        return changed

    def object_ref(self, t: TypeDef, rec: dict[str, Any]) -> str | None:
        return f"{t.ref_prefix}{rec['id']}" if t.ref_prefix else None


def _queue_key(t: TypeDef) -> str:
    from app.sandbox.crm.metadata import QUEUE_TYPE_FOR_CLASS

    return QUEUE_TYPE_FOR_CLASS[t.queue_class or ""]


def _queue_name(db: Db, t: TypeDef, rec: dict[str, Any], _u: int) -> Any:
    q = db.tables[_queue_key(t)].get(rec.get("assigned_to")) if t.queue_class else None
    return q.get("name") if q else None


def _employer_name(db: Db, t: TypeDef, rec: dict[str, Any], _u: int) -> Any:
    org = db.tables["organisations"].get(rec.get("employer_link"))
    return org.get("name") if org else rec.get("employer_name")


def _object_url(db: Db, t: TypeDef, rec: dict[str, Any], _u: int) -> Any:
    ref = db.object_ref(t, rec)
    return f"{db.service_url}/link/{dbref(db.instance_id)}/{ref}" if ref else None


def _can(action: str) -> Callable[[Db, TypeDef, dict[str, Any], int], bool]:
    return lambda db, t, rec, u: (not t.read_only or action == "index") and db.permissions(u, t.key, action)


_DERIVED: dict[str, Callable[[Db, TypeDef, dict[str, Any], int], Any]] = {
    "type": lambda db, t, rec, u: t.class_name,
    "descriptor": lambda db, t, rec, u: rec.get("name"),
    "object_ref": lambda db, t, rec, u: db.object_ref(t, rec),
    "object_url": _object_url,
    "created_by_user[person_name]": lambda db, t, rec, u: db.user_name(rec.get("created_by")),
    "updated_by_user[person_name]": lambda db, t, rec, u: db.user_name(rec.get("updated_by")),
    "owner[person_name]": lambda db, t, rec, u: db.user_name(rec.get("owner_id")),
    "watched": lambda db, t, rec, u: (u, rec["id"]) in db.watched[t.key] if t.queue_class else None,
    "assigned_to_name": _queue_name,
    "queue_entry[queue_id]": lambda db, t, rec, u: rec.get("assigned_to"),
    "employer[name]": _employer_name,
    "scheduled_start": lambda db, t, rec, u: F.vdt_instant(rec.get("start")),
    "scheduled_finish": lambda db, t, rec, u: F.vdt_instant(rec.get("finish") or rec.get("due")),
    "_can_read": _can("index"),
    "_can_modify": _can("update"),
    "_can_delete": _can("destroy"),
    "_can_chown": lambda db, t, rec, u: False,
    "_can_chaccess": lambda db, t, rec, u: False,
}


_STORED, _LOCATION, _DERIVED_COLUMN, _GENERAL = range(4)


def _live_location(locations: dict[int, dict[str, Any]], loc_id: Any) -> dict[str, Any] | None:
    """`Db.location_row` without creating: the linked location unless it is deleted."""
    row = locations.get(loc_id) if loc_id is not None else None
    return row if row is not None and not row.get("is_deleted") else None


def _wire_converter(f: Field, fmt: dict[str, str] | None) -> Callable[[Any], Any] | None:
    """`to_wire` for one field, or None where it passes every value through unchanged. Its type's
    branch and the request's format are chosen here, once per column, not per value."""
    if f.datatype == "boolean":
        return bool
    if f.datatype == "datetime":
        datetime_format = (fmt or {}).get("datetime")

        def datetime_wire(value: Any) -> Any:
            return F.fmt_datetime(value, datetime_format) if isinstance(value, datetime) else value
        return datetime_wire
    if f.datatype == "date":
        date_format = (fmt or {}).get("date")

        def date_wire(value: Any) -> Any:
            return F.fmt_date(value, date_format) if isinstance(value, date) else value
        return date_wire
    return None


def to_wire(f: Field, value: Any, fmt: dict[str, str] | None = None) -> Any:
    dt = f.datatype
    if dt == "boolean":
        return bool(value)
    if value is None:
        return None
    if dt == "datetime" and isinstance(value, datetime):
        return F.fmt_datetime(value, (fmt or {}).get("datetime"))
    if dt == "date" and isinstance(value, date):
        return F.fmt_date(value, (fmt or {}).get("date"))
    return value


def parse_input(f: Field, value: str, tz_name: str | None) -> Any:
    """Wire string -> internal value for a field; raises FieldError with the service's wording."""
    dt = f.datatype
    text = str(value)
    if dt in ("integer", "has_one"):
        if text.strip() == "":
            return None
        try:
            return int(text.strip())
        except ValueError:
            raise FieldError(f.name, "is not a number") from None
    if dt == "float":
        try:
            return float(text) if text.strip() else None
        except ValueError:
            raise FieldError(f.name, "is not a number") from None
    if dt == "boolean":
        return F.as_bool(text)
    if dt == "currency":
        if not text.strip():
            return None
        try:
            return F.currency(text)
        except ValueError:
            raise FieldError(f.name, "is not a valid currency value") from None
    if dt in ("date", "datetime", "var_date_time", "time"):
        if not text.strip():
            return None
        try:
            if dt == "date":
                return F.parse_date(text)
            if dt == "datetime":
                return F.parse_datetime(text, tz_name)
            if dt == "time":
                return F.parse_time(text)
            return F.parse_vdt_input(text, tz_name)
        except (ValueError, OverflowError, OSError):
            raise FieldError(f.name, f"is not a valid {dt.replace('_', ' ')}") from None
    if dt == "array":
        inner = text.strip()
        if inner.startswith("[") and inner.endswith("]"):
            inner = inner[1:-1]
        items = [x.strip() for x in inner.split(",") if x.strip()]
        return "[" + ",".join(items) + "]"
    if dt == "string" and len(text) > 255:
        raise FieldError(f.name, "is too long (maximum is 255 characters)")
    return text


def rfc822_defaults(source: str) -> dict[str, Any]:
    """Columns an email create may leave out when it carries the MIME source."""
    try:
        msg = email.parser.Parser().parsestr(source, headersonly=True)
    except Exception:  # noqa: BLE001 - any unreadable source simply yields nothing
        return {}
    out: dict[str, Any] = {}
    for header, column in (("Subject", "subject"), ("From", "from_address"), ("To", "to_addresses"),
                           ("Cc", "cc_addresses"), ("Message-ID", "message_id")):
        if msg.get(header):
            value = str(msg.get(header))
            if column.endswith("addresses") or column == "from_address":
                value = ", ".join(a for _, a in email.utils.getaddresses([value]) if a)
            out[column] = value
    if msg.get("Date"):
        try:
            out["sent_at"] = email.utils.parsedate_to_datetime(str(msg["Date"])).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return out


def rfc822_attachments(source: str) -> dict[str, Any]:
    """The read-only columns an email gains from its MIME source [INVENTED]: `attachment_count`
    and `attachments`, a JSON list of {"name", "size" (decoded bytes), "content_type"} per file
    part, in the order of the message."""
    try:
        msg = email.parser.Parser(policy=email.policy.default).parsestr(source)
        found = [{"name": part.get_filename() or "", "size": len(part.get_payload(decode=True) or b""),
                  "content_type": part.get_content_type()}
                 for part in msg.iter_attachments()] if msg.is_multipart() else []
    except Exception:  # noqa: BLE001 - an unreadable source simply has no attachments
        found = []
    return {"attachment_count": len(found), "attachments": json.dumps(found)}


def is_blank_name(values: dict[str, Any]) -> bool:
    return not any(str(values.get(k) or "").strip() for k in ("name", "person_first_name", "person_last_name"))


_SPACES = re.compile(r"\s+")


def person_name(rec: dict[str, Any]) -> str | None:
    parts = [rec.get(k) for k in ("person_personal_title", "person_first_name", "person_middle_name",
                                  "person_last_name", "person_suffix")]
    text = _SPACES.sub(" ", " ".join(p for p in parts if p)).strip()
    return text or None
