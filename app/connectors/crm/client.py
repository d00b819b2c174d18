"""httpx client for the Workbooks JSON API (shared/docs/workbooks-api.md sections 2 and 6).

One `httpx.Client` per `WorkbooksClient` (connection reuse, timeouts, TLS verification on by
default). Everything is sent as POST with `_method` in the body, like the vendor's PHP binding;
arrays are form-encoded lists of `(key, value)` tuples.

Authentication:
* key mode (`api_key`): `api_key` + `api_version=1` on every request; no cookie, no token.
  `login_info()` logs in once with the key to learn `my_queues` and the identity.
* cookie mode (`username` + `password`): `login.api` with database selection, the session id
  kept from every `Set-Cookie` and sent as an explicit `Cookie` header, `_authenticity_token` on
  writes, one re-login on 302/401/non-JSON answers that mean the session lapsed.

Retries: reads retry 5xx answers and transport errors with exponential backoff; 4xx answers are
never retried. Writes are never re-sent when they may have landed: such a write raises
`TransientError` and the engine verifies it through `created_through_reference`. Answers that
prove nothing happened (302 redirect, 429, a connection that could not be opened, a refused
session or authenticity token) are re-sent for writes too.
"""
from __future__ import annotations

import functools
import json
import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy
import random
import ssl
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote_plus, urljoin

import httpx

from app import __version__
from app.connectors.crm import errors as E
from app.errors import AppError, AuthError, ConfigError, TransientError

log = logging.getLogger("app.connectors.crm")

Params = list[tuple[str, str]]
COOKIE_NAME = "Workbooks-Session"
DEFAULT_USER_AGENT = f"WorkbooksConnector/{__version__} (python-httpx)"
RELOGIN_REASONS = frozenset({"session_expired", "no_session", "no_session_found"})


class _Retry(Exception):
    """Internal: try the same request again after `delay` seconds (None: the backoff schedule)."""

    def __init__(self, delay: float | None = None, relogin: bool = False):
        self.delay = delay
        self.relogin = relogin


class _Redirect(_Retry):
    pass


class _TokenRefused(_Retry):
    pass


QUOTE_SLICE = 64 * 1024


def form_body(pairs: Params) -> bytes:
    """`urlencode(pairs).encode()`, without its peak: the standard quoting builds a list holding
    one string per byte of a value, ~8 bytes of list per byte, so an email's MIME source (B35,
    up to 16 MB) would briefly cost over 100 MB. Long values are quoted in slices of characters,
    which gives the same text (percent-encoding works character by character). Parameter names,
    and the values of the parameters that only name columns, operators and the like, are quoted
    once: a listing's page repeats some fifty of them (`_select_columns[]` per column)."""
    return b"&".join(_quoted_name(str(k)) + b"=" + (_quoted_name(str(v)) if k in _NAMING else _quoted(str(v)))
                     for k, v in pairs)


# parameters whose values name columns, operators, directions or modes, never data or secrets
_NAMING = frozenset({"_method", "client", "api_version", "_select_columns[]", "_ff[]", "_ft[]", "_fm", "_sort[]",
                     "_dir[]", "_skip_total_rows", "__skip_total_rows", "_limit", "_start"})


@functools.lru_cache(maxsize=1024)
def _quoted_name(text: str) -> bytes:
    return _quoted(text)


def _quoted(text: str) -> bytes:
    if len(text) <= QUOTE_SLICE:
        return quote_plus(text).encode("ascii")
    return b"".join(quote_plus(text[i:i + QUOTE_SLICE]).encode("ascii") for i in range(0, len(text), QUOTE_SLICE))


class WorkbooksClient:
    """A connection to one Workbooks database.

    `base_url` is the service URL (e.g. https://secure.workbooks.com). Give either `api_key`, or
    `username` + `password` (and optionally the remembered `database_id`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        database_id: int | str | None = None,
        ca_bundle: str | None = None,
        verify: bool = True,
        timeout: float = 30.0,
        application_name: str = "Workbooks Connector",
        user_agent: str = DEFAULT_USER_AGENT,
        max_retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 8.0,
        max_redirects: int = 5,
        max_in_flight: int = 5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not api_key and not (username and password):
            raise AuthError("Workbooks needs an API key, or a user name and password.")
        self.base_url = base_url.rstrip("/") + "/"
        self.api_key = api_key or None
        self.username = username
        self._password = password
        self.database_id: int | None = int(database_id) if database_id not in (None, "") else None
        self.application_name = application_name
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_redirects = max_redirects
        self._sleep = sleep
        self._redact = E.Redactor()
        self._redact.add(api_key, password)
        self._session_id: str | None = None
        self._token: str | None = None
        self._generation = 0  # bumps on every (re-)login
        self._login: dict[str, Any] | None = None
        self._login_lock = threading.RLock()
        self._slots = threading.BoundedSemaphore(max(1, min(5, max_in_flight)))
        self._stats_lock = threading.Lock()
        self.requests_sent = 0
        self._rng = random.Random()
        verify_arg: Any = verify
        if verify and ca_bundle:
            verify_arg = ssl.create_default_context(cafile=ca_bundle)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            verify=verify_arg,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=5, max_keepalive_connections=5),
            headers={"User-Agent": user_agent, "Accept": "application/json", "Expect": ""},
            transport=transport,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # we keep the session id ourselves
        )

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def key_mode(self) -> bool:
        return self.api_key is not None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "WorkbooksClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- login -----------------------------------------------------------------------------------
    def login_info(self) -> dict[str, Any]:
        """The login reply (user_id, person_name, databases, my_queues...), logging in if needed.
        In key mode this is one key login, used only for identity and queues."""
        with self._login_lock:
            if self._login is None:
                self.login()
            assert self._login is not None
            return self._login

    def known_login(self) -> dict[str, Any] | None:
        """The login reply if one was received, without signing in."""
        return self._login

    def login(self) -> dict[str, Any]:
        """POST login.api; chooses a database when Workbooks asks for one. Returns the reply."""
        try:
            return self._do_login()
        except AppError as exc:
            raise self._scrub(exc)

    def _do_login(self) -> dict[str, Any]:
        with self._login_lock:
            chosen = self.database_id
            choices = transient = 0
            while True:
                params: Params = [("client", "api"), ("api_version", "1"), ("_fast_login", "false")]
                if self.application_name:
                    params.append(("_application_name", self.application_name))
                if self.key_mode:
                    params.append(("api_key", self.api_key or ""))
                else:
                    params += [("username", self.username or ""), ("password", self._password or "")]
                    if chosen is not None:
                        params.append(("logical_database_id", str(chosen)))
                resp = self._send_raw("login.api", params, retry_transport=True)
                body = _json_or_none(resp)
                if resp.status_code == 200 and isinstance(body, dict) and body.get("success", True) is not False:
                    self._accept_login(body)
                    if chosen is not None and not self.key_mode:
                        self.database_id = int(chosen)
                    return body
                reason = (body or {}).get("failure_reason") if isinstance(body, dict) else None
                if reason == "no_database_selection_made" and not self.key_mode and isinstance(body, dict):
                    pick = _choose_database(body, self.database_id)
                    choices += 1
                    if pick is None or pick == chosen or choices > 2:
                        raise AuthError("Workbooks asked for a database, but none is available to this login.")
                    chosen = pick
                    continue
                if resp.status_code == 302 or resp.status_code >= 500 or reason == "database_being_migrated" or (
                        resp.status_code == 200 and not isinstance(body, dict)):
                    transient += 1  # a login changes nothing server-side, so it may be re-sent
                    if transient > self.max_retries:
                        raise TransientError(f"Workbooks could not sign in right now (HTTP {resp.status_code}).")
                    self._sleep(self._delay(transient - 1))
                    continue
                raise E.login_error(resp.status_code, body if isinstance(body, dict) else None)

    def _accept_login(self, body: dict[str, Any]) -> None:
        sid = body.get("session_id")
        if sid and not self._session_id:
            self._session_id = str(sid)  # the Set-Cookie header (already parsed) wins
        token = body.get("authenticity_token")
        if token:
            self._token = str(token)
        self._redact.add(self._session_id, self._token)
        self._generation += 1
        safe = {k: v for k, v in body.items() if k not in ("session_id", "authenticity_token")}
        self._login = safe
        log.info("signed in to Workbooks database %s as user %s", safe.get("logical_database_id"), safe.get("user_id"))

    def logout(self) -> None:
        """POST /logout (no .api); success is a 302. Key mode without a key login: nothing to do."""
        with self._login_lock:
            if self._session_id is None:
                self._login = None if not self.key_mode else self._login
                return
            try:
                resp = self._send_raw("logout", [("client", "api")], retry_transport=False)
                if resp.status_code not in (302, 200):
                    log.warning("Workbooks logout answered HTTP %s", resp.status_code)
            except TransientError:
                log.warning("Workbooks logout could not be sent")
            finally:
                self._session_id = None
                self._token = None
                self._login = None

    # --- public calls ----------------------------------------------------------------------------
    def read(self, path: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """A GET (sent as POST with _method=GET), retried; raises unless the body is `success`."""
        body = self.call(path, params, write=False)
        if E.judge(body) == "failed" or body.get("errors") or body.get("failures"):
            raise self._scrub(E.body_error(body, f"the read of {path}"))
        return body

    def write(self, path: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """A batch PUT (POST with _method=PUT). Returns the body for per-object judging."""
        return self.call(path, params, write=True)

    def call(self, path: str, params: Sequence[tuple[str, str]], *, write: bool) -> dict[str, Any]:
        """One API call with the retry, redirect and re-login rules of the module docstring."""
        try:
            return self._call(path, params, write=write)
        except AppError as exc:
            raise self._scrub(exc)

    def _scrub(self, exc: AppError) -> AppError:
        """Secrets never travel in exception texts, whatever the server echoed."""
        clean = self._redact(exc.message)
        if clean != exc.message:
            exc.message = clean
            exc.args = (clean,)
        return exc

    def _call(self, path: str, params: Sequence[tuple[str, str]], *, write: bool) -> dict[str, Any]:
        attempt = 0
        redirects = 0
        relogged = False
        token_retry = False
        while True:
            generation = self._ensure_session()
            try:
                return self._attempt(path, params, write=write, redirects=redirects)
            except _Retry as r:
                if r.relogin:
                    if self.key_mode or relogged:
                        raise AuthError("Workbooks ended the session and signing in again did not help.") from None
                    relogged = True
                    self._relogin(generation)
                    continue
                if isinstance(r, _TokenRefused):  # nothing landed
                    if token_retry or self.key_mode:
                        raise E.body_error({"failures": ["Invalid authenticity token"]}, f"the write to {path}")
                    token_retry = True
                    self._relogin(generation)
                    continue
                if isinstance(r, _Redirect):
                    redirects += 1
                    if redirects > self.max_redirects:
                        raise TransientError("Workbooks kept redirecting; it may be throttling requests.") from None
                    if redirects >= 2 and not self.key_mode and not relogged:
                        relogged = True  # persistent 302s in cookie mode: the session has lapsed
                        self._relogin(generation)
                        continue
                else:
                    attempt += 1
                    if attempt > self.max_retries:
                        raise TransientError("Workbooks is not answering right now; the read will be retried later.") from None
                self._sleep(r.delay if r.delay is not None else self._delay(attempt - 1))

    # --- internals -------------------------------------------------------------------------------
    def _ensure_session(self) -> int:
        if not self.key_mode:
            with self._login_lock:
                if self._session_id is None:
                    self.login()
        return self._generation

    def _relogin(self, generation: int) -> None:
        with self._login_lock:
            if self._generation != generation:
                return  # another thread already signed in again
            self._session_id = None
            self.login()

    def _delay(self, n: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** max(0, n)))
        return base * (0.5 + self._rng.random() / 2)

    def _attempt(self, path: str, params: Sequence[tuple[str, str]], *, write: bool, redirects: int) -> dict[str, Any]:
        body_params: Params = [("_method", "PUT" if write else "GET"), ("client", "api")]
        if self.key_mode:
            body_params += [("api_key", self.api_key or ""), ("api_version", "1")]
        elif write and self._token:
            body_params.append(("_authenticity_token", self._token))
        body_params += [(str(k), "" if v is None else str(v)) for k, v in params]
        try:
            resp = self._send_raw(path, body_params, retry_transport=False)
        except _TransportFailure as exc:
            if write and not exc.unsent:
                raise TransientError(
                    f"The connection to Workbooks failed during a write to {path}; it may or may not have been saved."
                ) from None
            raise _Retry() from None
        status = resp.status_code
        if status == 302:
            raise _Redirect(self._delay(redirects))
        if status == 429 or (status == 503 and resp.headers.get("Retry-After")):
            raise _Retry(_retry_after(resp.headers.get("Retry-After"), self._delay(redirects), self.max_backoff * 4))
        body = _json_or_none(resp)
        if status == 401:
            reason = (body or {}).get("failure_reason") if isinstance(body, dict) else None
            if (reason in RELOGIN_REASONS or body is None) and not self.key_mode:
                raise _Retry(0, relogin=True)
            raise E.status_error(status, body if isinstance(body, dict) else None, path)
        if status >= 500:
            if write:
                raise TransientError(
                    f"Workbooks failed (HTTP {status}) during a write to {path}; it may or may not have been saved."
                )
            raise _Retry()
        if status != 200:
            err = E.status_error(status, body if isinstance(body, dict) else None, path)
            if isinstance(err, TransientError) and not write:
                raise _Retry()  # e.g. 403 database_being_migrated: "retry soon"
            raise err
        if not isinstance(body, dict):
            if not self.key_mode and _looks_like_login_page(resp):
                raise _Retry(0, relogin=True)
            if write:
                raise TransientError(
                    f"Workbooks sent an unreadable answer to a write to {path}; it may or may not have been saved."
                )
            raise _Retry()
        if write and not self.key_mode and _bad_token(body):
            raise _TokenRefused(0)
        return body

    def _send_raw(self, path: str, body: Params, *, retry_transport: bool) -> httpx.Response:
        url = urljoin(self.base_url, path.lstrip("/"))
        query = {"_dc": str(int(time.time() * 1000))}
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        content = form_body(body)  # ordered (key, value) pairs: arrays stay parallel
        if self._session_id and (not self.key_mode or path == "logout"):
            headers["Cookie"] = f"{COOKIE_NAME}={self._session_id}"
        tries = 0
        while True:
            started = time.monotonic()
            unsent = False
            try:
                with self._slots:
                    with self._stats_lock:
                        self.requests_sent += 1
                    resp = self._http.post(url, params=query, content=content, headers=headers)
                    resp.read()
            except httpx.ConnectError as exc:
                if _certificate_refused(exc):
                    raise ConfigError(
                        "The Workbooks server's TLS certificate is not trusted. If your organisation uses its own "
                        "certificate authority, give its certificate file with --ca-bundle.",
                        title="Untrusted server certificate",
                    ) from None
                unsent = True
                err: Exception = exc
            except (httpx.TransportError, httpx.DecodingError) as exc:
                err = exc
            else:
                self._take_cookie(resp)
                log.debug("POST %s -> %s in %.0f ms", path, resp.status_code, (time.monotonic() - started) * 1000)
                return resp
            kind = type(err).__name__
            log.info("Workbooks %s failed: %s", path, kind)
            if retry_transport and tries < self.max_retries:
                tries += 1
                self._sleep(self._delay(tries))
                continue
            raise _TransportFailure(kind, unsent) from None

    def _take_cookie(self, resp: httpx.Response) -> None:
        for header in resp.headers.get_list("set-cookie"):
            first = header.split(";", 1)[0].strip()
            name, _, value = first.partition("=")
            if name.strip() == COOKIE_NAME and value.strip():
                self._session_id = value.strip()  # overwrite whenever it appears; never clear
                self._redact.add(self._session_id)


class _TransportFailure(TransientError):
    def __init__(self, kind: str, unsent: bool):
        super().__init__(f"Could not reach Workbooks ({kind}).")
        self.unsent = unsent


def _certificate_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return json.loads(resp.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _looks_like_login_page(resp: httpx.Response) -> bool:
    return "html" in resp.headers.get("content-type", "").lower()


def _bad_token(body: Mapping[str, Any]) -> bool:
    if body.get("success") is not False:
        return False
    return "authenticity token" in " ".join(E.messages_of(body.get("failures"))).lower()


def _retry_after(value: str | None, fallback: float, cap: float) -> float:
    if not value:
        return fallback
    try:
        return max(0.0, min(cap, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, min(cap, when.timestamp() - time.time()))
    except (TypeError, ValueError):
        return fallback


def _choose_database(body: Mapping[str, Any], remembered: int | None) -> int | None:
    ids = []
    for db in body.get("databases") or ():
        try:
            ids.append(int(db.get("id")))
        except (TypeError, ValueError, AttributeError):
            continue
    for candidate in (remembered, body.get("default_database_id")):
        try:
            if candidate is not None and int(candidate) in ids:
                return int(candidate)
        except (TypeError, ValueError):
            continue
    return ids[0] if ids else None


__all__ = ["WorkbooksClient", "AppError", "Params"]
