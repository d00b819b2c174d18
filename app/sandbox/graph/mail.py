"""Mail folders, messages and master categories of the Graph sandbox (a mixin of `api.Api`)."""
from __future__ import annotations

import re
import secrets
from typing import Any

from . import attachments, odata
from .store import Folder, Item
from .wire import Request, Response, error, normalise_path


class MailRoutes:
    # --- mail ----------------------------------------------------------------------------------
    def r_mailFolders(self, req: Request) -> Response:
        if req.method == "POST":
            body = req.body if isinstance(req.body, dict) else {}
            name = str(body.get("displayName") or "").strip()
            if not name:
                return error(400, "ErrorInvalidRequest", "A folder needs a displayName.")
            if any(f.kind == "message" and f.name.lower() == name.lower() and f.parent is None
                   for f in self.store.folders.values()):
                return error(409, "ErrorFolderExists", "A folder with the specified name already exists.")
            folder = self.store.add_folder("message", name, hidden=bool(body.get("isHidden")))
            return Response(201, self._folder_json(folder))
        hidden = req.query.get("includeHiddenFolders", "").lower() == "true"
        folders = [f for f in self.store.folders.values() if f.kind == "message" and (hidden or not f.hidden)]
        pred = odata.parse_filter(req.query.get("$filter"), "message")
        value = [self._folder_json(f) for f in folders]
        if pred is not None:
            value = [v for v in value if pred(Item("", "", "message", "", dict(v)))]
        return Response(200, {"value": value})

    def _folder_json(self, f: Folder) -> dict[str, Any]:
        count = len(self.store.in_folder(f.id))
        return {"id": f.id, "displayName": f.name, "parentFolderId": f.parent, "childFolderCount": 0,
                "unreadItemCount": 0, "totalItemCount": count, "isHidden": f.hidden}

    def r_mailFolders_item(self, req: Request, fid: str) -> Response:
        return Response(200, self._folder_json(self._folder(fid, "message")))

    def r_messages(self, req: Request, fid: str) -> Response:
        return self._collection(req, "message", self._folder(fid, "message"), normalise_path(req.path))

    def r_messages_delta(self, req: Request, fid: str) -> Response:
        return self._delta(req, "message", self._folder(fid, "message"), normalise_path(req.path))

    def r_messages_item(self, req: Request, *ids: str) -> Response:
        folder = self._folder(ids[0], "message") if len(ids) == 2 else None
        item = self._item(ids[-1], "message", folder)
        if req.method == "GET" and req.prefer.get("outlook.body-content-type", "").lower() == "text":
            resp = self._entity(req, "message", item)
            body = resp.body.get("body")
            if isinstance(body, dict) and body.get("contentType", "").lower() == "html":
                resp.body["body"] = {"contentType": "text", "content": re.sub(r"<[^>]+>", "", body.get("content", ""))}
            return resp
        if req.method == "DELETE":
            self._if_match(req, item)
            self.store.move(item, self.store.wk("deleteditems").id)
            return Response(204)
        return self._entity(req, "message", item)

    def r_messages_value(self, req: Request, item_id: str) -> Response:
        item = self._item(item_id, "message")
        mime = attachments.mime_of(item, self.store.address, self.store.display_name)
        return Response(200, mime, {"Content-Type": "text/plain"})

    def r_messages_attachments(self, req: Request, item_id: str) -> Response:
        item = self._item(item_id, "message")
        if req.method != "GET":
            return error(405, "BadRequest", "Unsupported request.")
        return Response(200, {"@odata.context": f"{req.base}/v1.0/$metadata#users('{self.store.address}')/messages"
                                                f"('{item_id}')/attachments",
                              "value": attachments.attachments_of(item)})

    def r_messages_attachment(self, req: Request, item_id: str, att_id: str) -> Response:
        item = self._item(item_id, "message")
        for att in attachments.attachments_of(item):
            if att.get("id") == att_id:
                return Response(200, att)
        return error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def r_messages_move(self, req: Request, item_id: str) -> Response:
        item = self._item(item_id, "message")
        dest = self.store.folder(str((req.body or {}).get("destinationId", "")))
        if dest is None or dest.kind != "message":
            return error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        self.store.move(item, dest.id)
        return Response(201, self._render(req, item, select=False))

    # --- categories ----------------------------------------------------------------------------
    def r_masterCategories(self, req: Request) -> Response:
        if req.method == "GET":
            return Response(200, {"value": list(self.store.categories)})
        if req.method != "POST":
            return error(405, "BadRequest", "Unsupported request.")
        body = req.body if isinstance(req.body, dict) else {}
        name = str(body.get("displayName") or "").strip()
        if not name:
            return error(400, "ErrorInvalidRequest", "A category needs a displayName.")
        if any(c["displayName"].lower() == name.lower() for c in self.store.categories):
            return error(409, "ErrorDuplicateCategory", "A category with this name already exists.")
        cat = {"id": secrets.token_hex(16), "displayName": name, "color": str(body.get("color") or "none")}
        self.store.categories.append(cat)
        return Response(201, cat)

    def r_masterCategories_item(self, req: Request, cat_id: str) -> Response:
        for cat in self.store.categories:
            if cat["id"] == cat_id:
                if req.method == "DELETE":
                    self.store.categories.remove(cat)
                    return Response(204)
                return Response(200, cat)
        return error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


