"""Field-level three-way merge against the stored common record (design.md 5.7).

Fields are compared in their comparable form (app.domain.normalise), one slot at a time: each
email slot, each phone key and each address sub-field is its own canonical field already.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from app.domain.fields import content_fields
from app.domain.normalise import canonical, same_value
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
    merged: dict[str, Any] = {}
    conflicts = []
    for f in content_fields(kind):
        ov, cv = o.get(f), c.get(f)
        if same_value(f, ov, cv):
            merged[f] = ov
        elif f in outlook_owned:
            merged[f] = ov
        elif b is not None and same_value(f, ov, b.get(f)):
            merged[f] = cv
        elif b is not None and same_value(f, cv, b.get(f)):
            merged[f] = ov
        elif b is None and ov is None:
            merged[f] = cv
        elif b is None and cv is None:
            merged[f] = ov
        elif prefer == "outlook":
            merged[f] = ov
        elif prefer == "crm":
            merged[f] = cv
        else:
            conflicts.append(f)
            merged[f] = b.get(f) if b is not None else cv
    for k, v in o.items():  # meta fields (meeting zone) follow Outlook, else the CRM
        if k not in merged:
            merged[k] = v
    for k, v in c.items():
        merged.setdefault(k, v)
    out_changes = frozenset(f for f in content_fields(kind) if f not in conflicts and not same_value(f, o.get(f), merged[f]))
    crm_changes = frozenset(f for f in content_fields(kind) if f not in conflicts and not same_value(f, c.get(f), merged[f]))
    return MergeResult(merged, tuple(conflicts), out_changes, crm_changes)


def differing_fields(kind: Kind, a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f for f in content_fields(kind) if not same_value(f, a.get(f), b.get(f)))
