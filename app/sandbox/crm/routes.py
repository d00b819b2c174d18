"""HTTP side of the Workbooks sandbox: parameter parsing and merging, routing, authentication,
faults, recording and the response conventions (workbooks-api.md §2, §6, §7.1-9)."""
from __future__ import annotations

import gzip
import json
import time
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.sandbox.crm import batch as B
from app.sandbox.crm import formats as F
from app.sandbox.crm import query as Q
from app.sandbox.crm.auth import (LoginFailure, Principal, application_name, given, login, new_sid, parse_cookie,
                                  session_expired)
from app.sandbox.crm.control import handle_control
from app.sandbox.crm.metadata import BY_CONTROLLER, TypeDef, types_rows
from app.sandbox.crm.state import CrmSandbox, RecordedRequest
from app.sandbox.server import SandboxHandler

NO_CACHE = [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
            ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")]
HTML_PAGES = ("/", "/login", "/login.html", "/crm", "/index.html")
VERBS = ("GET", "POST", "PUT", "DELETE")


class Redirect(Exception):
    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


class Reply(Exception):
    """Answer now with this status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(status)
        self.status = status
        self.body = body


def parse_body(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    ctype = content_type.split(";")[0].strip().lower()
    if not raw:
        return []
    if ctype == "multipart/form-data":
        return _multipart(raw, content_type)
    text = raw.decode("utf-8", errors="replace")
    if ctype.endswith("json") or (not ctype.startswith("application/x-www-form") and text.lstrip()[:1] in "{["):
        try:
            return _flatten_json(json.loads(text))
        except ValueError:
            if ctype.endswith("json"):
                raise Reply(406, {"success": False, "failures": ["The request body is not valid JSON"]}) from None
    return parse_qsl(text, keep_blank_values=True, errors="replace")


def _multipart(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    import email.parser
    import email.policy

    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw)
    out = []
    if not msg.is_multipart():
        raise Reply(406, {"success": False, "failures": ["Malformed multipart body"]})
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        out.append((str(name), payload.decode("utf-8", errors="replace")))
    return out


def _scalar(value: Any) -> str:
    if value is None:
        return B.NULL_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _flatten_json(data: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(data, list):  # a list of records -> square parallel arrays
        records = [r for r in data if isinstance(r, dict)]
        keys = sorted({k for r in records for k in r})
        for k in keys:
            name = "__method" if k in ("method", "__method") else k
            for r in records:
                out.append((f"{name}[]", _scalar(r[k]) if k in r else B.NO_VALUE))
        return out
    if not isinstance(data, dict):
        raise Reply(406, {"success": False, "failures": ["A JSON body must be an object or a list of objects"]})

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, list):
            key = prefix if prefix.endswith("[]") else prefix + "[]"
            for v in value:
                out.append((key, _scalar(v)))
        else:
            out.append((prefix, _scalar(value)))

    walk("", data)
    return out


def merge(query: list[tuple[str, str]], body: list[tuple[str, str]]) -> tuple[Q.Params, list[tuple[str, str]]]:
    """Query and body parameters; for a key present in both, the body's values win [INFER]."""
    params: Q.Params = {}
    for k, v in query:
        params.setdefault(k, []).append(v)
    from_body: Q.Params = {}
    for k, v in body:
        from_body.setdefault(k, []).append(v)
    params.update(from_body)
    ordered = [(k, v) for k, v in query if k not in from_body] + list(body)
    return params, ordered


def recorded_params(query: str, raw: bytes, content_type: str) -> list[tuple[str, str]]:
    try:
        body = parse_body(raw, content_type)
    except Reply:
        body = []
    return merge(parse_qsl(query, keep_blank_values=True, errors="replace"), body)[1]


class CrmHandler(SandboxHandler):
    server_version = "WorkbooksSandbox/1.0"

    @property
    def box(self) -> CrmSandbox:
        return self.server.app

    def handle_control(self, method: str, path: str, body: bytes) -> bool:
        return handle_control(self, method, path, body)

    # --- entry ---------------------------------------------------------------------------------------
    def handle_app(self, method: str) -> None:
        self._cookie_sid: str | None = None
        self._params: Q.Params = {}
        try:
            self._serve(method)
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Reply as r:
            self.reply(r.status, r.body)
        except Redirect as r:
            self.redirect(r.location)
        except Exception:  # noqa: BLE001 - never a traceback page; the bug is recorded for tests
            self.box.internal_errors.append(traceback.format_exc())
            self.reply(500, {"success": False, "failures": ["An internal error occurred in the sandbox"],
                             "support_reference": f"SANDBOX-{len(self.box.internal_errors)}"})

    def _serve(self, http_method: str) -> None:
        box = self.box
        url = urlsplit(self.path)
        path = url.path or "/"
        raw = self._read_all()  # always consume the body, so a kept-alive connection stays in step
        if (path in HTML_PAGES or path.startswith("/link/")) and http_method in ("GET", "HEAD"):
            self.html(200, "<html><head><title>Workbooks</title></head><body><p>Workbooks sandbox: please log in."
                           "</p></body></html>")
            return
        query = parse_qsl(url.query, keep_blank_values=True, errors="replace")
        self._peek_session()
        body = parse_body(raw, self.headers.get("Content-Type") or "")
        params, _ordered = merge(query, body)
        self._params = params
        verb = http_method if http_method != "HEAD" else "GET"
        override = Q.first(params, "_method")
        if override:
            verb = override.strip().upper()
        route, record_id = self._route(path)
        operation = f"{verb} {route}"
        self.stats.count(operation)
        content_type = self.headers.get("Content-Type") or ""
        box.log_request(RecordedRequest(
            {"method": verb, "http_method": http_method, "path": path, "operation": operation,
             "headers": dict(self.headers.items())},
            lambda q=url.query, b=raw, c=content_type: recorded_params(q, b, c)))
        rule_kind, rule_latency = box.match_fault(operation)
        if rule_latency > 0:
            time.sleep(rule_latency / 1000.0)
        self.faults.delay()
        kind = rule_kind or self.faults.draw()
        if kind is not None and self._fault(kind):
            return
        if verb not in VERBS:
            raise Reply(405, {"success": False, "failures": [f"Method {verb} is not allowed"]})
        if route == "login":
            self._login(params)
        elif route == "logout":
            self._logout()
        elif route == "metadata/types":
            principal = self._authenticate(params)
            if verb != "GET":
                raise Reply(405, {"success": False, "failures": ["metadata is read-only"]})
            perms = box.users[principal.user_id].permissions
            try:
                rows = Q.filter_plain(types_rows(perms, Q.many(params, "class_names")), params)
            except Q.QueryError as exc:
                raise Reply(406, {"success": False, "failures": [str(exc)]}) from None
            self.reply(200, {"success": True, "total": len(rows), "data": rows, "flash": "", "updates": {}})
        elif route in BY_CONTROLLER:
            t = BY_CONTROLLER[route]
            principal = self._authenticate(params)
            if not box.permitted(principal.user_id, t.key, "index"):
                raise Reply(404, {"success": False, "failures": [f"No access to {t.controller}"]})
            if verb == "GET":
                self._read(t, params, principal, record_id)
            else:
                self._write(t, params, principal, verb)
        else:
            raise Reply(404, {"success": False, "failures": [f"No route matches {path}"]})

    def _read_all(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise Reply(406, {"success": False, "failures": ["Malformed chunked body"]}) from None
                if size == 0:
                    self.rfile.readline(65537)
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            self._body = b"".join(chunks)
            return self._body
        try:
            return self.read_body()
        except ValueError:
            self.close_connection = True  # the stream position is unknown now
            raise Reply(406, {"success": False, "failures": ["Malformed Content-Length"]}) from None

    @staticmethod
    def _route(path: str) -> tuple[str, int | None]:
        p = path.strip("/")
        if p in ("logout", "logout.api"):
            return "logout", None
        if not p.endswith(".api"):
            return "page:" + p, None  # the HTML user interface is not simulated: 404
        p = p[:-4]
        parts = p.split("/")
        if len(parts) == 3 and parts[2].isdigit() and "/".join(parts[:2]) in BY_CONTROLLER:
            return "/".join(parts[:2]), int(parts[2])
        return p, None

    def _peek_session(self) -> None:
        """Under a valid login every response carries the cookie (the PHP binding forgets its id
        when one does not), whatever the outcome of the request."""
        sid = parse_cookie(self.headers.get("Cookie"))
        if sid is None:
            return
        box = self.box
        with box.lock:
            session = box.sessions.get(sid)
            if session is not None and not session_expired(session, box.clock.now(), box.session_ttl):
                self._cookie_sid = sid

    # --- faults ----------------------------------------------------------------------------------------
    def _fault(self, kind: str) -> bool:
        if kind == "http500":
            self.reply(500, {"success": False, "failures": ["Internal server error (injected)"],
                             "support_reference": "SANDBOX-FAULT"})
        elif kind == "drop":
            self.drop_connection()
        elif kind == "busy":  # the service's throttling answer: a delaying redirect; re-send the request
            self.redirect(self.path)
        elif kind in ("expired_cookie", "cookie302"):
            self._cookie_sid = None
            self.redirect("/login")
        elif kind in ("http404", "http406"):
            self.reply(int(kind[4:]), {"success": False, "failures": ["Injected failure"]})
        elif kind == "session_expired":
            self._cookie_sid = None
            self.reply(401, {"success": False, "failure_reason": "session_expired", "failure_message": "Session expired"})
        elif kind == "database_being_migrated":
            self.reply(403, {"success": False, "failure_reason": "database_being_migrated",
                             "failure_message": "The database is being upgraded"})
        elif kind == "non_json":
            self.html(200, "<html><body>Service temporarily unavailable</body></html>")
        elif kind == "truncated":
            self.send_bytes(200, b'{"success": true, "total": 1, "data": [{"id"', "application/json; charset=utf-8",
                            NO_CACHE)
        elif kind == "stall":
            time.sleep(30)
            self.drop_connection()
        else:
            return False
        return True

    # --- authentication --------------------------------------------------------------------------------
    def _authenticate(self, params: Q.Params) -> Principal:
        box = self.box
        key = given(params, "api_key")
        with box.lock:
            if key:
                try:
                    k = box.check_key(key)
                except LoginFailure as exc:
                    raise Reply(exc.status, exc.body()) from None
                return Principal(k.user_id, k.db_id, None, application_name(params, self.headers.get("User-Agent") or ""))
            sid = parse_cookie(self.headers.get("Cookie"))
            if sid is None:
                raise Reply(401, {"success": False, "failure_reason": "no_session", "failure_message": "Not logged in"})
            session = box.sessions.get(sid)
            now = box.clock.now()
            if session is None or session_expired(session, now, box.session_ttl):
                if session is not None:
                    box.kill_session(session)
                self._cookie_sid = None
                raise Redirect("/login")  # invalid or expired cookie: a 302 clients must not rely on
            session.last_used = now
            self._cookie_sid = sid
            if box.rotate_cookie:
                self._cookie_sid = new_sid()
                box.sessions[self._cookie_sid] = session
            return Principal(session.user_id, session.db_id, session, session.application_name)

    def _login(self, params: Q.Params) -> None:
        box = self.box
        if Q.first(params, "client") != "api":
            box.violation("POST login", "login without client=api")
        if given(params, "api_key") and given(params, "logical_database_id"):
            box.violation("POST login", "logical_database_id sent with an api_key (a key belongs to one database)")
        try:
            with box.lock:
                body, session = login(box, params, self.headers.get("User-Agent"))
        except LoginFailure as exc:
            self.reply(exc.status, exc.body())
            return
        self._cookie_sid = session.sid
        self.reply(200, body)

    def _logout(self) -> None:
        box = self.box
        sid = parse_cookie(self.headers.get("Cookie"))
        with box.lock:
            session = box.sessions.get(sid or "")
            if session is not None:
                box.kill_session(session)
        self.html(302, "<html><body>You are being <a href=\"/\">redirected</a>.</body></html>",
                  [("Location", "/"), ("Set-Cookie", "Workbooks-Session=; path=/; Max-Age=0")])

    # --- records -------------------------------------------------------------------------------------------
    def _formats(self, params: Q.Params, principal: Principal) -> dict[str, str]:
        out = dict(principal.session.formats) if principal.session else {}
        for k in ("date", "time", "datetime"):
            v = Q.first(params, f"_json_output_{k}_format")
            if v:
                out[k] = v
        return out

    def _read(self, t: TypeDef, params: Q.Params, principal: Principal, record_id: int | None) -> None:
        box = self.box
        tz = Q.first(params, "_time_zone") or principal.tz
        today = box.clock.now().astimezone(F.zone(tz)).date()  # the `today` operators use the user's zone
        with box.lock:
            db = box.dbs[principal.db_id]
            try:
                page, total = Q.select(db, t, params, principal.user_id, today, tz, box.page_cap,
                                       only_id=record_id)
            except Q.QueryError as exc:
                raise Reply(406, {"success": False, "failures": [str(exc)], "errors": {"[]": {"_fm": str(exc)}}}) from None
            if record_id is not None and not page:
                raise Reply(404, {"success": False, "failures": [f"{t.class_name} {record_id} not found"]})
            cols = Q.columns(t, params)
            fmt = self._formats(params, principal)
            render = db.renderer(t, principal.user_id, cols, fmt)
            data = [render(r) for r in page]
        self.reply(200, {"success": True, "total": total, "data": data, "flash": "", "updates": {}})

    def _write(self, t: TypeDef, params: Q.Params, principal: Principal, verb: str) -> None:
        box = self.box
        if t.read_only:
            raise Reply(405, {"success": False, "failures": [f"{t.controller} is read-only"]})
        if principal.session is not None and Q.first(params, "_authenticity_token") != principal.session.token:
            raise Reply(200, {"success": False, "failures": ["Invalid authenticity token"]})
        records, violations = B.parse(params, verb)
        operation = f"{verb} {t.controller}"
        for v in violations:
            box.violation(operation, v)
        if violations and box.strict_protocol:
            raise Reply(406, {"success": False, "failures": violations})
        if len(records) > box.batch_cap:
            raise Reply(406, {"success": False, "failures": [
                f"Too many objects in one request: {len(records)} (the maximum is {box.batch_cap})"]})
        for r in records:
            action = B.OPS.get(r["method"])
            if action and not box.permitted(principal.user_id, t.key, action):
                raise Reply(406, {"success": False, "failures": [
                    f"Operation not permitted: {action} on {t.class_name}"]})
        session = principal.session
        strict = B.strict_flag(params, session.strict_attributes if session else box.strict_attributes_default)
        per_object = B.per_object_flag(params, session.per_object if session else False)
        with box.lock:
            db = box.dbs[principal.db_id]
            my_queue = None
            if t.queue_class:
                my_queue = box.my_queues_for(principal.user_id, db.id).get(t.queue_class)
            ctx = B.Ctx(db, t, principal.user_id, box.clock.now(), Q.first(params, "_time_zone") or principal.tz,
                        principal.application_name, my_queue, strict, box.outbox, box.injected_errors)
            result = B.run(ctx, records, per_object)
            if result.get("success"):
                box.mark_dirty()
        self.reply(200, result)

    # --- responses ---------------------------------------------------------------------------------------
    def _extra_headers(self) -> list[tuple[str, str]]:
        headers = list(NO_CACHE)
        if self._cookie_sid:
            secure = "; secure" if self.box.secure_cookie else ""
            headers.append(("Set-Cookie", f"Workbooks-Session={self._cookie_sid}; path=/{secure}; HttpOnly"))
        return headers

    def reply(self, status: int, data: dict[str, Any]) -> None:
        params = getattr(self, "_params", {}) or {}
        pretty = (Q.first(params, "json") or "") == "pretty"
        ascii_only = (Q.first(params, "json_utf8_encoding") or "") == "u4"
        text = json.dumps(data, indent=2 if pretty else None, ensure_ascii=ascii_only, default=str)
        ctype = "application/json; charset=utf-8"
        callback = Q.first(params, "callback", "jsonp")
        if callback and callback.replace("_", "").replace(".", "").isalnum():
            text, ctype = f"{callback}({text});", "text/javascript; charset=utf-8"
        payload = text.encode("utf-8")
        headers = self._extra_headers()
        if "gzip" in (self.headers.get("User-Agent") or "").lower():
            payload = gzip.compress(payload)
            headers.append(("Content-Encoding", "gzip"))
        self.send_bytes(status, payload, ctype, headers)

    def html(self, status: int, text: str, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_bytes(status, text.encode("utf-8"), "text/html; charset=utf-8", list(NO_CACHE) + (headers or []))

    def redirect(self, location: str) -> None:
        """A 302 (throttling, or an invalid login when the cookie has been cleared); under a valid
        login it still carries the cookie."""
        cookie = [h for h in self._extra_headers() if h[0] == "Set-Cookie"] if getattr(self, "_cookie_sid", None) else []
        self.html(302, f"<html><body>You are being <a href=\"{location}\">redirected</a>.</body></html>",
                  [("Location", location)] + cookie)


__all__ = ["CrmHandler", "parse_body", "merge"]
