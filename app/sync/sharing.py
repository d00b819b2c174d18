"""Native / Shared / Unshared transitions (interfaces.md section 4, design.md 5.6).

Native items (no connector property) are never touched unless the user shares them: by adding
the "Workbooks" category, by the "share new" option, by the install choice for existing contacts,
or with the `share` command. Removing the category unshares; deleting a shared contact unshares
and blocks its re-creation; the CRM Person is never deleted.
"""
from __future__ import annotations

from app.domain.records import OutlookItem, Sharing
from app.sync.state import Link, SharingRec

YES, NO, IF_MATCH = "yes", "no", "if_match"


def share_decision(
    item: OutlookItem,
    *,
    first_sync: bool,
    share_existing: str,
    share_new: bool,
    rec: SharingRec | None = None,
) -> str:
    """Should an unlinked Outlook item be shared? yes | no | if_match (share only when it matches)."""
    if rec is not None and rec.state == "share_requested":
        return YES
    if item.marker is Sharing.UNSHARED:
        return YES if item.categorised else NO  # category added again = share again
    if item.marker is Sharing.SHARED:
        return YES if item.categorised else NO  # category removed while we were not looking
    if item.categorised:
        return YES
    if first_sync:
        return {"all": YES, "matching": IF_MATCH}.get(share_existing, NO)
    return YES if share_new else NO


def needs_marker(item: OutlookItem | None, link: Link) -> bool:
    """The Outlook item lacks our shared property, ids or category."""
    if item is None:
        return False
    return (
        item.marker is not Sharing.SHARED
        or not item.categorised
        or item.crm_id != link.crm_id
        or item.link_id != link.id
    )


def blocks_recreate(rec: SharingRec | None) -> bool:
    """A CRM record whose contact the user deleted or unshared waits for the user."""
    if rec is None:
        return False
    if rec.state == "share_requested":
        return False
    return rec.recreate_blocked or (rec.state == "unshared" and rec.reason == "user")


def label_of(fields) -> str:  # noqa: ANN001
    """Name and address (or subject) of an item: how the user finds it again with `share QUERY`."""
    if not fields:
        return ""
    parts = [fields.get("first_name"), fields.get("last_name"), fields.get("email1"), fields.get("subject")]
    return " ".join(str(p) for p in parts if p)


def unshared_rec(link: Link, reason: str, *, blocked: bool = False) -> SharingRec:
    return SharingRec(kind=link.kind, state="unshared", reason=reason, crm_id=link.crm_id,
                      ews_item_id=link.ews_item_id, link_id=None, recreate_blocked=blocked)


def shared_rec(link: Link, reason: str = "user") -> SharingRec:
    return SharingRec(kind=link.kind, state="shared", reason=reason, crm_id=link.crm_id,
                      ews_item_id=link.ews_item_id, link_id=link.id)
