"""Users, API keys, login sessions and `login.api` (workbooks-api.md §2.3-2.6, §7.3-8)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.sandbox.crm import formats as F
from app.sandbox.crm.query import Params, first

if TYPE_CHECKING:
    from app.sandbox.crm.state import CrmSandbox

RESERVED_APPLICATION_NAMES = frozenset({"workbooks", "workbooks desktop", "outlook connector", "gmail connector"})
QUEUE_CLASSES = {
    "person_queues": "Private::Crm::PersonQueue", "organisation_queues": "Private::Crm::OrganisationQueue",
    "sales_lead_queues": "Private::Crm::SalesLeadQueue", "opportunity_queues": "Private::Crm::OpportunityQueue",
    "case_queues": "Private::Crm::CaseQueue", "activity_queues": "Private::Activity::ActivityQueue",
}


@dataclass
class User:
    id: int
    name: str
    login: str
    password: str
    databases: tuple[int, ...]
    default_db: int
    api_access: bool = True
    disabled: bool = False
    password_expired: bool = False
    permissions: dict[str, dict[str, bool]] = field(default_factory=dict)  # type key -> action -> allowed


@dataclass
class ApiKey:
    key: str
    user_id: int
    db_id: int
    expires: datetime | None = None


@dataclass
class Session:
    sid: str
    user_id: int
    db_id: int
    token: str
    last_used: datetime
    tz: str | None = None
    application_name: str = "api"
    strict_attributes: bool = False
    per_object: bool = False
    formats: dict[str, str] = field(default_factory=dict)


@dataclass
class Principal:
    """Who a data request acts as."""

    user_id: int
    db_id: int
    session: Session | None = None  # None in key mode
    application_name: str = "api"

    @property
    def tz(self) -> str | None:
        return self.session.tz if self.session else None


class LoginFailure(Exception):
    def __init__(self, status: int, reason: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.message = message
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        out = {"success": False, "failure_reason": self.reason, "failure_message": self.message}
        out.update(self.extra)
        return out


def given(params: Params, name: str) -> str | None:
    """A credential parameter, treating the Python binding's unset values ("None") as absent: it
    url-encodes every login parameter, so a password login also carries `api_key=None`."""
    value = first(params, name)
    if value is None or value.strip() in ("", "None", "null"):
        return None
    return value


def new_sid() -> str:
    return secrets.token_hex(16)


def application_name(params: Params, user_agent: str) -> str:
    name = given(params, "_application_name") or given(params, "application_name")
    if name:
        return name.strip()
    return (user_agent.split() or ["api"])[0].split("/")[0]


def login(box: "CrmSandbox", params: Params, user_agent: str | None) -> tuple[dict[str, Any], Session]:
    """Validate a login.api request; returns (JSON body, new session) or raises LoginFailure."""
    if not (user_agent or "").strip():
        raise LoginFailure(403, "user_agent_required", "A User-Agent header is required")
    app_name = application_name(params, user_agent or "")
    if app_name.lower() in RESERVED_APPLICATION_NAMES:
        raise LoginFailure(403, "invalid_application_name", f"'{app_name}' is reserved by Workbooks")
    now = box.clock.now()
    api_key = given(params, "api_key")
    username = (given(params, "username") or "").strip()
    wanted_db = given(params, "logical_database_id")
    old_sid = given(params, "session_id")
    if api_key:
        k = box.check_key(api_key)
        user, db_id = box.users[k.user_id], k.db_id
    elif username and old_sid and not given(params, "password"):
        old = box.sessions.get(old_sid.strip())
        user = box.user_by_login(username)
        if old is None or user is None or old.user_id != user.id or (wanted_db and str(old.db_id) != wanted_db.strip()):
            raise LoginFailure(401, "no_session_found", "No session was found to reconnect to")
        box.kill_session(old)
        db_id = old.db_id
    elif username:
        user = box.user_by_login(username)
        given_pw = (first(params, "password") or "").encode()  # bytes: compare_digest refuses non-ASCII str
        if user is None or not secrets.compare_digest(user.password.encode(), given_pw):
            raise LoginFailure(401, "unrecognised_name_or_password", "The username or password was not recognised")
        db_id = _choose_db(box, user, wanted_db)
    else:
        raise LoginFailure(401, "unrecognised_name_or_password", "The username or password was not recognised")
    if user.disabled:
        raise LoginFailure(401, "login_disabled", "This login has been disabled")
    if user.password_expired and not api_key:
        raise LoginFailure(401, "password_expired", "Your password has expired and must be changed")
    if not user.api_access:
        raise LoginFailure(403, "no_permission_for_api", "You do not have the API Access capability")
    if db_id in box.migrating:
        raise LoginFailure(403, "database_being_migrated", "The database is being upgraded; try again shortly")
    session = Session(new_sid(), user.id, db_id, secrets.token_hex(20), now, tz=first(params, "_time_zone"),
                      application_name=app_name,
                      strict_attributes=F.as_bool(first(params, "_strict_attribute_checking") or "false"),
                      per_object=F.as_bool(first(params, "_per_object_transactions") or "false"),
                      formats={k: v for k in ("date", "time", "datetime")
                               if (v := first(params, f"_json_output_{k}_format") or "")})
    box.sessions[session.sid] = session
    db = box.dbs[db_id]
    body: dict[str, Any] = {
        "success": True, "session_id": session.sid, "authenticity_token": session.token, "user_id": user.id,
        "person_name": user.name, "login_name": user.login, "database_name": db.name, "logical_database_id": db.id,
        "default_database_id": user.default_db, "database_instance_id": db.instance_id,
        "databases": box.database_list(user), "api_version": 1, "version": "A.40.45 (sandbox)",
        "timezone": "London (GMT+00:00)",
    }
    fast = first(params, "_fast_login")
    if fast is None or not F.as_bool(fast):  # my_queues only on the careful path [INFER]
        body["my_queues"] = box.my_queues_for(user.id, db_id)
    return body, session


def _choose_db(box: "CrmSandbox", user: User, wanted: str | None) -> int:
    if wanted:
        try:
            db_id = int(wanted.strip())
        except ValueError:
            db_id = -1
        if db_id not in user.databases or db_id not in box.dbs:
            raise LoginFailure(403, "requested_database_not_available", "The requested database is not available",
                               {"databases": box.database_list(user), "default_database_id": user.default_db})
        return db_id
    if len(user.databases) == 1:
        return user.databases[0]
    raise LoginFailure(403, "no_database_selection_made", "Choose one of your databases",
                       {"databases": box.database_list(user), "default_database_id": user.default_db})


def session_expired(session: Session, now: datetime, ttl: float) -> bool:
    return now - session.last_used > timedelta(seconds=ttl)


def parse_cookie(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip() == "Workbooks-Session" and value.strip():
            return value.strip().strip('"')
    return None
