"""`LeasePort` on exchangelib: the mailbox lease as an item in a connector-owned folder.

The folder ("Workbooks connector", IPF.Note) sits directly under the mailbox root, outside the
IPM subtree that mail clients show, and is created once (CreateFolder; `ErrorFolderExists` ->
find it with one shallow FindFolder). The lease is one Message in it carrying our
`lease_data` extended property (JSON: machine id, host, heartbeat, app version). Every write
is ChangeKey-checked under NeverOverwrite, so two racing machines cannot both win; two racing
*creates* are settled deterministically (the smallest ItemId wins, the loser removes its item
and gets StaleVersion). Never uses UpdateFolder.

Routine reads are one GetItem: the lease item's id and its folder's id are remembered (in
memory, and by `app.locks` in the profile's lease file through `remember()`/`hints()`), so a
cycle that still holds the lease neither searches for the folder nor lists it. If the
remembered item is gone (deleted, or the folder was removed) the lease is found again the slow
way. A take-over by another machine rewrites the same item, so reading it by id sees that.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from exchangelib import Account, Folder, Message
from exchangelib.errors import ErrorFolderExists
from exchangelib.folders import FolderCollection
from exchangelib.folders.queryset import SHALLOW
from exchangelib.items import NEVER_OVERWRITE, SOFT_DELETE
from exchangelib.properties import FolderId, ItemId
from exchangelib.services import CreateFolder

from app.connectors.ews.client import EwsSettings, open_account
from app.connectors.ews.errors import translated
from app.connectors.ews.folders import FolderSet, fetch_items
from app.domain.lease_record import decode_lease as _decode, encode_lease as _encode
from app.domain.records import Lease
from app.errors import NotFound, StaleVersion

LEASE_FOLDER_NAME = "Workbooks connector"
LEASE_SUBJECT = "Workbooks connector mailbox lease (do not delete)"


class EwsLease:
    def __init__(self, account: Account, folders: FolderSet | None = None, *, folder_name: str = LEASE_FOLDER_NAME):
        self.account = account
        self.folders = folders or FolderSet(account)
        self.folder_name = folder_name
        self._folder: Any = None
        self._folder_id: str | None = None
        self._item_id: str | None = None

    @classmethod
    def connect(cls, settings: EwsSettings, **kw: Any) -> "EwsLease":
        return cls(open_account(settings), **kw)

    # --- remembered ids ----------------------------------------------------------------------

    def hints(self) -> dict[str, str]:
        """Ids worth remembering between runs (the lease item and its folder); {} when unknown."""
        folder_id = self._folder.id if self._folder is not None and getattr(self._folder, "id", None) else self._folder_id
        out = {"item_id": self._item_id or "", "folder_id": folder_id or ""}
        return {k: v for k, v in out.items() if v}

    def remember(self, hints: dict[str, Any]) -> None:
        """Ids from an earlier run (`hints()`); wrong or stale ones only cost the slow path."""
        item_id, folder_id = hints.get("item_id"), hints.get("folder_id")
        if isinstance(folder_id, str) and folder_id and self._folder is None:
            self._folder_id = folder_id
        if isinstance(item_id, str) and item_id and self._item_id is None:
            self._item_id = item_id

    # --- folder ------------------------------------------------------------------------------

    def folder(self) -> Any:
        if self._folder is None:
            with translated("preparing the mailbox lease folder"):
                self._folder = self._find_folder() or self._create_folder()
            self._folder_id = self._folder.id
        return self._folder

    def _addressed_folder(self) -> Any:
        """The folder as an object for field lookups and item addressing: the resolved one, or
        one built from the remembered id without a round trip."""
        if self._folder is None and self._folder_id:
            return Folder(root=self.folders.root, _id=FolderId(id=self._folder_id), folder_class="IPF.Note")
        return self.folder()

    def _create_folder(self) -> Any:
        root = self.folders.root
        new = Folder(root=root, name=self.folder_name, folder_class="IPF.Note")
        [res] = list(CreateFolder(account=self.account).call(parent_folder=root, folders=[new]))
        if isinstance(res, ErrorFolderExists):  # another machine created it meanwhile
            found = self._find_folder()
            if found is None:
                raise res
            return found
        if isinstance(res, Exception):
            raise res
        return res

    def _find_folder(self) -> Any:
        root = self.folders.root
        for f in FolderCollection(account=self.account, folders=[root]).find_folders(depth=SHALLOW):
            if not isinstance(f, Exception) and (f.name or "").casefold() == self.folder_name.casefold():
                return f
        return None

    # --- lease -------------------------------------------------------------------------------

    def _items(self) -> list[Any]:
        folder = self.folder()
        with translated("reading the mailbox lease"):
            ids = [(i, ck) for i, ck in folder.all().values_list("id", "changekey")]
        items = fetch_items(folder, ids, ["subject", "lease_data"], op="reading the mailbox lease")
        return sorted((i for i in items if isinstance(i, Message)), key=lambda i: i.id)

    def _read_known(self) -> Lease | None:
        """One GetItem of the remembered lease item; None when it is gone or unreadable."""
        item_id = self._item_id
        if not item_id:
            return None
        try:
            [res] = fetch_items(self._addressed_folder(), [(item_id, None)], ["subject", "lease_data"],
                                op="reading the mailbox lease")
        except NotFound:
            res = None
        if not isinstance(res, Message) or res.lease_data is None:
            self._item_id = None
            self._folder_id = None if self._folder is None else self._folder_id
            return None
        return _decode(res.lease_data, res.changekey)

    def read_lease(self) -> Lease | None:
        known = self._read_known()
        if known is not None:
            return known
        items = self._items()
        if not items:
            self._item_id = None
            return None
        winner = items[0]
        self._item_id = winner.id
        return _decode(winner.lease_data, winner.changekey)

    def write_lease(self, lease: Lease) -> Lease:
        if not lease.version:
            return self._create(lease)
        if self._item_id is None:
            current = self.read_lease()
            if current is None:
                raise StaleVersion("the mailbox lease disappeared; read it again")
        item = Message(account=self.account, folder=self._addressed_folder())
        item._id = ItemId(self._item_id, lease.version)
        item.lease_data = _encode(lease)
        try:
            with translated("renewing the mailbox lease"):
                item.save(update_fields=["lease_data"], conflict_resolution=NEVER_OVERWRITE)
        except NotFound:
            self._item_id = None
            raise StaleVersion("the mailbox lease item was removed; read it again") from None
        self._item_id = item.id
        return replace(lease, version=item.changekey)

    def _create(self, lease: Lease) -> Lease:
        if self._items():
            raise StaleVersion("another computer wrote the mailbox lease first")
        folder = self.folder()
        item = Message(account=self.account, folder=folder, subject=LEASE_SUBJECT)
        item.lease_data = _encode(lease)
        with translated("creating the mailbox lease"):
            [res] = self.account.bulk_create(folder=folder, items=[item])
            if isinstance(res, Exception):
                raise res
        items = self._items()
        if items and items[0].id != res.id:  # raced: the smallest id wins, ours goes
            with translated("removing a duplicate mailbox lease"):
                self.account.bulk_delete(ids=[(res.id, None)], delete_type=SOFT_DELETE)
            self._item_id = items[0].id
            raise StaleVersion("another computer wrote the mailbox lease at the same moment")
        self._item_id = res.id
        return replace(lease, version=res.changekey)
