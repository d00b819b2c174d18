"""An `EngineLike` for one profile on top of `app.wiring.sync_once` (no Qt here).

Each cycle re-reads the settings, takes the profile lock, connects, checks the lease and the
identities, runs the engine and closes everything, exactly like the `sync` command; the user's
decisions (conflicts, holds) are written to the journal for the next cycle. The worker calls all
of this on its own thread.
"""
from __future__ import annotations

from typing import Any, Callable

from app.paths import ProfilePaths
from app.runner.values import Choice, HoldDecision, Resolution
from app.settings import Settings

KEEP = {Choice.OUTLOOK: "outlook", Choice.WORKBOOKS: "crm", Choice.BOTH: "both", Choice.MERGED: "merged"}
SIDE = {"outlook": "outlook", "workbooks": "crm"}


class ProfileEngine:
    def __init__(self, paths: ProfilePaths, load_settings: Callable[[], Settings] | None = None) -> None:
        self.paths = paths
        self._load = load_settings or self._load_from_profile
        self._take_over_once = False

    def _load_from_profile(self) -> Settings:
        from app import settings as st

        return st.load(self.paths.config)

    def run_cycle(self, *, dry_run: bool = False, allow_mass_delete: bool = False, observer: Any = None,
                  cancel: Any = None) -> Any:
        from app.wiring import sync_once

        take_over, self._take_over_once = self._take_over_once, False
        return sync_once(self.paths, self._load(), dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                         take_over=take_over and not dry_run, observer=observer, cancel=cancel)

    def _journal(self, action: Callable[[Any], None]) -> None:
        from app.journal.repo import open_journal
        from app.locks import ProfileLock

        with ProfileLock(self.paths.ensure().lock):
            journal = open_journal(self.paths.journal)
            try:
                action(journal)
            finally:
                journal.close()

    def resolve_conflict(self, conflict_id: str, resolution: Resolution) -> None:
        if resolution.choice is Choice.LATER:
            return
        fields = {f: SIDE.get(side, side) for f, side in resolution.fields} or None
        self._journal(lambda j: j.resolve_conflict(conflict_id, KEEP[resolution.choice], fields))

    def share_again(self, item: Any) -> None:
        """"Share again" of an item the connector stopped syncing (an UnsharedView); the next cycle
        shares it, or re-creates its Outlook copy from the CRM record when that copy was deleted."""
        from app.domain.records import Kind

        self._journal(lambda j: j.request_sharing(None, kind=Kind(item.kind), state="share_requested",
                                                  ews_item_id=item.ews_item_id, crm_id=item.crm_id))

    def change_email_link(self, change: Any) -> None:
        """"Link email…" (an app.ui.ports.EmailLinkChange): written to the journal; the next cycle
        makes it in Workbooks (app.sync.email_link_edits)."""
        from datetime import datetime, timezone

        from app.domain.records import LinkTarget
        from app.journal.email_link_store import EmailLinkStore

        def write(journal: Any) -> None:
            store = EmailLinkStore(journal.db)
            email = store.find_email(change.message_id)
            target = LinkTarget(change.crm_type, change.crm_id)
            now = datetime.now(timezone.utc)
            (store.add_link if change.add else store.remove_link)(email, target, now)

        self._journal(write)

    def decide_hold(self, hold_id: str, decision: HoldDecision) -> None:
        if decision is HoldDecision.LATER:
            return
        self._journal(lambda j: j.decide_hold(hold_id, decision.value))

    def undo(self, *, dry_run: bool = False) -> Any:
        """Undo last sync (B9), or list what it would do: app.sync.undo_apply.UndoResult."""
        from app.commands.undo import undo_once

        return undo_once(self.paths, self._load(), dry_run=dry_run)

    def undo_unavailable(self) -> str | None:
        from app.commands.undo import undo_unavailable

        return undo_unavailable(self.paths)

    def take_over_lease(self) -> None:
        """Applied by the next (non-preview) cycle, which the worker starts right away."""
        self._take_over_once = True
