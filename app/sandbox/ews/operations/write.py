"""CreateItem, UpdateItem, DeleteItem, MoveItem, CopyItem."""
from __future__ import annotations

import copy
from xml.sax.saxutils import quoteattr

from lxml import etree

from .. import schema
from ..ids import change_key_ok, new_change_key, new_id, ITEM
from ..properties import (append_element, base_uri, delete_path, element_steps, finalize, parse_path, skip_step,
                          store_element, store_step)
from ..attachments import read_attachments
from ..mime import apply_message_mime
from ..soap import M, T, EwsError, error_message, local, m, sub, success_message, t
from ..store import Item, utcnow
from .common import Context, folder_ids, resolve_folder

CREATE_ERRORS = {
    "Contact": ("IPF.Contact", "ErrorCannotCreateContactInNonContactFolder"),
    "DistributionList": ("IPF.Contact", "ErrorCannotCreateContactInNonContactFolder"),
    "Task": ("IPF.Task", "ErrorCannotCreateTaskInNonTaskFolder"),
    "CalendarItem": ("IPF.Appointment", "ErrorCannotCreateCalendarItemInNonCalendarFolder"),
}
MSGFLAG_READ, MSGFLAG_UNSENT = 0x1, 0x8


def _item_ref(parent, item: Item):
    el = sub(parent, t(item.kind))
    sub(el, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
    return el


def _check_type(folder, kind: str) -> None:
    rule = CREATE_ERRORS.get(kind)
    if rule is None:
        return
    cls = folder.folder_class or ""
    if not (cls == rule[0] or cls.startswith(rule[0] + ".")):
        raise EwsError(rule[1], "The item type is not valid for this folder.")


def create_item(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    disposition = req.get("MessageDisposition", "SaveOnly")
    with mb.lock:
        saved = req.find(m("SavedItemFolderId"))
        target_err = None
        target = None
        if saved is not None and folder_ids(saved):
            try:
                target = resolve_folder(ctx, folder_ids(saved)[0])
            except EwsError as err:
                target_err = err
        created: list[Item | None] = []  # answered in one go, before the next error and at the end
        for el in folder_ids(req.find(m("Items"))):
            kind = local(el)
            try:
                if target_err is not None:
                    raise target_err
                if kind not in schema.ORDER:
                    raise EwsError("ErrorInvalidItemForOperationCreateItem", f"The item type {kind} is not supported.")
                item = _build(ctx, el, kind, target, disposition)
            except EwsError as err:
                _answer_created(msgs, created)
                error_message(msgs, "CreateItem", err)
                continue
            created.append(item)
        _answer_created(msgs, created)


_CREATED_ROOT = f'<m:ResponseMessages xmlns:m="{M}" xmlns:t="{T}">'


def _answer_created(msgs, created: list[Item | None]) -> None:
    """The success messages of created items (None: sent, not saved), in order. They are written
    as text and parsed at once: five elements made one by one per item were about a tenth of a
    first sync's CreateItem CPU. Moved into the answer, they take its own m: and t: declarations,
    so the bytes are those of the elements made one by one."""
    if not created:
        return
    parts = [_CREATED_ROOT]
    for item in created:
        if item is None:
            parts.append(_CREATED_EMPTY)
        else:
            parts.append(_CREATED.format(kind=item.kind, id=quoteattr(item.id), ck=quoteattr(item.change_key)))
    parts.append("</m:ResponseMessages>")
    msgs.extend(etree.fromstring("".join(parts)))
    created.clear()


_CREATED_EMPTY = ('<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
                  "<m:Items/></m:CreateItemResponseMessage>")
_CREATED = ('<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
            "<m:Items><t:{kind}><t:ItemId Id={id} ChangeKey={ck}/></t:{kind}></m:Items></m:CreateItemResponseMessage>")


def _default_folder(ctx: Context, kind: str, disposition: str):
    name = {"Contact": "contacts", "DistributionList": "contacts", "Task": "tasks",
            "CalendarItem": "calendar"}.get(kind)
    if name is None:
        name = "sentitems" if disposition != "SaveOnly" else "drafts"
    return ctx.mailbox.dfolder(name)


def _build(ctx: Context, el, kind: str, target, disposition: str) -> Item | None:
    mb = ctx.mailbox
    folder = target or _default_folder(ctx, kind, disposition)
    if kind in ("Message", "PostItem") and disposition in ("SendOnly", "SendAndSaveCopy"):
        folder = target if (target is not None and disposition == "SendAndSaveCopy") else mb.dfolder("sentitems")
    _check_type(folder, kind)
    item = mb.new_item(folder.id, kind)
    children = list(el)  # one element proxy each (lxml makes a new one per look at a child)
    steps = element_steps(kind)
    for child in children:  # the request is read once: its elements are taken, not copied
        tag = child.tag
        step = steps.get(tag) or store_step(kind, tag)  # (what store_element does, without its lookups)
        if step is skip_step:
            if local(child) == "Attachments":
                read_attachments(item, child)
            continue
        step(mb, item, child, True)
    if kind in ("Message", "PostItem"):
        given = {local(c) for c in children}
        apply_message_mime(item)
        if disposition in ("SendOnly", "SendAndSaveCopy"):
            item.message_flags = MSGFLAG_READ
            item.sent = utcnow()
            _stamp_message_id(mb, item)
        elif item.message_flags is None:
            item.message_flags = MSGFLAG_READ | MSGFLAG_UNSENT
        if not item.is_draft and item.sent is None:
            item.sent = item.created
        if "IsRead" not in given and item.is_draft:
            item.is_read = True
    finalize(mb, item, creating=True)
    mb.add_item(item)
    if kind in ("Message", "PostItem") and disposition == "SendOnly":
        return None
    return item


def _stamp_message_id(mb, item: Item) -> None:
    """Sending assigns an Internet message id when the client gave none, as transport does."""
    if "InternetMessageId" not in item.props:
        el = etree.Element(t("InternetMessageId"))
        el.text = f"<{item.id[-24:].strip('=')}.{item.article or 0}@{mb.address.split('@')[-1]}>"
        item.props["InternetMessageId"] = el


def update_item(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    resolution = req.get("ConflictResolution", "AutoResolve")
    disposition = req.get("MessageDisposition")
    with mb.lock:
        for change in folder_ids(req.find(m("ItemChanges"))):
            try:
                item = _apply_change(ctx, change, resolution, disposition)
            except EwsError as err:
                error_message(msgs, "UpdateItem", err)
                continue
            msg = success_message(msgs, "UpdateItem")
            _item_ref(sub(msg, m("Items")), item)
            sub(sub(msg, m("ConflictResults")), t("Count"), "0")


def _apply_change(ctx: Context, change, resolution: str, disposition: str | None) -> Item:
    mb = ctx.mailbox
    id_el = change.find(t("ItemId"))
    if id_el is None:
        raise EwsError("ErrorInvalidIdMalformed")
    ck = id_el.get("ChangeKey")
    if ck is not None and not change_key_ok(ck):
        raise EwsError("ErrorInvalidChangeKey")
    try:
        item = mb.get_item(id_el.get("Id"))
    except EwsError as err:
        if err.code != "ErrorItemNotFound":
            raise
        return _update_occurrence(ctx, id_el.get("Id") or "", change)
    if ck is None and resolution == "NeverOverwrite":
        raise EwsError("ErrorChangeKeyRequiredForWriteOperations",
                       "When making a request that requires a change key, a change key must be provided.")
    if ck is not None and ck != item.change_key and resolution != "AlwaysOverwrite":
        raise EwsError("ErrorIrresolvableConflict")
    updates = change.find(t("Updates"))
    # Apply to a copy so a failing update leaves the item untouched.
    work = working_copy(item)
    read_before = item.is_read
    only_read = True
    for upd in folder_ids(updates):
        action = local(upd)
        path_el = next((c for c in upd if local(c) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")), None)
        if path_el is None:
            raise EwsError("ErrorInvalidPropertyRequest")
        path = parse_path(path_el)
        if path.kind == "field":
            name = schema.uri_element(item.kind, path.uri)
            if name is None:
                continue  # foreign to the item type
            if name in schema.COMPUTED and name != "IsRead":
                raise EwsError("ErrorInvalidPropertySet", "Set action is invalid for property.",
                               xml={"FieldURI": path.uri})
        if not (path.kind == "field" and path.uri == "message:IsRead"):
            only_read = False
        if action == "DeleteItemField":
            if path.kind == "indexed":  # (an entry or part is removed from the container in place)
                own_property(work, item, schema.uri_element(item.kind, base_uri(path.uri)))
            delete_path(work, path)
            continue
        holder = next((c for c in upd if isinstance(c.tag, str) and local(c) not in
                       ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")), None)
        if holder is None:
            raise EwsError("ErrorIncorrectUpdatePropertyCount", "An object within a change description must contain one and only one property to modify.")
        for prop in holder:
            if not isinstance(prop.tag, str):
                continue
            if action == "AppendToItemField" or local(prop) in _MERGED:  # (changed in place)
                own_property(work, item, local(prop))
            if action == "AppendToItemField":
                append_element(work, prop)
            else:
                if path.kind == "field" and local(prop) in schema.INDEXED.values():
                    work.props.pop(local(prop), None)
                store_element(mb, work, prop)
    finalize(mb, work, creating=False)
    item.props, item.ext = work.props, work.ext
    item.message_flags, item.sent, item.received = work.message_flags, work.sent, work.received
    item.complete_date = work.complete_date
    if only_read and updates is not None and len(updates):
        if work.is_read != read_before:
            mb.read_flag(item, work.is_read)
    else:
        item.is_read = work.is_read
        mb.updated(item)
    if disposition in ("SendOnly", "SendAndSaveCopy") and item.kind == "Message" and item.is_draft:
        item.message_flags = MSGFLAG_READ
        item.sent = utcnow()
        _stamp_message_id(mb, item)
        item = mb.move_item(item, mb.distinguished["sentitems"])
    if item.kind == "Task" and ctx.knob("task_id_change"):
        item = mb.move_item(item, item.folder_id)
    return item


_MERGED = frozenset(schema.INDEXED.values())  # store_element merges their entries into the stored element


def working_copy(item: Item) -> Item:
    """The item an update works on. Its properties are the item's own elements until an action
    would change one in place (`own_property`): most actions replace a property whole, and a
    deep copy of every property per update was most of the sandbox's UpdateItem time. Extended
    properties are only ever replaced, never changed in place."""
    work = copy.copy(item)
    work.props = dict(item.props)
    work.ext = dict(item.ext)
    return work


def own_property(work: Item, item: Item, name: str | None) -> None:
    """Give `work` its own copy of the property `name` before it is changed in place (an indexed
    field's entries merged or deleted, text appended), while it is still the item's element."""
    el = work.props.get(name) if name else None
    if el is not None and el is item.props.get(name):
        work.props[name] = el.__copy__()  # lxml's copy is deep


def _update_occurrence(ctx: Context, occ_id: str, change) -> Item:
    """Moving one instance of a series (Start/End) makes it an exception on the master; other
    properties of single instances are not kept (they follow the master)."""
    from ..calview import find_occurrence
    from ..properties import _tz_fix
    mb = ctx.mailbox
    occ = find_occurrence(mb, occ_id)
    if occ is None:
        raise EwsError("ErrorItemNotFound")
    master = mb.items[occ.master_id]
    start, end = occ.props["Start"].text, occ.props["End"].text
    for upd in folder_ids(change.find(t("Updates"))):
        path = upd.find(t("FieldURI"))
        uri = path.get("FieldURI") if path is not None else ""
        holder = next((c for c in upd if local(c) not in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")), None)
        if uri in ("calendar:Start", "calendar:End") and holder is not None and local(upd) == "SetItemField":
            value = _tz_fix(holder.findtext(t(uri.split(":")[1])))
            start, end = (value, end) if uri == "calendar:Start" else (start, value)
    original = occ.props["OriginalStart"].text
    container = master.props.get("ModifiedOccurrences")
    if container is None:
        container = master.props["ModifiedOccurrences"] = etree.Element(t("ModifiedOccurrences"))
    for old in [o for o in container if o.findtext(t("OriginalStart")) == original]:
        container.remove(old)
    mb.updated(master)
    entry = sub(container, t("Occurrence"))
    sub(entry, t("ItemId"), Id=occ_id, ChangeKey=master.change_key)
    sub(entry, t("Start"), start)
    sub(entry, t("End"), end)
    sub(entry, t("OriginalStart"), original)
    occ.change_key = master.change_key
    return occ


def delete_item(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    delete_type = req.get("DeleteType", "HardDelete")
    with mb.lock:
        for el in folder_ids(req.find(m("ItemIds"))):
            try:
                ck = el.get("ChangeKey")
                if ck is not None and not change_key_ok(ck):
                    raise EwsError("ErrorInvalidChangeKey")
                try:
                    item = mb.get_item(el.get("Id"))
                except EwsError as err:
                    if err.code != "ErrorItemNotFound" or not _delete_occurrence(mb, el.get("Id") or ""):
                        raise
                    success_message(msgs, "DeleteItem")
                    continue
                if delete_type == "HardDelete":
                    mb.remove_item(item)
                elif delete_type == "SoftDelete" or item.folder_id == mb.distinguished["deleteditems"]:
                    mb.move_item(item, mb.distinguished["recoverableitemsdeletions"])
                elif delete_type == "MoveToDeletedItems":
                    mb.move_item(item, mb.distinguished["deleteditems"])
                else:
                    raise EwsError("ErrorInvalidArgument", f"Invalid DeleteType {delete_type}.")
            except EwsError as err:
                error_message(msgs, "DeleteItem", err)
                continue
            success_message(msgs, "DeleteItem")


def _delete_occurrence(mb, occ_id: str) -> bool:
    """Deleting one instance of a recurring series records it on the master."""
    from ..calview import find_occurrence
    occ = find_occurrence(mb, occ_id)
    if occ is None:
        return False
    master = mb.items[occ.master_id]
    container = master.props.get("DeletedOccurrences")
    if container is None:
        container = master.props["DeletedOccurrences"] = etree.Element(t("DeletedOccurrences"))
    sub(sub(container, t("DeletedOccurrence")), t("Start"), occ.props["OriginalStart"].text)
    mb.updated(master)
    return True


def _move_or_copy(ctx: Context, req, msgs, op: str) -> None:
    mb = ctx.mailbox
    with mb.lock:
        target_err, target = None, None
        try:
            target = resolve_folder(ctx, folder_ids(req.find(m("ToFolderId")))[0])
        except (EwsError, IndexError) as err:
            target_err = err if isinstance(err, EwsError) else EwsError("ErrorFolderNotFound")
        for el in folder_ids(req.find(m("ItemIds"))):
            try:
                if target_err is not None:
                    raise target_err
                item = mb.get_item(el.get("Id"))
                if op == "MoveItem":
                    new = mb.move_item(item, target.id)
                else:
                    new = copy.copy(item)
                    new.props = {k: copy.deepcopy(v) for k, v in item.props.items()}
                    new.ext = {k: copy.deepcopy(v) for k, v in item.ext.items()}
                    new.id, new.change_key, new.folder_id = new_id(mb.guid, ITEM), new_change_key(), target.id
                    new.created = new.modified = utcnow()
                    mb.add_item(new)
            except EwsError as err:
                error_message(msgs, op, err)
                continue
            msg = success_message(msgs, op)
            if req.findtext(m("ReturnNewItemIds")) in (None, "true", "1"):
                _item_ref(sub(msg, m("Items")), new)
            else:
                sub(msg, m("Items"))


def move_item(ctx: Context, req, msgs) -> None:
    _move_or_copy(ctx, req, msgs, "MoveItem")


def copy_item(ctx: Context, req, msgs) -> None:
    _move_or_copy(ctx, req, msgs, "CopyItem")


def send_item(ctx: Context, req, msgs) -> None:
    """Send existing drafts: a non-draft copy lands in Sent Items (or the SavedItemFolderId)."""
    mb = ctx.mailbox
    save = req.get("SaveItemToFolder", "true").lower() in ("true", "1")
    with mb.lock:
        saved = folder_ids(req.find(m("SavedItemFolderId")))
        for el in folder_ids(req.find(m("ItemIds"))):
            try:
                item = mb.get_item(el.get("Id"))
                if item.kind not in ("Message", "PostItem") or not item.is_draft:
                    raise EwsError("ErrorInvalidItemForOperationSendItem", "The item is not a draft message.")
                ck = el.get("ChangeKey")
                if ck is not None and ck != item.change_key:
                    raise EwsError("ErrorStaleObject", "The change key passed in the request does not match the current change key for the item.")
                target = resolve_folder(ctx, saved[0]) if saved else mb.dfolder("sentitems")
                item.message_flags = MSGFLAG_READ
                item.sent = utcnow()
                _stamp_message_id(mb, item)
                if save:
                    mb.move_item(item, target.id)
                else:
                    mb.remove_item(item)
            except EwsError as err:
                error_message(msgs, "SendItem", err)
                continue
            success_message(msgs, "SendItem")


OPERATIONS = {"SendItem": send_item, "CreateItem": create_item, "UpdateItem": update_item, "DeleteItem": delete_item,
              "MoveItem": move_item, "CopyItem": copy_item}
