"""SyncFolderHierarchy over the mailbox's folder change log."""
from __future__ import annotations

from ..soap import EwsError, error_message, m, sub, success_message, t
from .common import Context, folder_ids, resolve_folder
from .folders import _shape, render_folder

SCOPE = "Hierarchy"


def sync_folder_hierarchy(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    _base, wanted = _shape(req.find(m("FolderShape")))
    state = (req.findtext(m("SyncState")) or "").strip()
    with mb.lock:
        try:
            ids = folder_ids(req.find(m("SyncFolderId")))
            root = resolve_folder(ctx, ids[0]) if ids else mb.dfolder("msgfolderroot")
            since = mb.decode_state(state, root.id, (SCOPE,)) if state else None
        except EwsError as err:
            msg = error_message(msgs, "SyncFolderHierarchy", err)
            sub(msg, m("SyncState"), "")
            sub(msg, m("IncludesLastFolderInRange"), "true")
            return
        subtree = []
        stack = [root.id]
        while stack:
            fid = stack.pop()
            kids = mb.children(fid)
            subtree.extend(kids)
            stack.extend(k.id for k in reversed(kids))
        inside = {f.id for f in subtree} | {root.id}
        changes: list[tuple[str, str]] = []
        if since is None:
            changes = [("Create", f.id) for f in subtree]
        else:
            created, touched, deleted, order = set(), set(), set(), []
            for seq, parent, fid, kind in mb.folder_log:
                if seq <= since or (parent not in inside and fid not in inside):
                    continue
                if fid not in order:
                    order.append(fid)
                {"create": created, "update": touched, "delete": deleted}[kind].add(fid)
            for fid in order:
                exists = fid in mb.folders and fid in inside
                if exists:
                    changes.append(("Create" if fid in created else "Update", fid))
                elif fid not in created:
                    changes.append(("Delete", fid))
        msg = success_message(msgs, "SyncFolderHierarchy")
        sub(msg, m("SyncState"), mb.encode_state(root.id, mb.seq, SCOPE))
        sub(msg, m("IncludesLastFolderInRange"), "true")
        container = sub(msg, m("Changes"))
        for kind, fid in changes:
            wrapper = sub(container, t(kind))
            if kind == "Delete":
                sub(wrapper, t("FolderId"), Id=fid)
            else:
                render_folder(ctx, mb.folders[fid], wrapper, wanted | {"ParentFolderId", "FolderClass", "DisplayName"})


OPERATIONS = {"SyncFolderHierarchy": sync_folder_hierarchy}
