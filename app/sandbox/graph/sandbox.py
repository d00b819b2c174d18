"""GraphSandbox: the state object behind the Graph server (mailbox, identity, faults, helpers)."""
from __future__ import annotations

import collections
import datetime as dt
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable

from .. import seed as seed_module
from ..server import RunningServer, TlsFiles, make_self_signed
from . import persistence, recurrence
from .attachments import file_attachment
from .api import Api, Request, Response, error, needed_scope, route
from .handler import GraphHandler
from .oauth import Identity, scope_allows
from .store import Item, Store, fmt_dtz
from .tokens import Signer

DEFAULT_CLIENT_ID = "5f0c3d7e-2a41-4b8e-9c61-0a7d3e9b1c24"
DEFAULT_TENANT = "sandbox.onmicrosoft.com"


class GraphSandbox:
    """State of one Graph sandbox; `server.app` of the RunningServer."""

    def __init__(self, dataset=None, *, mailbox: str | None = None, client_id: str = DEFAULT_CLIENT_ID,
                 tenant: str = DEFAULT_TENANT, retry_after: int = 1, device_interval: int = 1,
                 auto_approve_polls: int | None = 1, state_dir: Path | str | None = None):
        self.mailbox = (mailbox or seed_module.MAILBOX).lower()
        self.client_id = client_id
        self.tenant = tenant
        self.retry_after = retry_after
        self.store = Store(self.mailbox, seed_module.USER_NAME)
        self.api = Api(self.store)
        self.identity = Identity(client_id, tenant, str(uuid.uuid4()), str(uuid.uuid4()), self.mailbox,
                                 seed_module.USER_NAME, device_interval=device_interval,
                                 auto_approve_polls=auto_approve_polls)
        self.base_url = ""
        self.tls: TlsFiles | None = None
        self.batch_ops: collections.Counter = collections.Counter()
        self._faults: dict[bool, list[tuple[str, int | None]]] = {False: [], True: []}
        self._lock = threading.Lock()
        self.state_dir = Path(state_dir) if state_dir else None
        secret = persistence.load(self.state_dir, self.store, self.identity) if self.state_dir else None
        if secret is not None:
            self.api.signer = Signer(secret)
        elif dataset:
            self.seed(dataset)
        self._saved_seq = self.store.seq if secret is not None else -1

    def save(self) -> Path | None:
        """Write the state to `state_dir` (no-op without one)."""
        if self.state_dir is None:
            return None
        self._saved_seq = self.store.seq
        return persistence.save(self.store, self.identity, self.api.signer.secret, self.state_dir)

    def after_request(self, method: str) -> None:
        if self.state_dir is not None and (method != "GET" or self.store.seq != self._saved_seq):
            self.save()

    # --- addresses -----------------------------------------------------------------------------
    @property
    def graph_url(self) -> str:
        return self.base_url + "/v1.0"

    @property
    def authority(self) -> str:
        """msal authority (needs https: start the sandbox with tls=True for msal)."""
        return f"{self.base_url}/{self.tenant}"

    @property
    def authority_host(self) -> str:
        return self.base_url

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    def connection_facts(self) -> dict[str, str]:
        """The Graph half of the sandbox command's JSON line (keys proposed for interfaces.md 3)."""
        facts = {"graph_url": self.graph_url, "graph_authority_host": self.authority_host,
                 "graph_tenant": self.tenant, "graph_client_id": self.client_id, "mailbox": self.mailbox}
        if getattr(self, "tls", None) is not None:
            facts["ca_bundle"] = str(self.tls.cert)
        return facts

    # --- serving -------------------------------------------------------------------------------
    def serve(self, req: Request, grant: Any) -> Response:
        name, _ = route(req.path)
        if name and not scope_allows(grant, needed_scope(name, req.method)):
            return error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        resp = self.api.call(req)
        if req.immutable:
            resp.headers.setdefault("Preference-Applied", 'IdType="ImmutableId"')
        return resp

    def next_fault(self, *, inner: bool = False) -> str | None:
        with self._lock:
            queue = self._faults[inner]
            if not queue:
                return None
            kind, after = queue.pop(0)
            self._next_after = after
            return kind

    def fault_response(self, kind: str) -> Response:
        after = getattr(self, "_next_after", None)
        self._next_after = None
        wait = str(self.retry_after if after is None else after)
        if kind in ("busy", "429"):
            resp = error(429, "TooManyRequests", "Too many requests. Retry after the time in the Retry-After header.")
        else:
            resp = error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
        resp.headers["Retry-After"] = wait
        return resp

    # --- test helpers --------------------------------------------------------------------------
    def mint_token(self, scopes: list[str] | None = None, lifetime: int | None = None) -> str:
        """A valid bearer token (all scopes unless given), as if signed in."""
        return self.identity.mint(scopes, lifetime)

    def approve(self, user_code: str | None = None, *, decline: bool = False) -> bool:
        return self.identity.approve(user_code, decline=decline)

    def revoke_refresh_tokens(self) -> None:
        self.identity.revoke_refresh_tokens()

    def expire_access_tokens(self) -> None:
        self.identity.expire_access_tokens()

    def throttle(self, count: int = 1, *, status: int = 429, retry_after: int | None = None,
                 inner: bool = False, drop: bool = False) -> None:
        """The next `count` requests (or $batch sub-requests with inner=True) get 429/503 with
        Retry-After (or a dropped connection)."""
        kind = "drop" if drop else ("busy" if status == 429 else "http500")
        with self._lock:
            self._faults[inner].extend([(kind, retry_after)] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = {False: [], True: []}

    def folder_id(self, name: str) -> str:
        with self.store.lock:
            return self.store.wk(name).id

    @property
    def default_list_id(self) -> str:
        return self.folder_id("defaultList")

    def items(self, folder: str = "contacts") -> list[dict[str, Any]]:
        with self.store.lock:
            return [self.describe(i) for i in self.store.in_folder(self.store.wk(folder).id)]

    def describe(self, item: Item | str) -> dict[str, Any]:
        with self.store.lock:
            it = self.store.get(item) if isinstance(item, str) else item
            if it is None:
                raise KeyError(item)
            return {"id": it.immutable_id, "rest_id": it.rest_id, "etag": it.etag, "kind": it.kind,
                    "folder": self.store.folders[it.folder].wellknown or self.store.folders[it.folder].name,
                    "data": dict(it.data), "ext": {pid: v for pid, v in it.ext.values()},
                    "extensions": {k: dict(v) for k, v in it.open_ext.items()}}

    def edit_item(self, item_id: str, **props: Any) -> str:
        """Change Graph properties as another client would (None removes); returns the new etag."""
        with self.store.lock:
            item = self.store.get(item_id)
            if item is None:
                raise KeyError(item_id)
            for key, value in props.items():
                if value is None:
                    item.data.pop(key, None)
                else:
                    item.data[key] = value
            self.store.touch(item)
            return item.etag

    def set_extended(self, item_id: str, prop_id: str, value: str | None) -> str:
        with self.store.lock:
            item = self.store.get(item_id)
            if value is None:
                item.ext.pop(prop_id.lower(), None)
            else:
                item.ext[prop_id.lower()] = (prop_id, value)
            self.store.touch(item)
            return item.etag

    def delete_item(self, item_id: str, *, hard: bool = False) -> None:
        with self.store.lock:
            item = self.store.get(item_id)
            if hard:
                self.store.remove(item)
            else:
                self.store.move(item, self.store.wk("deleteditems").id)

    def add_item(self, kind: str, data: dict[str, Any], *, folder: str | None = None,
                 ext: dict[str, str] | None = None, created: dt.datetime | None = None,
                 attachments: Iterable[tuple[str, bytes, str]] = ()) -> str:
        """`attachments` (messages): (file name, content, content type) per file attachment."""
        default = {"contact": "contacts", "event": "calendar", "task": "defaultList", "message": "sentitems"}[kind]
        with self.store.lock:
            data = dict(data)
            uid = data.get("iCalUId")
            files = [file_attachment(name, content, ctype) for name, content, ctype in attachments]
            if files:
                data["_attachments"] = files
            self.api._defaults(kind, data)
            if kind == "event" and uid:  # as delivered by an organiser (a POST through the API gets a new one)
                data["iCalUId"] = uid
            item = self.store.add(kind, self.store.wk(folder or default).id, data,
                                  ext=(ext or {}).items(), created=created)
            return item.immutable_id

    # --- recurring series (recurrence.py) -------------------------------------------------------
    def occurrence_id(self, master_id: str, original_start: dt.datetime) -> str:
        """The immutable id Graph gives the series' occurrence that originally starts then."""
        with self.store.lock:
            master = self.store.get(master_id)
            return recurrence.occurrence_id(master.immutable_id, recurrence.original_key(original_start))

    def modify_occurrence(self, master_id: str, original_start: dt.datetime, start: dt.datetime,
                          end: dt.datetime, subject: str | None = None) -> None:
        """Move (and retitle) one occurrence as another client would: it becomes an exception."""
        with self.store.lock:
            master = self.store.get(master_id)
            key = recurrence.original_key(original_start)
            tz = master.data["start"].get("timeZone") or "UTC"
            change = {"start": fmt_dtz(start, tz), "end": fmt_dtz(end, tz)}
            if subject is not None:
                change["subject"] = subject
            master.data.setdefault("_exceptions", {})[key] = change
            self.store.touch(master, instance=key)

    def delete_occurrence(self, master_id: str, original_start: dt.datetime) -> None:
        """Cancel one occurrence (Outlook's "delete this occurrence")."""
        with self.store.lock:
            master = self.store.get(master_id)
            key = recurrence.original_key(original_start)
            master.data.setdefault("_cancelled", []).append(key)
            (master.data.get("_exceptions") or {}).pop(key, None)
            self.store.touch(master, instance=key)

    # --- lost collections ----------------------------------------------------------------------
    def deny(self, folder: str, status: int = 403) -> None:
        """The whole folder or list refuses every request: 403 ErrorAccessDenied (permission
        withdrawn) or 404 (removed), until `allow`. Names: contacts, calendar, defaultList, or an id."""
        if status not in (403, 404):
            raise ValueError("status must be 403 or 404")
        with self.store.lock:
            self.api.denied[self.store.wk(folder).id] = status

    def allow(self, folder: str) -> None:
        with self.store.lock:
            self.api.denied.pop(self.store.wk(folder).id, None)

    def seed(self, dataset) -> None:
        for c in dataset.native_contacts:
            self.add_item("contact", {"givenName": c.given_name, "surname": c.surname,
                                      "companyName": c.company or None,
                                      "emailAddresses": [{"name": f"{c.given_name} {c.surname}", "address": c.email}]})
        for s in dataset.sent_messages:
            self.add_item("message", {
                "subject": s.subject, "body": {"contentType": "text", "content": s.body},
                "toRecipients": [{"emailAddress": {"address": a, "name": a}} for a in s.to],
                "ccRecipients": [{"emailAddress": {"address": a, "name": a}} for a in s.cc],
                "sender": {"emailAddress": {"name": seed_module.USER_NAME, "address": self.mailbox}},
                "from": {"emailAddress": {"name": seed_module.USER_NAME, "address": self.mailbox}},
                "internetMessageId": s.message_id, "isDraft": False, "isRead": True,
                "sentDateTime": s.sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "receivedDateTime": s.sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }, created=s.sent_at)

    # --- control endpoint ----------------------------------------------------------------------
    def control(self, method: str, path: str, data: dict[str, Any]) -> Any:
        """/_sandbox/graph/<info|token|approve|revoke|throttle|items|deny|allow>."""
        path = path.strip("/")
        if method == "GET" and path == "info":
            return {"mailbox": self.mailbox, "client_id": self.client_id, "tenant": self.tenant,
                    "graph_url": self.graph_url, "authority": self.authority, "batch_ops": dict(self.batch_ops)}
        if method == "GET" and path == "items":
            return {"items": self.items(data.get("folder", "contacts"))}
        if method == "POST" and path == "token":
            return {"access_token": self.mint_token(data.get("scopes"))}
        if method == "POST" and path == "approve":
            return {"ok": self.approve(data.get("user_code"), decline=bool(data.get("decline")))}
        if method == "POST" and path == "revoke":  # an administrator revokes the sessions: sign in again
            self.revoke_refresh_tokens()
            if data.get("expire_access", True):
                self.expire_access_tokens()
            return {"ok": True}
        if method == "POST" and path == "deny":
            self.deny(str(data.get("folder") or "contacts"), int(data.get("status") or 403))
            return {"ok": True}
        if method == "POST" and path == "allow":
            self.allow(str(data.get("folder") or "contacts"))
            return {"ok": True}
        if method == "POST" and path == "throttle":
            self.throttle(int(data.get("count", 1)), status=int(data.get("status", 429)),
                          retry_after=data.get("retry_after"), inner=bool(data.get("inner")))
            return {"ok": True}
        return None


class _Handler(GraphHandler):
    def handle_control(self, method: str, path: str, body: bytes) -> bool:
        import json
        from urllib.parse import parse_qs, urlsplit
        if not path.startswith("/_sandbox/graph/"):
            return False
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            data = {}
        data.update({k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()})
        result = self.server.app.control(method, path[len("/_sandbox/graph/"):], data)
        if result is None:
            return False
        self.send_json(200, result)
        return True


def start_graph_sandbox(dataset=None, *, people: int = 50, seed: int = 1, host: str = "127.0.0.1", port: int = 0,
                        tls=None, latency_ms: float = 0.0, fail_rate: float = 0.0, state_dir=None,
                        **options: Any) -> tuple[RunningServer, GraphSandbox]:
    """Start the Graph sandbox on a background thread. `dataset` defaults to seed.build(people,
    seed); dataset=False gives an empty mailbox. `tls`: True (throwaway certificate), a
    directory, or TlsFiles (msal needs https). Options: client_id, tenant, mailbox, retry_after,
    device_interval, auto_approve_polls. `state_dir` keeps the mailbox, delta links and sign-ins
    across restarts (saved after each write and on stop). Returns (server, sandbox)."""
    if dataset is None:
        dataset = seed_module.build(people, seed)
    sandbox = GraphSandbox(dataset or None, state_dir=state_dir, **options)
    tls_files = None
    if tls is True:
        tls_files = make_self_signed(Path(tempfile.mkdtemp(prefix="graph-sandbox-tls-")), host)
    elif isinstance(tls, (str, Path)):
        tls_files = make_self_signed(Path(tls), host)
    elif isinstance(tls, TlsFiles):
        tls_files = tls
    server = RunningServer(_Handler, sandbox, host=host, port=port, tls=tls_files)
    server.faults.configure({"latency_ms": latency_ms, "fail_rate": fail_rate, "kinds": ["busy", "http500", "drop"]})
    sandbox.base_url = server.base_url
    sandbox.tls = tls_files
    original_stop = server.stop

    def stop() -> None:
        poke = threading.Timer(0.01, _poke, args=(server.host, server.port))
        poke.start()
        original_stop()
        poke.cancel()
        sandbox.save()

    server.stop = stop  # type: ignore[method-assign]
    return server, sandbox


def _poke(host: str, port: int) -> None:
    import socket
    try:
        with socket.create_connection((host, port), timeout=0.5):
            pass
    except OSError:
        pass


__all__ = ["GraphSandbox", "start_graph_sandbox", "fmt_dtz"]
