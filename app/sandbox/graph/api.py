"""Graph v1.0 resources of the sandbox: one `Api.call()` used by the HTTP handler and by $batch.

Routes (paths after /v1.0; `('x')` segments are accepted as `/x`):
  me                                        GET
  me/contacts[/delta|/{id}[/permanentDelete]]           + me/contactFolders/{fid}/contacts/...
  me/todo/lists, me/todo/lists/{lid}/tasks[/delta|/{id}[/extensions[/{name}]]]
  me/events[/{id}[/permanentDelete|/instances]] (also me/calendar/events), me/calendarView[/delta]
  me/mailFolders[/{fid}[/messages[/delta|/{id}]]], me/messages/{id}[/move]
  me/outlook/masterCategories[/{id}]
Semantics kept: etags change on every write, If-Match mismatch -> 412, DELETE moves to Deleted
Items (permanentDelete is the hard delete), delta = one net change per item since the token.
Recurring series (recurrence.py): calendarView, its delta and /instances expand a seriesMaster into
occurrence/exception instances; PATCH of an instance makes an exception, DELETE cancels it.
A collection made unavailable (`deny`) answers 403 ErrorAccessDenied or 404 as a whole.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any, Callable
from urllib.parse import quote

from . import odata, recurrence
from .odata import ODataError, bad, render
from .store import Folder, Item, Store, parse_dtz, zone
from .mail import MailRoutes
from .wire import Request, Response, error, normalise_path
from .tokens import Signer, TokenError

DEFAULT_PAGE = 10
MAX_PAGE = 1000
CONFLICT = ("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change "
            "key passed in the request does not match the current change key for the item.")


SEG = r"([^/]+)"
ROUTES: list[tuple[str, str]] = [
    (r"me", "me"),
    (r"me/contacts", "contacts"),
    (r"me/contacts/delta", "contacts.delta"),
    (r"me/contacts/" + SEG, "contacts.item"),
    (r"me/contacts/" + SEG + "/permanentDelete", "contacts.permanentDelete"),
    (r"me/contactFolders", "contactFolders"),
    (r"me/contactFolders/" + SEG + "/contacts", "contacts"),
    (r"me/contactFolders/" + SEG + "/contacts/delta", "contacts.delta"),
    (r"me/contactFolders/" + SEG + "/contacts/" + SEG, "contacts.item"),
    (r"me/todo/lists", "todoLists"),
    (r"me/todo/lists/" + SEG + "/tasks", "tasks"),
    (r"me/todo/lists/" + SEG + "/tasks/delta", "tasks.delta"),
    (r"me/todo/lists/" + SEG + "/tasks/" + SEG, "tasks.item"),
    (r"me/todo/lists/" + SEG + "/tasks/" + SEG + "/extensions", "tasks.extensions"),
    (r"me/todo/lists/" + SEG + "/tasks/" + SEG + "/extensions/" + SEG, "tasks.extension"),
    (r"me/(?:calendar/)?events", "events"),
    (r"me/(?:calendar/)?events/" + SEG, "events.item"),
    (r"me/(?:calendar/)?events/" + SEG + "/permanentDelete", "events.permanentDelete"),
    (r"me/(?:calendar/)?events/" + SEG + "/instances", "events.instances"),
    (r"me/calendarView", "calendarView"),
    (r"me/calendarView/delta", "calendarView.delta"),
    (r"me/mailFolders", "mailFolders"),
    (r"me/mailFolders/" + SEG, "mailFolders.item"),
    (r"me/mailFolders/" + SEG + "/messages", "messages"),
    (r"me/mailFolders/" + SEG + "/messages/delta", "messages.delta"),
    (r"me/mailFolders/" + SEG + "/messages/" + SEG, "messages.item"),
    (r"me/messages/" + SEG, "messages.item"),
    (r"me/messages/" + SEG + "/move", "messages.move"),
    (r"me/messages/" + SEG + r"/\$value", "messages.value"),
    (r"me/messages/" + SEG + "/attachments", "messages.attachments"),
    (r"me/messages/" + SEG + "/attachments/" + SEG, "messages.attachment"),
    (r"me/outlook/masterCategories", "masterCategories"),
    (r"me/outlook/masterCategories/" + SEG, "masterCategories.item"),
]
COMPILED = [(re.compile("^" + p + "$", re.I), name) for p, name in ROUTES]
SCOPES = {"contacts": "Contacts", "tasks": "Tasks", "todoLists": "Tasks", "events": "Calendars",
          "calendarView": "Calendars", "messages": "Mail", "mailFolders": "Mail", "masterCategories": "MailboxSettings",
          "contactFolders": "Contacts", "me": "User"}


def route(path: str) -> tuple[str, list[str]]:
    path = normalise_path(path)
    for rx, name in COMPILED:
        m = rx.match(path)
        if m:
            return name, list(m.groups())
    return "", []


def needed_scope(name: str, method: str) -> str:
    family = SCOPES.get(name.split(".")[0], "User")
    return f"{family}.{'Read' if method == 'GET' else 'ReadWrite'}"


class Api(MailRoutes):
    def __init__(self, store: Store, signer: Signer | None = None):
        self.store = store
        self.signer = signer or Signer()
        self.denied: dict[str, int] = {}  # folder id -> 403|404: the whole collection refuses (deny)

    # --- entry point ---------------------------------------------------------------------------
    def call(self, req: Request) -> Response:
        name, args = route(req.path)
        if not name:
            return error(400, "BadRequest", f"Resource not found for the segment '{req.path.split('/')[-1]}'.")
        handler: Callable[..., Response] | None = getattr(self, "r_" + name.replace(".", "_"), None)
        try:
            with self.store.lock:
                return handler(req, *args) if handler else error(405, "BadRequest", "Unsupported request.")
        except ODataError as exc:
            return error(exc.status, exc.code, exc.message)

    # --- helpers -------------------------------------------------------------------------------
    def _folder(self, key: str | None, kind: str) -> Folder:
        default = {"contact": "contacts", "event": "calendar", "task": "defaultList", "message": "inbox"}[kind]
        folder = self.store.folder(key or default)
        if folder is None or folder.kind != kind:
            raise ODataError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        self._check_access(folder.id)
        return folder

    def _check_access(self, folder_id: str) -> None:
        status = self.denied.get(folder_id)
        if status == 403:
            raise ODataError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if status is not None:
            raise ODataError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _item(self, item_id: str, kind: str, folder: Folder | None = None) -> Item:
        item = self.store.get(item_id)
        if item is None or item.kind != kind or (folder is not None and item.folder != folder.id):
            raise ODataError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if kind != "message" and item.folder == self.store.wk("deleteditems").id and folder is None:
            raise ODataError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        self._check_access(item.folder)
        return item

    def _render(self, req: Request, item: Item, *, select=True) -> dict[str, Any]:
        return render(item, immutable=req.immutable, select=odata.parse_select(req.query.get("$select")) if select else None,
                      expand=odata.parse_expand(req.query.get("$expand"), item.kind), tz=req.tz)

    def _if_match(self, req: Request, item: Item) -> None:
        wanted = req.headers.get("if-match")
        if wanted and wanted.strip() != "*" and wanted.strip() != item.etag:
            raise ODataError(412, *CONFLICT)

    def _page_size(self, req: Request) -> int:
        size = req.prefer.get("odata.maxpagesize") or req.query.get("$top")
        try:
            return max(1, min(MAX_PAGE, int(size))) if size else DEFAULT_PAGE
        except ValueError:
            raise bad("Invalid $top or odata.maxpagesize value.") from None

    def _context(self, req: Request, item: Item) -> str:
        return f"{req.base}/v1.0/$metadata#users('{self.store.user_id}')/{item.kind}s/$entity"

    # --- me ------------------------------------------------------------------------------------
    def r_me(self, req: Request) -> Response:
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        return Response(200, {"@odata.context": f"{req.base}/v1.0/$metadata#users/$entity", "id": self.store.user_id,
                              "displayName": self.store.display_name, "mail": self.store.address,
                              "userPrincipalName": self.store.address, "givenName": None, "surname": None})

    # --- generic collections -------------------------------------------------------------------
    def _collection(self, req: Request, kind: str, folder: Folder, scope: str, *, present=None,
                    source: Callable[[], list[Item]] | None = None) -> Response:
        if req.method == "POST":
            return self._create(req, kind, folder)
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        pred = odata.parse_filter(req.query.get("$filter"), kind)
        odata.parse_expand(req.query.get("$expand"), kind)  # validate early
        listed = source() if source is not None else self.store.in_folder(folder.id)
        items = [i for i in listed if (pred is None or pred(i)) and (present is None or present(i))]
        size = self._page_size(req)
        offset = 0
        if "$skiptoken" in req.query:
            try:
                data = self.signer.read(scope, req.query["$skiptoken"])
                offset = int(data["o"])
            except (TokenError, KeyError, ValueError):
                return error(400, "BadRequest", "The $skiptoken is not valid.")
        page = items[offset:offset + size]
        body: dict[str, Any] = {"value": [self._render(req, i) for i in page]}
        for rendered, item in zip(body["value"], page):
            if item.data.get("_master"):
                recurrence.render_ids(rendered, self.store.items[item.data["_master"]], req.immutable)
        if offset + size < len(items):
            query = {k: v for k, v in req.query.items() if k not in ("$skiptoken", "$top")}
            query["$top"] = str(size)
            query["$skiptoken"] = self.signer.issue(scope, {"o": offset + size})
            body["@odata.nextLink"] = f"{req.base}/v1.0/{scope}?" + "&".join(
                f"{k}={quote(v, safe='$,')}" for k, v in query.items())
        return Response(200, body)

    def _create(self, req: Request, kind: str, folder: Folder) -> Response:
        data = odata.validate_write(kind, req.body, creating=True)
        ext = [(p["id"].strip(), p["value"]) for p in data.pop("singleValueExtendedProperties", None) or []]
        open_ext = {}
        for e in data.pop("extensions", None) or []:
            if not isinstance(e, dict) or not e.get("extensionName"):
                raise bad("An open extension needs an extensionName.", "ErrorInvalidRequest")
            open_ext[str(e["extensionName"])] = {k: v for k, v in e.items() if not k.startswith("@") and k not in (
                "extensionName", "id")}
        data = {k: v for k, v in data.items() if v is not None}
        self._defaults(kind, data)
        item = self.store.add(kind, folder.id, data, ext=ext, open_ext=open_ext)
        return Response(201, {"@odata.context": self._context(req, item), **self._render(req, item, select=False)})

    def _defaults(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "contact":
            if not data.get("displayName"):
                parts = [data.get(k) for k in ("givenName", "middleName", "surname")]
                data["displayName"] = " ".join(p for p in parts if p) or data.get("companyName") or ""
            data.setdefault("emailAddresses", [])
            data.setdefault("businessPhones", [])
            data.setdefault("homePhones", [])
        elif kind == "event":
            odata.check_event_times(data)
            data.setdefault("isAllDay", False)
            data.setdefault("isReminderOn", True)
            data.setdefault("reminderMinutesBeforeStart", 15)
            data.setdefault("attendees", [])
            data.setdefault("location", {"displayName": ""})
            data.setdefault("body", {"contentType": "html", "content": ""})
            data.setdefault("showAs", "busy")
            recurrence.validate(data.get("recurrence"))
            data.update({"type": "seriesMaster" if data.get("recurrence") else "singleInstance",
                         "isOrganizer": True, "isCancelled": False,
                         "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
                         "organizer": {"emailAddress": {"name": self.store.display_name, "address": self.store.address}},
                         "originalStartTimeZone": data["start"].get("timeZone", "UTC"),
                         "originalEndTimeZone": data["end"].get("timeZone", "UTC")})
        elif kind == "task":
            data.setdefault("status", "notStarted")
            data.setdefault("importance", "normal")
            data.setdefault("isReminderOn", False)
            data.setdefault("body", {"content": "", "contentType": "text"})
            self._completed(data)
        elif kind == "message":
            data.setdefault("isDraft", True)
            data.setdefault("from", {"emailAddress": {"name": self.store.display_name, "address": self.store.address}})
            data.setdefault("internetMessageId", f"<{secrets.token_hex(12)}@sandbox.example>")

    def _completed(self, data: dict[str, Any]) -> None:
        if data.get("status") == "completed" and not data.get("completedDateTime"):
            now = dt.datetime.now(dt.timezone.utc)
            data["completedDateTime"] = {"dateTime": now.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
        elif data.get("status") not in (None, "completed"):
            data.pop("completedDateTime", None)

    def _entity(self, req: Request, kind: str, item: Item) -> Response:
        if req.method == "GET":
            return Response(200, {"@odata.context": self._context(req, item), **self._render(req, item)})
        if req.method == "PATCH":
            self._if_match(req, item)
            data = odata.validate_write(kind, req.body, creating=False)
            merged = dict(item.data)
            for pv in data.pop("singleValueExtendedProperties", None) or []:
                item.ext[pv["id"].strip().lower()] = (pv["id"].strip(), pv["value"])
            for key, value in data.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            if kind == "event":
                odata.check_event_times(merged)
                recurrence.validate(merged.get("recurrence"))
                merged["type"] = "seriesMaster" if merged.get("recurrence") else "singleInstance"
                if "start" in data:
                    merged["originalStartTimeZone"] = merged["start"].get("timeZone", "UTC")
                if "end" in data:
                    merged["originalEndTimeZone"] = merged["end"].get("timeZone", "UTC")
            if kind == "task":
                self._completed(merged)
            item.data = merged
            self.store.touch(item)
            return Response(200, {"@odata.context": self._context(req, item), **self._render(req, item, select=False)})
        if req.method == "DELETE":
            self._if_match(req, item)
            self.store.move(item, self.store.wk("deleteditems").id)  # Graph DELETE = soft delete to Deleted Items
            return Response(204)
        return error(405, "BadRequest", "Unsupported request.")

    def _permanent(self, req: Request, item: Item) -> Response:
        if req.method != "POST":
            return error(405, "BadRequest", "Unsupported request.")
        self.store.remove(item)
        return Response(204)

    # --- delta ---------------------------------------------------------------------------------
    def _delta(self, req: Request, kind: str, folder: Folder, scope: str, *, window: bool = False) -> Response:
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        token = req.query.get("$skiptoken") or req.query.get("$deltatoken")
        if token:
            try:
                state = self.signer.read(scope, token)
                since, select, size, win = int(state["s"]), state.get("sel"), int(state["n"]), state.get("w")
            except (TokenError, KeyError, ValueError, TypeError):
                return error(410, "syncStateNotFound", "The sync state generation is not found or is invalid. "
                             "Resync required (resyncRequired).")
        else:
            since, select, size = 0, req.query.get("$select"), self._page_size(req)
            win = None
            if window:
                try:
                    start = parse_dtz({"dateTime": req.query["startDateTime"], "timeZone": "UTC"})
                    end = parse_dtz({"dateTime": req.query["endDateTime"], "timeZone": "UTC"})
                except (KeyError, ValueError):
                    return error(400, "ErrorInvalidParameter", "This request requires a time window specified by "
                                 "the query string parameters StartDateTime and EndDateTime.")
                win = [start.isoformat(), end.isoformat()]
        if "$expand" in req.query:
            return error(400, "BadRequest", "$expand is not supported on delta queries.")
        present = None
        if win:
            lo, hi = dt.datetime.fromisoformat(win[0]), dt.datetime.fromisoformat(win[1])
            present = lambda it: recurrence.is_master(it) or _overlaps(it, lo, hi)  # noqa: E731
        net = self.store.net_changes(folder.id, since, present or (lambda it: True))
        page, rest = net[:size], net[size:]
        sel = odata.parse_select(select)
        value = []
        for _, op, item_id in page:
            item = self.store.items.get(item_id)
            if win and item is not None and recurrence.is_master(item):
                # a series is never in the view itself: the instances the write touched are
                value.extend(self._series_delta(req, kind, item, since, lo, hi, sel, gone=op != "upsert"))
            elif op == "upsert" and item is not None:
                value.append(render(item, immutable=req.immutable, select=sel, tz=req.tz))
            else:
                rest_id = self.store.left.get((folder.id, item_id), item_id)
                value.append(_removed(kind, item_id if req.immutable else rest_id))
        body: dict[str, Any] = {"@odata.context": f"{req.base}/v1.0/$metadata#Collection({kind})", "value": value}
        if rest:
            tok = self.signer.issue(scope, {"s": page[-1][0], "sel": select, "n": size, "w": win})
            body["@odata.nextLink"] = f"{req.base}/v1.0/{scope}?$skiptoken={tok}"
        else:
            tok = self.signer.issue(scope, {"s": max(since, self.store.seq), "sel": select, "n": size, "w": win})
            body["@odata.deltaLink"] = f"{req.base}/v1.0/{scope}?$deltatoken={tok}"
        return Response(200, body)

    def _series_delta(self, req: Request, kind: str, master: Item, since: int, lo: dt.datetime, hi: dt.datetime,
                      sel: set[str] | None, *, gone: bool) -> list[dict[str, Any]]:
        """Delta entries of one series: its instances in the window (all of them when the series
        changed as a whole or left the calendar, else those written on their own) and removals
        for occurrences cancelled since."""
        master_id = master.immutable_id if req.immutable else self.store.left.get(
            (self.store.wk("calendar").id, master.immutable_id), master.rest_id)
        whole, keys = recurrence.changed_since(master, since)
        out = []
        for occ in recurrence.expand(master, lo, hi):
            if gone:
                out.append(_removed(kind, recurrence.occurrence_id(master_id, occ.key)))
            elif whole or occ.key in keys:
                out.append(recurrence.render_ids(render(recurrence.instance(master, occ), immutable=req.immutable,
                                                        select=sel, tz=req.tz), master, req.immutable))
        cancelled = set(master.data.get("_cancelled") or []) if since else set()  # a first round has no removals
        out += [_removed(kind, recurrence.occurrence_id(master_id, k)) for k in sorted(keys & cancelled)]
        return out

    # --- contacts ------------------------------------------------------------------------------
    def r_contacts(self, req: Request, fid: str | None = None) -> Response:
        folder = self._folder(fid, "contact")
        return self._collection(req, "contact", folder, normalise_path(req.path))

    def r_contacts_delta(self, req: Request, fid: str | None = None) -> Response:
        return self._delta(req, "contact", self._folder(fid, "contact"), normalise_path(req.path))

    def r_contacts_item(self, req: Request, *ids: str) -> Response:
        folder = self._folder(ids[0], "contact") if len(ids) == 2 else None
        return self._entity(req, "contact", self._item(ids[-1], "contact", folder))

    def r_contacts_permanentDelete(self, req: Request, item_id: str) -> Response:
        return self._permanent(req, self._item(item_id, "contact"))

    def r_contactFolders(self, req: Request) -> Response:
        folders = [f for f in self.store.folders.values() if f.kind == "contact" and f.wellknown != "contacts"]
        return Response(200, {"value": [{"id": f.id, "displayName": f.name, "parentFolderId": f.parent} for f in folders]})

    # --- To Do ---------------------------------------------------------------------------------
    def r_todoLists(self, req: Request) -> Response:
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        lists = [f for f in self.store.folders.values() if f.kind == "task"]
        pred = odata.parse_filter(req.query.get("$filter"), "task")
        value = [{"@odata.etag": 'W/"list"', "id": f.id, "displayName": f.name, "isOwner": True, "isShared": False,
                  "wellknownListName": "defaultList" if f.wellknown == "defaultList" else "none"} for f in lists]
        if pred is not None:
            value = [v for v in value if pred(Item("", "", "task", "", dict(v)))]
        return Response(200, {"value": value})

    def r_tasks(self, req: Request, lid: str) -> Response:
        return self._collection(req, "task", self._folder(lid, "task"), normalise_path(req.path))

    def r_tasks_delta(self, req: Request, lid: str) -> Response:
        return self._delta(req, "task", self._folder(lid, "task"), normalise_path(req.path))

    def r_tasks_item(self, req: Request, lid: str, tid: str) -> Response:
        return self._entity(req, "task", self._item(tid, "task", self._folder(lid, "task")))

    def r_tasks_extensions(self, req: Request, lid: str, tid: str) -> Response:
        item = self._item(tid, "task", self._folder(lid, "task"))
        if req.method == "GET":
            return Response(200, {"value": [odata.render_extension(n, p) for n, p in item.open_ext.items()]})
        if req.method != "POST":
            return error(405, "BadRequest", "Unsupported request.")
        body = req.body if isinstance(req.body, dict) else {}
        name = str(body.get("extensionName") or "")
        if not name:
            return error(400, "ErrorInvalidRequest", "An open extension needs an extensionName.")
        if name in item.open_ext:
            return error(409, "NameAlreadyExists", "An extension with this name already exists.")
        item.open_ext[name] = {k: v for k, v in body.items() if not k.startswith("@") and k not in ("extensionName", "id")}
        self.store.touch(item)
        return Response(201, odata.render_extension(name, item.open_ext[name]))

    def r_tasks_extension(self, req: Request, lid: str, tid: str, name: str) -> Response:
        item = self._item(tid, "task", self._folder(lid, "task"))
        key = next((n for n in item.open_ext if name.lower() in (n.lower(), odata.ext_id(n).lower())), None)
        if key is None:
            return error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if req.method == "GET":
            return Response(200, odata.render_extension(key, item.open_ext[key]))
        if req.method == "PATCH":
            body = req.body if isinstance(req.body, dict) else {}
            item.open_ext[key].update({k: v for k, v in body.items() if not k.startswith("@") and k not in (
                "extensionName", "id")})
            self.store.touch(item)
            return Response(204)
        if req.method == "DELETE":
            del item.open_ext[key]
            self.store.touch(item)
            return Response(204)
        return error(405, "BadRequest", "Unsupported request.")

    # --- calendar ------------------------------------------------------------------------------
    def r_events(self, req: Request) -> Response:
        return self._collection(req, "event", self._folder(None, "event"), "me/events")

    def r_events_item(self, req: Request, item_id: str) -> Response:
        parts = recurrence.parse_occurrence_id(item_id)
        if parts is not None:
            return self._instance(req, *parts)
        return self._entity(req, "event", self._item(item_id, "event"))

    def _instance(self, req: Request, master_id: str, key: str) -> Response:
        """GET an occurrence; PATCH makes it an exception; DELETE cancels it (Outlook's "delete
        this occurrence"). All three are recorded on the master."""
        master = self._item(master_id, "event")
        occ = recurrence.find(master, key) if recurrence.is_master(master) else None
        if occ is None:
            raise ODataError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        inst = recurrence.instance(master, occ)
        if req.method == "GET":
            return Response(200, recurrence.render_ids(self._render(req, inst), master, req.immutable))
        self._if_match(req, inst)
        if req.method == "DELETE":
            master.data.setdefault("_cancelled", []).append(key)
            (master.data.get("_exceptions") or {}).pop(key, None)
            self.store.touch(master, instance=key)
            return Response(204)
        if req.method != "PATCH":
            return error(405, "BadRequest", "Unsupported request.")
        data = odata.validate_write("event", req.body, creating=False)
        if {"recurrence", "singleValueExtendedProperties"} & set(data):
            raise bad("An occurrence of a series cannot change the recurrence or extended properties here.",
                      "ErrorInvalidRequest")
        change = dict((master.data.get("_exceptions") or {}).get(key) or {})
        for name, value in data.items():
            if value is None:
                change.pop(name, None)
            else:
                change[name] = value
        odata.check_event_times({"start": change.get("start") or inst.data["start"],
                                 "end": change.get("end") or inst.data["end"], "isAllDay": inst.data.get("isAllDay")})
        master.data.setdefault("_exceptions", {})[key] = change
        self.store.touch(master, instance=key)
        inst = recurrence.instance(master, recurrence.find(master, key) or occ)
        return Response(200, recurrence.render_ids(self._render(req, inst, select=False), master, req.immutable))

    def r_events_instances(self, req: Request, item_id: str) -> Response:
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        master = self._item(item_id, "event")
        lo, hi = _window(req)
        source = lambda: [recurrence.instance(master, o) for o in recurrence.expand(master, lo, hi)] \
            if recurrence.is_master(master) else []  # noqa: E731
        return self._collection(req, "event", self._folder(None, "event"), normalise_path(req.path), source=source)

    def r_events_permanentDelete(self, req: Request, item_id: str) -> Response:
        return self._permanent(req, self._item(item_id, "event"))

    def r_calendarView(self, req: Request) -> Response:
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        lo, hi = _window(req)
        folder = self._folder(None, "event")

        def view() -> list[Item]:  # single events, occurrences and exceptions; never a series master
            out = []
            for it in self.store.in_folder(folder.id):
                if recurrence.is_master(it):
                    out += [recurrence.instance(it, o) for o in recurrence.expand(it, lo, hi)]
                elif _overlaps(it, lo, hi):
                    out.append(it)
            return out
        return self._collection(req, "event", folder, "me/calendarView", source=view)

    def r_calendarView_delta(self, req: Request) -> Response:
        return self._delta(req, "event", self._folder(None, "event"), "me/calendarView/delta", window=True)


def _window(req: Request) -> tuple[dt.datetime, dt.datetime]:
    try:
        return (parse_dtz({"dateTime": req.query["startDateTime"], "timeZone": "UTC"}),
                parse_dtz({"dateTime": req.query["endDateTime"], "timeZone": "UTC"}))
    except (KeyError, ValueError):
        raise ODataError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query "
                         "string parameters StartDateTime and EndDateTime.") from None


def _removed(kind: str, item_id: str) -> dict[str, Any]:
    return {"@odata.type": odata.ODATA_TYPE[kind], "id": item_id, "@removed": {"reason": "deleted"}}


def _overlaps(item: Item, lo: dt.datetime, hi: dt.datetime) -> bool:
    try:
        start, end = parse_dtz(item.data["start"]), parse_dtz(item.data["end"])
    except (KeyError, ValueError):
        return False
    if item.data.get("isAllDay"):  # floating: midnights in the event's own zone
        tz = zone(item.data.get("originalStartTimeZone"))
        start, end = start.replace(tzinfo=tz), end.replace(tzinfo=tz)
    return start < hi and end > lo
