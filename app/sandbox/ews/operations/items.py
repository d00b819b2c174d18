"""FindItem (paging, restrictions, sort) and GetItem."""
from __future__ import annotations

from ..calview import calendar_view, find_occurrence, nth_occurrence
from ..ids import change_key_ok
from ..properties import parse_dt
from ..render import parse_shape, render_item, values_for
from ..restrict import compile_query_string, compile_restriction, sort_objects
from ..soap import EwsError, error_message, local, m, sub, success_message, t
from ..store import Item
from .common import Context, folder_ids, resolve_folder


def _default_order(items: list[Item]) -> list[Item]:
    # Exchange's default view order: newest received first.
    return sorted(items, key=lambda i: (i.received or i.created, i.article), reverse=True)


def find_item(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    shape = parse_shape(req.find(m("ItemShape")))
    traversal = req.get("Traversal", "Shallow")
    restriction = req.find(m("Restriction"))
    order = req.find(m("SortOrder"))
    view = req.find(m("IndexedPageItemView"))
    fractional = req.find(m("FractionalPageItemView"))
    calview = req.find(m("CalendarView"))
    short_page = ctx.knob("short_page")  # quirk: cap on entries per page
    with mb.lock:
        for fid in folder_ids(req.find(m("ParentFolderIds"))):
            try:
                folder = resolve_folder(ctx, fid)
                values = lambda obj, path: values_for(mb, obj, path)  # noqa: E731
                pred = compile_restriction(restriction, values) if restriction is not None else None
                query = req.findtext(m("QueryString"))
                if query and query.strip():
                    pred = compile_query_string(query, values)
            except EwsError as err:
                error_message(msgs, "FindItem", err)
                continue
            assoc = traversal == "Associated"
            if calview is not None:
                _calendar_view(ctx, folder, calview, shape, msgs)
                continue
            found = [i for i in mb.folder_items(folder.id) if i.is_associated == assoc]
            if pred is not None:
                found = [i for i in found if pred(i)]
            found = sort_objects(_default_order(found), order, values)
            total = len(found)
            offset, count = 0, total
            if view is not None:
                count = int(view.get("MaxEntriesReturned") or total)
                offset = int(view.get("Offset") or 0)
                if view.get("BasePoint") == "End":
                    offset = max(0, total - offset - count)
            elif fractional is not None:
                count = int(fractional.get("MaxEntriesReturned") or total)
                num, den = int(fractional.get("Numerator") or 0), int(fractional.get("Denominator") or 1)
                offset = total * num // max(den, 1)
            if short_page:
                count = min(count, int(short_page))
            limit = ctx.knob("find_count_limit")  # EWSFindCountLimit: short pages, never the last
            if limit and offset + count > int(limit):
                count = max(0, int(limit) - offset)
            page = found[offset:offset + count] if count > 0 else []
            msg = success_message(msgs, "FindItem")
            end = offset + len(page)
            attrs = {"TotalItemsInView": str(total), "IncludesLastItemInRange": "true" if end >= total else "false"}
            if fractional is not None:
                attrs = {"NumeratorOffset": str(end), "AbsoluteDenominator": str(total), **attrs}
            else:
                attrs = {"IndexedPagingOffset": str(end), **attrs}
            root = sub(msg, m("RootFolder"), **attrs)
            container = sub(root, t("Items"))
            for item in page:
                render_item(mb, item, container, shape, find=True)


def _calendar_view(ctx: Context, folder, view, shape, msgs) -> None:
    """CalendarView: single items overlapping the window plus expanded recurring instances."""
    start, end = parse_dt(view.get("StartDate")), parse_dt(view.get("EndDate"))
    if start is None or end is None or end < start:
        error_message(msgs, "FindItem", EwsError("ErrorCalendarEndDateIsEarlierThanStartDate",
                                                 "EndDate is earlier than StartDate"))
        return
    found = calendar_view(ctx.mailbox, folder.id, start, end)
    total = len(found)
    cap = int(view.get("MaxEntriesReturned") or total or 1)
    page = found[:cap]
    msg = success_message(msgs, "FindItem")
    root = sub(msg, m("RootFolder"), TotalItemsInView=str(total),
               IncludesLastItemInRange="true" if len(page) >= total else "false")
    container = sub(root, t("Items"))
    for item in page:
        render_item(ctx.mailbox, item, container, shape, find=True)


def get_item(ctx: Context, req, msgs) -> None:
    mb = ctx.mailbox
    shape = parse_shape(req.find(m("ItemShape")))
    with mb.lock:
        for el in folder_ids(req.find(m("ItemIds"))):
            try:
                item = _lookup(ctx, el)
            except EwsError as err:
                error_message(msgs, "GetItem", err)
                continue
            msg = success_message(msgs, "GetItem")
            render_item(mb, item, sub(msg, m("Items")), shape)


def _lookup(ctx: Context, el) -> Item:
    mb = ctx.mailbox
    name = local(el)
    ck = el.get("ChangeKey")
    if ck is not None and not change_key_ok(ck):
        raise EwsError("ErrorInvalidChangeKey")
    if name == "ItemId":
        try:
            return mb.get_item(el.get("Id"))
        except EwsError as err:
            occ = find_occurrence(mb, el.get("Id") or "") if err.code == "ErrorItemNotFound" else None
            if occ is None:
                raise
            return occ
    if name == "RecurringMasterItemId":
        occ_id = el.get("OccurrenceId") or ""
        occ = find_occurrence(mb, occ_id)
        return mb.get_item(occ.master_id if occ is not None else occ_id)  # type: ignore[attr-defined]
    if name == "OccurrenceItemId":
        master = mb.get_item(el.get("RecurringMasterId"))
        occ = nth_occurrence(mb, master, int(el.get("InstanceIndex") or 0))
        if occ is None:
            raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                           "Occurrence index is out of recurrence range.")
        return occ
    raise EwsError("ErrorInvalidIdMalformed")


OPERATIONS = {"FindItem": find_item, "GetItem": get_item}
