"""`workbooks-connector undo [--json] [--dry-run]`: undo the last sync (product.md B9).

An addition to interfaces.md (see CHANGELOG.md). Exit codes as for every command: 0 done (or
nothing to undo), 1 some restores failed (each named), 2 configuration/sign-in problems, 4 another
computer holds the mailbox lease. Items changed since the sync are skipped and listed; that is
not a failure.
"""
from __future__ import annotations

import sys
from typing import Any

from app import paths as paths_mod
from app import settings as st
from app.cli import print_json
from app.errors import EXIT_ITEMS_FAILED

SIDE = {"outlook": "Outlook", "crm": "Workbooks"}


def undo_once(paths: Any, settings: Any, *, dry_run: bool = False, take_over: bool = False) -> Any:
    """Lock the profile, connect, check the lease and identities like a sync, then undo.
    Returns app.sync.undo_apply.UndoResult."""
    from app import wiring
    from app.errors import AuthError
    from app.journal.repo import open_journal
    from app.locks import ProfileLock, acquire_lease, machine_identity
    from app.sync.undo_apply import run_undo

    with ProfileLock(paths.ensure().lock):
        session = wiring.open_session(paths, settings)
        try:
            clock = wiring.SystemClock()
            me = machine_identity(paths.lease)
            if dry_run:
                wiring.check_lease_only(session.lease, me, clock.now(), lease_file=paths.lease)
            else:
                acquire_lease(session.lease, me, clock.now(), take_over=take_over, lease_file=paths.lease)
            journal = open_journal(paths.journal)
            try:
                wiring.check_identities(journal, session, clock.now())
                counts = {"workbooks": lambda: session.requests()["workbooks"],
                          "ews": lambda: session.requests()["ews"]}
                try:
                    # occurrences of recurring series are journal-only on the Outlook side (app.sync.recurring)
                    mailbox = wiring.recurring_meetings(session.mailbox, journal, settings, clock)
                    return run_undo(session.crm, mailbox, journal, clock, dry_run=dry_run, counts=counts)
                except AuthError:
                    wiring.forget_crm_identity(journal)
                    raise
            finally:
                journal.close()
        finally:
            session.close()


def undo_unavailable(paths: Any) -> str | None:
    """For the tray: why there is nothing to undo, or None. Reads the journal only (no network)."""
    from datetime import datetime, timezone

    from app.journal.repo import open_journal
    from app.sync.undo import unavailable_reason
    from app.sync.undo_apply import undo_unavailable as reason_from

    if not paths.journal.exists():
        return unavailable_reason(None, is_undo=False, undone=False, now=datetime.now(timezone.utc))
    journal = open_journal(paths.journal)
    try:
        return reason_from(journal, datetime.now(timezone.utc))
    finally:
        journal.close()


def print_human(result: Any) -> None:
    if result.nothing:
        print(result.nothing)
        return
    when = f"{result.run_at:%Y-%m-%d %H:%M} UTC" if result.run_at else "the last sync"
    verb = "Would restore" if result.dry_run else ("Finished undoing" if result.resumed else "Restored")
    print(f"{verb} {len(result.restored)} item(s) changed by the sync of {when}.")
    for item in result.restored:
        print(f"  {item.label or item.link_id[:8]} ({item.kind}): {item.message}")
    if result.skipped:
        print(f"Skipped {len(result.skipped)} item(s):")
        for item in result.skipped:
            print(f"  {item.label or item.link_id[:8]} ({item.kind}): {item.message}")
    if result.conflicts:
        print(f"{result.conflicts} item(s) now differ between Outlook and Workbooks and wait for you: "
              "run `workbooks-connector conflicts`.")
    for err in result.errors:
        print(f"Failed: {err.item}: {err.message}", file=sys.stderr)


def run(args: Any) -> int:
    paths = paths_mod.profile(args.profile)
    settings = st.load(paths.config)
    result = undo_once(paths, settings, dry_run=args.dry_run)
    if args.json:
        print_json(result.as_json())
    else:
        print_human(result)
    return EXIT_ITEMS_FAILED if result.errors else 0
