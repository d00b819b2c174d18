"""Planning one kind: classify every affected pair, match unlinked items, ask the decision table,
apply the brake, and turn decisions into outbox rows and journal changes (design.md 5.1 steps 5-9).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from app.domain.filters import Filter, evaluate
from app.domain.matching import CrmIndex, OutlookIndex, match_carried, person_addresses
from app.domain.normalise import Snapshots
from app.domain.records import CrmRecord, Kind, OutlookItem, Sharing, Side
from app.sync import guards, retry
from app.sync.classify import SideView, crm_side, outlook_side
from app.sync.config import EngineConfig
from app.sync.direction import directed, forced_policy
from app.sync.planner import WRITE_OPS, Action, CState, Decision, OState, PairView, decide
from app.sync.ports import CrmPort, MailboxPort
from app.sync.recurring import is_occurrence
from app.sync.sharing import NO, YES, blocks_recreate, label_of, needs_marker, share_decision
from app.sync.state import (
    CONFLICTED, CREATING, HELD, PENDING, SHARED, ACCESS_LOST, Batch, Conflict, Hold, HistoryEntry, KindState, Link,
    OutboxOp, SharingRec, Staged,
)

DESTRUCTIVE_SIDE = {"trash": Side.OUTLOOK, "unshare": Side.OUTLOOK, "soft_delete": Side.CRM}


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}  # the RFC 4122 variant bits, 10xx


def _new_id() -> str:
    """A random (version 4) UUID spelt as str(uuid.uuid4()) spells it. Written out because
    uuid.UUID's checks and conversions were a noticeable part of planning a first sync."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


@dataclass
class Planned:
    link: Link
    decision: Decision
    ov: SideView | None = None
    cv: SideView | None = None
    new_link: bool = False
    label: str = ""


@dataclass
class KindPlan:
    batch: Batch = field(default_factory=Batch)
    ops: list[OutboxOp] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)  # dry-run plan lines (no content)
    holds: list[Hold] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def _shared(fields: dict[str, Any], link: Link) -> Mapping[str, Any]:
    """`fields`, or the link's equal snapshot instead: a first sync plans thousands of creates whose
    payload fields and base equal the link's own CRM (or Outlook) snapshot, and holding one dict
    instead of three equal ones is a large part of the plan's memory. Nothing mutates these."""
    for known in (link.crm_fields, link.ews_fields, link.base):
        if known is not None and (known is fields or known == fields):
            return known
    return fields


class KindPlanner:
    def __init__(self, kind: Kind, state: KindState, *, config: EngineConfig, crm: CrmPort, mailbox: MailboxPort,
                 now: datetime, run_id: str, first_outlook: bool, resolved: Filter, allow_mass_delete: bool,
                 carried: Mapping[str, tuple[str, str]] | None = None):
        self.kind, self.st, self.cfg = kind, state, config
        self.carried = carried or {}  # task pairs kept across a backend switch (app/sync/carried.py)
        self.crm, self.mailbox = crm, mailbox
        self.now, self.run_id = now, run_id
        self.first_outlook = first_outlook
        self.resolved = resolved
        self.allow = allow_mass_delete
        self.out = KindPlan()
        self.items: list[Planned] = []
        self.links = {l.id: l for l in state.links}
        self.by_ews = {l.ews_item_id: l for l in state.links if l.ews_item_id}
        self.by_crm = {l.crm_id: l for l in state.links if l.crm_id}
        self.so = {s.remote_id: s for s in state.staged if s.side is Side.OUTLOOK}
        self.sc = {s.remote_id: s for s in state.staged if s.side is Side.CRM}
        self.busy = {o.link_id for o in state.outbox}
        self.open_conf = [c for c in state.conflicts if c.status == "open"]
        self.conf_by_link = {c.link_id: c for c in self.open_conf}
        self.conf_ews = {c.ews_item_id for c in self.open_conf if c.ews_item_id} | {
            x for c in self.open_conf if c.crm_id and not c.ews_item_id for x in c.candidates}
        self.conf_crm = {c.crm_id for c in self.open_conf if c.crm_id} | {
            x for c in self.open_conf if c.ews_item_id and not c.crm_id for x in c.candidates}
        self.errors = {e.key: e for e in state.errors}
        self.sharing = {s.key: s for s in state.sharing}
        self.snap = Snapshots(kind)  # each record canonicalised and hashed once per plan
        self.kind_name = kind.value
        self.direction = config.direction_for(kind)
        self._policies = dict(kind=kind, conflict_policy=forced_policy(self.direction) or config.policy_for(kind),
                              leave_policy=config.leave_filter_policy, crm_delete_policy=config.crm_delete_policy)

    # --- helpers -------------------------------------------------------------------------------

    def _share_rec(self, *, crm_id: str | None = None, ews_id: str | None = None) -> SharingRec | None:
        if crm_id:
            rec = self.sharing.get(f"{self.kind_name}:crm:{crm_id}")
            if rec:
                return rec
        if ews_id:
            return self.sharing.get(f"{self.kind_name}:ews:{ews_id}")
        return None

    def _unstage(self, st: Staged | None) -> None:
        if st is not None:
            self.out.batch.unstage.append(st.key)

    def _label(self, link: Link, rec: CrmRecord | None = None) -> str:
        if rec is not None and rec.object_ref:
            return rec.object_ref
        return link.id[:8]

    def _policy_view(self, **kw: Any) -> PairView:
        return PairView(**self._policies, **kw)

    def _decide(self, view: PairView) -> Decision:
        return directed(decide(view), self.direction, view.base)

    # --- main ----------------------------------------------------------------------------------

    def plan(self) -> KindPlan:
        for conf in self.st.conflicts:
            if conf.status == "resolved":
                self._resolution(conf)
        self._sharing_requests()
        self._moves()
        for link in list(self.links.values()):
            self._linked(link)
        self._unlinked()
        self._guard_and_emit()
        return self.out

    def _sharing_requests(self) -> None:
        for rec in self.st.sharing:
            if rec.state == "unshare_requested" and rec.link_id in self.links and rec.link_id not in self.busy:
                link = self.links[rec.link_id]
                d = Decision(15, (Action("unshare", Side.OUTLOOK, note="user"),), "unshared by the user")
                self.items.append(Planned(link, d, outlook_side(link, self.so.get(link.ews_item_id or ""), self.snap.hash),
                                          crm_side(link, self.sc.get(link.crm_id or ""), self.snap.hash)))
                self.busy.add(link.id)

    def _moves(self) -> None:
        by_gid = {l.ews_global_id: l for l in self.links.values() if l.ews_global_id}
        for rid, st in list(self.so.items()):
            item = st.outlook
            if st.change != "upsert" or item is None:
                continue
            if rid in self.by_ews:
                self._learn_global_id(self.by_ews[rid], item)
                continue
            link = self.links.get(item.link_id or "")
            if link is None and item.crm_id and item.marker is Sharing.SHARED:
                link = self.by_crm.get(item.crm_id)  # our link id on the item is stale (journal rebuilt)
            if link is None and item.global_id and not (item.link_id or item.crm_id):
                link = by_gid.get(item.global_id)  # the organiser's update re-created the meeting (B3)
            if link is None or link.ews_item_id == rid:
                continue
            old = self.so.get(link.ews_item_id or "")
            if link.ews_item_id and not (old is not None and old.change == "delete"):
                continue  # a copy, not a move: leave it alone
            if old is not None:
                self._unstage(old)
                del self.so[link.ews_item_id]  # type: ignore[arg-type]
            self.by_ews.pop(link.ews_item_id or "", None)
            link = replace(link, ews_item_id=rid, ews_change_key=None, ews_global_id=item.global_id or link.ews_global_id)
            self.links[link.id] = link
            self.by_ews[rid] = link
            self.out.batch.links.append(link)
            self.out.batch.history.append(HistoryEntry(self.run_id, self.now, "relink", self.kind.value, link.id, "",
                                                       "row 20: moved in Outlook, link re-pointed"))

    def _learn_global_id(self, link: Link, item: OutlookItem) -> None:
        """Meetings: keep the item's global meeting id on its link (read with the item, B3)."""
        if item.global_id and link.ews_global_id != item.global_id:
            link = replace(link, ews_global_id=item.global_id)
            self.links[link.id] = link
            self.by_ews[item.item_id] = link
            if link.crm_id:
                self.by_crm[link.crm_id] = link
            self.out.batch.links.append(link)

    def _linked(self, link: Link) -> None:
        if link.id in self.busy:
            return
        so = self.so.get(link.ews_item_id or "") if link.ews_item_id else None
        sc = self.sc.get(link.crm_id or "") if link.crm_id else None
        conf = self.conf_by_link.get(link.id)
        creating = link.ews_item_id is None or link.crm_id is None or link.state in (CREATING, ACCESS_LOST)
        if so is None and sc is None and not creating and conf is None:
            return
        ov, cv = outlook_side(link, so, self.snap.hash), crm_side(link, sc, self.snap.hash)
        if conf is not None:  # row 21: refresh the conflict's values, write nothing
            if (so is not None and ov.fields is not None) or (sc is not None and cv.fields is not None):
                self.out.batch.conflicts.append(replace(
                    conf, outlook=dict(ov.fields) if ov.fields is not None else conf.outlook,
                    crm=dict(cv.fields) if cv.fields is not None else conf.crm))
            return
        err = self.errors.get(link.id)
        versions = f"{ov.version}|{cv.version}"
        backoff = bool(err and not retry.due(self.now, err.retry_after, err.last_try_version, versions))
        item = so.outlook if so is not None else None
        rec = sc.crm if sc is not None else None
        if rec is None and ov.state is OState.DELETED and self.kind is not Kind.PERSON and link.crm_id:
            got = self.crm.fetch(self.kind, [link.crm_id])  # may I delete it? ask the record itself
            rec = got[0] if got and not got[0].deleted else None
        view = self._policy_view(
            outlook=ov.state, crm=cv.state, linked=True, base=link.base, outlook_fields=ov.fields,
            crm_fields=cv.fields, crm_changed=(cv.state is CState.LEFT_SCOPE and rec is not None
                                               and str(rec.lock_version) != link.crm_lock_version
                                               and cv.hash != link.crm_hash),
            backoff=backoff,
            needs_marker=(needs_marker(item, link) if item is not None else
                          (link.state == CREATING and link.ews_item_id is not None)),  # an earlier plan did not finish
            owned_by_me=bool(rec.owned_by_me) if rec is not None else False,
            has_attendees=bool(item.has_attendees) if item is not None else False,
            read_only=is_occurrence(link.ews_item_id),
            created_by_connector=link.origin == "crm", newest=_newest(item, rec),
        )
        d = self._decide(view)
        self.items.append(Planned(link, d, ov, cv, label=self._label(link, rec)))

    # --- unlinked items ------------------------------------------------------------------------

    def _returning(self) -> dict[str, str]:
        """Outlook copies unshared by the filter whose record is back in scope: ews id -> crm id."""
        out = {}
        for rid, st in self.sc.items():
            if rid in self.by_crm or st.change != "upsert" or not st.in_scope or rid in self.conf_crm:
                continue
            srec = self._share_rec(crm_id=rid)
            if srec and srec.state == "unshared" and srec.reason == "filter" and srec.ews_item_id \
                    and srec.ews_item_id not in self.by_ews:
                out[srec.ews_item_id] = rid
        return out

    def _unlinked(self) -> None:
        o_new: list[tuple[OutlookItem, str]] = []
        withheld: dict[str, OutlookItem] = {}
        returning = self._returning()
        for rid, st in self.so.items():
            if rid in self.by_ews:
                continue
            if st.change != "upsert" or st.outlook is None:
                self._unstage(st)
                continue
            if rid in self.conf_ews:
                continue
            item = st.outlook
            rec = self._share_rec(ews_id=rid)
            if rec is None or rec.state != "share_requested":
                rec = self._share_rec(crm_id=item.crm_id, ews_id=rid)
            dec = share_decision(item, first_sync=self.first_outlook, share_existing=self.cfg.share_existing,
                                 share_new=self.cfg.share_new, rec=rec)
            if rec is not None and rec.state == "share_requested":  # the `share` command, carried out now
                self.out.batch.sharing.append(replace(rec, state="shared", changed_at=self.now))
            if rid in returning and item.crm_id == returning[rid]:
                dec = YES  # unshared by the filter: re-links when its record returns (design 5.6)
            if dec == NO:
                if item.crm_id and item.marker is not None and item.crm_id not in self.by_crm:
                    withheld[item.crm_id] = item  # unshared by the user: no second copy
                self._unstage(st)
                continue
            o_new.append((item, dec))
        c_new: list[CrmRecord] = []
        for rid, st in self.sc.items():
            if rid in self.by_crm:
                continue
            rec = st.crm
            again = self._share_rec(crm_id=rid)
            if again is not None and again.state == "share_requested" and not again.ews_item_id:
                # "Share again" of a record whose Outlook copy was deleted: re-created now, if still wanted
                wanted = st.change == "upsert" and rec is not None and not rec.deleted and st.in_scope
                self.out.batch.sharing.append(replace(again, state="shared" if wanted else "unshared",
                                                      reason="user" if wanted else "filter", changed_at=self.now))
            if st.change != "upsert" or rec is None or rec.deleted or not st.in_scope:
                self._unstage(st)
                continue
            if rid in self.conf_crm:
                continue
            if rid in withheld:
                prior = self._share_rec(crm_id=rid)
                if prior is None or prior.state != "unshared":
                    self.out.batch.sharing.append(SharingRec(
                        self.kind, "unshared", "user", crm_id=rid, ews_item_id=withheld[rid].item_id,
                        changed_at=self.now, label=label_of(withheld[rid].fields)))
                self._unstage(st)
                continue
            c_new.append(rec)
        if not o_new and not c_new:
            return
        pool = list(c_new)
        pool_ids = {r.id for r in pool}
        # Outlook items carrying a CRM id that is not in this cycle's records: look them up.
        marker_ids = [i.crm_id for i, _ in o_new if i.crm_id and i.crm_id not in pool_ids and i.crm_id not in self.by_crm]
        extra_in_scope: dict[str, bool] = {}
        gone_ids: set[str] = set()
        if marker_ids:
            for r in self.crm.fetch(self.kind, list(dict.fromkeys(marker_ids))):
                if r.deleted:
                    gone_ids.add(r.id)
                else:
                    pool.append(r)
                    pool_ids.add(r.id)
                    extra_in_scope[r.id] = evaluate(self.resolved, r.raw, self.now.date())
        # Explicitly shared contacts: does their address already belong to a Person (R28)?
        if self.kind is Kind.PERSON:
            addrs = sorted({a for i, dec in o_new if dec == YES and not i.crm_id for a in person_addresses(i.fields)})
            if addrs:
                for r in self.crm.find_by_email(self.kind, addrs):
                    if r.id not in pool_ids and not r.deleted:
                        pool.append(r)
                        pool_ids.add(r.id)
                        extra_in_scope[r.id] = evaluate(self.resolved, r.raw, self.now.date())
        # Outlook copies unshared by the filter re-link when their record returns to scope.
        refetch = [ews for ews in returning if ews not in self.so]
        if refetch:
            for got in self.mailbox.fetch(self.kind, refetch):
                if got is not None and got.item_id not in self.by_ews:
                    o_new.append((got, YES))
        candidates = [i for i, _ in o_new]
        pool_by_id = {r.id: r for r in reversed(pool)}  # the first of equal ids, as a scan would find
        free_pool = [r for r in pool if r.id not in self.by_crm]
        crm_index, out_index = CrmIndex(pool), OutlookIndex(candidates)
        o_match = {i.item_id: crm_index.match(i, out_index.keys.get(i.item_id)) for i in candidates}
        c_match = {r.id: out_index.match(r, crm_index.keys.get(r.id)) for r in free_pool}
        by_carried = self._carried_matches(o_new, o_match, c_match)
        paired_c: set[str] = set()
        paired_items: dict[str, str] = {}  # Outlook item id -> the CRM record it was paired with
        conflicted_c: set[str] = set()
        for item, dec in o_new:
            m = o_match[item.item_id]
            linked_hit = any(cid in self.by_crm for cid in m.candidates)
            if m.ambiguous or (m.candidates and linked_hit and dec == YES and m.rule != "marker"):
                self._ambiguous(item=item, candidates=m.candidates)
                conflicted_c.update(m.candidates)
                continue
            cid = m.unique or by_carried.get(item.item_id)
            if cid is not None and cid not in self.by_crm:
                back = c_match.get(cid)
                if back is not None and back.ambiguous:
                    continue  # handled from the CRM side
                rec = pool_by_id[cid]
                self._pair(item, rec, in_scope=extra_in_scope.get(cid, True))
                paired_c.add(cid)
                paired_items[item.item_id] = cid
                continue
            if cid is not None:  # the marker names a record already linked to another item: a copy
                if item.marker is Sharing.SHARED and m.rule == "marker":
                    self._orphan(item, "a copy of a contact that is already shared: kept as Unshared")
                else:
                    self._unstage(self.so.get(item.item_id))
                continue
            if dec == YES and not item.crm_id:
                self._create_crm(item)
            elif item.crm_id in gone_ids and item.marker is Sharing.SHARED:
                self._orphan(item)
            elif item.crm_id in gone_ids and dec == YES:
                self._create_crm(item)  # shared again by the user after its record was deleted: a new record
            else:
                self._unstage(self.so.get(item.item_id))
        for rec in c_new:
            if rec.id in paired_c or rec.id in conflicted_c:
                continue
            m = c_match.get(rec.id)
            if m is not None and m.ambiguous:
                self._ambiguous(rec=rec, candidates=m.candidates)
                continue
            if m is not None and m.unique is not None and paired_items.get(m.unique, rec.id) == rec.id:
                continue  # the Outlook side decided (native item not shared): nothing to create
            # else the look-alike item was paired with another record (e.g. by its address): this
            # record has no Outlook copy of its own and is created like any other
            srec = self._share_rec(crm_id=rec.id)
            view = self._policy_view(outlook=OState.MISSING, crm=CState.NEW, linked=False, crm_fields=rec.fields,
                                     recreate_blocked=blocks_recreate(srec))
            d = self._decide(view)
            if not d.actions:
                self._unstage(self.sc.get(rec.id))
                continue
            fields = self.snap.canonical(rec.fields)
            link = Link(_new_id(), self.kind, CREATING, crm_id=rec.id, crm_lock_version=str(rec.lock_version),
                        crm_fields=fields, crm_hash=self.snap.hash(fields), crm_updated_at=rec.updated_at,
                        origin="crm", in_scope=True)
            self._unstage(self.sc.get(rec.id))
            self.items.append(Planned(link, d, new_link=True, label=rec.object_ref or link.id[:8]))

    def _carried_matches(self, o_new: list[tuple[OutlookItem, str]], o_match: Mapping[str, Any],
                         c_match: Mapping[str, Any]) -> dict[str, str]:
        """Shared tasks without markers that no ordinary rule paired -> the record a carried pair
        names, when that record is unlinked and matched nothing else either."""
        if not self.carried:
            return {}
        items = [i for i, dec in o_new if dec == YES and not i.crm_id and o_match[i.item_id].rule == "none"]
        free = {cid: v for cid, v in self.carried.items()
                if cid not in self.by_crm and cid not in self.conf_crm and cid in c_match
                and c_match[cid].rule == "none"}
        return match_carried(items, free) if items and free else {}

    def _orphan(self, item: OutlookItem, reason: str = "") -> None:
        """A shared item whose Person was deleted while the common state was lost: without a base
        we cannot prove it unchanged, so it is kept as Unshared (edits beat deletions)."""
        fields = self.snap.canonical(item.fields)
        link = Link(_new_id(), self.kind, CREATING, ews_item_id=item.item_id, ews_change_key=item.change_key,
                    ews_fields=fields, ews_hash=self.snap.hash(fields), crm_id=None, origin="outlook")
        d = Decision(11, (Action("unshare", Side.OUTLOOK, note="crm_delete"),),
                     reason or "its CRM record was deleted while the journal was lost: kept as Unshared")
        self._unstage(self.so.get(item.item_id))
        self.items.append(Planned(link, d, new_link=True))

    def _create_crm(self, item: OutlookItem) -> None:
        view = self._policy_view(outlook=OState.NEW, crm=CState.MISSING, linked=False, outlook_fields=item.fields,
                                 share=True)
        d = self._decide(view)
        fields = self.snap.canonical(item.fields)
        link = Link(_new_id(), self.kind, CREATING, ews_item_id=item.item_id, ews_change_key=item.change_key,
                    ews_fields=fields, ews_hash=self.snap.hash(fields), origin="outlook", in_scope=True,
                    ews_global_id=item.global_id)
        self._unstage(self.so.get(item.item_id))
        self.items.append(Planned(link, d, new_link=True))

    def _pair(self, item: OutlookItem, rec: CrmRecord, *, in_scope: bool) -> None:
        of, cf = self.snap.canonical(item.fields), self.snap.canonical(rec.fields)
        link = Link(_new_id(), self.kind, CREATING, ews_item_id=item.item_id, ews_change_key=item.change_key,
                    ews_fields=of, ews_hash=self.snap.hash(of), crm_id=rec.id,
                    crm_lock_version=str(rec.lock_version), crm_fields=cf, crm_hash=self.snap.hash(cf),
                    crm_updated_at=rec.updated_at, origin="both", in_scope=in_scope, ews_global_id=item.global_id)
        view = self._policy_view(outlook=OState.NEW, crm=CState.NEW, linked=False, outlook_fields=of, crm_fields=cf,
                                 matches=1, needs_marker=needs_marker(item, link), has_attendees=item.has_attendees,
                                 read_only=is_occurrence(item.item_id))
        d = self._decide(view)
        if d.conflict_kind:
            link = replace(link, state=CONFLICTED)
        self._unstage(self.so.get(item.item_id))
        self._unstage(self.sc.get(rec.id))
        self.items.append(Planned(link, d, new_link=True, label=rec.object_ref or link.id[:8]))

    def _ambiguous(self, *, item: OutlookItem | None = None, rec: CrmRecord | None = None,
                   candidates: tuple[str, ...] = ()) -> None:
        conf = Conflict(
            id=_new_id(), link_id=_new_id(), kind=self.kind, conflict_kind="ambiguous_match",
            outlook=dict(item.fields) if item else None, crm=dict(rec.fields) if rec else None, base=None, fields=(),
            ews_item_id=item.item_id if item else None, crm_id=rec.id if rec else None, candidates=tuple(candidates),
            label=(rec.object_ref if rec and rec.object_ref else "") or "", created_at=self.now)
        self.out.batch.conflicts.append(conf)
        self.out.conflicts.append(conf)
        self.out.entries.append({"kind": self.kind.value, "op": "conflict", "side": "", "row": 19,
                                 "reason": "several candidates match", "item": conf.id[:8]})
        if item is not None:
            self.conf_ews.add(item.item_id)
        if rec is not None:
            self.conf_crm.add(rec.id)

    # --- conflict resolutions (resolve --keep ...) -----------------------------------------------

    def _resolution(self, conf: Conflict) -> None:
        link = self.links.get(conf.link_id)
        applied = replace(conf, status="applied", resolved_at=self.now)
        self.out.batch.conflicts.append(applied)
        self.conf_by_link.pop(conf.link_id, None)
        if link is None:  # ambiguous match: no link yet
            if conf.resolution == "both" or not conf.candidates:
                if conf.ews_item_id:
                    self.conf_ews.discard(conf.ews_item_id)
                if conf.crm_id:
                    self.conf_crm.discard(conf.crm_id)
                return  # next plan creates them separately (items stay staged)
            ews_id = conf.ews_item_id or conf.candidates[0]
            crm_id = conf.crm_id or conf.candidates[0]
            got = self.mailbox.fetch(self.kind, [ews_id])[0]
            recs = [r for r in self.crm.fetch(self.kind, [crm_id]) if not r.deleted]
            if got is None or not recs:
                return
            self._keep(conf, None, got, recs[0])
            return
        if conf.resolution == "both":
            self.out.batch.drop_links.append(link.id)
            self.links.pop(link.id, None)
            got = self.mailbox.fetch(self.kind, [link.ews_item_id])[0] if link.ews_item_id else None
            recs = [r for r in self.crm.fetch(self.kind, [link.crm_id]) if not r.deleted] if link.crm_id else []
            if got is not None:
                self._create_crm(got)
            if recs:
                rec = recs[0]
                fields = self.snap.canonical(rec.fields)
                nl = Link(_new_id(), self.kind, CREATING, crm_id=rec.id, crm_lock_version=str(rec.lock_version),
                          crm_fields=fields, crm_hash=self.snap.hash(fields), origin="crm")
                d = Decision(17, (Action("create", Side.OUTLOOK, rec.fields),), "kept both: created in Outlook", base=rec.fields)
                self.items.append(Planned(nl, d, new_link=True))
            return
        got = self.mailbox.fetch(self.kind, [link.ews_item_id])[0] if link.ews_item_id else None
        recs = [r for r in self.crm.fetch(self.kind, [link.crm_id]) if not r.deleted] if link.crm_id else []
        if got is None or not recs:
            return
        self._keep(conf, link, got, recs[0])

    def _keep(self, conf: Conflict, link: Link | None, item: OutlookItem, rec: CrmRecord) -> None:
        of, cf = self.snap.canonical(item.fields), self.snap.canonical(rec.fields)
        if conf.resolution == "outlook":
            desired = dict(of)
        else:
            desired = dict(cf)
        if conf.resolution == "merged" and conf.resolved:
            desired.update(conf.resolved)
        if link is None:
            link = Link(_new_id(), self.kind, CREATING, origin="both")
        link = replace(link, state=CREATING, ews_item_id=item.item_id, ews_change_key=item.change_key, ews_fields=of,
                       ews_hash=self.snap.hash(of), crm_id=rec.id, crm_lock_version=str(rec.lock_version),
                       crm_fields=cf, crm_hash=self.snap.hash(cf))
        acts = []
        changed_o = frozenset(f for f in desired if f in of and of.get(f) != desired.get(f))
        changed_c = frozenset(f for f in desired if f in cf and cf.get(f) != desired.get(f))
        if changed_o:
            acts.append(Action("update", Side.OUTLOOK, desired, changed_o))
        if changed_c:
            acts.append(Action("update", Side.CRM, desired, changed_c))
        if needs_marker(item, link):
            acts.append(Action("share", Side.OUTLOOK))
        if not acts:
            acts.append(Action("restamp"))
        d = Decision(6, tuple(acts), f"conflict resolved: kept {conf.resolution}", base=desired)
        self._unstage(self.so.get(item.item_id))
        self._unstage(self.sc.get(rec.id))
        self.busy.add(link.id)
        self.items.append(Planned(link, d, new_link=True, label=conf.label or link.id[:8]))

    # --- brake and emission ----------------------------------------------------------------------

    def _destructive_side(self, a: Action) -> Side | None:
        if a.op in DESTRUCTIVE_SIDE:
            return DESTRUCTIVE_SIDE[a.op]
        if a.op == "release" and a.note == "outlook_delete":
            return Side.CRM
        return None

    def _guard_and_emit(self) -> None:
        counts = {Side.OUTLOOK: 0, Side.CRM: 0}
        gone = {Side.OUTLOOK: 0, Side.CRM: 0}
        for p in self.items:
            sides = {self._destructive_side(a) for a in p.decision.actions} - {None}
            for s in sides:
                counts[s] += 1  # type: ignore[index]
            if p.ov is not None and p.ov.state is OState.DELETED:
                gone[Side.CRM] += 1
            if p.cv is not None and p.cv.state is CState.DELETED:
                gone[Side.OUTLOOK] += 1
        linked = sum(1 for l in self.links.values() if l.state == SHARED)
        held: dict[Side, Hold] = {}
        if not self.allow:
            for side in (Side.OUTLOOK, Side.CRM):
                v = guards.check(self.kind, side, counts[side], linked, gone[side], self.cfg.thresholds)
                if v.reason:
                    hold = Hold(_new_id(), self.kind, side, v.reason, v.planned, v.linked, created_at=self.now)
                    held[side] = hold
                    self.out.holds.append(hold)
                    self.out.batch.holds.append(hold)
        for p in self.items:
            hold = None
            for a in p.decision.actions:
                s = self._destructive_side(a)
                if s in held:
                    hold = held[s]
            self._emit(p, hold)

    def _emit(self, p: Planned, hold: Hold | None) -> None:
        d, link, b = p.decision, p.link, self.out.batch
        kind, kind_name = self.kind, self.kind_name
        ops = d.ops
        writes = [a for a in d.actions if a.op in WRITE_OPS]
        reason = f"row {d.row}: {d.reason}"
        hist = HistoryEntry(self.run_id, self.now, "plan", kind_name, link.id, "", reason)
        ov, cv = p.ov, p.cv
        if d.conflict_kind:
            if p.new_link:
                b.links.append(link)
            conf = Conflict(_new_id(), link.id, kind, d.conflict_kind,
                            outlook=dict(ov.fields) if ov and ov.fields is not None else dict(link.ews_fields or {}),
                            crm=dict(cv.fields) if cv and cv.fields is not None else dict(link.crm_fields or {}),
                            base=dict(link.base) if link.base is not None else None, fields=d.conflict_fields,
                            ews_item_id=link.ews_item_id, crm_id=link.crm_id, label=p.label, created_at=self.now)
            b.conflicts.append(conf)
            self.out.conflicts.append(conf)
            b.history.append(replace(hist, action="conflict"))
            self.out.entries.append({"kind": kind_name, "op": "conflict", "side": "", "row": d.row,
                                     "reason": d.reason, "item": p.label or link.id[:8]})
            return
        if "access_lost" in ops:
            b.links.append(replace(link, state=ACCESS_LOST))
            b.history.append(replace(hist, action="access_lost"))
            return
        if "relink" in ops:
            return
        if not writes:
            if "restamp" in ops or "link" in ops:
                self._restamp(link, d, ov, cv)
            else:  # nothing (row 1, 16 native, 21, 22): consume unchanged snapshots only
                if ov is not None and ov.staged is not None and (ov.state is OState.UNCHANGED):
                    self._consume(link, ov, cv)
                elif cv is not None and cv.staged is not None and cv.state is CState.UNCHANGED and d.row == 1:
                    self._consume(link, ov, cv)
                if ov is not None and cv is not None and ov.state is OState.UNCHANGED and cv.state is CState.UNCHANGED:
                    self._consume(link, ov, cv)
            return
        if d.row == 10 and link.ews_item_id:  # re-create in Outlook: the old item is gone
            self._unstage(self.so.get(link.ews_item_id))
            link = replace(link, ews_item_id=None, ews_change_key=None, ews_fields=None, ews_hash=None)
            b.links.append(link)
        elif p.new_link:
            b.links.append(link)
        touched = {_SIDE_NAME[a.side] for a in writes if a.side is not None and a.op != "release"}
        content = {_SIDE_NAME[a.side] for a in writes if a.op in ("create", "update") and a.side is not None}
        after = "stamp"
        sharing = None
        for a in d.actions:
            if a.op in ("release", "unshare", "trash", "soft_delete"):
                after = "tombstone" if a.note == "tombstone" else "release"
                if a.op in ("unshare", "release") and a.note in ("user", "filter", "crm_delete", "outlook_delete"):
                    sharing = {"state": "unshared", "reason": a.note,
                               "blocked": "block_recreate" in ops or a.note == "user"}
        source = {}
        if ov is not None and ov.fields is not None and ov.version is not None:
            f = self.snap.canonical(ov.fields)
            source["outlook"] = {"version": ov.version, "hash": self.snap.hash(f), "fields": f}
        if cv is not None and cv.fields is not None and cv.version is not None:
            f = self.snap.canonical(cv.fields)
            source["crm"] = {"version": cv.version, "hash": self.snap.hash(f), "fields": f}
        in_scope = None
        if cv is not None and cv.staged is not None and cv.staged.in_scope is not None:
            in_scope = cv.staged.in_scope
        order = sorted(range(len(writes)), key=lambda i: (_phase(writes[i].op), i)) if len(writes) > 1 else (0,)
        written, content_written = sorted(touched), sorted(content)
        seen_sides: set[str] = set()
        for n, i in enumerate(order):
            a = writes[i]
            side = a.side or Side.OUTLOOK
            side_name = _SIDE_NAME[side]
            chain = side_name in seen_sides
            seen_sides.add(side_name)
            expected = None
            if side is Side.OUTLOOK:
                expected = ov.version if ov is not None else link.ews_change_key
            else:
                expected = cv.version if cv is not None else link.crm_lock_version
            if p.new_link or d.row in (16, 17, 18):
                expected = link.ews_change_key if side is Side.OUTLOOK else link.crm_lock_version
            payload: dict[str, Any] = {
                "reason": reason, "row": d.row, "label": p.label, "note": a.note,
                "final": n == len(order) - 1, "after": after, "chain": chain,
                "versions": f"{ov.version if ov else None}|{cv.version if cv else None}",
                "verify": a.op == "create" and not p.new_link,
                "written": list(written), "content_written": list(content_written),
            }
            if a.fields is not None:
                payload["fields"] = _shared(self.snap.canonical(a.fields), link)
                payload["changed"] = sorted(a.changed)
            if n == len(order) - 1:
                payload["base"] = _shared(self.snap.canonical(d.base), link) if d.base is not None else None
                payload["source"] = source
                payload["sharing"] = sharing
                payload["in_scope"] = in_scope
                payload["share_reason"] = "filter" if link.origin == "crm" else "user"
            op = OutboxOp(_new_id(), link.id, kind, side, a.op, payload, expected,
                          state=HELD if hold is not None else PENDING, hold_id=hold.id if hold else None,
                          run_id=self.run_id)
            self.out.ops.append(op)
            self.out.entries.append({"kind": kind_name, "op": a.op, "side": side_name, "row": d.row,
                                     "reason": d.reason, "item": p.label or link.id[:8],
                                     "held": hold is not None})
        b.outbox.extend(self.out.ops[-len(order):])
        b.history.append(hist)

    def _consume(self, link: Link, ov: SideView | None, cv: SideView | None) -> None:
        b = self.out.batch
        changed = False
        if ov is not None and ov.staged is not None and ov.state is OState.UNCHANGED:
            b.unstage.append(ov.staged.key)
            if ov.restamp:
                link = replace(link, ews_change_key=ov.version)
                changed = True
        if cv is not None and cv.staged is not None and cv.state is CState.UNCHANGED:
            b.unstage.append(cv.staged.key)
            if cv.restamp:
                link = replace(link, crm_lock_version=cv.version)
                changed = True
            if cv.staged.in_scope is not None and cv.staged.in_scope != link.in_scope:
                link = replace(link, in_scope=bool(cv.staged.in_scope))
                changed = True
        if changed:
            b.links.append(link)
            self.links[link.id] = link

    def _restamp(self, link: Link, d: Decision, ov: SideView | None, cv: SideView | None) -> None:
        b = self.out.batch
        kind = self.kind
        if ov is not None and ov.fields is not None and ov.version is not None:
            f = self.snap.canonical(ov.fields)
            link = replace(link, ews_change_key=ov.version, ews_fields=f, ews_hash=self.snap.hash(f))
            if ov.staged is not None:
                b.unstage.append(ov.staged.key)
        if cv is not None and cv.fields is not None and cv.version is not None:
            f = self.snap.canonical(cv.fields)
            link = replace(link, crm_lock_version=cv.version, crm_fields=f, crm_hash=self.snap.hash(f))
            if cv.staged is not None:
                b.unstage.append(cv.staged.key)
                if cv.staged.in_scope is not None:
                    link = replace(link, in_scope=bool(cv.staged.in_scope))
        if d.base is not None:
            base = self.snap.canonical(d.base)
            link = replace(link, base=base, base_hash=self.snap.hash(base))
        link = replace(link, state=SHARED, last_synced_at=self.now)
        b.links.append(link)
        b.sharing.append(SharingRec(kind=kind, state="shared", reason="user", crm_id=link.crm_id,
                                    ews_item_id=link.ews_item_id, link_id=link.id, changed_at=self.now))
        self.links[link.id] = link


def _newest(item: OutlookItem | None, rec: CrmRecord | None) -> Side | None:
    """For the opt-in "newest wins" policy: which side was edited last, when both times are known."""
    if item is None or rec is None or item.last_modified is None or rec.updated_at is None:
        return None
    return Side.OUTLOOK if item.last_modified > rec.updated_at else Side.CRM


def _phase(op: str) -> int:
    return _PHASES.get(op, 3)


_PHASES = {"create": 0, "update": 1, "share": 2}
_SIDE_NAME = {side: side.value for side in Side}
