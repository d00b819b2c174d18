"""Start the tray app (no command): the first-run wizard when nothing is set up yet."""
from __future__ import annotations

from typing import Any

from app import paths as paths_mod
from app import settings as st
from app.errors import NotAvailableYet


def launch(paths: paths_mod.ProfilePaths, settings: st.Settings, *, demo: bool = False) -> int:
    raise NotAvailableYet("the tray app is not wired up in this build yet; use `demo --headless` or `sync`")


def run(args: Any) -> int:
    paths = paths_mod.profile(args.profile).ensure()
    return launch(paths, st.load(paths.config))
