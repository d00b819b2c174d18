"""SyncFolderItems over the mailbox change log."""
from __future__ import annotations

from ..render import Shape, parse_shape, render_item
from ..soap import EwsError, SoapFault, error_message, m, sub, success_message, t
from .common import Context, folder_ids, resolve_folder


def sync_folder_items(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    shape = parse_shape(req.find(m("ItemShape")))
    raw_max = (req.findtext(m("MaxChangesReturned")) or "").strip()
    try:
        limit = int(raw_max)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 512:
        raise SoapFault("ErrorSchemaValidation",
                        "The request failed schema validation: The 'MaxChangesReturned' element is invalid - "
                        f"The value '{raw_max}' is invalid according to its datatype "
                        "'http://schemas.microsoft.com/exchange/services/2006/types:MaxSyncChangesReturnedType'.",
                        elements={"LineNumber": "1", "LinePosition": "1",
                                  "Violation": "MaxChangesReturned must be between 1 and 512."})
    scope = (req.findtext(m("SyncScope")) or "NormalItems").strip()
    ignore = [el.get("Id") for el in folder_ids(req.find(m("Ignore")))]
    state = (req.findtext(m("SyncState")) or "").strip()
    with mb.lock:
        try:
            ids = folder_ids(req.find(m("SyncFolderId")))
            if not ids:
                raise EwsError("ErrorSyncFolderNotFound")
            try:
                folder = resolve_folder(ctx, ids[0])
            except EwsError as err:
                if err.code == "ErrorFolderNotFound":
                    raise EwsError("ErrorSyncFolderNotFound")
                raise
            since, unseen = (mb.decode_state_ex(state, folder.id, ("NormalItems", "NormalAndAssociatedItems"))
                             if state else (0, []))
            changes, new_seq, last, carry = mb.net_changes(folder.id, since, limit, ignore,
                                                           associated=scope == "NormalAndAssociatedItems",
                                                           unseen=unseen)
        except EwsError as err:
            msg = error_message(msgs, "SyncFolderItems", err)
            sub(msg, m("SyncState"), "")
            sub(msg, m("IncludesLastItemInRange"), "true")
            return
        same = ctx.knob("same_state")
        if same and state and changes:
            # Quirk: the server answers with the old state and "more to come" (True: always;
            # a number: that many times).
            new_state, last = state, False
            if same is not True and isinstance(same, int):
                ctx.sandbox.set_knob("SyncFolderItems", "same_state", same - 1 if same > 1 else False)
        else:
            new_state = mb.encode_state(folder.id, new_seq, scope, carry)
        msg = success_message(msgs, "SyncFolderItems")
        sub(msg, m("SyncState"), new_state)
        sub(msg, m("IncludesLastItemInRange"), "true" if last else "false")
        container = sub(msg, m("Changes"))
        omit_body = bool(ctx.knob("omit_body"))
        if omit_body:
            shape = Shape(shape.base, [p for p in shape.paths if p.uri not in ("item:Body", "item:TextBody")])
        for kind, item_id, item in changes:
            if kind == "delete":
                sub(sub(container, t("Delete")), t("ItemId"), Id=item_id)
            elif kind == "read":
                rc = sub(container, t("ReadFlagChange"))
                sub(rc, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
                sub(rc, t("IsRead"), "true" if item.is_read else "false")
            else:
                wrapper = sub(container, t("Create" if kind == "create" else "Update"))
                render_item(mb, item, wrapper, shape)


OPERATIONS = {"SyncFolderItems": sync_folder_items}
