"""Field-level three-way merge against the stored common record (design.md 5.7).

Fields are compared in their comparable form (app.domain.normalise), one slot at a time: each
email slot, each phone key and each address sub-field is its own canonical field already.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from app.domain.fields import content_fields
from app.domain.normalise import canonical, comparable_record, same_value
from app.domain.records import Kind


@dataclass(frozen=True)
class MergeResult:
    merged: dict[str, Any]
    conflicts: tuple[str, ...]  # fields changed differently on both sides
    outlook_changes: frozenset[str]  # fields Outlook must receive to equal `merged`
    crm_changes: frozenset[str]  # fields the CRM must receive to equal `merged`

    @property
    def clean(self) -> bool:
        return not self.conflicts


def three_way(
    kind: Kind,
    base: Mapping[str, Any] | None,
    outlook: Mapping[str, Any],
    crm: Mapping[str, Any],
    *,
    outlook_owned: frozenset[str] = frozenset(),
    prefer: str | None = None,  # "outlook" | "crm": who wins a conflicting field
) -> MergeResult:
    """Merge the two sides. Without a base (first sync) one-sided values fill the other side."""
    o, c = canonical(kind, outlook), canonical(kind, crm)
    b = canonical(kind, base) if base is not None else None
    # Each side's comparable form worked out once (field by field it is `comparable`, so equal
    # forms are `same_value`); a merged value taken from a side keeps that side's form.
    oq, cq = comparable_record(kind, o), comparable_record(kind, c)
    bq = comparable_record(kind, b) if b is not None else None
    merged: dict[str, Any] = {}
    merged_q: dict[str, Any] = {}
    conflicts = []
    for f in content_fields(kind):
        ov, cv = o[f], c[f]
        if oq[f] == cq[f] or f in outlook_owned:
            merged[f], merged_q[f] = ov, oq[f]
        elif bq is not None and oq[f] == bq[f]:
            merged[f], merged_q[f] = cv, cq[f]
        elif bq is not None and cq[f] == bq[f]:
            merged[f], merged_q[f] = ov, oq[f]
        elif b is None and ov is None:
            merged[f], merged_q[f] = cv, cq[f]
        elif b is None and cv is None:
            merged[f], merged_q[f] = ov, oq[f]
        elif prefer == "outlook":
            merged[f], merged_q[f] = ov, oq[f]
        elif prefer == "crm":
            merged[f], merged_q[f] = cv, cq[f]
        else:
            conflicts.append(f)
            merged[f] = b.get(f) if b is not None else cv
    for k, v in o.items():  # meta fields (meeting zone) follow Outlook, else the CRM
        if k not in merged:
            merged[k] = v
    for k, v in c.items():
        merged.setdefault(k, v)
    out_changes = frozenset(f for f, q in merged_q.items() if oq[f] != q)
    crm_changes = frozenset(f for f, q in merged_q.items() if cq[f] != q)
    return MergeResult(merged, tuple(conflicts), out_changes, crm_changes)


def differing_fields(kind: Kind, a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f for f in content_fields(kind) if not same_value(f, a.get(f), b.get(f)))
