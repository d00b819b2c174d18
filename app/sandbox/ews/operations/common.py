"""Shared helpers of the operations: the request context and folder/item id resolution."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ids import FOLDER, MalformedId, check_id
from ..soap import EwsError, local, t
from ..store import Folder, Mailbox


@dataclass
class Context:
    mailbox: Mailbox
    sandbox: Any  # EwsSandbox: knobs and quirks
    operation: str
    header: Any = None
    extra: dict = field(default_factory=dict)

    def knob(self, name: str, default: Any = None) -> Any:
        return self.sandbox.knobs.get(self.operation, {}).get(name, self.sandbox.knobs.get("*", {}).get(name, default))


def resolve_folder(ctx: Context, el) -> Folder:
    """t:FolderId or t:DistinguishedFolderId (with or without t:Mailbox) -> Folder."""
    mb = ctx.mailbox
    name = local(el)
    if name == "DistinguishedFolderId":
        mbx = el.find(t("Mailbox"))
        if mbx is not None:
            addr = (mbx.findtext(t("EmailAddress")) or "").strip().lower()
            if addr and addr != mb.address.lower():
                raise EwsError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        fid = mb.distinguished.get(el.get("Id", ""))
        if fid is None:
            raise EwsError("ErrorFolderNotFound")
        return mb.folders[fid]
    if name == "FolderId":
        try:
            check_id(el.get("Id"), mb.guid, FOLDER)
        except MalformedId:
            raise EwsError("ErrorInvalidIdMalformed")
        return mb.folder(el.get("Id", ""))
    raise EwsError("ErrorInvalidRequest", "The request is invalid.")


def folder_ids(container) -> list:
    return [c for c in container if isinstance(c.tag, str)] if container is not None else []
