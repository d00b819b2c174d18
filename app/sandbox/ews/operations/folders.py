"""GetFolder, FindFolder, CreateFolder."""
from __future__ import annotations


from .. import schema
from ..properties import Path
from ..restrict import compile_restriction
from ..soap import EwsError, error_message, local, m, sub, success_message, t
from ..ids import new_change_key
from ..store import Folder
from .common import Context, folder_ids, resolve_folder

FOLDER_FIELDS = ("FolderId", "ParentFolderId", "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount",
                 "EffectiveRights", "UnreadCount")
DEFAULT_FIELDS = ("DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount")


def _shape(shape_el) -> tuple[str, set[str]]:
    base = (shape_el.findtext(t("BaseShape")) if shape_el is not None else None) or "Default"
    wanted: set[str] = set()
    if base == "AllProperties":
        wanted = set(FOLDER_FIELDS)
    elif base == "Default":
        wanted = set(DEFAULT_FIELDS)
    extra = shape_el.find(t("AdditionalProperties")) if shape_el is not None else None
    if extra is not None:
        for el in extra:
            if local(el) == "FieldURI":
                wanted.add(el.get("FieldURI", "").split(":", 1)[-1])
    return base, wanted


def render_folder(ctx: Context, f: Folder, parent, wanted: set[str]):
    mb = ctx.mailbox
    el = sub(parent, t(schema.folder_element(f.folder_class)))
    sub(el, t("FolderId"), Id=f.id, ChangeKey=f.change_key)
    if "ParentFolderId" in wanted and f.parent_id:
        p = mb.folders[f.parent_id]
        sub(el, t("ParentFolderId"), Id=p.id, ChangeKey=p.change_key)
    if "FolderClass" in wanted and f.folder_class:
        sub(el, t("FolderClass"), f.folder_class)
    if "DisplayName" in wanted:
        sub(el, t("DisplayName"), f.display_name)
    items = mb.folder_items(f.id) if wanted & {"TotalCount", "UnreadCount"} else []
    if "TotalCount" in wanted:
        sub(el, t("TotalCount"), str(sum(1 for i in items if not i.is_associated)))
    if "ChildFolderCount" in wanted:
        sub(el, t("ChildFolderCount"), str(len(mb.children(f.id))))
    if "EffectiveRights" in wanted:
        rights = sub(el, t("EffectiveRights"))
        for r in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read"):
            sub(rights, t(r), "true")
    if "UnreadCount" in wanted and schema.folder_element(f.folder_class) in ("Folder",):
        sub(el, t("UnreadCount"), str(sum(1 for i in items if not i.is_read)))
    return el


def get_folder(ctx: Context, req, msgs) -> None:
    _base, wanted = _shape(req.find(m("FolderShape")))
    with ctx.mailbox.lock:
        for fid in folder_ids(req.find(m("FolderIds"))):
            try:
                f = resolve_folder(ctx, fid)
            except EwsError as err:
                error_message(msgs, "GetFolder", err)
                continue
            msg = success_message(msgs, "GetFolder")
            render_folder(ctx, f, sub(msg, m("Folders")), wanted)


def _folder_values(ctx: Context):
    def values(f: Folder, path: Path) -> list[str]:
        if path.kind != "field":
            return []
        name = path.uri.split(":", 1)[-1]
        if name == "FolderClass":
            return [f.folder_class] if f.folder_class else []
        if name == "DisplayName":
            return [f.display_name]
        if name == "TotalCount":
            return [str(len(ctx.mailbox.folder_items(f.id)))]
        if name == "ChildFolderCount":
            return [str(len(ctx.mailbox.children(f.id)))]
        return []
    return values


def find_folder(ctx: Context, req, msgs) -> None:
    _base, wanted = _shape(req.find(m("FolderShape")))
    deep = req.get("Traversal", "Shallow") == "Deep"
    view = req.find(m("IndexedPageFolderView"))
    restriction = req.find(m("Restriction"))
    mb = ctx.mailbox
    with mb.lock:
        for fid in folder_ids(req.find(m("ParentFolderIds"))):
            try:
                parent = resolve_folder(ctx, fid)
            except EwsError as err:
                error_message(msgs, "FindFolder", err)
                continue
            found: list[Folder] = []
            stack = list(reversed(mb.children(parent.id)))
            while stack:
                f = stack.pop()
                found.append(f)
                if deep:
                    stack.extend(reversed(mb.children(f.id)))
            if restriction is not None:
                pred = compile_restriction(restriction, _folder_values(ctx))
                found = [f for f in found if pred(f)]
            total = len(found)
            offset, count = _page(view, total)
            page = found[offset:offset + count]
            msg = success_message(msgs, "FindFolder")
            root = sub(msg, m("RootFolder"), IndexedPagingOffset=str(offset + len(page)),
                       TotalItemsInView=str(total),
                       IncludesLastItemInRange="true" if offset + len(page) >= total else "false")
            container = sub(root, t("Folders"))
            for f in page:
                render_folder(ctx, f, container, wanted)


def _page(view, total: int) -> tuple[int, int]:
    if view is None:
        return 0, total
    count = int(view.get("MaxEntriesReturned") or total or 1)
    offset = int(view.get("Offset") or 0)
    if view.get("BasePoint") == "End":
        offset = max(0, total - offset - count)
    return max(0, offset), max(0, count)


def create_folder(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    with mb.lock:
        parent_el = req.find(m("ParentFolderId"))
        try:
            parent = resolve_folder(ctx, folder_ids(parent_el)[0])
        except (EwsError, IndexError) as err:
            for _ in folder_ids(req.find(m("Folders"))):
                error_message(msgs, "CreateFolder", err if isinstance(err, EwsError) else EwsError("ErrorFolderNotFound"))
            return
        for el in folder_ids(req.find(m("Folders"))):
            name = el.findtext(t("DisplayName")) or ""
            cls = el.findtext(t("FolderClass"))
            if cls is None:
                cls = {"ContactsFolder": "IPF.Contact", "CalendarFolder": "IPF.Appointment",
                       "TasksFolder": "IPF.Task", "Folder": "IPF.Note"}.get(local(el), "IPF.Note")
            try:
                f = mb.create_folder(parent.id, name, cls)
            except EwsError as err:
                error_message(msgs, "CreateFolder", err)
                continue
            msg = success_message(msgs, "CreateFolder")
            fe = sub(sub(msg, m("Folders")), t(schema.folder_element(f.folder_class)))
            sub(fe, t("FolderId"), Id=f.id, ChangeKey=f.change_key)


def _subtree(ctx: Context, folder: Folder) -> list[Folder]:
    out, stack = [], [folder]
    while stack:
        f = stack.pop()
        out.append(f)
        stack.extend(ctx.mailbox.children(f.id))
    return out


def _clear(ctx: Context, folder: Folder, delete_type: str) -> None:
    mb = ctx.mailbox
    for item in mb.folder_items(folder.id):
        if delete_type == "HardDelete":
            mb.remove_item(item)
        else:
            target = "recoverableitemsdeletions" if delete_type == "SoftDelete" else "deleteditems"
            mb.move_item(item, mb.distinguished[target])


def delete_folder(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    delete_type = req.get("DeleteType", "HardDelete")
    with mb.lock:
        for el in folder_ids(req.find(m("FolderIds"))):
            try:
                f = resolve_folder(ctx, el)
                if f.distinguished:
                    raise EwsError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
                for sub_f in reversed(_subtree(ctx, f)):
                    _clear(ctx, sub_f, delete_type)
                    del mb.folders[sub_f.id]
                    mb.log_folder(sub_f, "delete")
            except EwsError as err:
                error_message(msgs, "DeleteFolder", err)
                continue
            success_message(msgs, "DeleteFolder")


def empty_folder(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    delete_type = req.get("DeleteType", "HardDelete")
    subfolders = req.get("DeleteSubFolders", "false").lower() in ("true", "1")
    with mb.lock:
        for el in folder_ids(req.find(m("FolderIds"))):
            try:
                f = resolve_folder(ctx, el)
                _clear(ctx, f, delete_type)
                if subfolders:
                    for child in mb.children(f.id):
                        for sub_f in reversed(_subtree(ctx, child)):
                            _clear(ctx, sub_f, delete_type)
                            del mb.folders[sub_f.id]
                            mb.log_folder(sub_f, "delete")
                mb.touch()
            except EwsError as err:
                error_message(msgs, "EmptyFolder", err)
                continue
            success_message(msgs, "EmptyFolder")


def update_folder(ctx: Context, req, msgs) -> None:
    """DisplayName and FolderClass only (folder extended properties are not kept)."""
    mb = ctx.mailbox
    with mb.lock:
        for change in folder_ids(req.find(m("FolderChanges"))):
            try:
                ref = next(c for c in change if local(c) in ("FolderId", "DistinguishedFolderId"))
                f = resolve_folder(ctx, ref)
                for upd in folder_ids(change.find(t("Updates"))):
                    uri = upd.find(t("FieldURI"))
                    name = uri.get("FieldURI", "").split(":", 1)[-1] if uri is not None else ""
                    holder = next((c for c in upd if local(c) not in ("FieldURI", "ExtendedFieldURI")), None)
                    value = holder.findtext(t(name)) if holder is not None else None
                    if name == "DisplayName" and value and local(upd) == "SetFolderField":
                        f.display_name = value
                    elif name == "FolderClass" and local(upd) == "SetFolderField":
                        f.folder_class = value
                f.change_key = new_change_key()
                mb.log_folder(f, "update")
            except (EwsError, StopIteration) as err:
                error_message(msgs, "UpdateFolder", err if isinstance(err, EwsError) else EwsError("ErrorFolderNotFound"))
                continue
            msg = success_message(msgs, "UpdateFolder")
            fe = sub(sub(msg, m("Folders")), t(schema.folder_element(f.folder_class)))
            sub(fe, t("FolderId"), Id=f.id, ChangeKey=f.change_key)


OPERATIONS = {"GetFolder": get_folder, "FindFolder": find_folder, "CreateFolder": create_folder,
              "DeleteFolder": delete_folder, "EmptyFolder": empty_folder, "UpdateFolder": update_folder}
