"""macOS: a LaunchAgent, ~/Library/LaunchAgents/com.workbooks-connector.plist.

launchd loads every agent there at the user's login and, with RunAtLoad, starts its program
once (no KeepAlive: quitting from the menu bar stays quit). Written with plistlib; launchctl is
not called, so the change applies from the next login, as "start at sign-in" means.
"""
from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Sequence

from app.atomic_file import write_atomic
from app.autostart import AutostartError

LABEL = "com.workbooks-connector"


def agent_plist(command: Sequence[str]) -> dict:
    return {
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",  # GUI logins only, not ssh sessions
    }


class LaunchAgent:
    def __init__(self, agents_dir: Path | None = None):
        self.dir = Path(agents_dir) if agents_dir is not None else Path.home() / "Library" / "LaunchAgents"

    @property
    def path(self) -> Path:
        return self.dir / f"{LABEL}.plist"

    def _load(self) -> dict | None:
        try:
            with open(self.path, "rb") as fh:
                data = plistlib.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, plistlib.InvalidFileException, ValueError) as exc:
            raise AutostartError(f"Could not read {self.path}: {exc}") from None
        return data if isinstance(data, dict) else None

    def is_enabled(self) -> bool:
        data = self._load()
        return bool(data and data.get("ProgramArguments") and not data.get("Disabled", False))

    def registered_command(self) -> list[str] | None:
        if not self.is_enabled():
            return None
        return list(self._load()["ProgramArguments"])  # type: ignore[index]

    def enable(self, command: Sequence[str]) -> None:
        data = plistlib.dumps(agent_plist(command), fmt=plistlib.FMT_XML)
        try:
            write_atomic(self.path, data, mode=0o644)  # launchd ignores agents writable by others
        except OSError as exc:
            raise AutostartError(f"Could not write {self.path}: {exc}") from None

    def disable(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise AutostartError(f"Could not remove {self.path}: {exc}") from None
