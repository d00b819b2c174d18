"""Task pairs carried across a switch of mailbox backend (EWS <-> Microsoft Graph).

A switch changes every Outlook id, so configure sets the journal aside and the first cycle on the
new backend re-pairs (design.md 5.4). Contacts and meetings carry our markers in both APIs; To Do
tasks do not (Graph v1.0 has no extended properties on them, ews.md 9.2), so they re-pair by
subject + due date, which fails for a task edited on either side before that first cycle: it
would be copied both ways. So the switch keeps, in the new journal's meta, each task pair's CRM id
with its Outlook task's subject and due date as last synced, and the first plan on the new backend
matches by those (`matching.match_carried`); after that plan they are dropped.
"""
from __future__ import annotations

import json
from typing import Any

from app.domain.matching import task_content
from app.domain.records import Kind
from app.sync.state import SHARED, Batch

META_KEY = "carried:task"


def task_pairs(journal: Any) -> dict[str, tuple[str, str]]:
    """CRM id -> `task_content` of its Outlook task as last synced, for the journal's shared tasks."""
    out: dict[str, tuple[str, str]] = {}
    for link in journal.links(Kind.TASK):
        fields = link.ews_fields if link.ews_fields is not None else link.base
        if link.state == SHARED and link.crm_id and fields:
            out[link.crm_id] = task_content(fields)
    return out


def carry(journal: Any, pairs: dict[str, tuple[str, str]]) -> None:
    if pairs:
        journal.write(Batch(meta={META_KEY: json.dumps({cid: list(v) for cid, v in pairs.items()})}))


def carried(journal: Any) -> dict[str, tuple[str, str]]:
    raw = journal.get_meta(META_KEY)
    if not raw:
        return {}
    try:
        return {str(cid): (str(v[0]), str(v[1])) for cid, v in json.loads(raw).items()}
    except (ValueError, TypeError, AttributeError, IndexError):
        return {}  # unreadable: the ordinary rules still apply


def dropped() -> dict[str, str]:
    """The meta change that drops the carried pairs (after the first real plan)."""
    return {META_KEY: ""}
