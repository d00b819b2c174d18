"""`MailboxPort` on Microsoft Graph v1.0 (ports.py; ews.md 9; field gaps in mapping.py).

Reads: delta queries page by page (`Prefer: odata.maxpagesize`), each page's `@odata.nextLink`
or `@odata.deltaLink` handed out as that page's token, then the changed items read in `$batch`
GETs with our extended properties `$expand`-ed (like EWS IdOnly sync + GetItem). Writes: `$batch`
POSTs for creates (20 per request), one PATCH per update with `If-Match: <etag>` (412 ->
StaleVersion, nothing changed), sharing as a read-modify-write of the categories, trash as
DELETE, which Graph turns into a move to Deleted Items (`permanentDelete` is never used).

Recurring series: calendarView/delta reports occurrences and exceptions, which are read as their
series master (`seriesMasterId`); the master's occurrences are the ones Graph expands
(`series_occurrences`, /events/{id}/instances). A collection (the contacts folder, the To Do list,
the calendar) whose change feed answers 403/404 as a whole is lost access, never deletions
(`CollectionUnavailable`, design.md 5.8).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import parse_qs, quote, urlsplit

from app.connectors.graph import mapping
from app.connectors.graph.client import GraphClient, StaticToken, SubResponse, TokenProvider, sub_error
from app.connectors.graph.recurrence import INSTANCE_TYPES, occurrence_of
from app.domain.recurrence import Occurrence, Window
from app.domain.records import SHARE_CATEGORY, Kind, NewItem, OutlookChange, OutlookItem, OutlookPage, SentPage, \
    Sharing, Stamp, Update
from app.errors import AppError, CollectionUnavailable, ConfigError, ItemRejected, NotFound, StaleVersion, \
    TransientError
from app.sync.ports import InvalidSyncToken

log = logging.getLogger("app.connectors.graph")
PAGE_SIZE = 100
READ_PREFER = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'
CATEGORY_COLOUR = "preset7"  # blue
# Changes that need the item's current values (list merges, the notes block, zones).
NEEDS_READ = {
    Kind.PERSON: {"first_name", "middle_name", "last_name", "suffix", "email1", "email2", "email3",
                  "business_phone", "business_phone2", "home_phone", "notes", "business_street", "business_city",
                  "business_state", "business_postcode", "business_country", "home_street", "home_city",
                  "home_state", "home_postcode", "home_country"},
    Kind.TASK: {"status"},
    Kind.MEETING: {"all_day", "start", "end", "start_date", "end_date"},
}


@dataclass(frozen=True)
class GraphSettings:
    """What the integrator stores per account (no secrets: tokens live in the keyring cache)."""

    mailbox: str  # expected primary SMTP address; checked against /me by `check_connection`
    client_id: str  # the Entra app registration (public client, device-code flow enabled)
    tenant: str = "organizations"  # tenant id/domain, or organizations
    authority_host: str = "https://login.microsoftonline.com"  # sandbox: GraphSandbox.authority_host
    graph_url: str = "https://graph.microsoft.com/v1.0"  # sandbox: GraphSandbox.graph_url
    ca_bundle: str | None = None  # extra CA file (sandbox TLS, corporate proxies); verification stays on
    timezone: str = "UTC"  # IANA zone for new meetings without one
    timeout: float = 30.0
    max_wait: float = 60.0  # total Retry-After wait per call before TransientError
    page_size: int = PAGE_SIZE
    calendar_window: tuple[str, str] | None = None  # ISO dates; default: 1 Jan two years back .. three ahead
    contact_folder_id: str | None = None  # None: the default Contacts folder
    todo_list_id: str | None = None  # None: the default To Do list

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant}"


def default_window(today: dt.date | None = None) -> tuple[str, str]:
    year = (today or dt.date.today()).year
    return f"{year - 2}-01-01", f"{year + 3}-01-01"


class GraphMailbox:
    """The user's mailbox over Graph. `GraphMailbox.connect(settings, tokens)` or around a client."""

    def __init__(self, client: GraphClient, *, mailbox: str = "", page_size: int = PAGE_SIZE, timezone: str = "UTC",
                 calendar_window: tuple[str, str] | None = None, contact_folder_id: str | None = None,
                 todo_list_id: str | None = None):
        self.client = client
        self.page_size = max(1, min(1000, page_size))
        self.timezone = timezone
        self.window = calendar_window or default_window()
        self.contact_folder_id = contact_folder_id
        self._list_id = todo_list_id
        self._mailbox = mailbox.lower()
        self._category_ready = False

    @classmethod
    def connect(cls, settings: GraphSettings, tokens: TokenProvider | None = None, **kw: Any) -> "GraphMailbox":
        if tokens is None:
            from app.connectors.graph.auth import GraphSignIn
            tokens = GraphSignIn.from_settings(settings)
        client = GraphClient(settings.graph_url, tokens, ca_bundle=settings.ca_bundle, timeout=settings.timeout,
                             max_wait=settings.max_wait)
        opts = dict(mailbox=settings.mailbox, page_size=settings.page_size, timezone=settings.timezone,
                    calendar_window=settings.calendar_window, contact_folder_id=settings.contact_folder_id,
                    todo_list_id=settings.todo_list_id)
        opts.update(kw)
        return cls(client, **opts)

    def close(self) -> None:
        self.client.close()

    @property
    def requests_sent(self) -> int:
        """HTTP requests this mailbox has sent (for `sync --json` "requests")."""
        return self.client.requests_sent

    def unsupported_fields(self, kind: Kind) -> frozenset[str]:
        """Canonical fields this backend cannot store (mapping.py docstring)."""
        return mapping.UNSUPPORTED[kind]

    # --- paths ---------------------------------------------------------------------------------
    def _collection(self, kind: Kind) -> str:
        if kind is Kind.PERSON:
            folder = self.contacts_folder()
            return f"me/contactFolders/{folder}/contacts" if folder else "me/contacts"
        if kind is Kind.TASK:
            return f"me/todo/lists/{self.list_id()}/tasks"
        return "me/events"

    def _delta_path(self, kind: Kind) -> str:
        return "me/calendarView/delta" if kind is Kind.MEETING else self._collection(kind) + "/delta"

    def contacts_folder(self) -> str | None:
        """The default Contacts folder's id, for the documented
        /me/contactFolders/{id}/contacts/delta (/me/contacts/delta works but is undocumented).
        Learned from any contact's parentFolderId; while the folder is empty /me/contacts is used,
        and the later switch of path makes the stored token foreign: one harmless full re-read."""
        if self.contact_folder_id is None and not getattr(self, "_folder_probed", False):
            self._folder_probed = True  # once per mailbox object (one sync cycle)
            data = self.client.get_json("me/contacts", op="finding the Contacts folder",
                                        params={"$top": "1", "$select": "parentFolderId"})
            first = (data.get("value") or [{}])[0]
            if first.get("parentFolderId"):
                self.contact_folder_id = str(first["parentFolderId"])
        return self.contact_folder_id

    def list_id(self) -> str:
        if self._list_id is None:
            for page in self.client.pages("me/todo/lists", op="finding the default To Do list"):
                for lst in page:
                    if lst.get("wellknownListName") == "defaultList":
                        self._list_id = str(lst["id"])
            if self._list_id is None:
                raise ConfigError("the mailbox has no default To Do list (is Microsoft To Do enabled?)")
        return self._list_id

    # --- reads ---------------------------------------------------------------------------------
    def identity(self) -> str:
        if not self._mailbox or not getattr(self, "_identity_checked", False):
            me = self.client.get_json("me", op="reading the signed-in mailbox",
                                      params={"$select": "mail,userPrincipalName"})
            self._mailbox = str(me.get("mail") or me.get("userPrincipalName") or "").lower()
            self._identity_checked = True
        return self._mailbox

    def changes(self, kind: Kind, token: str | None,
                known: Callable[[str, str], bool] | None = None) -> Iterator[OutlookPage]:
        # `known` (MailboxPort) is accepted and ignored: delta pages already carry full items.
        op = f"reading {_noun(kind)} changes"
        with _collection_access(kind):
            url, params = self._start(self._delta_path(kind), token, kind)
        for value, link, done in _guarded(self._delta(url, params, op), kind):
            order: list[str] = []
            deletes: set[str] = set()
            for entry in value:
                item_id = str(entry.get("id", ""))
                if kind is Kind.MEETING and "@removed" not in entry and entry.get("type") in INSTANCE_TYPES:
                    item_id = str(entry.get("seriesMasterId") or "")  # the series is read, then expanded
                if not item_id or item_id in order:
                    continue
                order.append(item_id)
                if "@removed" in entry:
                    deletes.add(item_id)
            found = self._read(kind, [i for i in order if i not in deletes], op)
            out = []
            for item_id in order:
                if item_id in deletes:
                    out.append(OutlookChange("delete", item_id))
                elif found.get(item_id, False) is None:  # gone between the delta and the read
                    out.append(OutlookChange("delete", item_id))
                elif found.get(item_id):
                    out.append(OutlookChange("upsert", item_id, found[item_id]))
            yield OutlookPage(tuple(out), link, done)

    def _start(self, path: str, token: str | None, kind: Kind | str) -> tuple[str, dict[str, str] | None]:
        if token:
            expected = urlsplit(self.client.url(path))
            got = urlsplit(token)
            if (got.scheme, got.netloc.lower(), got.path.lower()) != (expected.scheme, expected.netloc.lower(),
                                                                       expected.path.lower()) or \
                    not ({"$skiptoken", "$deltatoken"} & set(parse_qs(got.query))):
                raise InvalidSyncToken("the stored sync state belongs to another folder or server; reading again")
            return token, None
        if kind is Kind.MEETING:
            return path, {"startDateTime": f"{self.window[0]}T00:00:00Z", "endDateTime": f"{self.window[1]}T00:00:00Z"}
        return path, {"$select": "sentDateTime" if kind == "sent" else "lastModifiedDateTime"}

    def _delta(self, url: str, params: dict[str, str] | None, op: str) -> Iterator[tuple[list[dict], str, bool]]:
        headers = {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={self.page_size}, outlook.timezone="UTC"'}
        while True:
            data = self.client.get_json(url, op=op, params=params, headers=headers)
            params = None
            nxt, final = data.get("@odata.nextLink"), data.get("@odata.deltaLink")
            if not (nxt or final):
                raise TransientError(f"{op}: Microsoft 365 sent a page without a next or delta link")
            yield list(data.get("value") or []), str(final or nxt), bool(final and not nxt)
            if not nxt:
                return
            url = nxt

    def _read(self, kind: Kind, ids: Sequence[str], op: str) -> dict[str, OutlookItem | None | bool]:
        """id -> mapped item, None when gone, False when not synced here (occurrences, unreadable)."""
        if not ids:
            return {}
        base = self._collection(kind)
        query = _query({"$select": mapping.SELECT[kind], "$expand": mapping.expand(kind)})
        subs = self.client.batch([{"method": "GET", "url": f"{base}/{i}{query}", "headers": {"Prefer": READ_PREFER}}
                                  for i in ids], op=op)
        out: dict[str, OutlookItem | None | bool] = {}
        for item_id, sub in zip(ids, subs):
            if sub.status == 404:
                out[item_id] = None
            elif sub.status >= 400 or not isinstance(sub.body, dict):
                err = sub_error(sub, op=op, ref=item_id)
                if isinstance(err, (TransientError, InvalidSyncToken)) or sub.status in (401, 403):
                    raise err  # the page is not committed; it replays next time
                log.warning("skipped an unreadable %s (item %s): %s", _noun(kind, 1), short_id(item_id), err.message)
                out[item_id] = False
            else:
                try:
                    out[item_id] = mapping.to_outlook_item(kind, sub.body, self._mailbox) or False
                except (KeyError, ValueError, TypeError) as exc:
                    log.warning("skipped an unreadable %s (item %s): %s", _noun(kind, 1), short_id(item_id),
                                type(exc).__name__)
                    out[item_id] = False
        return out

    def series_occurrences(self, master: OutlookItem, window: Window) -> list[Occurrence]:
        """The occurrences and exceptions of a series overlapping the window, as Graph expands
        them (cancelled ones are absent), in order of original start."""
        params = {"startDateTime": _instant(window.start), "endDateTime": _instant(window.end),
                  "$select": "type,originalStart,start,end,isAllDay,subject", "$top": str(self.page_size)}
        zone = master.series.zone if master.series is not None else "UTC"
        found = [occ for page in self.client.pages(f"me/events/{master.item_id}/instances", op="reading a recurring "
                                                   "series", params=params, headers={"Prefer": READ_PREFER})
                 for data in page if (occ := occurrence_of(data, zone)) is not None]
        return sorted(found, key=lambda o: o.original_start)

    def recurring_masters(self) -> list[OutlookItem]:
        """Every series master of the calendar, so series are re-expanded as the calendar window
        moves without an edit (app.sync.recurring)."""
        params = {"$filter": "type eq 'seriesMaster'", "$select": mapping.SELECT[Kind.MEETING],
                  "$expand": mapping.expand(Kind.MEETING), "$top": "100"}
        out = []
        for page in self.client.pages("me/events", op="reading recurring meetings", params=params,
                                      headers={"Prefer": READ_PREFER}):
            for data in page:
                try:
                    item = mapping.to_outlook_item(Kind.MEETING, data, self._mailbox)
                except (KeyError, ValueError, TypeError):
                    continue  # unreadable: skipped, as in the change feed
                if item is not None and item.series is not None:
                    out.append(item)
        return out

    def fetch(self, kind: Kind, item_ids: Sequence[str]) -> list[OutlookItem | None]:
        found = self._read(kind, list(dict.fromkeys(item_ids)), f"reading {_noun(kind)}")
        return [found.get(i) or None for i in item_ids]

    def find_by_marker(self, kind: Kind, *, link_id: str | None = None, crm_id: str | None = None) -> list[OutlookItem]:
        if not link_id and not crm_id:
            return []
        op = f"searching {_noun(kind)} by marker"
        params = {"$select": mapping.SELECT[kind], "$expand": mapping.expand(kind), "$top": "100"}
        if kind is not Kind.TASK:
            clauses = [f"singleValueExtendedProperties/any(ep: ep/id eq '{pid}' and ep/value eq '{_q(v)}')"
                       for pid, v in ((mapping.LINK_ID, link_id), (mapping.CRM_ID, crm_id)) if v]
            params["$filter"] = " and ".join(clauses)
        out = []
        for page in self.client.pages(self._collection(kind), op=op, params=params, headers={"Prefer": READ_PREFER}):
            for data in page:
                item = mapping.to_outlook_item(kind, data, self._mailbox)
                if item is None:
                    continue
                if (link_id and item.link_id != link_id) or (crm_id and item.crm_id != crm_id):
                    continue  # tasks are filtered here (no server-side filter on open extensions)
                out.append(item)
        return out

    # --- writes --------------------------------------------------------------------------------
    def _ensure_category(self) -> None:
        if self._category_ready:
            return
        op = "preparing the Workbooks category"
        cats = self.client.get_json("me/outlook/masterCategories", op=op).get("value") or []
        if not any(str(c.get("displayName", "")).casefold() == SHARE_CATEGORY.casefold() for c in cats):
            try:
                self.client.request("POST", "me/outlook/masterCategories", op=op,
                                    json={"displayName": SHARE_CATEGORY, "color": CATEGORY_COLOUR})
            except ItemRejected:
                pass  # created meanwhile by another client (409): fine
        self._category_ready = True

    def create(self, kind: Kind, items: Sequence[NewItem]) -> list[Stamp | AppError]:
        op = f"creating {_noun(kind)}"
        results: list[Stamp | AppError | None] = [None] * len(items)
        ready: list[tuple[int, dict[str, Any]]] = []
        for n, new in enumerate(items):
            try:
                ready.append((n, self._new_body(kind, new)))
            except (ValueError, TypeError) as exc:
                results[n] = ItemRejected(f"preparing a new {_noun(kind, 1)}: {exc}", ref=new.link_id)
        if any(items[n].sharing is Sharing.SHARED for n, _ in ready):
            self._ensure_category()
        try:
            subs = self.client.batch([{"method": "POST", "url": self._collection(kind), "body": body}
                                      for _, body in ready], op=op)
        except TransientError as err:
            for n, _ in ready:
                results[n] = err
            return results  # type: ignore[return-value]
        for (n, _), sub in zip(ready, subs):
            if sub.status in (200, 201) and isinstance(sub.body, dict) and sub.body.get("id"):
                results[n] = Stamp(str(sub.body["id"]), str(sub.body.get("@odata.etag") or ""))
            else:
                results[n] = sub_error(sub, op=f"creating a {_noun(kind, 1)}", ref=items[n].link_id)
        return results  # type: ignore[return-value]

    def _new_body(self, kind: Kind, new: NewItem) -> dict[str, Any]:
        present = {k for k, v in new.fields.items() if v is not None}
        if kind is Kind.PERSON:
            body = mapping.write_person(None, new.fields, present & set(mapping.FIELDS_BY_KIND[kind]), new.related,
                                        new.related is not None)
        elif kind is Kind.TASK:
            body = mapping.write_task(None, new.fields, present | {"status", "priority"})
            body.setdefault("title", "(no subject)")
        else:
            # Always say whether a reminder is on: Graph's default for new events is on, 15 minutes.
            body = mapping.write_meeting(None, new.fields, present | {"all_day", "start", "reminder_minutes"},
                                         self.timezone)
        body["categories"] = [SHARE_CATEGORY] if new.sharing is Sharing.SHARED else []
        if kind is Kind.TASK:
            body["extensions"] = [mapping.marker_extension(new.sharing, new.crm_id, new.link_id)]
        else:
            body.setdefault("singleValueExtendedProperties", []).extend(
                mapping.marker_props(new.sharing, new.crm_id, new.link_id))
        return body

    def _current(self, kind: Kind, item_id: str, version: str, op: str) -> dict[str, Any]:
        data = self.client.get_json(f"{self._collection(kind)}/{item_id}", op=op, ref=item_id,
                                    params={"$select": mapping.SELECT[kind], "$expand": mapping.expand(kind)},
                                    headers={"Prefer": READ_PREFER})
        if str(data.get("@odata.etag") or "") != version:
            raise StaleVersion(f"{op}: the item was changed in the mailbox since it was read", ref=item_id)
        return data

    def _patch(self, kind: Kind, item_id: str, version: str, body: dict[str, Any], op: str) -> Stamp:
        resp = self.client.request("PATCH", f"{self._collection(kind)}/{item_id}", op=op, ref=item_id, json=body,
                                   headers={"If-Match": version, "Prefer": READ_PREFER})
        data = resp.json() if resp.content else {}
        etag = str(data.get("@odata.etag") or "")
        if not etag:  # some answers are 204: read the new version
            etag = str(self.client.get_json(f"{self._collection(kind)}/{item_id}", op=op, ref=item_id,
                                            params={"$select": "id"}).get("@odata.etag") or "")
        return Stamp(str(data.get("id") or item_id), etag)

    def update(self, kind: Kind, update: Update) -> Stamp:
        op = f"updating a {_noun(kind, 1)}"
        fields = set(mapping.FIELDS_BY_KIND[kind]) - mapping.UNSUPPORTED[kind]
        changed = set(update.changed) & fields
        replace_related = update.related is not None and kind is Kind.PERSON
        if not changed and not replace_related:
            return Stamp(update.id, update.version)
        current = self._current(kind, update.id, update.version, op) if (
            changed & NEEDS_READ[kind] or replace_related) else None
        try:
            if kind is Kind.PERSON:
                body = mapping.write_person(current or {}, update.fields, changed, update.related, replace_related)
            elif kind is Kind.TASK:
                body = mapping.write_task(current or {}, update.fields, changed)
            else:
                body = mapping.write_meeting(current or {}, update.fields, changed, self.timezone)
        except (ValueError, TypeError) as exc:
            raise ItemRejected(f"{op}: {exc}", ref=update.id) from None
        if not body:
            return Stamp(update.id, update.version)
        return self._patch(kind, update.id, update.version, body, op)

    def set_sharing(self, kind: Kind, item_id: str, change_key: str, sharing: Sharing, *, crm_id: str | None,
                    link_id: str | None) -> Stamp:
        op = f"changing the sharing of a {_noun(kind, 1)}"
        current = self._current(kind, item_id, change_key, op)
        if sharing is Sharing.SHARED:
            self._ensure_category()
        categories = mapping.with_category(current.get("categories"), sharing is Sharing.SHARED)
        if kind is not Kind.TASK:
            body = {"categories": categories, "singleValueExtendedProperties": mapping.marker_props(sharing, crm_id, link_id)}
            return self._patch(kind, item_id, change_key, body, op)
        # To Do: categories under If-Match (the version check), then the marker extension.
        stamp = self._patch(kind, item_id, change_key, {"categories": categories}, op)
        ext = mapping.marker_extension(sharing, crm_id, link_id, mapping.markers(kind, current))
        base = f"{self._collection(kind)}/{stamp.id}/extensions"
        if current.get("extensions"):
            self.client.request("PATCH", f"{base}/{mapping.extension_id()}", op=op, ref=item_id, json=ext)
        else:
            self.client.request("POST", base, op=op, ref=item_id, json=ext)
        data = self.client.get_json(f"{self._collection(kind)}/{stamp.id}", op=op, ref=item_id, params={"$select": "id"})
        return Stamp(stamp.id, str(data.get("@odata.etag") or ""))

    def trash(self, kind: Kind, item_ids: Sequence[str]) -> list[None | AppError]:
        if not item_ids:
            return []
        op = f"moving {_noun(kind)} to Deleted Items"
        unique = list(dict.fromkeys(item_ids))
        refused: dict[str, AppError] = {}
        if kind is Kind.MEETING:  # Graph cannot delete without notifying attendees (no SendToNone)
            subs = self.client.batch([{"method": "GET", "url": f"me/events/{i}?$select=attendees,isOrganizer"}
                                      for i in unique], op=op)
            for i, sub in zip(unique, subs):
                if sub.status == 200 and isinstance(sub.body, dict) and sub.body.get("attendees") and \
                        sub.body.get("isOrganizer"):
                    refused[i] = ItemRejected(f"{op}: the meeting has attendees who would be sent a cancellation; "
                                              f"delete it in Outlook if that is intended", ref=i)
        todo = [i for i in unique if i not in refused]
        subs = self.client.batch([{"method": "DELETE", "url": f"{self._collection(kind)}/{i}"} for i in todo], op=op)
        result: dict[str, None | AppError] = dict(refused)
        for i, sub in zip(todo, subs):
            if sub.status < 300 or sub.status == 404:
                result[i] = None
            else:
                result[i] = sub_error(sub, op=op, ref=i)
        return [result[i] for i in item_ids]

    # --- sent items ----------------------------------------------------------------------------
    def sent_changes(self, token: str | None, since: dt.datetime | None) -> Iterator[SentPage]:
        op = "reading sent items"
        cutoff = since.astimezone(dt.timezone.utc) if since is not None and since.tzinfo else (
            since.replace(tzinfo=dt.timezone.utc) if since is not None else None)
        url, params = self._start("me/mailFolders/sentitems/messages/delta", token, "sent")
        for value, link, done in self._delta(url, params, op):
            deleted, wanted = [], []
            for entry in value:
                if "@removed" in entry:
                    deleted.append(str(entry.get("id")))
                    continue
                sent = mapping.utc_time(entry.get("sentDateTime"))
                if cutoff is not None and sent is not None and sent < cutoff:
                    continue
                wanted.append(str(entry.get("id")))
            messages = []
            if wanted:
                query = _query({"$select": mapping.SENT_SELECT, "$expand": mapping.expand("sent")})
                subs = self.client.batch([{"method": "GET", "url": f"me/messages/{i}{query}"} for i in wanted], op=op)
                for i, sub in zip(wanted, subs):
                    if sub.status == 404:
                        continue
                    if sub.status >= 400 or not isinstance(sub.body, dict):
                        raise sub_error(sub, op=op, ref=i)
                    msg = mapping.read_sent(sub.body)
                    if cutoff is None or msg.sent_at is None or msg.sent_at >= cutoff:
                        messages.append(msg)
            yield SentPage(tuple(messages), tuple(deleted), link, done)

    def _sent_folder(self) -> str:
        if getattr(self, "_sent_id", None) is None:
            self._sent_id = str(self.client.get_json("me/mailFolders/sentitems", op="finding Sent Items",
                                                     params={"$select": "id"}).get("id") or "")
        return self._sent_id

    def message_body(self, item_id: str) -> str:
        [res] = self.message_bodies([item_id])
        if isinstance(res, AppError):
            raise res
        return res

    def message_mimes(self, item_ids: Sequence[str]) -> list[bytes | AppError]:
        """The MIME source (attachments included) of sent messages for B35 (app.sync.email_mime.
        MimeBatch): `GET me/messages/{id}/$value` in $batch requests, one result per id in order.
        Inside $batch Graph base64-encodes a body that is not JSON, as it does for MIME."""
        op = "reading sent messages with their attachments"
        subs = self.client.batch([{"method": "GET", "url": f"me/messages/{i}/$value"} for i in item_ids], op=op)
        out: list[bytes | AppError] = []
        for i, sub in zip(item_ids, subs):
            if sub.status >= 400:
                out.append(sub_error(sub, op=op, ref=i))
                continue
            try:
                out.append(base64.b64decode(sub.body if isinstance(sub.body, str) else "", validate=True))
            except (binascii.Error, ValueError):
                out.append(TransientError(f"{op}: Microsoft 365 sent an unreadable message source", ref=i))
        return out

    def message_bodies(self, item_ids: Sequence[str]) -> list[str | AppError]:
        """Text bodies of sent messages in $batch GETs (20 per request), one result per id in order:
        the text, or an AppError for that message (NotFound once it left Sent Items)."""
        op = "reading sent messages"
        folder = self._sent_folder()
        query = _query({"$select": "body,parentFolderId"})
        subs = self.client.batch([{"method": "GET", "url": f"me/messages/{i}{query}", "headers": {"Prefer": READ_PREFER}}
                                  for i in item_ids], op=op)
        out: list[str | AppError] = []
        for i, sub in zip(item_ids, subs):
            if sub.status >= 400 or not isinstance(sub.body, dict):
                out.append(sub_error(sub, op=op, ref=i))
            elif folder and sub.body.get("parentFolderId") and str(sub.body["parentFolderId"]) != folder:
                out.append(NotFound(f"{op}: the message is no longer in Sent Items", ref=i))
            else:
                out.append(mapping.body_text(sub.body.get("body")) or "")
        return out


def check_connection(settings: GraphSettings, tokens: TokenProvider | None = None) -> str:
    """Sign-in works and reaches the configured mailbox: returns its address (AuthError /
    ConfigError with a clear message otherwise)."""
    box = GraphMailbox.connect(settings, tokens)
    try:
        address = box.identity()
    finally:
        box.close()
    if settings.mailbox and address != settings.mailbox.lower():
        raise ConfigError(f"the Microsoft 365 sign-in reaches {address}, not {settings.mailbox}; sign in as the "
                          f"mailbox owner")
    return address


GONE_STATUS = (403, 404)


@contextlib.contextmanager
def _collection_access(kind: Kind) -> Iterator[None]:
    """403/404 from a collection's own requests (its change feed, finding the folder) means the
    whole folder or list refused us (permission withdrawn, folder removed): the typed signal the
    engine holds as collection_gone, never an empty folder. Items answering 404 one by one are
    deletions, as before (`_read`)."""
    try:
        yield
    except AppError as err:
        status = getattr(err, "http_status", None)
        if status not in GONE_STATUS:
            raise
        raise CollectionUnavailable(
            f"Microsoft 365 refused the {_collection_noun(kind)} (HTTP {status}); nothing there is treated as "
            "deleted. Check that it still exists and that the connector may use it, or ask your Microsoft 365 "
            "administrator.", collection=f"outlook:{kind.value}") from None


def _guarded(pages: Iterator[Any], kind: Kind) -> Iterator[Any]:
    while True:
        with _collection_access(kind):
            page = next(pages, None)
        if page is None:
            return
        yield page


def _collection_noun(kind: Kind) -> str:
    return {Kind.PERSON: "Contacts folder", Kind.TASK: "To Do list", Kind.MEETING: "calendar"}[kind]


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query(params: dict[str, str]) -> str:
    """A percent-encoded query string for $batch sub-request URLs (no spaces on the wire)."""
    safe = "$,()'="
    return "?" + "&".join(f"{k}={quote(v, safe=safe)}" for k, v in params.items())


def _q(value: str) -> str:
    return value.replace("'", "''")


def short_id(item_id: str) -> str:
    return hashlib.sha256(item_id.encode()).hexdigest()[:10]


def _noun(kind: Kind, n: int = 2) -> str:
    names = {Kind.PERSON: ("contact", "contacts"), Kind.TASK: ("task", "tasks"),
             Kind.MEETING: ("calendar item", "calendar items")}
    return names[kind][0 if n == 1 else 1]


__all__ = ["GraphMailbox", "GraphSettings", "StaticToken", "SubResponse", "check_connection", "default_window"]
