"""EwsSandbox: the state object behind the EWS server (mailbox, auth, knobs, helpers for tests)."""
from __future__ import annotations

import collections
import datetime as dt
import itertools
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .. import seed as seed_module
from ..server import RunningServer, TlsFiles, make_self_signed
from . import persistence, schema
from .auth import Authenticator, User, parse_users
from .handler import EwsHandler
from .properties import PROPERTY_SETS, delete_path, finalize, store_ext, Path as PropPath
from .seeding import add_item, element_for, ext_element, seed_mailbox
from .soap import ServerVersion, local
from .store import Mailbox

ENDPOINT_PATH = "/EWS/Exchange.asmx"
DEFAULT_PASSWORD = "Sandbox-Passw0rd!"


class EwsSandbox:
    """State object of one sandbox; `server.app` of the RunningServer."""

    endpoint_path = ENDPOINT_PATH

    def __init__(self, dataset=None, *, mailbox: str | None = None, username: str | None = None,
                 password: str = DEFAULT_PASSWORD, auth=("basic", "ntlm"), users=None,
                 bearer_token: str | None = None, state_dir: Path | str | None = None,
                 version: ServerVersion | None = None, busy_backoff_ms: int = 50):
        self.mailbox_address = mailbox or seed_module.MAILBOX
        self.username = username or self.mailbox_address
        self.password = password
        self.version = version or ServerVersion()
        self.busy_backoff_ms = busy_backoff_ms
        self.state_dir = Path(state_dir) if state_dir else None
        self.knobs: dict[str, dict[str, Any]] = {}
        self.request_log: collections.deque = collections.deque(maxlen=5000)
        self._op_faults: dict[str, list] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        user_list = parse_users(users) if users else []
        if not any(u.matches(self.username) for u in user_list):
            user_list.append(User("", self.username, self.password))
        self.users = user_list
        self.authenticator = Authenticator(auth, user_list, bearer_token)
        mb = persistence.load_dir(self.state_dir) if self.state_dir else None
        if mb is None:
            mb = Mailbox(self.mailbox_address, seed_module.USER_NAME)
            mb.ensure_distinguished()
            if dataset is not None:
                seed_mailbox(mb, dataset)
        self.mailbox_state = mb

    # --- public attributes -------------------------------------------------------------
    @property
    def mailbox(self) -> str:
        """Primary SMTP address (the Mailbox object is `.state`)."""
        return self.mailbox_address

    @property
    def state(self) -> Mailbox:
        return self.mailbox_state

    # --- used by the handler ---------------------------------------------------------------
    def next_request_id(self) -> str:
        return str(uuid.uuid4())

    def draw_fault(self, operation: str) -> str | None:
        with self._lock:
            for key in (operation, "*"):
                queue = self._op_faults.get(key)
                if queue:
                    return queue.pop(0)
        return None

    def op_latency(self, operation: str) -> float:
        """Extra seconds for this operation (knob latency_ms, per operation or "*")."""
        ms = self.knobs.get(operation, {}).get("latency_ms", self.knobs.get("*", {}).get("latency_ms", 0))
        return max(0.0, float(ms or 0)) / 1000.0

    def record(self, operation: str, scheme: str, headers, outcome: str, started: float,
               request=None, soap_header=None) -> None:
        version = None
        if soap_header is not None:
            rsv = soap_header.find("{http://schemas.microsoft.com/exchange/services/2006/types}RequestServerVersion")
            version = rsv.get("Version") if rsv is not None else None
        self.request_log.append({
            "operation": operation, "auth": scheme, "outcome": outcome, "request_server_version": version,
            "skeleton": [local(c) for c in request] if request is not None else [],
            "attributes": dict(request.attrib) if request is not None else {},
            "anchor_mailbox": headers.get("X-AnchorMailbox"), "user_agent": headers.get("User-Agent"),
            "ms": round((time.monotonic() - started) * 1000, 2),
        })

    def after_request(self) -> None:
        if self.state_dir is not None and self.mailbox_state.dirty:
            self.save()

    def save(self) -> Path | None:
        if self.state_dir is None:
            return None
        return persistence.save(self.mailbox_state, self.state_dir)

    # --- OAuth (Bearer mode) ---------------------------------------------------------------
    def rotate_bearer_token(self, token: str | None = None) -> str:
        """Invalidate the current access token (requests with it now get 401); the fake token
        endpoint hands out the new one."""
        self.authenticator.bearer_token = token or f"sandbox-token-{uuid.uuid4().hex}"
        return self.authenticator.bearer_token

    def issue_token(self, body: bytes) -> tuple[int, dict]:
        """POST /<tenant>/oauth2/v2.0/token: any refresh_token or client_credentials grant gets the
        current access token (the sandbox checks the token, not how it was obtained)."""
        from urllib.parse import parse_qs
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") not in ("refresh_token", "client_credentials", "authorization_code", "password"):
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: unsupported grant type"}
        if not self.authenticator.bearer_token:
            self.rotate_bearer_token()
        return 200, {"token_type": "Bearer", "scope": "https://outlook.office365.com/EWS.AccessAsUser.All",
                     "expires_in": 3600, "ext_expires_in": 3600, "access_token": self.authenticator.bearer_token,
                     "refresh_token": f"sandbox-refresh-{next(self._ids)}"}

    # --- fault and quirk knobs ---------------------------------------------------------
    def fail_operation(self, operation: str, kind: str = "busy", count: int = 1) -> None:
        """The next `count` requests of `operation` ("*": any) fail with `kind` (busy, busy_message,
        http500, http503, drop, drop_mid, connection_count)."""
        with self._lock:
            self._op_faults.setdefault(operation, []).extend([kind] * count)

    def set_knob(self, operation: str, name: str, value: Any) -> None:
        """Per-operation knobs: latency_ms (any operation); FindItem short_page=N,
        find_count_limit=N; SyncFolderItems omit_body / same_state; UpdateItem task_id_change.
        Operation "*" applies to all."""
        with self._lock:
            self.knobs.setdefault(operation, {})[name] = value

    # --- inspection helpers ---------------------------------------------------------------
    def folder_id(self, folder: str) -> str:
        with self.state.lock:
            return self.state.folder_by_name(folder).id

    def items(self, folder: str = "contacts") -> list[dict[str, Any]]:
        """Plain snapshots of a folder's items (see `describe`)."""
        with self.state.lock:
            f = self.state.folder_by_name(folder)
            return [self.describe(i.id) for i in sorted(self.state.folder_items(f.id), key=lambda i: i.article)]

    def item_ids(self, folder: str = "contacts") -> list[str]:
        return [i["id"] for i in self.items(folder)]

    def describe(self, item_id: str) -> dict[str, Any]:
        """{"id", "change_key", "kind", "folder", "props": {element: text or list/dict}, "ext": {...}}."""
        with self.state.lock:
            item = self.state.items[item_id]
            folder = self.state.folders[item.folder_id]
            return {
                "id": item.id, "change_key": item.change_key, "kind": item.kind,
                "folder": folder.distinguished or folder.display_name,
                "props": {name: _plain(el) for name, el in item.props.items()},
                "ext": {_ext_label(k): (p.values if p.is_array else (p.values[0] if p.values else None))
                        for k, p in item.ext.items()},
                "is_read": item.is_read, "is_draft": item.is_draft,
                "sent": item.sent, "created": item.created, "modified": item.modified,
            }

    def find_items(self, folder: str = "contacts", **match: Any) -> list[dict[str, Any]]:
        return [d for d in self.items(folder) if all(d["props"].get(k) == v for k, v in match.items())]

    def head_seq(self) -> int:
        return self.state.seq

    # --- behind-the-back edits -----------------------------------------------------------
    def add_item(self, folder: str, kind: str, props: dict[str, Any], **kw: Any) -> str:
        """Create an item as another client would (a Create in the change log). Returns its id."""
        return add_item(self.state, folder, kind, props, **kw).id

    def edit_item(self, item_id: str, changes: dict[str, Any] | None = None, **fields: Any) -> str:
        """Change properties as another client would: element names (GivenName, EmailAddresses,
        Categories...) or FieldURIs; None deletes. New ChangeKey and an Update in the log.
        Returns the new ChangeKey."""
        changes = {**(changes or {}), **fields}
        mb = self.state
        with mb.lock:
            item = mb.items[item_id]
            for name, value in changes.items():
                el_name = schema.uri_element(item.kind, name) if ":" in name else name
                if el_name is None:
                    raise KeyError(name)
                if value is None:
                    item.props.pop(el_name, None)
                elif el_name == "IsRead":
                    item.is_read = bool(value)
                else:
                    item.props[el_name] = element_for(el_name, value)
            finalize(mb, item, creating=False)
            mb.updated(item)
            return item.change_key

    def set_extended(self, item_id: str, value: Any, **attrs: str) -> str:
        """Set an extended property behind the app's back, e.g.
        set_extended(id, "shared", PropertySetId=GUID, PropertyName="Sharing")."""
        mb = self.state
        with mb.lock:
            item = mb.items[item_id]
            if value is None:
                delete_path(item, PropPath("ext", attrs=tuple(attrs.items())))
            else:
                store_ext(mb, item, ext_element(value, **attrs))
            mb.updated(item)
            return item.change_key

    def bump_change_key(self, item_id: str) -> str:
        """A bare ChangeKey change (as Exchange does spontaneously); logged as an update."""
        with self.state.lock:
            item = self.state.items[item_id]
            self.state.updated(item)
            return item.change_key

    def mark_read(self, item_id: str, is_read: bool = True) -> None:
        with self.state.lock:
            self.state.read_flag(self.state.items[item_id], is_read)

    def delete_item(self, item_id: str, how: str = "HardDelete") -> str | None:
        """Delete as another client would; returns the new id for soft/trash deletes."""
        mb = self.state
        with mb.lock:
            item = mb.items[item_id]
            if how == "HardDelete":
                mb.remove_item(item)
                return None
            target = "recoverableitemsdeletions" if how == "SoftDelete" else "deleteditems"
            return mb.move_item(item, mb.distinguished[target]).id

    def modify_occurrence(self, master_id: str, original_start: dt.datetime, start: dt.datetime,
                          end: dt.datetime, subject: str | None = None) -> str:
        """Record an exception of a recurring master (as Outlook does when one instance is moved or
        retitled): it appears in the master's ModifiedOccurrences (ItemId, Start, End,
        OriginalStart); its own subject is returned by GetItem on that ItemId. The master gets a
        new ChangeKey."""
        from .calview import occurrence_id
        from .properties import fmt
        from .soap import sub, t
        mb = self.state
        with mb.lock:
            item = mb.items[master_id]
            container = item.props.setdefault("ModifiedOccurrences", element_for("ModifiedOccurrences", ""))
            for old in [o for o in container if o.findtext(t("OriginalStart")) == fmt(original_start)]:
                container.remove(old)  # modified again: one entry per occurrence
            occ = sub(container, t("Occurrence"))
            occ_id = occurrence_id(mb, item, original_start)
            if subject is not None:
                item.exceptions[fmt(original_start)] = {"Subject": subject}
            mb.updated(item)
            sub(occ, t("ItemId"), Id=occ_id, ChangeKey=item.change_key)
            sub(occ, t("Start"), fmt(start))
            sub(occ, t("End"), fmt(end))
            sub(occ, t("OriginalStart"), fmt(original_start))
            return occ_id

    def delete_occurrence(self, master_id: str, original_start: dt.datetime) -> None:
        """Remove one instance of a recurring master: it appears in DeletedOccurrences."""
        from .properties import fmt
        from .soap import sub, t
        mb = self.state
        with mb.lock:
            item = mb.items[master_id]
            container = item.props.setdefault("DeletedOccurrences", element_for("DeletedOccurrences", ""))
            sub(sub(container, t("DeletedOccurrence")), t("Start"), fmt(original_start))
            mb.updated(item)

    def move_item(self, item_id: str, folder: str) -> str:
        with self.state.lock:
            return self.state.move_item(self.state.items[item_id], self.folder_id(folder)).id

    # --- control endpoint ----------------------------------------------------------------
    def control(self, method: str, path: str, data: dict, query: dict) -> Any:
        """/_sandbox/ews/<path>: items, item, edit, extended, bump, read, delete, move, add, knobs, fail, log."""
        path = path.strip("/")
        if method == "GET" and path == "items":
            return {"items": _jsonable(self.items(query.get("folder", "contacts")))}
        if method == "GET" and path == "item":
            return _jsonable(self.describe(query["id"]))
        if method == "GET" and path == "log":
            return {"requests": list(self.request_log)}
        if method == "GET" and path == "info":
            return {"mailbox": self.mailbox, "username": self.username, "endpoint_path": self.endpoint_path,
                    "seq": self.head_seq(), "knobs": self.knobs}
        if method != "POST":
            return None
        if path == "edit":
            return {"ok": True, "change_key": self.edit_item(data["id"], data.get("changes") or {})}
        if path == "extended":
            return {"ok": True, "change_key": self.set_extended(data["id"], data.get("value"), **data["attrs"])}
        if path == "bump":
            return {"ok": True, "change_key": self.bump_change_key(data["id"])}
        if path == "read":
            self.mark_read(data["id"], bool(data.get("is_read", True)))
            return {"ok": True}
        if path == "delete":
            return {"ok": True, "new_id": self.delete_item(data["id"], data.get("how", "HardDelete"))}
        if path == "move":
            return {"ok": True, "new_id": self.move_item(data["id"], data["folder"])}
        if path == "add":
            return {"ok": True, "id": self.add_item(data.get("folder", "contacts"), data.get("kind", "Contact"),
                                                    data.get("props") or {})}
        if path == "knobs":
            self.set_knob(data.get("operation", "*"), data["name"], data.get("value"))
            return {"ok": True, "knobs": self.knobs}
        if path == "fail":
            self.fail_operation(data["operation"], data.get("kind", "busy"), int(data.get("count", 1)))
            return {"ok": True}
        return None

    def close(self) -> None:
        self.authenticator.close()


def _plain(el) -> Any:
    name = local(el)
    if name in ("EmailAddresses", "PhoneNumbers", "ImAddresses"):
        return {e.get("Key"): e.text for e in el}
    if name == "PhysicalAddresses":
        return {e.get("Key"): {local(p): p.text for p in e} for e in el}
    if len(el) and all(local(c) == "String" for c in el):
        return [c.text for c in el]
    if len(el):
        addrs = [a.text for a in el.iter("{*}EmailAddress")]
        return addrs if name not in ("From", "Sender", "Organizer") else (addrs[0] if addrs else None)
    return el.text


def _ext_label(key: tuple) -> str:
    if key[0] == "tag":
        return f"0x{key[1]:04x}"
    names = {v: k for k, v in PROPERTY_SETS.items()}
    return f"{names.get(key[1], key[1])}:{key[2]}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _poke(host: str, port: int) -> None:
    import socket
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        pass


def start_ews_sandbox(dataset=None, *, people: int = 50, seed: int = 1, host: str = "127.0.0.1", port: int = 0,
                      auth=("basic", "ntlm"), users=None, tls=None, latency_ms: float = 0.0,
                      fail_rate: float = 0.0, state_dir=None, **options: Any) -> tuple[RunningServer, EwsSandbox]:
    """Start the EWS sandbox on a background thread. `dataset` defaults to seed.build(people, seed);
    pass dataset=False for an empty mailbox. `tls`: True (generate a certificate in a temp dir),
    a directory, or TlsFiles. Returns (server, sandbox); server.stop() persists state first."""
    if dataset is None:
        dataset = seed_module.build(people, seed)
    sandbox = EwsSandbox(dataset or None, auth=auth, users=users, state_dir=state_dir, **options)
    tls_files = None
    if tls is True:
        import tempfile
        tls_files = make_self_signed(Path(tempfile.mkdtemp(prefix="ews-sandbox-tls-")), host)
    elif isinstance(tls, (str, Path)):
        tls_files = make_self_signed(Path(tls), host)
    elif isinstance(tls, TlsFiles):
        tls_files = tls
    server = RunningServer(EwsHandler, sandbox, host=host, port=port, tls=tls_files)
    server.faults.configure({"latency_ms": latency_ms, "fail_rate": fail_rate})
    original_stop = server.stop

    def stop() -> None:
        # Wake serve_forever's 0.5 s select at once so stopping is quick.
        poke = threading.Timer(0.01, _poke, args=(server.host, server.port))
        poke.start()
        original_stop()
        poke.cancel()
        if sandbox.state_dir is not None:
            sandbox.save()
        sandbox.close()

    server.stop = stop  # type: ignore[method-assign]
    sandbox.url = server.base_url + ENDPOINT_PATH
    return server, sandbox
