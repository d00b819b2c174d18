"""`CrmSandbox`: the Workbooks sandbox's state - databases, users, keys, sessions, knobs, request
recording, outbox - and the test helpers that edit records "behind the client's back"."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from app.atomic_file import write_atomic
from app.errors import ConfigError
from app.sandbox import seed as S
from app.sandbox.crm import formats as F
from app.sandbox.crm import persistence, seeding
from app.sandbox.crm.auth import QUEUE_CLASSES, ApiKey, LoginFailure, Session, User
from app.sandbox.crm.metadata import TYPES, TypeDef
from app.sandbox.crm.store import Db


class RecordedRequest(dict):
    """One recorded request. Its "params" (ordered, merged query and body parameters) are parsed
    from the raw bytes on first access, so recording a long benchmark costs little memory."""

    def __init__(self, data: dict[str, Any], params: Callable[[], list[tuple[str, str]]]):
        super().__init__(data)
        self._params = params

    def __missing__(self, key: str) -> Any:
        if key != "params":
            raise KeyError(key)
        value = self._params()
        self["params"] = value
        return value

    def full(self) -> dict[str, Any]:
        return {**self, "params": self["params"]}


class CrmSandbox:
    """Thread-safe state of one Workbooks service (several databases). Hold `lock` while reading
    or changing tables from outside the request handler."""

    def __init__(self, dataset: S.Dataset | None = None, *, people: int = 50, seed: int = 1,
                 clock: F.Clock | None = None, state_dir: Path | None = None):
        self.lock = threading.RLock()
        self.clock = clock or F.Clock()
        self.dataset = dataset or S.build(people, seed)
        self.service_url = ""
        self.secure_cookie = False
        # knobs (workbooks-api.md §7 "Knobs tests need")
        self.page_cap = 100
        self.batch_cap = 100
        self.strict_protocol = False  # reject ragged batches and missing id filters (else just log)
        self.strict_attributes_default = False
        self.rotate_cookie = False  # issue a fresh Workbooks-Session on every response
        self.session_ttl = 8 * 3600.0
        self.migrating: set[int] = set()
        # observation
        self.outbox: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.internal_errors: list[str] = []
        self.injected_errors: dict[tuple[str, int], tuple[str, str]] = {}
        self.record_requests = True
        self.max_recorded = 2000  # oldest entries are dropped beyond this (benchmarks stay lean)
        self.fault_rules: list[dict[str, Any]] = []  # per-endpoint faults and latency, see add_fault
        # data
        self.users: dict[int, User] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.sessions: dict[str, Session] = {}
        self.dbs: dict[int, Db] = {}
        self.state_path = Path(state_dir) / "workbooks-state.json" if state_dir else None
        self._dirty = False
        self._saver: threading.Thread | None = None
        self._stop = threading.Event()
        self._build_users()
        if self.state_path is not None and self.state_path.exists():
            try:
                persistence.load(self, self.state_path)
            except (ValueError, KeyError, TypeError, OSError) as exc:
                raise ConfigError(f"the Workbooks sandbox state {self.state_path} cannot be read ({exc}); "
                                  "delete it or choose another --state directory") from None
        else:
            self._seed()
        for db in self.dbs.values():
            db.users = self.users
            db.permissions = self.permitted

    # --- construction ---------------------------------------------------------------------------
    def _build_users(self) -> None:
        for u in self.dataset.users:
            self.users[u.user_id] = User(u.user_id, u.name, u.username, u.password, u.databases, u.default_database,
                                         api_access=u.api_access, disabled=u.disabled)
            for entry in u.denied:
                type_key, _, action = entry.partition(":")
                self.users[u.user_id].permissions.setdefault(type_key, {})[action] = False
            if u.api_key:
                self.api_keys[u.api_key] = ApiKey(u.api_key, u.user_id, u.databases[0])
        # an API key past its expiry date (keys must carry one, per the vendor's help pages)
        self.expired_api_key = f"wbk-expired-{self.dataset.seed:04d}"
        colleague = self.dataset.users[1]
        self.api_keys[self.expired_api_key] = ApiKey(self.expired_api_key, colleague.user_id,
                                                     colleague.databases[0], expires=S.EPOCH)

    def _seed(self) -> None:
        created = S.EPOCH - timedelta(days=365)
        for d in self.dataset.databases:
            db = Db(d.database_id, d.name, d.instance_id, created)
            db.users = self.users
            seeding.make_queues(db, self.dataset.users)
            if d.seeded:
                seeding.populate(db, self.dataset)
            self.dbs[db.id] = db

    # --- seeded credentials ---------------------------------------------------------------------
    @property
    def me(self) -> S.SeedUser:
        return self.dataset.users[0]

    @property
    def username(self) -> str:
        return self.me.username

    @property
    def password(self) -> str:
        return self.me.password

    @property
    def api_key(self) -> str:
        return self.me.api_key or ""

    @property
    def database_id(self) -> int:
        return self.me.databases[0]

    @property
    def user_id(self) -> int:
        return self.me.user_id

    @property
    def db(self) -> Db:
        return self.dbs[self.database_id]

    @property
    def my_queues(self) -> dict[str, int]:
        return self.my_queues_for(self.user_id, self.database_id)

    # --- lookups used by auth and routes ----------------------------------------------------------
    def user_by_login(self, login: str) -> User | None:
        login = login.strip().lower()
        return next((u for u in self.users.values() if u.login.lower() == login), None)

    def database_list(self, user: User) -> list[dict[str, Any]]:
        return [{"name": self.dbs[i].name, "id": i, "created_at": F.fmt_datetime(self.dbs[i].created_at)}
                for i in user.databases if i in self.dbs]

    def my_queues_for(self, user_id: int, db_id: int) -> dict[str, int]:
        db = self.dbs[db_id]
        out = {}
        for key, cls in QUEUE_CLASSES.items():
            for row in db.tables[key].values():
                if row.get("owner_id") == user_id and row.get("queue_type") == "user":
                    out[cls] = row["id"]
        return out

    def queue_id(self, type_key: str, user_id: int | None = None, db_id: int | None = None) -> int:
        """The personal queue of `user_id` (default: the seeded user) for a record type;
        `user_id=0` gives the Unassigned queue."""
        t = TYPES[type_key]
        db = self.dbs[db_id or self.database_id]
        qkey = next(k for k, c in QUEUE_CLASSES.items() if c == t.queue_class)
        uid = self.user_id if user_id is None else user_id
        return seeding.queue_of(db, qkey, uid or None)

    def check_key(self, key: str) -> ApiKey:
        k = self.api_keys.get(key.strip())
        if k is None:
            raise LoginFailure(401, "unrecognised_name_or_password", "The API key was not recognised")
        if k.expires is not None and self.clock.now() >= k.expires:
            # [UNKNOWN] the real reason string for an expired key; the sandbox invents this one.
            raise LoginFailure(401, "api_key_expired", "The API key has expired")
        return k

    def kill_session(self, session: Session) -> None:
        for sid in [s for s, v in self.sessions.items() if v is session]:
            del self.sessions[sid]

    def permitted(self, user_id: int, type_key: str, action: str) -> bool:
        user = self.users.get(user_id)
        if user is None:
            return False
        return bool(user.permissions.get(type_key, {}).get(action, True))

    # --- recording ----------------------------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        if self.record_requests:
            with self.lock:
                self.requests.append(entry)
                if len(self.requests) > self.max_recorded:  # long demos and benchmarks stay bounded
                    del self.requests[: len(self.requests) - self.max_recorded]

    def violation(self, operation: str, message: str) -> None:
        with self.lock:
            self.violations.append({"operation": operation, "message": message})

    def reset_recording(self) -> None:
        with self.lock:
            self.requests.clear()
            self.violations.clear()
            self.internal_errors.clear()

    # --- knobs -----------------------------------------------------------------------------------------
    def set_permission(self, type_key: str, action: str, allowed: bool, user_id: int | None = None) -> None:
        user = self.users[user_id or self.user_id]
        user.permissions.setdefault(type_key, {})[action] = allowed

    def expire_sessions(self) -> None:
        """Every current login lapses (as after a long sleep); the next data request gets a 302."""
        with self.lock:
            self.sessions.clear()

    def expire_key(self, key: str | None = None, at: datetime | None = None) -> None:
        self.api_keys[key or self.api_key].expires = at or self.clock.now()

    def inject_error(self, type_key: str, record_id: int, field: str, message: str) -> None:
        """The next write of that record (id 0: the next create) fails validation on `field`."""
        with self.lock:
            self.injected_errors[(type_key, record_id)] = (field, message)

    def add_fault(self, kind: str | None = None, *, operation: str | None = None, every: int = 1,
                  times: int | None = 1, latency_ms: float = 0.0) -> None:
        """Misbehave on matching requests: `operation` like "GET crm/people" (None: any), on every
        `every`-th match, at most `times` times (None: forever); `kind` is one of the fault kinds of
        routes.py ("http500", "drop", "busy", "expired_cookie", "session_expired", ...) or None for
        latency only."""
        with self.lock:
            self.fault_rules.append({"operation": operation, "kind": kind, "every": max(1, int(every)),
                                     "times": times, "latency_ms": float(latency_ms), "seen": 0})

    def clear_faults(self) -> None:
        with self.lock:
            self.fault_rules.clear()

    def match_fault(self, operation: str) -> tuple[str | None, float]:
        kind, latency = None, 0.0
        with self.lock:
            for rule in self.fault_rules:
                if rule["operation"] not in (None, operation):
                    continue
                latency += rule["latency_ms"]
                if rule["kind"] is None or kind is not None or rule["times"] == 0:
                    continue
                rule["seen"] += 1
                if rule["seen"] % rule["every"] == 0:
                    kind = rule["kind"]
                    if rule["times"] is not None:
                        rule["times"] -= 1
        return kind, latency

    # --- edits behind the client's back --------------------------------------------------------------
    def _row(self, type_key: str, record_id: int, db_id: int | None = None) -> tuple[Db, TypeDef, dict[str, Any]]:
        db = self.dbs[db_id or self.database_id]
        t = TYPES[type_key]
        return db, t, db.tables[type_key][int(record_id)]

    def _touched(self, row: dict[str, Any], version: bool = True, user_id: int | None = None) -> None:
        if version:
            row["lock_version"] += 1
        row["updated_at"] = self.clock.now()
        row["updated_by"] = user_id or self.dataset.users[1].user_id
        self.mark_dirty()

    def bump_version(self, type_key: str, record_id: int, **changes: Any) -> int:
        """Someone else edits the record: optional column changes, version +1. Returns the version."""
        with self.lock:
            db, t, row = self._row(type_key, record_id)
            for name, value in changes.items():
                db.set_value(t, row, t.fields[name], value, self.user_id, self.clock.now(), None, False)
            self._touched(row)
            return row["lock_version"]

    def reassign(self, type_key: str, record_id: int, queue_id: int | None = None, *, to_user: int | None = None) -> None:
        """Move a record to another queue (default: the colleague's personal queue)."""
        with self.lock:
            _db, _t, row = self._row(type_key, record_id)
            if queue_id is None:
                queue_id = self.queue_id(type_key, to_user if to_user is not None else self.dataset.users[1].user_id)
            if row.get("assigned_to") != queue_id:
                row["assigned_to"] = queue_id
                self._touched(row)

    def set_watched(self, type_key: str, record_id: int, watched: bool = True, user_id: int | None = None) -> None:
        with self.lock:
            db, _t, row = self._row(type_key, record_id)
            key = (user_id or self.user_id, row["id"])
            if (key in db.watched[type_key]) != watched:
                (db.watched[type_key].add if watched else db.watched[type_key].discard)(key)
                # [UNKNOWN] whether watching touches updated_at; moved so delta feeds see it.
                self._touched(row, version=False)

    def toggle_watched(self, type_key: str, record_id: int, user_id: int | None = None) -> bool:
        with self.lock:
            db = self.dbs[self.database_id]
            now = (user_id or self.user_id, int(record_id)) not in db.watched[type_key]
            self.set_watched(type_key, record_id, now, user_id)
            return now

    def soft_delete(self, type_key: str, record_id: int) -> None:
        with self.lock:
            _db, _t, row = self._row(type_key, record_id)
            if not row.get("is_deleted"):
                row["is_deleted"] = True
                self._touched(row)

    def restore(self, type_key: str, record_id: int) -> None:
        """Someone restores a soft-deleted record (Workbooks' recycle bin): live again, version +1."""
        with self.lock:
            _db, _t, row = self._row(type_key, record_id)
            if row.get("is_deleted"):
                row["is_deleted"] = False
                self._touched(row)

    def add_contact_email(self, person_id: int, address: str, location_name: str = "Other") -> int:
        """A new Contact Details (party_locations) row with an email address; returns its id."""
        with self.lock:
            db, t, row = self._row("people", person_id)
            loc = db.insert(TYPES["party_locations"], {
                "party_id": row["id"], "party_type": t.class_name, "location_name": location_name,
                "name": location_name, "email": address}, self.dataset.users[1].user_id, self.clock.now())
            self.mark_dirty()
            return loc["id"]

    def get_record(self, type_key: str, record_id: int, user_id: int | None = None) -> dict[str, Any]:
        """The record as the API renders it (all columns), deleted or not."""
        with self.lock:
            db, t, row = self._row(type_key, record_id)
            return db.render(t, row, user_id or self.user_id)

    def rows(self, type_key: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            table = self.db.tables[type_key]
            return [dict(r) for r in table.values() if include_deleted or not r.get("is_deleted")]

    # --- persistence ----------------------------------------------------------------------------------
    def mark_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        if self.state_path is None:
            return
        with self.lock:
            snap = persistence.snapshot(self)
            self._dirty = False
        write_atomic(self.state_path, persistence.encode(snap))

    def start_autosave(self, interval: float = 1.0) -> None:
        if self.state_path is None or self._saver is not None:
            return

        def loop() -> None:
            wait = interval
            while not self._stop.wait(wait):
                if self._dirty:
                    started = time.monotonic()
                    try:
                        self.save()
                    except OSError as exc:
                        self.internal_errors.append(f"autosave failed: {exc}")
                    # big databases take seconds to write: save at most half of the time
                    wait = max(interval, 2 * (time.monotonic() - started))

        self._saver = threading.Thread(target=loop, name="crm-sandbox-autosave", daemon=True)
        self._saver.start()

    def close(self) -> None:
        self._stop.set()
        if self._saver is not None:
            self._saver.join(timeout=5)
            self._saver = None
        self.save()
