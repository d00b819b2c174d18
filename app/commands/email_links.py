"""`emails`, `link-email`, `unlink-email`: the links of recorded sent emails (B36).

Additions to interfaces.md (see CHANGELOG.md). Like `share` and `resolve` they only write the
user's decision to the journal; the next sync carries it to Workbooks (app/sync/email_link_edits.py),
so they need no connection and never touch the servers. Exit codes: 0 done (also when there was
nothing to change), 2 no profile, 64 an email or record that cannot be found, or several that match.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from app.cli import print_json
from app.commands.inspect import _journal, _paths, _reader
from app.errors import UsageError

ADDED = {"added": "will be linked to {target} at the next sync",
         "already": "is already linked to {target}; nothing to change"}
REMOVED = {"removing": "will be unlinked from {target} at the next sync (the email itself stays in Workbooks)",
           "removed": "is no longer linked to {target} (the link had not reached Workbooks yet)",
           "not_linked": "is not linked to {target}; nothing to change"}


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since wants a date like 2026-11-01 (or a date and time), not {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _subject(email: Any) -> str:
    return repr(email.subject) if email.subject else "(no subject)"


def _email_lines(email: Any) -> list[str]:
    when = f"{email.sent_at:%Y-%m-%d %H:%M}" if email.sent_at else "?"
    lines = [f"email {email.ref}  {when}  {_subject(email)}"]
    if not email.links:
        lines.append("    no links")
    for ln in email.links:
        note = "" if ln.in_workbooks or ln.state != "linked" else ", link not made yet"
        late = ", linked late" if ln.late and ln.state == "linked" else ""
        lines.append(f"    {'->' if ln.state == 'linked' else 'x '} {ln.record.label} [{ln.record.crm_type}:"
                     f"{ln.record.crm_id}]: {ln.why}{late}{note}")
    return lines


def emails(args: Any) -> int:
    from app.journal.email_link_store import EmailLinkStore

    db = _reader(_paths(args))
    found = EmailLinkStore(db).emails(since=_since(args.since), limit=max(1, args.limit)) if db is not None else []
    if args.json:
        print_json({"emails": [e.as_json() for e in found]})
        return 0
    if not found:
        print("No recorded sent emails" + (" since then." if args.since else " yet."))
        return 0
    for e in found:
        for line in _email_lines(e):
            print(line)
    print("Change links with: workbooks-connector link-email REF TARGET / unlink-email REF TARGET")
    return 0


def _pick_linked(email: Any, target: str) -> Any:
    """For unlink: one of the email's own links, by TYPE:ID, id or object ref; None if none."""
    q = target.strip().lower()
    hits = [ln.record for ln in email.links if ln.state == "linked" and q in (
        f"{ln.record.crm_type}:{ln.record.crm_id}".lower(), ln.record.crm_id.lower(),
        (ln.record.object_ref or "\0").lower())]
    return hits[0] if len(hits) == 1 else None


def _change(args: Any, *, add: bool) -> int:
    from app.journal.email_link_store import EmailLinkStore

    lock, journal = _journal(_paths(args))
    try:
        store = EmailLinkStore(journal.db)
        email = store.find_email(args.message_ref)
        record = (None if add else _pick_linked(email, args.target)) or store.resolve_target(args.target)
        now = datetime.now(timezone.utc)
        if add:
            outcome = store.add_link(email, record.target, now)
        else:
            outcome = store.remove_link(email, record.target, now)
        email = store.emails(ids=[email.sent_email_id])[0]
    finally:
        journal.close()
        lock.release()
    if args.json:
        print_json({"email": email.as_json(), "target": {"type": record.crm_type, "id": record.crm_id,
                                                         "name": record.name, "object_ref": record.object_ref},
                    "result": outcome})
        return 0
    text = (ADDED if add else REMOVED)[outcome].format(target=record.label)
    print(f"Email {email.ref} {_subject(email)} {text}.")
    return 0


def link_email(args: Any) -> int:
    return _change(args, add=True)


def unlink_email(args: Any) -> int:
    return _change(args, add=False)
