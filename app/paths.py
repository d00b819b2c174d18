"""The one module that knows where the profile's files live."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "workbooks-connector"
HOME_ENV = "WORKBOOKS_CONNECTOR_HOME"


@dataclass(frozen=True)
class ProfilePaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite3"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lease(self) -> Path:
        return self.root / "lease"

    @property
    def lock(self) -> Path:
        return self.root / "profile.lock"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def ensure(self) -> "ProfilePaths":
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        return self


def profile_root(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def profile(explicit: str | os.PathLike | None = None) -> ProfilePaths:
    return ProfilePaths(profile_root(explicit))


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
