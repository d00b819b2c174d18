"""`workbooks-connector sync`: one full cycle in the foreground."""
from __future__ import annotations

import sys
from typing import Any

from app import paths as paths_mod
from app import settings as st
from app.cli import print_json
from app.errors import EXIT_ITEMS_FAILED, EXIT_MASS_DELETE
from app.sync.events import CycleSummary, Progress


class CliObserver:
    """Progress to stderr for people at a terminal; silent otherwise (and never content)."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self._last = ""

    def progress(self, event: Any) -> None:
        if not self.verbose or not isinstance(event, Progress):
            return
        line = f"{event.phase.value} {event.kind}".strip()
        if line != self._last:
            print(f"  {line}…", file=sys.stderr)
            self._last = line

    def issue(self, event: Any) -> None:
        pass  # errors are listed in the summary


def exit_code(summary: CycleSummary) -> int:
    if summary.holds:
        return EXIT_MASS_DELETE
    if summary.errors:
        return EXIT_ITEMS_FAILED
    return 0


def print_human(summary: CycleSummary) -> None:
    data = summary.as_json()
    verb = "Would" if summary.dry_run else "Did"
    parts = []
    for action in ("created", "updated", "deleted"):
        for side, counts in data[action].items():
            for kind, n in counts.items():
                if n:
                    parts.append(f"{action} {n} {kind} in {'Workbooks' if side == 'crm' else 'Outlook'}")
    for side, n in data["unshared"].items():
        if n:
            parts.append(f"unshared {n} in {'Workbooks' if side == 'crm' else 'Outlook'}")
    if data["email_links"]:
        parts.append(f"linked {data['email_links']} emails")
    print(f"{verb}: " + ("; ".join(parts) if parts else "nothing to change") + f" ({summary.seconds:.1f} s).")
    if summary.conflicts:
        print(f"{summary.conflicts} conflict(s) wait for you: run `workbooks-connector conflicts`.")
    for hold in summary.holds:
        print(f"Held: {hold.planned} {hold.kind} {hold.reason.replace('_', ' ')} on the {hold.side} side "
              f"({hold.linked} linked). Nothing was deleted; review them, or run sync --allow-mass-delete.")
    for err in summary.errors:
        print(f"Failed: {err.item}: {err.message}", file=sys.stderr)


def run(args: Any) -> int:
    from app import wiring

    paths = paths_mod.profile(args.profile)
    settings = st.load(paths.config)
    summary = wiring.sync_once(
        paths, settings,
        dry_run=args.dry_run,
        allow_mass_delete=args.allow_mass_delete,
        take_over=getattr(args, "take_over", False),
        observer=CliObserver(verbose=not args.json and sys.stderr.isatty()),
    )
    if args.json:
        print_json(summary.as_json())
    else:
        print_human(summary)
    return exit_code(summary)
