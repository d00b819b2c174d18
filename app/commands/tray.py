"""Start the tray app (no command): the first-run wizard when nothing is set up yet."""
from __future__ import annotations

from typing import Any

from app import paths as paths_mod
from app import settings as st

# The demo's sandboxes are local and seeded: start its first sync within seconds of opening
# instead of the scheduler's usual wait after start.
DEMO_FIRST_RUN_DELAY = 2.0


def launch(paths: paths_mod.ProfilePaths, settings: st.Settings, *, demo: bool = False) -> int:
    # Qt is loaded only here, so headless commands never import it.
    from app.commands.desktop_backend import SettingsStoreImpl, WizardBackendImpl, persist_wizard_result
    from app.runner.profile_engine import ProfileEngine
    from app.ui.application import run_app
    from app.ui.journal_view import ReaderJournalView

    paths.ensure()
    return run_app(
        paths,
        lambda: ProfileEngine(paths),
        journal=ReaderJournalView(paths.journal),
        settings_store=SettingsStoreImpl(paths),
        wizard_backend=WizardBackendImpl(paths),
        on_wizard_finished=lambda result: persist_wizard_result(paths, result),
        needs_setup=not settings.configured,
        schedule=settings.sync.schedule,
        first_run_delay=DEMO_FIRST_RUN_DELAY if demo else None,
        demo=demo,
    )


def run(args: Any) -> int:
    paths = paths_mod.profile(args.profile).ensure()
    return launch(paths, st.load(paths.config))
