"""Carry the user's email-link changes to Workbooks (B36): links added by hand, links removed.

The decisions are journal rows (app/journal/email_link_store.py): a manual `email_link` row without
a CRM id is an add to make, an `unlinking` row a CRM row to delete. Like every CRM write the
journal row is the durable intent and the CRM is asked before acting, so a run killed half way
never doubles or loses anything: one read of the emails' live `email_links` rows comes first; an
add whose pair is already there (made just before a crash) is adopted instead of posted again,
and a removal whose row is already gone is simply confirmed. The email record is never deleted.

Runs in every non-preview cycle before sent-mail recording, also with recording switched off (the
user asked for it); with nothing to change it sends no request at all.

Pure: ports and standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from app.domain.records import CrmEmailLink
from app.errors import AppError, AuthError, ItemRejected, NotFound, PrerequisiteError
from app.sync import retry
from app.sync.events import ItemIssue


@dataclass
class LinkEditResult:
    added: int = 0
    removed: int = 0
    issues: list[ItemIssue] = field(default_factory=list)
    done: list[tuple[str, str, str]] = field(default_factory=list)  # (action, item, reason) for the history


def _label(target: Any) -> str:
    return f"{target.crm_type.replace('_', ' ')} {target.crm_id}"


def apply_link_edits(crm: Any, store: Any, now: datetime) -> LinkEditResult:
    """Apply pending manual adds and removals; per-item failures become issues retried next run.
    Raises only fatal errors (auth, prerequisites)."""
    result = LinkEditResult()
    adds, removals = store.pending_adds(), store.pending_removals()
    if not adds and not removals:
        return result
    try:
        live: Sequence[CrmEmailLink] = crm.email_links_of(sorted({p.crm_email_id for p in (*adds, *removals)}))
    except (AuthError, PrerequisiteError):
        raise
    except AppError as exc:  # without knowing what is there, nothing is changed this time
        result.issues.append(ItemIssue("email links", f"{exc.title}: {exc.message}", retry.retry_after(now, 1)))
        return result
    by_pair: dict[tuple[str, str, str], list[CrmEmailLink]] = {}
    for ln in live:
        by_pair.setdefault((ln.email_id, ln.target.crm_type, ln.target.crm_id), []).append(ln)
    _add(crm, store, now, adds, by_pair, result)
    _remove(crm, store, now, removals, by_pair, {ln.id: ln for ln in live}, result)
    return result


def _add(crm: Any, store: Any, now: datetime, adds: Sequence[Any],
         by_pair: dict[tuple[str, str, str], list[CrmEmailLink]], result: LinkEditResult) -> None:
    confirmed: list[tuple[int, str]] = []
    post = []
    for p in adds:
        there = by_pair.get((p.crm_email_id, p.target.crm_type, p.target.crm_id))
        if there:
            confirmed.append((p.row_id, there[0].id))  # made before a crash, or by someone else
        else:
            post.append(p)
    dropped: list[int] = []
    if post:
        try:
            answers = crm.link_emails([(p.crm_email_id, p.target) for p in post])
        except (AuthError, PrerequisiteError):
            raise
        except AppError as exc:
            answers = [exc] * len(post)
        for p, res in zip(post, answers):
            if isinstance(res, (AuthError, PrerequisiteError)):
                raise res
            if isinstance(res, AppError):
                retry_at = retry.retry_after(now, 1)
                if isinstance(res, (NotFound, ItemRejected)):
                    dropped.append(p.row_id)  # asking again would fail the same way
                    retry_at = None
                result.issues.append(ItemIssue(f"email link to {_label(p.target)}",
                                               f"{res.title}: {res.message}", retry_at))
            else:
                confirmed.append((p.row_id, str(res)))
    store.confirm_added(confirmed)
    if dropped:
        store.drop_adds(dropped)
    made = {i for i, _c in confirmed}
    for p in adds:
        if p.row_id in made:
            result.added += 1
            result.done.append(("link", p.email_ref or f"email {p.crm_email_id}", f"linked to {_label(p.target)} by you"))


def _remove(crm: Any, store: Any, now: datetime, removals: Sequence[Any],
            by_pair: dict[tuple[str, str, str], list[CrmEmailLink]], by_id: dict[str, CrmEmailLink],
            result: LinkEditResult) -> None:
    # every live row of the pair goes (a second copy made elsewhere would keep the link alive)
    rows_of: dict[int, list[CrmEmailLink]] = {}
    for r in removals:
        rows = list(by_pair.get((r.crm_email_id, r.target.crm_type, r.target.crm_id), ()))
        if r.crm_link_id in by_id and by_id[r.crm_link_id] not in rows:
            rows.append(by_id[r.crm_link_id])
        rows_of[r.row_id] = rows
    todo = [ln for rows in rows_of.values() for ln in rows]
    answers: dict[str, Any] = {}
    if todo:
        try:
            got = crm.unlink_emails(todo)
        except (AuthError, PrerequisiteError):
            raise
        except AppError as exc:
            got = [exc] * len(todo)
        answers = {ln.id: res for ln, res in zip(todo, got)}
    gone: list[int] = []
    for r in removals:
        errors = [answers[ln.id] for ln in rows_of[r.row_id]
                  if isinstance(answers.get(ln.id), AppError) and not isinstance(answers[ln.id], NotFound)]
        for err in errors:
            if isinstance(err, (AuthError, PrerequisiteError)):
                raise err
        if errors:  # a stale version or a refusal: read again and retry next run
            err = errors[0]
            result.issues.append(ItemIssue(f"email link to {_label(r.target)}", f"{err.title}: {err.message}",
                                           retry.retry_after(now, 1)))
            continue
        gone.append(r.row_id)
        result.removed += 1
        result.done.append(("unlink", r.email_ref or f"email {r.crm_email_id}", f"link to {_label(r.target)} removed by you"))
    store.confirm_removed(gone)


__all__ = ["LinkEditResult", "apply_link_edits"]
