"""Translation of Workbooks API answers into the app's error hierarchy (app.errors).

Nothing here knows about httpx: the client hands over status codes, parsed bodies and texts.
Messages are written for the person at the keyboard and never contain credentials; `Redactor`
masks any secret that might have slipped into a text before it becomes an exception message.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from app.errors import (
    AppError,
    AuthError,
    CollectionUnavailable,
    ItemRejected,
    NotFound,
    PrerequisiteError,
    StaleVersion,
    TransientError,
)

STALE_MARKER = "already been updated elsewhere"
ADMIN_WHERE = "Start \u203a Configuration \u203a Users & Security"

# Login refusals that only mean "try again later".
_TRANSIENT_REASONS = frozenset(
    {"database_being_migrated", "requested_database_not_available", "no_available_database", "database_archived"}
)
_REASON_TEXT = {
    "unrecognised_name_or_password": "Workbooks did not recognise the user name or password.",
    "password_expired": "Your Workbooks password has expired; change it in Workbooks, then sign in again.",
    "login_disabled": "This Workbooks login is disabled; ask your Workbooks administrator.",
    "session_expired": "The Workbooks session expired; sign in again.",
    "no_session": "There is no Workbooks session; sign in again.",
    "no_session_found": "The Workbooks session could not be resumed; sign in again.",
    "client_not_licensed": "This Workbooks database is not licensed for API clients.",
    "licence_expired": "The Workbooks licence has expired.",
    "no_licensed_edition": "The Workbooks database has no licensed edition.",
    "client_not_activated": "Workbooks sent an activation email; follow it, then sign in again.",
    "no_permission_for_api": "Your Workbooks user lacks the 'API Access' capability.",
    "no_database_selection_made": "Workbooks needs a database to be chosen.",
    "requested_database_not_available": "The Workbooks database is not available right now (maintenance).",
    "no_available_database": "No Workbooks database is available right now (maintenance).",
    "database_being_migrated": "The Workbooks database is being upgraded; try again shortly.",
    "database_archived": "The Workbooks database was archived after inactivity and is being restored.",
    "invalid_application_name": "Workbooks refused the connector's application name.",
    "user_agent_required": "Workbooks requires a User-Agent header.",
}


class Redactor:
    """Masks known secret values (password, API key, session id, authenticity token)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 4:
                self._secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        text = re.sub(r"(Workbooks-Session=)[^;\s]+", r"\1***", text)
        text = re.sub(r"(?i)((?:api_key|password|_authenticity_token|session_id)=)[^&\s]+", r"\1***", text)
        return text


def is_stale(body: Any) -> bool:
    """Stale-version detection: the exact substring anywhere in the body (workbooks-api.md 4.5)."""
    return STALE_MARKER in (body if isinstance(body, str) else _flatten(body))


def _flatten(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k} {_flatten(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(_flatten(v) for v in value)
    return "" if value is None else str(value)


def messages_of(value: Any) -> list[str]:
    """Human texts out of `errors`/`failures`/`affected_object_errors` shapes of any nesting."""
    out: list[str] = []

    def walk(v: Any, key: str | None) -> None:
        if isinstance(v, Mapping):
            for k, sub in v.items():
                walk(sub, None if k == "[]" else str(k))
        elif isinstance(v, (list, tuple)):
            for sub in v:
                walk(sub, key)
        elif v not in (None, "", True, False):
            text = str(v)
            out.append(f"{key}: {text}" if key and key not in text else text)

    walk(value, None)
    seen: set[str] = set()
    return [m for m in out if not (m in seen or seen.add(m))]


def judge(body: Mapping[str, Any]) -> str:
    """The bindings' condensed status plus the project rule on `failures`:
    "failed" (success missing/false), "not_ok" (errors/failures/false info entries), else "ok"."""
    if not isinstance(body, Mapping) or body.get("success") is not True:
        return "failed"
    if body.get("errors") or body.get("failures"):
        return "not_ok"
    for info in body.get("affected_object_information") or ():
        if isinstance(info, Mapping) and info.get("success") is False:
            return "not_ok"
    return "ok"


def body_error(body: Mapping[str, Any], what: str) -> AppError:
    """Error for a whole response judged not ok (reads, or writes failing as a whole)."""
    if is_stale(body):
        return StaleVersion("The record was changed in Workbooks since it was read.")
    texts = messages_of([body.get("failures"), body.get("errors"), body.get("affected_object_errors")])
    if not texts and body.get("flash"):
        texts = [str(body.get("flash"))]
    detail = "; ".join(texts[:5]) or "no reason given"
    return ItemRejected(f"Workbooks refused {what}: {detail}")


def item_error(info: Any, object_errors: Any, what: str) -> AppError:
    """Error for one record of a batch from its information entry and affected_object_errors slot."""
    if is_stale(info) or is_stale(object_errors):
        return StaleVersion("The record was changed in Workbooks since it was read.", ref=what)
    texts = messages_of([(info or {}).get("errors") if isinstance(info, Mapping) else info, object_errors])
    detail = "; ".join(texts[:5]) or "no reason given"
    low = detail.lower()
    if "not found" in low or "does not exist" in low or "no longer exists" in low:
        return NotFound(f"{what} no longer exists in Workbooks.", ref=what)
    return ItemRejected(f"Workbooks refused {what}: {detail}", ref=what)


def login_error(status: int, body: Mapping[str, Any] | None) -> AppError:
    reason = str((body or {}).get("failure_reason") or "")
    text = _REASON_TEXT.get(reason) or str((body or {}).get("failure_message") or "") or f"HTTP {status}"
    if reason in _TRANSIENT_REASONS:
        return TransientError(text)
    if reason == "no_permission_for_api":
        return PrerequisiteError(
            f"{text} Ask your Workbooks administrator to grant it ({ADMIN_WHERE}).", missing=("API Access",)
        )
    if status >= 500:
        return TransientError(f"Workbooks could not sign in right now (HTTP {status}).")
    suffix = f" ({reason})" if reason and reason not in _REASON_TEXT else ""
    return AuthError(f"{text}{suffix}")


def status_error(status: int, body: Mapping[str, Any] | None, path: str) -> AppError:
    """Error for a non-200 answer to a data call."""
    reason = str((body or {}).get("failure_reason") or "")
    if status == 401:
        return login_error(status, body)
    if status == 403:
        if reason:
            return login_error(status, body)
        return TransientError(f"Workbooks refused {path} for now (HTTP 403: database unavailable).")
    if status == 404:  # Workbooks' answer to a type the user may no longer see (capability or licence gone)
        return CollectionUnavailable(
            f"Workbooks does not let you use {path} (HTTP {status}). Ask your Workbooks administrator for "
            f"access ({ADMIN_WHERE}).",
            missing=(path,), collection=path,
        )
    if status in (405, 406, 501):
        return PrerequisiteError(
            f"Workbooks does not let you use {path} (HTTP {status}). Ask your Workbooks administrator for "
            f"access ({ADMIN_WHERE}).",
            missing=(path,),
        )
    if status == 429 or status >= 500:
        return TransientError(f"Workbooks is not answering properly right now (HTTP {status}).")
    return TransientError(f"Unexpected answer from Workbooks for {path} (HTTP {status}).")


def first_non_empty(values: Iterable[Any]) -> Any:
    for v in values:
        if v:
            return v
    return None
