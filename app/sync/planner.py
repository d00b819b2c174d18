"""The decision table of design.md 5.3 as one pure function: `decide(PairView) -> Decision`.

The engine classifies each side (classify.py), gathers match results for unlinked items and the
per-type policies into a `PairView`, and turns the returned `Decision` into outbox rows. Every
decision names its table row and a reason, which go to the history (principle 11).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from app.domain.fields import MEETING_SCHEDULING_FIELDS, content_fields
from app.domain.normalise import same_content
from app.domain.records import Kind, Side
from app.sync.config import ASK, CRM_WINS, KEEP_UNSHARED, NEWEST_WINS, OUTLOOK_WINS, TRASH_UNCHANGED
from app.sync.merge import three_way


class OState(str, Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"
    CATEGORY_REMOVED = "category_removed"
    MOVED = "moved"  # a new ItemId carrying our link id (row 20)
    NEW = "new"
    MISSING = "missing"


class CState(str, Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"
    LEFT_SCOPE = "left_scope"
    INACCESSIBLE = "inaccessible"
    NEW = "new"
    MISSING = "missing"


@dataclass(frozen=True)
class Action:
    """One step. `op` is a write (create/update/trash/soft_delete/unshare/share/release) or a
    journal-only step (restamp/link/conflict/tombstone/access_lost/relink/block_recreate)."""

    op: str
    side: Side | None = None
    fields: Mapping[str, Any] | None = None
    changed: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class Decision:
    row: int
    actions: tuple[Action, ...]
    reason: str
    base: Mapping[str, Any] | None = None  # the agreed record once every action succeeded
    conflict_kind: str | None = None
    conflict_fields: tuple[str, ...] = ()

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(a.op for a in self.actions)

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.op in WRITE_OPS)


WRITE_OPS = frozenset({"create", "update", "trash", "soft_delete", "unshare", "share", "release"})


@dataclass(frozen=True)
class PairView:
    kind: Kind
    outlook: OState
    crm: CState
    linked: bool
    base: Mapping[str, Any] | None = None
    outlook_fields: Mapping[str, Any] | None = None
    crm_fields: Mapping[str, Any] | None = None
    crm_changed: bool = False  # LEFT_SCOPE / INACCESSIBLE: the record also changed
    open_conflict: bool = False
    backoff: bool = False
    matches: int = 0  # unlinked items: candidates found on the other side
    share: bool = False  # unlinked Outlook item: shared by category, marker or option
    needs_marker: bool = False  # the Outlook item lacks our shared marker / ids / category
    recreate_blocked: bool = False
    owned_by_me: bool = False  # CRM activity: mine to delete
    has_attendees: bool = False
    read_only: bool = False  # an occurrence of a recurring series (app.sync.recurring): Outlook owns it all
    created_by_connector: bool = False  # the Outlook copy was created by us
    conflict_policy: str = ASK
    leave_policy: str = KEEP_UNSHARED
    crm_delete_policy: str = "trash"
    newest: Side | None = None  # for newest-wins: which side was edited last


READ_ONLY_REASON = ("this meeting is part of a recurring series in Outlook; change it there "
                    "(the CRM edit was overwritten from Outlook)")


def _outlook_owned(v: PairView) -> frozenset[str]:
    if v.read_only:
        return frozenset(content_fields(v.kind))
    return MEETING_SCHEDULING_FIELDS if v.kind is Kind.MEETING and v.has_attendees else frozenset()


def _prefer(v: PairView) -> str | None:
    if v.conflict_policy == CRM_WINS:
        return "crm"
    if v.conflict_policy == OUTLOOK_WINS:
        return "outlook"
    if v.conflict_policy == NEWEST_WINS and v.newest is not None:
        return v.newest.value
    return None


def decide(v: PairView) -> Decision:
    if v.linked:
        return _linked(v)
    return _unlinked(v)


def _linked(v: PairView) -> Decision:
    o, c = v.outlook, v.crm
    if v.open_conflict:
        return Decision(21, (), "an open conflict holds this item back")
    if v.backoff:
        return Decision(22, (), "waiting for the retry time of an earlier failure")
    if o is OState.MOVED:
        return Decision(20, (Action("relink", Side.OUTLOOK),), "moved in Outlook: link re-pointed")
    if c is CState.INACCESSIBLE:
        return Decision(14, (Action("access_lost", Side.CRM),), "the CRM record cannot be read; nothing written")
    if o is OState.MISSING and c in (CState.UNCHANGED, CState.CHANGED):
        return Decision(17, (Action("create", Side.OUTLOOK, v.crm_fields),), "create the Outlook copy", base=v.crm_fields)
    if c is CState.MISSING and o in (OState.UNCHANGED, OState.CHANGED):
        acts = [Action("create", Side.CRM, v.outlook_fields)]
        if v.needs_marker:
            acts.append(Action("share", Side.OUTLOOK))
        return Decision(16, tuple(acts), "create the CRM record", base=v.outlook_fields)
    if o is OState.MISSING or c is CState.MISSING:
        return Decision(12, (Action("release", None, note="tombstone"),), "half-created pair lost its only side")
    if o is OState.CATEGORY_REMOVED:
        return Decision(15, (Action("unshare", Side.OUTLOOK, note="user"),), "category removed in Outlook: unshared, nothing deleted")
    if c is CState.LEFT_SCOPE:
        return _left_scope(v)
    if o is OState.DELETED and c is CState.DELETED:
        return Decision(12, (Action("release", None, note="tombstone"),), "deleted on both sides")
    if o is OState.DELETED and c is CState.UNCHANGED:
        if v.kind is Kind.PERSON:
            return Decision(
                7, (Action("release", Side.OUTLOOK, note="outlook_delete"), Action("block_recreate")),
                "contact deleted in Outlook: unshared; the Person is never deleted",
            )
        if v.owned_by_me:
            return Decision(8, (Action("soft_delete", Side.CRM),), "deleted in Outlook: my activity soft-deleted")
        return Decision(8, (Action("release", Side.OUTLOOK, note="outlook_delete"),), "deleted in Outlook; not mine to delete: unlinked only")
    if o is OState.DELETED and c is CState.CHANGED:
        return Decision(10, (Action("create", Side.OUTLOOK, v.crm_fields, note="recreate"),),
                        "deleted in Outlook but edited in the CRM: edit wins, re-created", base=v.crm_fields)
    if c is CState.DELETED and o is OState.UNCHANGED:
        if v.crm_delete_policy == "keep" or v.read_only:  # an occurrence is never deleted from Outlook by us
            return Decision(9, (Action("unshare", Side.OUTLOOK, note="crm_delete"),), "deleted in the CRM: Outlook copy kept as Unshared")
        return Decision(9, (Action("trash", Side.OUTLOOK),), "deleted in the CRM: Outlook copy to Deleted Items")
    if c is CState.DELETED and o is OState.CHANGED:
        return Decision(11, (Action("unshare", Side.OUTLOOK, note="crm_delete"),),
                        "deleted in the CRM but edited in Outlook: kept as Unshared")
    return _both_present(v)


def _both_present(v: PairView) -> Decision:
    o, c = v.outlook, v.crm
    of = v.outlook_fields or {}
    cf = v.crm_fields or {}
    row = {(OState.UNCHANGED, CState.UNCHANGED): 1, (OState.CHANGED, CState.UNCHANGED): 2,
           (OState.UNCHANGED, CState.CHANGED): 3}.get((o, c), 5)
    if same_content(v.kind, of, cf):
        if o is OState.UNCHANGED and c is CState.UNCHANGED and v.base is not None and same_content(v.kind, v.base, of):
            return Decision(1, (), "unchanged")
        acts = (Action("share", Side.OUTLOOK),) if v.needs_marker else (Action("restamp"),)
        return Decision(4 if row == 5 else row, acts, "same content on both sides: versions restamped", base=dict(of))
    m = three_way(v.kind, v.base, of, cf, outlook_owned=_outlook_owned(v))
    if m.conflicts:
        prefer = _prefer(v)
        if prefer is None:
            return Decision(6 if row == 5 else row, (Action("conflict"),), "the same field changed on both sides",
                            conflict_kind="both_changed", conflict_fields=m.conflicts)
        m = three_way(v.kind, v.base, of, cf, outlook_owned=_outlook_owned(v), prefer=prefer)
        row = 6
    acts = []
    if m.outlook_changes:
        acts.append(Action("update", Side.OUTLOOK, m.merged, m.outlook_changes))
    if m.crm_changes:
        acts.append(Action("update", Side.CRM, m.merged, m.crm_changes))
    if v.needs_marker:
        acts.append(Action("share", Side.OUTLOOK))
    if not acts:
        acts.append(Action("restamp"))
    if row == 5 and len([a for a in acts if a.op == "update"]) < 2 and not m.conflicts:
        row = 5
    reason = {1: "repair a half-applied merge", 2: "changed in Outlook", 3: "changed in the CRM",
              5: "different fields changed on both sides: merged", 6: "conflict settled by the type's policy"}[row]
    if v.read_only and m.crm_changes and c is CState.CHANGED:
        reason = READ_ONLY_REASON
    return Decision(row, tuple(acts), reason, base=m.merged)


def _left_scope(v: PairView) -> Decision:
    if v.outlook is OState.DELETED:
        return Decision(13, (Action("release", None, note="filter"),), "left the filter and gone from Outlook: unlinked")
    acts: list[Action] = []
    if v.crm_changed and v.crm_fields is not None:
        of = v.outlook_fields or {}
        m = three_way(v.kind, v.base, of, v.crm_fields, outlook_owned=_outlook_owned(v), prefer="outlook")
        if m.outlook_changes:
            acts.append(Action("update", Side.OUTLOOK, m.merged, m.outlook_changes, note="before_unlink"))
    if (
        v.leave_policy == TRASH_UNCHANGED and not acts and v.outlook is OState.UNCHANGED
        and v.created_by_connector and not v.crm_changed
    ):
        acts.append(Action("trash", Side.OUTLOOK, note="filter"))
        return Decision(13, tuple(acts), "left the filter: unchanged connector copy to Deleted Items")
    acts.append(Action("unshare", Side.OUTLOOK, note="filter"))
    reason = "left the filter: pending CRM change applied, then unshared" if len(acts) > 1 else "left the filter: kept as Unshared"
    return Decision(13, tuple(acts), reason)


def _unlinked(v: PairView) -> Decision:
    o, c = v.outlook, v.crm
    if o is OState.NEW and c is CState.MISSING:
        if not v.share:
            return Decision(16, (), "Native Outlook item: not shared, nothing to do")
        if v.matches > 1:
            return Decision(19, (Action("conflict"),), "several CRM records match", conflict_kind="ambiguous_match")
        return Decision(16, (Action("create", Side.CRM, v.outlook_fields), Action("share", Side.OUTLOOK)),
                        "shared Outlook item without a match: created in the CRM", base=v.outlook_fields)
    if o is OState.MISSING and c is CState.NEW:
        if v.recreate_blocked:
            return Decision(17, (), "its Outlook copy was deleted by the user: not re-created")
        if v.matches > 1:
            return Decision(19, (Action("conflict"),), "several Outlook items match", conflict_kind="ambiguous_match")
        return Decision(17, (Action("create", Side.OUTLOOK, v.crm_fields),), "in scope without an Outlook copy: created",
                        base=v.crm_fields)
    if o is OState.NEW and c is CState.NEW:
        if v.matches > 1:
            return Decision(19, (Action("conflict"),), "several candidates match", conflict_kind="ambiguous_match")
        of, cf = v.outlook_fields or {}, v.crm_fields or {}
        if same_content(v.kind, of, cf):
            acts = (Action("link"),) + ((Action("share", Side.OUTLOOK),) if v.needs_marker else ())
            return Decision(18, acts, "matched with equal content: linked", base=dict(cf))
        m = three_way(v.kind, None, of, cf, outlook_owned=_outlook_owned(v))
        if m.conflicts:
            return Decision(18, (Action("conflict"),), "matched but values differ", conflict_kind="first_sync_mismatch",
                            conflict_fields=m.conflicts)
        acts = [Action("link")]
        if m.outlook_changes:
            acts.append(Action("update", Side.OUTLOOK, m.merged, m.outlook_changes))
        if m.crm_changes:
            acts.append(Action("update", Side.CRM, m.merged, m.crm_changes))
        if v.needs_marker:
            acts.append(Action("share", Side.OUTLOOK))
        return Decision(18, tuple(acts), "matched: one-sided fields filled, then linked", base=m.merged)
    return Decision(0, (), f"nothing to do for {o.value}/{c.value} without a link")
