"""Per-side state of a linked item (design.md 5.2), with the two-witness rule (principle 2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from app.domain.normalise import content_hash
from app.domain.records import Sharing
from app.sync.planner import CState, OState
from app.sync.state import Link, Staged


@dataclass(frozen=True)
class SideView:
    state: Any  # OState | CState
    fields: Mapping[str, Any] | None
    version: str | None  # current version stamp, when known
    hash: str | None
    restamp: bool = False  # same content under a new version: refresh the stored version only
    staged: Staged | None = None


HashOf = Callable[[Mapping[str, Any]], str]  # content_hash of the link's kind (a plan's Snapshots.hash)


def outlook_side(link: Link, staged: Staged | None, hash_of: HashOf | None = None) -> SideView:
    if link.ews_item_id is None:
        return SideView(OState.MISSING, None, None, None)
    if staged is None:
        return SideView(OState.UNCHANGED, link.ews_fields or link.base, link.ews_change_key, link.ews_hash)
    if staged.change == "delete" or staged.outlook is None:
        return SideView(OState.DELETED, None, None, None, staged=staged)
    item = staged.outlook
    h = hash_of(item.fields) if hash_of is not None else content_hash(item.kind, item.fields)
    # The category is the user's gesture. A linked item still marked Unshared but categorised was
    # shared again and its Shared marker is not written yet (e.g. its CRM create was refused and
    # waits for a retry): it stays shared, it is not unshared once more.
    if item.marker in (Sharing.UNSHARED, Sharing.SHARED) and not item.categorised:
        return SideView(OState.CATEGORY_REMOVED, item.fields, item.change_key, h, staged=staged)
    if item.change_key == link.ews_change_key:
        return SideView(OState.UNCHANGED, link.ews_fields or item.fields, item.change_key, link.ews_hash or h, staged=staged)
    if h == link.ews_hash:  # a version-only change (read flag, category housekeeping, our echo)
        return SideView(OState.UNCHANGED, item.fields, item.change_key, h, restamp=True, staged=staged)
    return SideView(OState.CHANGED, item.fields, item.change_key, h, staged=staged)


def crm_side(link: Link, staged: Staged | None, hash_of: HashOf | None = None) -> SideView:
    if link.crm_id is None:
        return SideView(CState.MISSING, None, None, None)
    if staged is None:
        return SideView(CState.UNCHANGED, link.crm_fields or link.base, link.crm_lock_version, link.crm_hash)
    rec = staged.crm
    if staged.change == "delete" or rec is None or rec.deleted:
        return SideView(CState.DELETED, None, None, None, staged=staged)
    version = str(rec.lock_version)
    h = hash_of(rec.fields) if hash_of is not None else content_hash(rec.kind, rec.fields)
    if version == link.crm_lock_version:
        view = SideView(CState.UNCHANGED, link.crm_fields or rec.fields, version, link.crm_hash or h, staged=staged)
    elif h == link.crm_hash:
        view = SideView(CState.UNCHANGED, rec.fields, version, h, restamp=True, staged=staged)
    else:
        view = SideView(CState.CHANGED, rec.fields, version, h, staged=staged)
    if staged.in_scope is False and link.in_scope:
        return SideView(CState.LEFT_SCOPE, view.fields, view.version, view.hash, view.restamp, staged)
    return view


def changed(view: SideView) -> bool:
    return view.state in (OState.CHANGED, CState.CHANGED) or (
        view.state is CState.LEFT_SCOPE and view.staged is not None and not view.restamp
        and view.staged.crm is not None and view.version is not None and view.hash is not None
    )
