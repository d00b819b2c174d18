"""XDG autostart: $XDG_CONFIG_HOME/autostart/workbooks-connector.desktop (default ~/.config).

Desktop environments that follow the XDG Autostart specification (GNOME, KDE Plasma, Xfce,
Cinnamon, MATE, LXQt) start every entry there at sign-in unless it says Hidden=true or, for
GNOME, X-GNOME-Autostart-enabled=false; either counts as "off" here too, so a user who switched
it off in their desktop's own settings sees the checkbox unticked.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from app.atomic_file import write_atomic
from app.autostart import APP_ID, DISPLAY_NAME, AutostartError

FILE_NAME = f"{APP_ID}.desktop"
# Characters that force an Exec argument into double quotes (Desktop Entry Specification,
# "The Exec key"), and those that must then be backslash-escaped inside the quotes.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPE_IN_QUOTES = set('"`$\\')


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME if set to an absolute path (the spec says to ignore relative ones)."""
    environ = os.environ if environ is None else environ
    value = environ.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path(environ.get("HOME") or Path.home()) / ".config"


def exec_value(command: Sequence[str]) -> str:
    """`command` as the value of an Exec key: quoted per argument, % doubled, then the
    string-level escaping of backslashes that desktop files apply before unquoting."""
    parts = []
    for arg in command:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise AutostartError(f"An argument of the start command contains a line break: {arg!r}")
        if arg and not (set(arg) & _RESERVED):
            quoted = arg
        else:
            quoted = '"' + "".join("\\" + c if c in _ESCAPE_IN_QUOTES else c for c in arg) + '"'
        parts.append(quoted.replace("%", "%%"))
    return " ".join(parts).replace("\\", "\\\\")


def parse_exec(value: str) -> list[str]:
    """The inverse of exec_value (for entries this module wrote, and simple hand-made ones)."""
    # undo the string-level escapes first (\\ -> \, \s -> space, ...)
    text, i, out = value, 0, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_quotes:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPE_IN_QUOTES:
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                in_quotes = False
            else:
                current.append(c)
        elif c == '"':
            in_quotes = in_arg = True
        elif c in " \t":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_quotes:
        raise ValueError(f"unterminated quote in Exec value: {value!r}")
    if in_arg:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


def entry_text(command: Sequence[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        f"Name={DISPLAY_NAME}",
        "Comment=Keep an Exchange mailbox and a Workbooks CRM database in sync",
        f"Exec={exec_value(command)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Office;Network;",
        "StartupNotify=false",
        "X-GNOME-Autostart-enabled=true",
        # let the panel and its tray (StatusNotifier host) come up first
        "X-GNOME-Autostart-Delay=10",
        "X-KDE-autostart-after=panel",
        "X-MATE-Autostart-Delay=10",
        "",
    ])


def read_entry(path: Path) -> dict[str, str]:
    """The [Desktop Entry] group's keys (no locale handling: we only read our own keys)."""
    keys: dict[str, str] = {}
    group = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), value.strip())
    return keys


class XdgAutostart:
    def __init__(self, autostart_dir: Path | None = None, environ: Mapping[str, str] | None = None):
        self.dir = Path(autostart_dir) if autostart_dir is not None else config_home(environ) / "autostart"

    @property
    def path(self) -> Path:
        return self.dir / FILE_NAME

    def _keys(self) -> dict[str, str] | None:
        try:
            return read_entry(self.path)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise AutostartError(f"Could not read {self.path}: {exc}") from None

    def is_enabled(self) -> bool:
        keys = self._keys()
        if keys is None or "Exec" not in keys:
            return False
        return (keys.get("Hidden", "false").lower() != "true"
                and keys.get("X-GNOME-Autostart-enabled", "true").lower() != "false")

    def registered_command(self) -> list[str] | None:
        if not self.is_enabled():
            return None
        return parse_exec(self._keys()["Exec"])  # type: ignore[index]

    def enable(self, command: Sequence[str]) -> None:
        try:
            write_atomic(self.path, entry_text(command), mode=0o644)
        except OSError as exc:
            raise AutostartError(f"Could not write {self.path}: {exc}") from None

    def disable(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise AutostartError(f"Could not remove {self.path}: {exc}") from None
