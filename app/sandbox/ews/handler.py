"""HTTP side of the EWS sandbox: endpoint, authentication, fault injection, SOAP dispatch."""
from __future__ import annotations

import gzip
import json
import re
import time
import traceback
from urllib.parse import parse_qs, urlsplit

import datetime as dt
from zoneinfo import ZoneInfo

from ..server import SandboxHandler
from . import soap
from .calview import WINDOWS_ZONES
from .operations import OPERATIONS
from .properties import REQUEST_TZ
from .operations.common import Context

TOKEN_PATH = re.compile(r"/[^/]+/oauth2/v2\.0/token")
UNAUTHORIZED_BODY = b"<html><head><title>401 - Unauthorized</title></head><body>401 - Unauthorized: Access is denied due to invalid credentials.</body></html>"
HTML = "text/html"


def _context_zone(header):
    """t:TimeZoneContext/t:TimeZoneDefinition Id (a Windows zone name) -> tzinfo; UTC otherwise."""
    if header is not None:
        tzdef = header.find(f"{{{soap.T}}}TimeZoneContext/{{{soap.T}}}TimeZoneDefinition")
        name = tzdef.get("Id") if tzdef is not None else None
        if name and name in WINDOWS_ZONES:
            try:
                return ZoneInfo(WINDOWS_ZONES[name])
            except Exception:
                pass
    return dt.timezone.utc


class EwsHandler(SandboxHandler):
    server_version = "Microsoft-IIS/10.0"

    def handle_app(self, method: str) -> None:
        sandbox = self.server.app
        path = urlsplit(self.path).path
        body = self.read_body()
        if method == "POST" and TOKEN_PATH.fullmatch(path) and "bearer" in sandbox.authenticator.schemes:
            self.stats.count("OAuthToken")
            status, doc = sandbox.issue_token(body)
            self.send_json(status, doc, {"Cache-Control": "no-store"})
            return
        if path.lower().rstrip("/") != sandbox.endpoint_path.lower():
            self.send_bytes(404, b"<html><body>404 - File or directory not found.</body></html>", HTML)
            return
        if method not in ("GET", "POST", "HEAD"):
            self.send_bytes(405, b"", HTML, {"Allow": "GET, POST"})
            return
        scheme, user = self._authenticate()
        if scheme is None:
            return
        if method in ("GET", "HEAD"):
            self.send_bytes(200, b"<html><body>Exchange Web Services</body></html>", HTML)
            return
        self._soap(sandbox, body, scheme)

    # --- authentication ---------------------------------------------------------------
    def _authenticate(self) -> tuple[str | None, str | None]:
        auth = self.server.app.authenticator
        if auth.open:
            return "none", None
        conn = self.__dict__.setdefault("_conn_auth", {})
        header = self.headers.get("Authorization", "")
        kind, _, value = header.partition(" ")
        kind = kind.lower()
        if kind == "basic":
            user = auth.check_basic(value)
            if user:
                return "basic", user
        elif kind == "bearer":
            user = auth.check_bearer(value)
            if user:
                return "bearer", user
        elif kind in ("ntlm", "negotiate"):
            outcome, token, user = auth.ntlm_step(conn, value)
            if outcome == "challenge":
                import base64
                word = "NTLM" if kind == "ntlm" else "Negotiate"
                self.send_bytes(401, UNAUTHORIZED_BODY, HTML,
                                [("WWW-Authenticate", f"{word} {base64.b64encode(token).decode()}")])
                return None, None
            if outcome == "done":
                conn["user"] = user
                return "ntlm", user
        elif not header and conn.get("user"):
            return "ntlm", conn["user"]  # NTLM authenticates the connection
        conn.pop("user", None)
        self.send_bytes(401, UNAUTHORIZED_BODY, HTML, auth.challenge_headers())
        return None, None

    # --- SOAP ---------------------------------------------------------------------------
    def _soap(self, sandbox, body: bytes, scheme: str) -> None:
        version = sandbox.version
        started = time.monotonic()
        try:
            op_el, header = soap.parse_request(body)
        except soap.SoapFault as fault:
            self.stats.count("Invalid")
            self._send_xml(500, soap.fault_document(version, fault))
            return
        op = soap.local(op_el)
        self._op = op
        self.stats.count(op)
        self.faults.delay()
        extra = sandbox.op_latency(op)
        if extra:
            time.sleep(extra)
        kind = sandbox.draw_fault(op) or self.faults.draw()
        if kind and self._inject(kind, version, sandbox):
            sandbox.record(op, scheme, self.headers, f"fault:{kind}", started, op_el, header)
            return
        try:
            soap.check_requested_version(header, version)
        except soap.SoapFault as fault:
            self._send_xml(500, soap.fault_document(version, fault))
            sandbox.record(op, scheme, self.headers, fault.code, started, op_el, header)
            return
        handler = OPERATIONS.get(op)
        if handler is None:
            fault = soap.SoapFault("ErrorInvalidRequest", "The request is invalid.")
            self._send_xml(500, soap.fault_document(version, fault))
            sandbox.record(op, scheme, self.headers, "ErrorInvalidRequest", started, op_el, header)
            return
        env, env_body = soap.envelope(version)
        resp, msgs = soap.operation_response(env_body, op)
        ctx = Context(sandbox.state, sandbox, op, header)
        REQUEST_TZ.set(_context_zone(header))
        try:
            handler(ctx, op_el, msgs)
        except soap.SoapFault as fault:
            self._send_xml(500, soap.fault_document(version, fault))
            sandbox.record(op, scheme, self.headers, fault.code, started, op_el, header)
            return
        except Exception as exc:  # a sandbox bug: answer like Exchange's internal error
            traceback.print_exc()
            fault = soap.SoapFault("ErrorInternalServerError", f"An internal server error occurred. {exc}")
            self._send_xml(500, soap.fault_document(version, fault))
            sandbox.record(op, scheme, self.headers, "ErrorInternalServerError", started, op_el, header)
            return
        sandbox.after_request()
        codes = [c.text for c in msgs.iter(soap.m("ResponseCode"))]
        sandbox.record(op, scheme, self.headers, ",".join(sorted(set(codes))) or "NoError", started, op_el, header)
        self._send_xml(200, soap.serialize(env))

    def _send_xml(self, status: int, data: bytes) -> None:
        headers = [("Cache-Control", "private"), ("request-id", self.server.app.next_request_id()),
                   ("X-AspNet-Version", "4.0.30319"), ("X-Powered-By", "ASP.NET"), ("X-EwsSandbox", "1")]
        if len(data) > 2048 and "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
            data = gzip.compress(data, compresslevel=1)  # IIS dynamic compression
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        self.send_bytes(status, data, soap.CONTENT_TYPE, headers)

    def read_body(self) -> bytes:
        """Content-Length bodies (plumbing) and chunked ones, which some clients send."""
        if getattr(self, "_body", None) is not None:
            return self._body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self._body = b"".join(parts)
            return self._body
        return super().read_body()

    def _inject(self, kind: str, version, sandbox) -> bool:
        if kind == "busy":
            fault = soap.SoapFault("ErrorServerBusy", soap.BUSY_TEXT,
                                   xml={"BackOffMilliseconds": str(sandbox.busy_backoff_ms)})
            self._send_xml(500, soap.fault_document(version, fault))
            return True
        if kind == "http500":
            self.send_bytes(500, b"<html><body>500 - Internal server error.</body></html>", HTML)
            return True
        if kind == "http503":
            self.send_bytes(503, b"<html><body>Service Unavailable</body></html>", HTML, {"Retry-After": "0"})
            return True
        if kind == "connection_count":
            fault = soap.SoapFault("ErrorExceededConnectionCount",
                                   "You have exceeded the available concurrent connections for your account.  "
                                   "Try again once your other requests have completed.")
            self._send_xml(500, soap.fault_document(version, fault))
            return True
        if kind == "busy_message":
            # Throttled inside a ResponseMessage: no back-off hint (exchangelib waits its own RETRY_WAIT).
            env, env_body = soap.envelope(version)
            _resp, msgs = soap.operation_response(env_body, self._op)
            soap.error_message(msgs, self._op, soap.EwsError("ErrorServerBusy"))
            self._send_xml(200, soap.serialize(env))
            return True
        if kind == "drop":
            self.drop_connection()
            return True
        if kind == "drop_mid":
            self.send_response(200)
            self.send_header("Content-Type", soap.CONTENT_TYPE)
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="')
            self.wfile.flush()
            self.drop_connection()
            return True
        return False

    # --- /_sandbox/ews/... ------------------------------------------------------------------
    def handle_control(self, method: str, path: str, body: bytes) -> bool:
        if not path.startswith("/_sandbox/ews/"):
            return False
        sandbox = self.server.app
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        try:
            data = json.loads(body or b"{}") if method in ("POST", "PUT") else {}
            result = sandbox.control(method, path[len("/_sandbox/ews/"):], data, query)
        except KeyError as exc:
            self.send_json(404, {"ok": False, "error": f"not found: {exc}"})
            return True
        except (ValueError, TypeError) as exc:
            self.send_json(400, {"ok": False, "error": str(exc)})
            return True
        if result is None:
            return False
        self.send_json(200, result)
        return True
