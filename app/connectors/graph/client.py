"""httpx client for Microsoft Graph v1.0: bearer tokens, bounded Retry-After handling, error
translation and JSON batching.

* Every request carries `Authorization: Bearer <token>` from a `TokenProvider` and
  `Prefer: IdType="ImmutableId"` (ids that survive moves). A 401 asks the provider once for a
  fresh token (`force_refresh=True`); a second 401 is `AuthError`.
* 429 and 503/504 are retried after `Retry-After` (seconds or an HTTP date; exponential back-off
  when absent) while the waits of one call add up to at most `max_wait`; then `TransientError`.
  A connection that could not be opened is retried the same way. Other transport failures are
  retried for reads only: a write that may have landed is never re-sent (the engine verifies it
  through our link-id marker).
* `batch()` sends up to 20 requests per `$batch` and retries just the sub-requests answered
  429/503, within the same wait budget.
* Graph errors become `app.errors` classes (`to_app_error`); messages name the operation and
  Graph's error code, never tokens, bodies or item content.
"""
from __future__ import annotations

import email.utils
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import httpx

from app.errors import AppError, AuthError, ConfigError, ItemRejected, NotFound, StaleVersion, TransientError
from app.sync.ports import InvalidSyncToken

log = logging.getLogger("app.connectors.graph")
RETRY_STATUS = {429, 503, 504}
BATCH_LIMIT = 20
PREFER_IMMUTABLE = 'IdType="ImmutableId"'


class TokenProvider(Protocol):
    def token(self, *, force_refresh: bool = False) -> str: ...


class StaticToken:
    """A fixed bearer token (tests, sandbox)."""

    def __init__(self, token: str | Callable[[], str]):
        self._token = token

    def token(self, *, force_refresh: bool = False) -> str:
        return self._token() if callable(self._token) else self._token

    def __repr__(self) -> str:
        return "StaticToken(***)"


@dataclass
class SubResponse:
    status: int
    body: Any
    headers: dict[str, str]


class GraphClient:
    def __init__(self, base_url: str, tokens: TokenProvider, *, ca_bundle: str | None = None, timeout: float = 30.0,
                 max_wait: float = 60.0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.max_wait = max_wait
        self.sleep = sleep
        verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self.http = httpx.Client(timeout=timeout, verify=verify, transport=transport,
                                 headers={"Accept": "application/json", "User-Agent": "workbooks-connector"})
        self._token: str | None = None
        self.requests_sent = 0  # HTTP requests put on the wire ($batch counts once)

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"GraphClient({self.base_url!r})"

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith(("http://", "https://")) else self.base_url + "/" + path_or_url.lstrip("/")

    # --- single requests -----------------------------------------------------------------------
    def request(self, method: str, path: str, *, op: str, params: dict[str, str] | None = None, json: Any = None,
                headers: dict[str, str] | None = None, ref: str | None = None) -> httpx.Response:
        """One call with auth, retries and translation; returns a 2xx response."""
        url = self.url(path)
        waited = 0.0
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            hdrs = {"Prefer": PREFER_IMMUTABLE, **(headers or {}), "Authorization": f"Bearer {self._bearer()}"}
            self.requests_sent += 1
            try:
                resp = self.http.request(method, url, params=params, json=json, headers=hdrs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                waited = self._wait(waited, None, attempt, op, exc)
                continue
            except httpx.TransportError as exc:
                if method == "GET":
                    waited = self._wait(waited, None, attempt, op, exc)
                    continue
                raise TransientError(f"{op}: the connection to Microsoft 365 failed ({type(exc).__name__}); "
                                     f"the change may or may not have been saved", ref=ref) from None
            if resp.status_code == 401 and not refreshed:
                refreshed = True
                self._token = None
                self._token = self.tokens.token(force_refresh=True)
                continue
            if resp.status_code in RETRY_STATUS:
                waited = self._wait(waited, resp.headers.get("Retry-After"), attempt, op, None, resp.status_code)
                continue
            if resp.status_code >= 400:
                raise to_app_error(resp.status_code, _json(resp), op=op, ref=ref)
            return resp

    def get_json(self, path: str, *, op: str, **kw: Any) -> dict[str, Any]:
        resp = self.request("GET", path, op=op, **kw)
        data = _json(resp)
        if not isinstance(data, dict):
            raise TransientError(f"{op}: Microsoft 365 sent an unreadable answer")
        return data

    def pages(self, path: str, *, op: str, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Follow @odata.nextLink through a plain (non-delta) collection."""
        data = self.get_json(path, op=op, params=params, headers=headers)
        while True:
            yield list(data.get("value") or [])
            nxt = data.get("@odata.nextLink")
            if not nxt:
                return
            data = self.get_json(nxt, op=op, headers=headers)

    def _bearer(self) -> str:
        if self._token is None:
            self._token = self.tokens.token()
        return self._token

    def _wait(self, waited: float, retry_after: str | None, attempt: int, op: str, exc: Exception | None,
              status: int | None = None) -> float:
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = min(30.0, 0.5 * 2 ** (attempt - 1))
        if waited + wait > self.max_wait or attempt > 12:
            what = f"HTTP {status}" if status else type(exc).__name__ if exc else "no answer"
            raise TransientError(f"{op}: Microsoft 365 is busy or unreachable ({what}); try again later") from None
        log.info("Graph %s: waiting %.1f s before retrying (%s)", op, wait, status or type(exc).__name__)
        self.sleep(wait)
        return waited + wait

    # --- JSON batching -------------------------------------------------------------------------
    def batch(self, requests: Sequence[dict[str, Any]], *, op: str) -> list[SubResponse]:
        """Run requests ({"method", "url", "body"?, "headers"?}) in $batch chunks of 20; returns
        one SubResponse per request in order. 429/503 sub-answers are retried (bounded)."""
        out: list[SubResponse | None] = [None] * len(requests)
        for start in range(0, len(requests), BATCH_LIMIT):
            pending = list(range(start, min(start + BATCH_LIMIT, len(requests))))
            waited, attempt = 0.0, 0
            while pending:
                attempt += 1
                payload = {"requests": [self._sub(i, requests[i]) for i in pending]}
                resp = self.request("POST", "$batch", op=op, json=payload)
                answers = {str(r.get("id")): r for r in (_json(resp) or {}).get("responses", [])}
                retry, hint = [], None
                for i in pending:
                    r = answers.get(str(i))
                    if r is None:
                        raise TransientError(f"{op}: Microsoft 365 left a batch answer out")
                    sub = SubResponse(int(r.get("status", 500)), r.get("body"),
                                      {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()})
                    if sub.status in RETRY_STATUS:
                        retry.append(i)
                        hint = sub.headers.get("retry-after") or hint
                        out[i] = sub
                    else:
                        out[i] = sub
                if not retry:
                    break
                try:
                    waited = self._wait(waited, hint, attempt, op, None, 429)
                except TransientError:
                    break  # the remaining 429/503 answers stay in `out`; callers translate them
                pending = retry
        return out  # type: ignore[return-value]

    @staticmethod
    def _sub(i: int, req: dict[str, Any]) -> dict[str, Any]:
        sub: dict[str, Any] = {"id": str(i), "method": req["method"], "url": "/" + req["url"].lstrip("/")}
        headers = {"Prefer": PREFER_IMMUTABLE, **(req.get("headers") or {})}
        if req.get("body") is not None:
            sub["body"] = req["body"]
            headers.setdefault("Content-Type", "application/json")
        sub["headers"] = headers
        return sub


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def error_code(body: Any) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code") or "")
    return ""


def to_app_error(status: int, body: Any, *, op: str, ref: str | None = None) -> AppError:
    err = _app_error(status, body, op=op, ref=ref)
    err.http_status = status  # type: ignore[attr-defined]  # mailbox: 403/404 on a whole collection
    return err


def _app_error(status: int, body: Any, *, op: str, ref: str | None = None) -> AppError:
    code = error_code(body)
    label = f"{code}, HTTP {status}" if code else f"HTTP {status}"
    if status == 401:
        return AuthError(f"{op}: Microsoft 365 refused the sign-in ({label}); sign in again", ref=ref)
    if status == 403:
        return AuthError(f"{op}: the connector lacks permission in Microsoft 365 ({label}); sign in again and "
                         f"grant the requested permissions (your administrator may need to consent)", ref=ref)
    if status == 404:
        return NotFound(f"{op}: the item no longer exists in the mailbox", ref=ref)
    if status == 412 or code in ("ErrorIrresolvableConflict", "ErrorStaleObject"):
        return StaleVersion(f"{op}: the item was changed in the mailbox since it was read", ref=ref)
    if status == 410 or code.lower() in ("syncstatenotfound", "resyncrequired", "syncstateinvalid"):
        return InvalidSyncToken(f"{op}: Microsoft 365 no longer accepts the stored sync state; it will be "
                                f"read again from the start", ref=ref)
    if status in RETRY_STATUS or status >= 500:
        return TransientError(f"{op}: Microsoft 365 is busy or failing ({label}); try again later", ref=ref)
    return ItemRejected(f"{op}: Microsoft 365 refused the request ({label})", ref=ref)


def sub_error(sub: SubResponse, *, op: str, ref: str | None = None) -> AppError:
    return to_app_error(sub.status, sub.body, op=op, ref=ref)


__all__ = ["ConfigError", "GraphClient", "StaticToken", "SubResponse", "TokenProvider", "parse_retry_after",
           "sub_error", "to_app_error"]
