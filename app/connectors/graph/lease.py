"""`LeasePort` on Graph: the mailbox lease as a message in a hidden mail folder.

The folder "Workbooks connector" is created once under the message-folder root with
`isHidden: true` (409 ErrorFolderExists -> find it again). The lease is one message (a draft)
carrying our `WorkbooksLease` extended property (JSON: machine id, host, heartbeat, app
version). Renewals are PATCHes with `If-Match: <etag>` (412 -> StaleVersion), so two racing
machines cannot both win; racing creates are settled as in EWS: the smallest id wins and the
loser deletes its own message and gets StaleVersion.

Gap: the EWS lease folder sits under the mailbox root, outside the IPM subtree Graph can list,
so a machine on EWS and one on Graph do not see each other's lease; every machine syncing one
mailbox must use the same backend.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.connectors.graph.client import GraphClient, TokenProvider
from app.connectors.graph.mailbox import GraphSettings
from app.connectors.graph.properties import LEASE, same_id
from app.domain.lease_record import decode_lease as _decode, encode_lease as _encode
from app.domain.records import Lease
from app.errors import ItemRejected, NotFound, StaleVersion

LEASE_FOLDER_NAME = "Workbooks connector"
LEASE_SUBJECT = "Workbooks connector mailbox lease (do not delete)"


class GraphLease:
    def __init__(self, client: GraphClient, *, folder_name: str = LEASE_FOLDER_NAME):
        self.client = client
        self.folder_name = folder_name
        self._folder_id: str | None = None
        self._item_id: str | None = None

    @classmethod
    def connect(cls, settings: GraphSettings, tokens: TokenProvider | None = None, **kw: Any) -> "GraphLease":
        if tokens is None:
            from app.connectors.graph.auth import GraphSignIn
            tokens = GraphSignIn.from_settings(settings)
        return cls(GraphClient(settings.graph_url, tokens, ca_bundle=settings.ca_bundle, timeout=settings.timeout,
                               max_wait=settings.max_wait), **kw)

    # --- folder --------------------------------------------------------------------------------
    def folder_id(self) -> str:
        if self._folder_id is None:
            self._folder_id = self._find_folder() or self._create_folder()
        return self._folder_id

    def _find_folder(self) -> str | None:
        name = self.folder_name.replace("'", "''")
        data = self.client.get_json("me/mailFolders", op="finding the mailbox lease folder",
                                    params={"includeHiddenFolders": "true", "$filter": f"displayName eq '{name}'"})
        for f in data.get("value") or []:
            if str(f.get("displayName", "")).casefold() == self.folder_name.casefold():
                return str(f["id"])
        return None

    def _create_folder(self) -> str:
        try:
            resp = self.client.request("POST", "me/mailFolders", op="creating the mailbox lease folder",
                                       json={"displayName": self.folder_name, "isHidden": True})
        except ItemRejected:  # 409: another machine created it meanwhile
            found = self._find_folder()
            if found is None:
                raise
            return found
        return str(resp.json()["id"])

    # --- lease ---------------------------------------------------------------------------------
    def _items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.client.pages(f"me/mailFolders/{self.folder_id()}/messages", op="reading the mailbox lease",
                                      params={"$select": "subject", "$top": "50",
                                              "$expand": f"singleValueExtendedProperties($filter=id eq '{LEASE}')"}):
            items.extend(page)
        return sorted(items, key=lambda i: str(i.get("id")))

    def read_lease(self) -> Lease | None:
        items = self._items()
        if not items:
            self._item_id = None
            return None
        winner = items[0]
        self._item_id = str(winner["id"])
        return _decode(_lease_value(winner), str(winner.get("@odata.etag") or ""))

    def write_lease(self, lease: Lease) -> Lease:
        if not lease.version:
            return self._create(lease)
        if self._item_id is None and self.read_lease() is None:
            raise StaleVersion("the mailbox lease disappeared; read it again")
        try:
            resp = self.client.request("PATCH", f"me/messages/{self._item_id}", op="renewing the mailbox lease",
                                       json={"singleValueExtendedProperties": [{"id": LEASE, "value": _encode(lease)}]},
                                       headers={"If-Match": lease.version})
        except NotFound:
            self._item_id = None
            raise StaleVersion("the mailbox lease item was removed; read it again") from None
        return replace(lease, version=str(resp.json().get("@odata.etag") or ""))

    def _create(self, lease: Lease) -> Lease:
        if self._items():
            raise StaleVersion("another computer wrote the mailbox lease first")
        resp = self.client.request("POST", f"me/mailFolders/{self.folder_id()}/messages", op="creating the mailbox lease",
                                   json={"subject": LEASE_SUBJECT,
                                         "singleValueExtendedProperties": [{"id": LEASE, "value": _encode(lease)}]})
        created = resp.json()
        items = self._items()
        if items and str(items[0]["id"]) != str(created["id"]):  # raced: the smallest id wins, ours goes
            self.client.request("DELETE", f"me/messages/{created['id']}", op="removing a duplicate mailbox lease")
            self._item_id = str(items[0]["id"])
            raise StaleVersion("another computer wrote the mailbox lease at the same moment")
        self._item_id = str(created["id"])
        return replace(lease, version=str(created.get("@odata.etag") or ""))


def _lease_value(item: dict[str, Any]) -> str | None:
    for prop in item.get("singleValueExtendedProperties") or []:
        if same_id(str(prop.get("id", "")), LEASE):
            return prop.get("value")
    return None
