"""Start the tray app at sign-in (product R2, optional): one small module per platform.

    from app import autostart
    autostart.is_enabled()                       # what the settings checkbox shows
    autostart.enable(autostart.launch_command())  # or enable() for the same default
    autostart.disable()

linux.py writes an XDG autostart entry, windows.py a value under the current user's Run key,
macos.py a LaunchAgent property list. Each takes effect at the next sign-in; none starts or stops
a running app. Only the signed-in user's own settings are touched, never system-wide ones, so no
administrator rights are needed. Failures raise AutostartError (an AppError the UI can show).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol, Sequence

from app.errors import AppError

APP_ID = "workbooks-connector"
DISPLAY_NAME = "Workbooks connector"


class AutostartError(AppError):
    title = "Could not change the start-at-sign-in setting"


class Backend(Protocol):
    """What every platform module provides."""

    def is_enabled(self) -> bool: ...

    def enable(self, command: Sequence[str]) -> None: ...

    def disable(self) -> None: ...

    def registered_command(self) -> list[str] | None:
        """The command that will run at sign-in, or None when autostart is off."""
        ...


def backend(platform: str | None = None) -> Backend:
    """The implementation for `platform` (default: this computer's sys.platform)."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        from app.autostart.windows import RunKey

        return RunKey()
    if platform == "darwin":
        from app.autostart.macos import LaunchAgent

        return LaunchAgent()
    from app.autostart.linux import XdgAutostart  # Linux and the BSDs follow XDG

    return XdgAutostart()


def is_enabled() -> bool:
    return backend().is_enabled()


def enable(command: Sequence[str] | None = None) -> None:
    """Start `command` (default: launch_command()) at every sign-in of this user."""
    command = list(command) if command is not None else launch_command()
    if not command or not all(isinstance(part, str) and part for part in command):
        raise ValueError(f"not a command: {command!r}")
    backend().enable(command)


def disable() -> None:
    backend().disable()


def launch_command(*, profile: str | os.PathLike | None = None, frozen: bool | None = None,
                   executable: str | None = None, platform: str | None = None) -> list[str]:
    """How the tray app of this installation is started.

    A PyInstaller bundle runs its own executable; on Windows the windowed one, never its
    console twin `workbooks-connector-cli.exe` (that would open a terminal at every sign-in).
    A Python installation runs `python -m app`, preferring `pythonw.exe` on Windows for the
    same reason. `profile` adds `--profile DIR` for a profile other than the default one.
    The keyword arguments other than `profile` exist for tests.
    """
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    executable = executable or sys.executable
    platform = platform or sys.platform
    windows = platform.startswith("win")
    exe = Path(executable)
    if frozen:
        if windows and exe.stem.endswith("-cli"):
            gui = exe.with_name(exe.stem[: -len("-cli")] + exe.suffix)
            if gui.exists():
                exe = gui
        command = [str(exe)]
    else:
        if windows and exe.name.lower() == "python.exe":
            pythonw = exe.with_name("pythonw.exe")
            if pythonw.exists():
                exe = pythonw
        command = [str(exe), "-m", "app"]
    if profile is not None:
        command += ["--profile", str(Path(profile).expanduser().resolve())]
    return command


__all__ = ["APP_ID", "DISPLAY_NAME", "AutostartError", "Backend", "backend", "disable", "enable",
           "is_enabled", "launch_command"]
