"""`MailboxPort` on exchangelib (ports.py, ews.md sections 3-5).

One `EwsMailbox` per Account. Reads: SyncFolderItems page by page + GetItem batches; FindItem
restrictions on our extended properties. Writes: CreateItem in chunks (markers + category, each
item validated and serialised once: create_xml.py; calendar writes always SEND_TO_NONE); one UpdateItem per item with the stored ChangeKey under
NeverOverwrite (a stale key becomes `StaleVersion` for that item only, never a lost batch);
sharing as a read-modify-write of the categories; trash as MoveToDeletedItems, never HardDelete.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from exchangelib import Account, Contact, Message
from exchangelib.items import ALL_OCCURRENCES, MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SEND_TO_NONE
from exchangelib.errors import ErrorIrresolvableConflict, ErrorStaleObject
from exchangelib.properties import ItemId
from exchangelib.services import UpdateItem

from app.connectors.ews import mapping
from app.connectors.ews.client import EwsHttpAdapter, EwsSettings, check_connection, open_account
from app.connectors.ews.contact_xml import contact_xml
from app.connectors.ews.current_contact import CurrentContact, read_current_contact
from app.connectors.ews.create_xml import create_prebuilt, item_element
from app.connectors.ews.errors import to_app_error, translated
from app.connectors.ews.folders import CREATE, DELETE, FETCH_CHUNK, PAGE_SIZE, UPDATE, FolderSet, fetch_items, sync_pages
from app.connectors.ews.update_xml import CachedPathUpdateItem
from app.domain.records import (
    Kind,
    NewItem,
    OutlookChange,
    OutlookItem,
    OutlookPage,
    SentPage,
    Sharing,
    Stamp,
    Update,
)
from app.errors import (
    AppError, AuthError, CollectionUnavailable, ConfigError, NotFound, StaleVersion, TransientError,
)
from app.sync.prefetch import ReadAhead

log = logging.getLogger(__name__)
SYNC_FIELDS = ["last_modified_time"]  # ids and ChangeKeys always come with a change
SENT_SYNC_FIELDS = ["datetime_sent"]  # enough to drop old messages before any GetItem
CREATE_CHUNK = 100
# MaxChangesReturned when the caller says which versions it already holds (`known`): the server
# maximum, so the IdOnly echoes of our own writes cost one request per 512 items and no GetItem.
# Without `known` every change is read, so pages stay aligned with the GetItem batches of 100.
KNOWN_PAGE_SIZE = 512
# Changes that need the item's current values (indexed-field merges, the notes block, zones).
NEEDS_READ = {
    Kind.PERSON: set(mapping.PERSON_FIELDS) - {"job_title", "company", "website", "spouse_name"},
    Kind.TASK: {"description", "status"},
    Kind.MEETING: {"description", "all_day", "start", "end", "start_date", "end_date"},
}


class EwsMailbox:
    """The user's mailbox over EWS. Construct with `EwsMailbox.connect(EwsSettings(...))` or
    around an existing exchangelib Account."""

    def __init__(self, account: Account, *, page_size: int = PAGE_SIZE, fetch_chunk: int = FETCH_CHUNK,
                 create_chunk: int = CREATE_CHUNK, known_page_size: int = KNOWN_PAGE_SIZE):
        self.account = account
        self.folders = FolderSet(account)
        self.page_size = max(1, min(512, page_size))  # MaxChangesReturned: server range 1..512
        self.known_page_size = max(1, min(512, known_page_size))
        self.fetch_chunk = fetch_chunk
        self.create_chunk = create_chunk
        self._mailbox = account.primary_smtp_address.lower()
        self._endpoint = account.protocol.service_endpoint
        self._baseline = EwsHttpAdapter.requests_to(self._endpoint)

    @property
    def requests_sent(self) -> int:
        """EWS requests sent since this adapter was made (the lease's included: same account)."""
        return EwsHttpAdapter.requests_to(self._endpoint) - self._baseline

    @classmethod
    def connect(cls, settings: EwsSettings, *, check: bool = False, **kw: Any) -> "EwsMailbox":
        """Open the mailbox from stored facts (no autodiscover). `check=True` first verifies the
        connection with FailFast (AuthError / ConfigError with a clear message)."""
        if check:
            check_connection(settings)
        return cls(open_account(settings), **kw)

    def close(self) -> None:
        with translated("closing the mailbox connection"):
            self.account.protocol.close()

    # --- reads -------------------------------------------------------------------------------

    def identity(self) -> str:
        return self._mailbox

    def changes(self, kind: Kind, token: str | None,
                known: Callable[[str, str], bool] | None = None) -> Iterator[OutlookPage]:
        """SyncFolderItems (IdOnly + ChangeKey) page by page, then one GetItem batch for the
        created/updated items of the page. `known(item_id, change_key)` -> True skips an item whose
        version the caller already holds (the echo of our own write): it is neither read nor
        returned, so echoes cost no GetItem."""
        folder = self.folders.get(kind)
        model = mapping.MODEL[kind]
        size = self.page_size if known is None else self.known_page_size
        pages = sync_pages(folder, token, SYNC_FIELDS, page_size=size, op=f"reading {_noun(kind)} changes",
                           ids_only=True)
        # the next SyncFolderItems page is read (on a reader thread) while this one is looked up,
        # mapped and staged; `known` and everything after it stay on the caller's thread
        with ReadAhead(_folder_access(pages, kind), name=f"ews-{kind.value}-reader") as feed:
            yield from self._changed_pages(kind, model, feed, known)

    def _changed_pages(self, kind: Kind, model: type, feed: Iterator[Any],
                       known: Callable[[str, str], bool] | None) -> Iterator[OutlookPage]:
        for page in feed:
            deletes: dict[str, OutlookChange] = {}
            wanted: dict[str, tuple[str, str | None]] = {}
            order: list[str] = []
            for change_type, obj in page.changes:
                if change_type == DELETE:
                    order.append(obj.id)
                    deletes[obj.id] = OutlookChange("delete", obj.id)
                elif change_type in (CREATE, UPDATE) and obj.model is model:  # skips DistributionList etc.
                    if known is not None and obj.changekey and known(obj.id, obj.changekey):
                        continue  # the version we already hold (our own write's echo): nothing to read
                    order.append(obj.id)
                    wanted[obj.id] = (obj.id, obj.changekey)
            gone: set[str] = set()
            items = self._fetch_mapped(kind, list(wanted.values()), gone)
            out: list[OutlookChange] = []
            seen: set[str] = set()
            for item_id in order:
                if item_id in seen:
                    continue
                seen.add(item_id)
                if item_id in deletes or item_id in gone:
                    # (gone: deleted between the sync and the read; the next sync says so too)
                    out.append(OutlookChange("delete", item_id))
                elif item_id in items:
                    out.append(OutlookChange("upsert", item_id, items[item_id]))
                # else: unreadable right now (logged); it comes back with its next change
            yield OutlookPage(tuple(out), page.token, page.done)

    def _fetch_mapped(self, kind: Kind, ids: list[tuple[str, str | None]],
                      gone: set[str] | None = None) -> dict[str, OutlookItem]:
        found: dict[str, OutlookItem] = {}
        results = fetch_items(self.folders.get(kind), ids, mapping.ONLY_FIELDS[kind], chunk=self.fetch_chunk,
                              op=f"reading {_noun(kind)}", readers=_CURRENT_READERS.get(kind))
        for (item_id, _), res in zip(ids, results):
            if isinstance(res, Exception):
                if gone is not None and isinstance(to_app_error(res), NotFound):
                    gone.add(item_id)
                elif not isinstance(to_app_error(res), NotFound):
                    log.warning("could not read a %s (item %s): %s", _noun(kind, 1), short_id(item_id),
                                to_app_error(res).message)
                continue
            if type(res) not in _READ_AS[kind]:  # (a distribution list among the contacts, ...)
                continue
            try:
                with translated(f"reading {_noun(kind)}", ref=item_id):
                    found[item_id] = mapping.to_outlook_item(kind, res, self._mailbox)
            except AppError as err:  # one unreadable item never blocks the rest of the page
                log.warning("skipped an unreadable %s (item %s): %s", _noun(kind, 1), short_id(item_id), err.message)
        if kind is Kind.MEETING:
            self._exception_subjects(found)
        return found

    def _exception_subjects(self, found: dict[str, OutlookItem]) -> None:
        """A recurring master lists its exceptions with times only: their own subjects come from one
        GetItem batch for the whole page (none when no master on it has exceptions)."""
        wanted = [m.item_id for item in found.values() if item.series is not None
                  for m in item.series.modified if m.item_id]
        if not wanted:
            return
        results = fetch_items(self.folders.get(Kind.MEETING), [(i, None) for i in wanted], ["subject"],
                              chunk=self.fetch_chunk, op="reading changed occurrences of recurring meetings")
        subjects = {i: mapping.clean_str(r.subject) for i, r in zip(wanted, results) if not isinstance(r, Exception)}
        for item_id, item in list(found.items()):
            if item.series is None or not item.series.modified:
                continue
            modified = tuple(replace(m, subject=subjects.get(m.item_id or "")) for m in item.series.modified)
            found[item_id] = replace(item, series=replace(item.series, modified=modified))

    def fetch(self, kind: Kind, item_ids: Sequence[str]) -> list[OutlookItem | None]:
        found = self._fetch_mapped(kind, [(i, None) for i in item_ids])
        return [found.get(i) for i in item_ids]

    def recurring_masters(self) -> list[OutlookItem]:
        """Every recurring master of the calendar with its pattern (FindItem IdOnly restricted to
        calendar:IsRecurring, which outside a CalendarView matches masters only, then GetItem in
        batches): lets series be re-expanded as the calendar window moves without an edit."""
        folder = self.folders.get(Kind.MEETING)
        with translated("searching recurring meetings"):
            ids = [(i, ck) for i, ck in folder.filter(is_recurring=True).values_list("id", "changekey")]
        found = self._fetch_mapped(Kind.MEETING, ids)
        return [found[i] for i, _ in ids if i in found and found[i].series is not None]

    def find_by_marker(self, kind: Kind, *, link_id: str | None = None, crm_id: str | None = None) -> list[OutlookItem]:
        query = {k: v for k, v in (("link_id", link_id), ("crm_id", crm_id)) if v}
        if not query:
            return []
        folder = self.folders.get(kind)
        with translated(f"searching {_noun(kind)} by marker"):
            # FindItem (IdOnly) with the restriction on our property, then one GetItem batch.
            ids = [(i, ck) for i, ck in folder.filter(**query).values_list("id", "changekey")]
        found = self._fetch_mapped(kind, ids)
        return [found[i] for i, _ in ids if i in found]

    # --- writes ------------------------------------------------------------------------------

    def create(self, kind: Kind, items: Sequence[NewItem]) -> list[Stamp | AppError]:
        folder = self.folders.get(kind)
        results: list[Stamp | AppError | None] = [None] * len(items)
        ready: list[tuple[int, Any]] = []
        op = f"preparing a new {_noun(kind, 1)}"
        for n, new in enumerate(items):
            # serialised here, once: a value the XML refuses fails this item only (the errors as
            # translated() gives them, without a context manager per item of a first sync)
            try:
                elem = self._create_element(kind, new, folder)
            except AppError as err:
                results[n] = err
                continue
            except Exception as exc:  # noqa: BLE001 - nothing from exchangelib/lxml may escape
                results[n] = to_app_error(exc, op=op, ref=new.link_id)
                continue
            ready.append((n, elem))
        for start in range(0, len(ready), self.create_chunk):
            chunk = ready[start:start + self.create_chunk]
            try:
                with translated(f"creating {_noun(kind)}"):
                    created = create_prebuilt(self.account, folder, [e for _, e in chunk],
                                              send_meeting_invitations=SEND_TO_NONE)
            except (AuthError, ConfigError):
                raise  # nothing more can be written; creates carry link ids for recovery
            except TransientError as err:
                for n, _ in ready[start:]:  # later chunks never went out; earlier stamps are kept
                    results[n] = err
                break
            except AppError as err:  # the server refused this request as a whole: its items fail
                for n, _ in chunk:
                    results[n] = err
                continue
            for (n, _elem), res in zip(chunk, created):
                ref = items[n].link_id
                results[n] = (to_app_error(res, op=f"creating a {_noun(kind, 1)}", ref=ref) if isinstance(res, Exception)
                              else Stamp(res.id, res.changekey))
        return results  # type: ignore[return-value]

    def _create_element(self, kind: Kind, new: NewItem, folder: Any) -> Any:
        version = self.account.version
        if kind is Kind.PERSON:  # the same XML, without building and cleaning a Contact (contact_xml.py)
            return contact_xml(new.fields, new.related, sharing=new.sharing, crm_id=new.crm_id,
                               link_id=new.link_id, version=version)
        item = mapping.new_item(kind, new.fields, related=new.related, default_zone=self.account.default_timezone,
                                account=self.account, folder=folder)
        mapping.apply_markers(item, sharing=new.sharing, crm_id=new.crm_id, link_id=new.link_id)
        item.clean(version=version)
        return item_element(item, version)

    def update(self, kind: Kind, update: Update) -> Stamp:
        op = f"updating a {_noun(kind, 1)}"
        changed = set(update.changed) & set(mapping.FIELDS_BY_KIND[kind])
        replace_related = update.related is not None and kind is Kind.PERSON
        if not changed and not replace_related:
            return Stamp(update.id, update.version)
        if changed & NEEDS_READ[kind] or replace_related:
            item = self._current(kind, update.id, update.version, op)
        else:
            item = mapping.MODEL[kind](account=self.account, folder=self.folders.get(kind))
            item._id = ItemId(update.id, update.version)
        with translated(op, ref=update.id):
            names = self._write_fields(kind, item, update, changed, replace_related)
        return self._save(item, names, update.version, op)

    def _write_fields(self, kind: Kind, item: Any, update: Update, changed: set[str], replace_related: bool) -> list[str]:
        """Put the changed mapped fields on `item`; the names of the fields to send."""
        if kind is Kind.PERSON:
            return mapping.write_person(item, update.fields, changed, update.related, replace_related=replace_related)
        if kind is Kind.TASK:
            return mapping.write_task(item, update.fields, changed)
        return mapping.write_meeting(item, update.fields, changed, self.account.default_timezone)

    def _current(self, kind: Kind, item_id: str, version: str, op: str) -> Any:
        [res] = fetch_items(self.folders.get(kind), [(item_id, None)], mapping.ONLY_FIELDS[kind], op=op)
        if isinstance(res, Exception):
            raise to_app_error(res, op=op, ref=item_id)
        if res.changekey != version:
            raise StaleVersion(f"{op}: the item was changed in the mailbox since it was read", ref=item_id)
        return res

    def _save(self, item: Any, names: list[str], version: str, op: str) -> Stamp:
        item._id = ItemId(item.id, version)  # always the stored ChangeKey
        unique = list(dict.fromkeys(names))
        with translated(op, ref=item.id):
            item.save(update_fields=unique, conflict_resolution=NEVER_OVERWRITE, send_meeting_invitations=SEND_TO_NONE)
        return Stamp(item.id, item.changekey)  # Task ids may change: the caller re-stores both

    # --- batched writes (optional MailboxPort extension, used by the executor when present) ----------

    def update_many(self, kind: Kind, updates: Sequence[Update]) -> list[Stamp | AppError]:
        """`update()` for many items: one GetItem per 100 items that need their current values
        and one UpdateItem per 100 changes (NeverOverwrite, the stored ChangeKey each). Per item
        a new Stamp or the item's AppError (StaleVersion for a stale key): a conflict on one
        item never loses the others' results (ews.md 4.3, option 3)."""
        op = f"updating {_noun(kind)}"
        results: list[Stamp | AppError | None] = [None] * len(updates)
        plans: list[tuple[int, set[str], bool]] = []
        for n, up in enumerate(updates):
            changed = set(up.changed) & set(mapping.FIELDS_BY_KIND[kind])
            replace_related = up.related is not None and kind is Kind.PERSON
            if not changed and not replace_related:
                results[n] = Stamp(up.id, up.version)
            else:
                plans.append((n, changed, replace_related))
        need = [n for n, changed, rel in plans if changed & NEEDS_READ[kind] or rel]
        current = self._current_many(kind, [(updates[n].id, updates[n].version) for n in need], op)
        ready: list[tuple[int, Any, list[str]]] = []
        for n, changed, rel in plans:
            up = updates[n]
            if n in need:
                item = current.get(up.id)
                if isinstance(item, AppError):
                    results[n] = item
                    continue
            else:
                item = mapping.MODEL[kind](account=self.account, folder=self.folders.get(kind))
                item._id = ItemId(up.id, up.version)
            try:
                with translated(op, ref=up.id):
                    names = self._write_fields(kind, item, up, changed, rel)
            except AppError as err:
                results[n] = err
                continue
            ready.append((n, item, names))
        self._save_many(kind, ready, [u.version for u in updates], results, op)
        return results  # type: ignore[return-value]

    def set_sharing_many(self, kind: Kind, requests: Sequence[tuple[str, str, Sharing, str | None, str | None]]
                         ) -> list[Stamp | AppError]:
        """`set_sharing()` for many items, each (item_id, change_key, sharing, crm_id, link_id):
        one GetItem and one UpdateItem per 100 items."""
        op = f"changing the sharing of {_noun(kind)}"
        results: list[Stamp | AppError | None] = [None] * len(requests)
        current = self._current_many(kind, [(r[0], r[1]) for r in requests], op)
        ready: list[tuple[int, Any, list[str]]] = []
        for n, (item_id, _ck, sharing, crm_id, link_id) in enumerate(requests):
            item = current.get(item_id)
            if isinstance(item, AppError):
                results[n] = item
                continue
            try:
                with translated(op, ref=item_id):
                    names = mapping.apply_markers(item, sharing=sharing, crm_id=crm_id, link_id=link_id)
            except AppError as err:
                results[n] = err
                continue
            ready.append((n, item, names))
        self._save_many(kind, ready, [r[1] for r in requests], results, op)
        return results  # type: ignore[return-value]

    def _current_many(self, kind: Kind, ids: Sequence[tuple[str, str]], op: str) -> dict[str, Any]:
        """Current items by id (GetItem batches); an AppError for one that is gone or changed since
        the stored ChangeKey."""
        if not ids:
            return {}
        out: dict[str, Any] = {}
        results = fetch_items(self.folders.get(kind), [(i, None) for i, _ in ids], mapping.ONLY_FIELDS[kind],
                              chunk=self.fetch_chunk, op=op, readers=_CURRENT_READERS.get(kind))
        for (item_id, version), res in zip(ids, results):
            if isinstance(res, Exception):
                out[item_id] = to_app_error(res, op=op, ref=item_id)
            elif res.changekey != version:
                out[item_id] = StaleVersion(f"{op}: the item was changed in the mailbox since it was read", ref=item_id)
            else:
                out[item_id] = res
        return out

    def _save_many(self, kind: Kind, ready: list[tuple[int, Any, list[str]]], versions: Sequence[str],
                   results: list[Any], op: str) -> None:
        todo = []
        builder = _UpdateItems(account=self.account)
        for n, item, names in ready:
            unique = list(dict.fromkeys(names))
            if not unique:
                results[n] = Stamp(item.id, versions[n])
                continue
            item._id = ItemId(item.id, versions[n])  # always the stored ChangeKey
            try:
                with translated(op, ref=item.id):
                    # serialised here, once: a value the library refuses fails this item only
                    change = builder.change_bytes(item, unique)
            except AppError as err:
                results[n] = err
                continue
            todo.append((n, item, change))
        for start in range(0, len(todo), self.fetch_chunk):
            chunk = todo[start:start + self.fetch_chunk]
            try:
                with translated(op):
                    answers = list(_UpdateItems(account=self.account, chunk_size=len(chunk)).call(
                        items=[change for _, _item, change in chunk], conflict_resolution=NEVER_OVERWRITE,
                        message_disposition="SaveOnly", send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                        suppress_read_receipts=True))
            except (AuthError, ConfigError):
                raise
            except AppError as err:  # the request as a whole failed: its items did not change
                for n, _item, _names in chunk:
                    results[n] = err
                continue
            for (n, item, _change), res in zip(chunk, answers):
                if isinstance(res, Exception):
                    results[n] = to_app_error(res, op=op, ref=item.id)
                else:
                    new_id, change_key = res
                    results[n] = Stamp(new_id if kind is Kind.TASK else item.id, change_key)

    def set_sharing(self, kind: Kind, item_id: str, change_key: str, sharing: Sharing, *, crm_id: str | None,
                    link_id: str | None) -> Stamp:
        op = f"changing the sharing of a {_noun(kind, 1)}"
        item = self._current(kind, item_id, change_key, op)
        with translated(op, ref=item_id):
            names = mapping.apply_markers(item, sharing=sharing, crm_id=crm_id, link_id=link_id)
        return self._save(item, names, change_key, op)

    def trash(self, kind: Kind, item_ids: Sequence[str]) -> list[None | AppError]:
        if not item_ids:
            return []
        op = f"moving {_noun(kind)} to Deleted Items"
        with translated(op):
            results = list(self.account.bulk_delete(
                ids=[(i, None) for i in item_ids], delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=SEND_TO_NONE, affected_task_occurrences=ALL_OCCURRENCES,
                chunk_size=self.fetch_chunk,
            ))
        out: list[None | AppError] = []
        for item_id, res in zip(item_ids, results):
            if isinstance(res, Exception):
                err = to_app_error(res, op=op, ref=item_id)
                out.append(None if isinstance(err, NotFound) else err)
            else:
                out.append(None)
        return out

    # --- sent items --------------------------------------------------------------------------

    def sent_changes(self, token: str | None, since: datetime | None) -> Iterator[SentPage]:
        folder = self.folders.get("sent")
        cutoff = mapping.to_utc(since) if since is not None and since.tzinfo else (
            since.replace(tzinfo=timezone.utc) if since is not None else None)
        for page in sync_pages(folder, token, SENT_SYNC_FIELDS, page_size=self.page_size, op="reading sent items"):
            deleted: list[str] = []
            wanted: list[tuple[str, str | None]] = []
            for change_type, obj in page.changes:
                if change_type == DELETE:
                    deleted.append(obj.id)
                elif change_type in (CREATE, UPDATE) and type(obj) is Message:  # meeting messages skipped
                    sent = obj.datetime_sent
                    if cutoff is not None and sent is not None and mapping.to_utc(sent) < cutoff:
                        continue
                    wanted.append((obj.id, obj.changekey))
            results = fetch_items(folder, wanted, mapping.SENT_FIELDS, chunk=self.fetch_chunk, op="reading sent items")
            messages = []
            for res in results:
                if isinstance(res, Exception) or type(res) is not Message:
                    continue
                msg = mapping.read_sent(res)
                if cutoff is not None and msg.sent_at is not None and msg.sent_at < cutoff:
                    continue
                messages.append(msg)
            yield SentPage(tuple(messages), tuple(deleted), page.token, page.done)

    def message_bodies(self, item_ids: Sequence[str]) -> list[str | AppError]:
        """Optional batch form (app.sync.emails.BodyBatch): one GetItem per chunk of ids, one result
        per id in order: the text body, or an AppError for that message (NotFound when gone)."""
        folder = self.folders.get("sent")
        op = "reading sent messages"
        results = fetch_items(folder, [(i, None) for i in item_ids], ["body"], chunk=self.fetch_chunk, op=op)
        return [to_app_error(res, op=op, ref=i) if isinstance(res, Exception) else (mapping.body_text(res.body) or "")
                for i, res in zip(item_ids, results)]

    def message_mimes(self, item_ids: Sequence[str]) -> list[bytes | AppError]:
        """The MIME source (attachments included) of sent messages, for B35 (app.sync.email_mime.
        MimeBatch): one GetItem of `item:MimeContent` per chunk of ids, one result per id in order.
        The caller bounds the ids by bytes, so a response holds at most that batch."""
        folder = self.folders.get("sent")
        op = "reading sent messages with their attachments"
        results = fetch_items(folder, [(i, None) for i in item_ids], ["mime_content"], chunk=self.fetch_chunk, op=op)
        return [to_app_error(res, op=op, ref=i) if isinstance(res, Exception) else bytes(res.mime_content or b"")
                for i, res in zip(item_ids, results)]

    def message_body(self, item_id: str) -> str:
        folder = self.folders.get("sent")
        [res] = fetch_items(folder, [(item_id, None)], ["body"], op="reading a sent message")
        if isinstance(res, Exception):
            raise to_app_error(res, op="reading a sent message", ref=item_id)
        return mapping.body_text(res.body) or ""


# contacts are read lean (current_contact.py) for the change feed and the batched writes, other
# models as the library's items
_CURRENT_READERS = {Kind.PERSON: {Contact.response_tag(): read_current_contact}}
_READ_AS = {Kind.PERSON: (Contact, CurrentContact), Kind.TASK: (mapping.MODEL[Kind.TASK],),
            Kind.MEETING: (mapping.MODEL[Kind.MEETING],)}


class _UpdateItems(CachedPathUpdateItem):
    """UpdateItem that returns a stale-ChangeKey conflict per item instead of raising it, so the
    results of the batch's other items are kept (ews.md 4.3)."""

    ERRORS_TO_CATCH_IN_RESPONSE = UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE + (ErrorIrresolvableConflict, ErrorStaleObject)


def short_id(item_id: str) -> str:
    """Items are named in logs by a short hash of their id, never by content (design.md 7)."""
    return hashlib.sha256(item_id.encode()).hexdigest()[:10]


def _noun(kind: Kind, n: int = 2) -> str:
    names = {Kind.PERSON: ("contact", "contacts"), Kind.TASK: ("task", "tasks"), Kind.MEETING: ("calendar item", "calendar items")}
    return names[kind][0 if n == 1 else 1]


__all__ = ["EwsMailbox", "EwsSettings"]


FOLDER_GONE = frozenset({"ErrorAccessDenied", "ErrorFolderNotFound"})


def _folder_access(pages: Iterator[Any], kind: Kind) -> Iterator[Any]:
    """A folder that refuses its change feed as a whole (permission withdrawn, folder removed)
    is lost access, not an empty folder: a typed signal the engine holds (design.md 5.8)."""
    try:
        yield from pages
    except (AuthError, ConfigError) as err:
        if getattr(err, "ews_code", None) not in FOLDER_GONE:
            raise
        raise CollectionUnavailable(
            f"The mailbox refused its {_noun(kind)} folder ({err.ews_code}); nothing there is treated as "
            "deleted. Check the folder's permissions, or ask your Exchange administrator.",
            collection=f"outlook:{kind.value}") from None

