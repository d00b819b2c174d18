"""HTTP side of the Graph sandbox: identity endpoints, bearer auth, faults, $batch, dispatch.

Fault injection (server.faults and the sandbox's deterministic `throttle()` queue): "busy" ->
429 TooManyRequests with Retry-After, "http500" -> 503 ServiceUnavailable with Retry-After,
"drop" -> the connection closes without an answer. Each HTTP request counts once in
/_sandbox/stats under "<METHOD> <resource>"; $batch counts as "POST $batch" and its inner
requests are tallied in `GraphSandbox.batch_ops`.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..server import SandboxHandler
from .api import Request, Response, error, needed_scope, route
from .oauth import parse_form, scope_allows

JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
OAUTH = re.compile(r"^/([^/]+)/(?:v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/(devicecode|token|authorize))$")
MAX_BATCH = 20


class GraphHandler(SandboxHandler):
    server_version = "Microsoft-IIS/10.0"

    def handle_app(self, method: str) -> None:
        sb = self.server.app
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        body = self.read_body()
        m = OAUTH.match(path)
        if m:
            self._oauth(sb, method, m.group(1), m.group(2), body)
            return
        if path.rstrip("/") == "/devicelogin":
            self._devicelogin(sb, method, body)
            return
        if not path.lower().startswith("/v1.0/"):
            self._send(error(400, "BadRequest", f"Invalid version: {path.strip('/').split('/')[0]}"))
            return
        self.faults.delay()
        inner = path[len("/v1.0/"):]
        if inner.lower() == "$batch":
            self.stats.count("POST $batch")
        else:
            name, _ = route(inner)
            self.stats.count(f"{method} {name or 'unknown'}")
        fault = sb.next_fault() or self.faults.draw()
        if fault == "drop":
            self.drop_connection()
            return
        if fault:
            self._send(sb.fault_response(fault))
            return
        grant = self._authenticate(sb)
        if grant is None:
            return
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError:
            self._send(error(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                             "header is set and payload is of valid JSON format."))
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if inner.lower() == "$batch":
            self._send(self._batch(sb, grant, payload, headers) if method == "POST"
                       else error(405, "BadRequest", "Unsupported request."))
            sb.after_request(method)
            return
        req = Request(method, inner, query, headers, payload, sb.base_url)
        self._send(sb.serve(req, grant))
        sb.after_request(method)

    # --- auth ----------------------------------------------------------------------------------
    def _authenticate(self, sb) -> Any:
        kind, _, token = self.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            self._send(error(401, "InvalidAuthenticationToken", "Access token is empty."), auth=True)
            return None
        state, grant = sb.identity.check(token.strip())
        if state == "expired":
            self._send(error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."),
                       auth=True)
            return None
        if state != "ok":
            self._send(error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed."), auth=True)
            return None
        return grant

    def _batch(self, sb, grant, payload: Any, headers: dict[str, str]) -> Response:
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not requests:
            return error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return error(400, "BadRequest", f"The number of batch requests exceeds the limit of {MAX_BATCH}.")
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in requests]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            return error(400, "BadRequest", "Each batch request needs a unique id.")
        responses = []
        for sub in requests:
            url = str(sub.get("url", ""))
            method = str(sub.get("method", "GET")).upper()
            parts = urlsplit(url if url.startswith("/") else "/" + url)
            inner = unquote(parts.path).lstrip("/")
            if inner.lower().startswith("v1.0/") or parts.scheme:
                resp = error(400, "BadRequest", "Batch request URLs must be relative to the version root.")
            else:
                name, _ = route(inner)
                sb.batch_ops[f"{method} {name or 'unknown'}"] += 1
                fault = sb.next_fault(inner=True)
                if fault:
                    resp = sb.fault_response(fault if fault != "drop" else "http500")
                else:
                    sub_headers = {**{k: v for k, v in headers.items() if k in ("prefer",)},
                                   **{str(k).lower(): str(v) for k, v in (sub.get("headers") or {}).items()}}
                    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                    resp = sb.serve(Request(method, inner, query, sub_headers, sub.get("body"), sb.base_url), grant)
            entry: dict[str, Any] = {"id": str(sub["id"]), "status": resp.status,
                                     "headers": {"Content-Type": JSON, **resp.headers}}
            if isinstance(resp.body, bytes):  # Graph base64-encodes a non-JSON body inside $batch
                entry["body"] = base64.b64encode(resp.body).decode("ascii")
            elif resp.body is not None:
                entry["body"] = resp.body
            responses.append(entry)
        return Response(200, {"responses": responses})

    # --- identity platform ---------------------------------------------------------------------
    def _oauth(self, sb, method: str, tenant: str, action: str | None, body: bytes) -> None:
        ident = sb.identity
        if tenant.lower() not in {sb.tenant.lower(), ident.tenant_id, "organizations", "common"}:
            self.stats.count("oauth.unknown_tenant")
            self.send_json(400, {"error": "invalid_tenant", "error_description":
                                 f"AADSTS90002: Tenant '{tenant}' not found."})
            return
        if action is None:
            self.stats.count("oauth.discovery")
            self.send_json(200, ident.openid_configuration(sb.base_url, tenant))
            return
        if action == "authorize":
            self.stats.count("oauth.authorize")
            self.send_bytes(200, b"<html><body>Use the device code flow.</body></html>", "text/html")
            return
        self.stats.count(f"oauth.{action}")
        if method != "POST":
            self.send_json(405, {"error": "invalid_request", "error_description": "POST expected."})
            return
        form = parse_form(body)
        status, data = (ident.devicecode if action == "devicecode" else ident.token)(sb.base_url, form)
        self.send_json(status, data, {"Cache-Control": "no-store", "Pragma": "no-cache"})
        if status == 200 and action == "token":
            sb.after_request("POST")

    def _devicelogin(self, sb, method: str, body: bytes) -> None:
        self.stats.count("oauth.devicelogin")
        if method == "POST":
            code = parse_form(body).get("otc", "")
            ok = sb.identity.approve(code)
            text = "You have signed in." if ok else "That code was not recognised."
        else:
            text = ('<form method="post">Enter code: <input name="otc"><button>Next</button></form>')
        self.send_bytes(200, f"<html><body>{text}</body></html>".encode(), "text/html; charset=utf-8")

    # --- output --------------------------------------------------------------------------------
    def send_bytes(self, status: int, body: bytes, content_type: str, headers: Any = None) -> None:
        """Status line, headers and body in one write (two writes meet Nagle + delayed ACK: 40 ms)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers.items() if isinstance(headers, dict) else headers or []):
            self.send_header(key, value)
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _send(self, resp: Response, *, auth: bool = False) -> None:
        headers = {"request-id": secrets.token_hex(16), "client-request-id": secrets.token_hex(16),
                   "Cache-Control": "no-cache", **resp.headers}
        if auth:
            headers["WWW-Authenticate"] = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                                           'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')
        if isinstance(resp.body, bytes):  # e.g. a message's MIME ($value)
            content_type = headers.pop("Content-Type", "application/octet-stream")
            self.send_bytes(resp.status, resp.body, content_type, headers)
        elif resp.status == 204 or resp.body is None:
            self.send_bytes(resp.status, b"", JSON, headers)
        else:
            self.send_bytes(resp.status, json.dumps(resp.body).encode("utf-8"), JSON, headers)


def check_scope(grant, name: str, method: str) -> bool:
    return scope_allows(grant, needed_scope(name, method))
