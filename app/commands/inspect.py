"""status, conflicts, resolve, explain, history, share, unshare: read the journal, or record a
decision that the next sync carries out. None of these touches the servers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from app import paths as paths_mod
from app import settings as st
from app.cli import print_json
from app.errors import ConfigError, UsageError

KIND_NOUNS = {"person": "contacts", "task": "tasks", "meeting": "meetings"}


def _paths(args: Any) -> paths_mod.ProfilePaths:
    paths = paths_mod.profile(args.profile)
    if not paths.journal.exists():
        if not paths.config.exists():
            raise ConfigError(f"no connector profile at {paths.root}: run `workbooks-connector configure ...` first")
    return paths


def _reader(paths: paths_mod.ProfilePaths) -> Any:
    from app.journal.reader import open_reader

    if not paths.journal.exists():
        return None
    return open_reader(paths.journal)


def _next_sync(settings: st.Settings, last: str | None) -> str | None:
    interval = st.SCHEDULE_SECONDS.get(settings.sync.schedule, 0)
    if not interval:
        return None
    if not last:
        return datetime.now(timezone.utc).isoformat()
    try:
        at = datetime.fromisoformat(last)
    except ValueError:
        return None
    return (at + timedelta(seconds=interval)).isoformat()


def status(args: Any) -> int:
    from app.journal import reader

    paths = _paths(args)
    settings = st.load(paths.config)
    db = _reader(paths)
    data = reader.status(db) if db is not None else {
        "last_sync_at": None, "last_sync_ok": None, "last_run": None,
        "linked": {"person": 0, "task": 0, "meeting": 0}, "conflicts": 0, "errors": [], "holds": [], "lease": None,
    }
    if not data.get("lease"):
        data["lease"] = _local_lease(paths)
    data["next_sync_at"] = _next_sync(settings, data.get("last_sync_at"))
    data["schedule"] = settings.sync.schedule
    data["mailbox"] = settings.mailbox.address
    data["workbooks_url"] = settings.workbooks.url
    if args.json:
        print_json(data)
        return 0
    print(f"Mailbox {data['mailbox'] or '(not set up)'} ⇄ Workbooks {data['workbooks_url'] or '(not set up)'}")
    if data["last_sync_at"]:
        state = "succeeded" if data["last_sync_ok"] else "needs attention"
        print(f"Last sync: {data['last_sync_at']} ({state})")
    else:
        print("Last sync: never")
    print(f"Next sync: {data['next_sync_at'] or 'manual only'} (schedule: {data['schedule']})")
    linked = data["linked"]
    print("Linked: " + ", ".join(f"{linked.get(k, 0)} {noun}" for k, noun in KIND_NOUNS.items()))
    print(f"Conflicts waiting: {data['conflicts']}")
    pending = {k: n for k, n in (data.get("pending_deletions") or {}).items() if n}
    if pending:
        print("Deletions seen once in Workbooks, waiting for confirmation at the next sync: "
              + ", ".join(f"{n} {KIND_NOUNS.get(k, k)}" for k, n in pending.items()))
    for hold in data.get("holds", []):
        print(f"Held: {hold['planned']} {hold['kind']} {hold['reason']} on the {hold['side']} side")
    for err in data.get("errors", []):
        print(f"Error: {err['item']}: {err['message']} (attempts {err['attempts']}, next try {err['retry_after']})")
    lease = data.get("lease")
    if lease:
        print(f"Syncing computer: {lease['holder_host']} (heartbeat {lease['heartbeat_at']})")
    return 0


def _local_lease(paths: paths_mod.ProfilePaths) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(paths.lease.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("heartbeat_at"):
        return None
    return {"holder_host": data.get("host"), "heartbeat_at": data.get("heartbeat_at"), "this_computer": True}


def conflicts(args: Any) -> int:
    from app.journal import reader

    db = _reader(_paths(args))
    items = reader.conflicts(db) if db is not None else []
    if args.json:
        print_json({"conflicts": items})
        return 0
    if not items:
        print("No conflicts.")
        return 0
    for c in items:
        print(f"{c['id'][:8]}  {c['kind']}  {c['label']}  ({c['type'].replace('_', ' ')})")
        for d in c["differences"]:
            print(f"    {d['field']}: Outlook {d['outlook']!r} | last synced {d['last_synced']!r} | Workbooks {d['workbooks']!r}")
    print("Settle one with: workbooks-connector resolve ID --keep crm|outlook|both")
    return 0


def _journal(paths: paths_mod.ProfilePaths) -> Any:
    from app.journal.repo import open_journal
    from app.locks import ProfileLock

    if not paths.journal.exists():
        raise UsageError("nothing has been synced yet, so there is nothing to change")
    lock = ProfileLock(paths.lock).acquire()
    return lock, open_journal(paths.journal)


def resolve(args: Any) -> int:
    lock, journal = _journal(_paths(args))
    try:
        done = journal.resolve_conflict(args.id, args.keep)
    finally:
        journal.close()
        lock.release()
    print(f"Conflict {done.id[:8]} settled: keep {args.keep}. It is applied at the next sync.")
    return 0


def explain(args: Any) -> int:
    from app.journal import reader

    paths = _paths(args)
    db = _reader(paths)
    results = reader.explain(db, args.query) if db is not None else []
    email = _explain_email(paths, db, args.query)
    if args.json:
        print_json({"query": args.query, "results": results, **({"email": email} if email else {})})
        return 0
    if not results and not email:
        print(f"Nothing in the journal matches {args.query!r}: it is not linked. If it is an Outlook item, it may be "
              "Native (no 'Workbooks' category); if it is a Workbooks record, it may be outside your filter.")
        return 0
    for r in results:
        print(_explain_line(r))
    for line in _email_lines(email):
        print(line)
    return 0


def _explain_email(paths: paths_mod.ProfilePaths, db: Any, query: str) -> dict[str, Any] | None:
    """For an email address: the sent mail recorded and linked through it and why (issue 6)."""
    if "@" not in query or " " in query.strip():
        return None
    from app.journal.email_store import explain_address

    settings = st.load(paths.config) if paths.config.exists() else st.Settings()
    mailbox = settings.mailbox.address
    own = (mailbox.rsplit("@", 1)[-1],) if "@" in mailbox else ()
    if db is None:
        from app.journal.db import open_database

        db = open_database(None)  # nothing synced yet: an empty in-memory journal answers
    return explain_address(db, query, never_record=settings.email.never_record, own_domains=own)


def _email_lines(email: dict[str, Any] | None) -> list[str]:
    if not email:
        return []
    lines = [f"Sent mail to {email['address']}: {email['explanation']}."]
    for o in email["owners"]:
        lines.append(f"  belongs to {o['type'].replace('_', ' ')} {o['name'] or o['id']} (id {o['id']}): {o['why']}")
    for e in email["emails"]:
        lines.append(f"  {e['sent_at'] or '?'}  {e['subject']!r}  {e['state'].replace('_', ' ')}")
        for ln in e["links"]:
            late = ", linked late" if ln["late"] else ""
            done = "" if ln["in_workbooks"] or ln.get("state", "linked") != "linked" else ", link not made yet"
            lines.append(f"      -> {ln['type'].replace('_', ' ')} {ln['id']}: {ln['why']}{late}{done}")
    for w in email["waiting"]:
        lines.append(f"  {w['sent_at'] or '?'}  {w['subject']!r}  waiting: no CRM record has this address yet")
    return lines


def _explain_line(r: dict[str, Any]) -> str:
    what = f"{r.get('kind')} {r.get('label') or r.get('crm_id') or ''}".strip()
    if r.get("link_id") is None:
        why = f"{r.get('sharing') or r.get('state')} ({r.get('reason') or 'by the user'})"
        extra = "; it will not be re-created while its Person stays in scope" if r.get("recreate_blocked") else ""
        return f"{what}: not syncing, {why}{extra}."
    parts = [f"{what}: {r.get('state')}, linked to Workbooks id {r.get('crm_id')}"]
    if r.get("in_scope") is False:
        parts.append("outside your filter")
    if r.get("pending_deletion"):
        parts.append(f"{r['pending_deletion']['note']} (first seen {r['pending_deletion']['seen_at']})")
    if r.get("conflict"):
        parts.append(f"waiting on conflict {r['conflict']['id'][:8]} ({', '.join(r['conflict']['fields'])})")
    if r.get("error"):
        e = r["error"]
        parts.append(f"last error: {e['message']} (next try {e['retry_after']})")
    if r.get("last_synced_at"):
        parts.append(f"last synced {r['last_synced_at']}")
    return "; ".join(parts) + "."


def history(args: Any) -> int:
    from app.journal import reader

    db = _reader(_paths(args))
    runs = reader.history(db, max(1, args.limit)) if db is not None else []
    for run in runs:  # the sent mail of each run (issue 6), from its summary
        s = run.get("summary") or {}
        run["emails"] = {"recorded": int(((s.get("created") or {}).get("crm") or {}).get("emails", 0) or 0),
                         "links": int(s.get("email_links", 0) or 0)}
    if args.json:
        print_json({"runs": runs})
        return 0
    if not runs:
        print("No sync runs yet.")
    for run in runs:
        s = run.get("summary") or {}
        created = sum(n for side in (s.get("created") or {}).values() for n in side.values())
        updated = sum(n for side in (s.get("updated") or {}).values() for n in side.values())
        print(f"{run['at']}  {run['result']:<9}  created {created}, updated {updated}, "
              f"conflicts {s.get('conflicts', 0)}, errors {len(s.get('errors') or [])}, "
              f"emails recorded {run['emails']['recorded']}, email links {run['emails']['links']}")
        for a in run.get("actions") or ():
            if a.get("kind") == "email":  # links the user added or removed (B36), with why
                print(f"    {a.get('item')}: {a.get('reason')}")
    return 0


def _sharing(args: Any, state: str) -> int:
    from app.journal import reader

    paths = _paths(args)
    db = _reader(paths)
    matches = reader.explain(db, args.query) if db is not None else []
    if not matches:
        raise UsageError(f"nothing known matches {args.query!r}; use an address, object ref, id or name")
    if len(matches) > 1:
        labels = "; ".join(f"{m.get('kind')} {m.get('label') or m.get('crm_id')}" for m in matches[:5])
        raise UsageError(f"{len(matches)} items match {args.query!r} ({labels}); be more specific")
    m = matches[0]
    from app.domain.records import Kind

    lock, journal = _journal(paths)
    try:
        journal.request_sharing(m.get("link_id"), kind=Kind(m["kind"]), state=state,
                                ews_item_id=m.get("ews_item_id"), crm_id=m.get("crm_id"))
    finally:
        journal.close()
        lock.release()
    verb = "shared" if state == "share_requested" else "unshared"
    print(f"{m.get('kind')} {m.get('label') or m.get('crm_id')} will be {verb} at the next sync; nothing is deleted.")
    return 0


def share(args: Any) -> int:
    return _sharing(args, "share_requested")


def unshare(args: Any) -> int:
    return _sharing(args, "unshare_requested")
