"""Windows: a value under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.

Explorer starts every command listed there at the user's sign-in. Task Manager's Startup tab
can switch an entry off without deleting it, by writing a flag under
...\\Explorer\\StartupApproved\\Run; is_enabled() honours that flag, and enable() clears it so
ticking the box in our settings really switches autostart back on.

`winreg` exists only on Windows, so it is imported when a RunKey is made without an injected
registry; the tests pass a fake with the same functions.
"""
from __future__ import annotations

import subprocess
from typing import Any, Sequence

from app.autostart import DISPLAY_NAME, AutostartError

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
VALUE_NAME = DISPLAY_NAME


def command_line(command: Sequence[str]) -> str:
    """Quote for CreateProcess/CommandLineToArgvW, which is how Explorer runs the value."""
    return subprocess.list2cmdline(list(command))


def _approved_off(data: Any) -> bool:
    # 12 bytes: first byte 0x02 (or 0x06) = on, 0x03 (or 0x01, 0x07) = switched off by the user
    return isinstance(data, (bytes, bytearray)) and len(data) > 0 and (data[0] & 0x01) == 1


class RunKey:
    def __init__(self, registry: Any = None, value_name: str = VALUE_NAME):
        if registry is None:
            import winreg as registry  # noqa: PLC0415 - Windows only
        self.reg = registry
        self.value_name = value_name

    def _read(self, subkey: str) -> Any:
        try:
            with self.reg.OpenKey(self.reg.HKEY_CURRENT_USER, subkey, 0, self.reg.KEY_READ) as key:
                return self.reg.QueryValueEx(key, self.value_name)[0]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AutostartError(f"Could not read HKCU\\{subkey}: {exc}") from None

    def is_enabled(self) -> bool:
        if not self._read(RUN_KEY):
            return False
        return not _approved_off(self._read(APPROVED_KEY))

    def registered_command(self) -> list[str] | None:
        if not self.is_enabled():
            return None
        return _split(self._read(RUN_KEY))

    def enable(self, command: Sequence[str]) -> None:
        try:
            with self.reg.CreateKeyEx(self.reg.HKEY_CURRENT_USER, RUN_KEY, 0, self.reg.KEY_SET_VALUE) as key:
                self.reg.SetValueEx(key, self.value_name, 0, self.reg.REG_SZ, command_line(command))
        except OSError as exc:
            raise AutostartError(f"Could not write HKCU\\{RUN_KEY}: {exc}") from None
        self._delete(APPROVED_KEY)  # a Task Manager "Disabled" flag would otherwise win

    def disable(self) -> None:
        self._delete(RUN_KEY)
        self._delete(APPROVED_KEY)

    def _delete(self, subkey: str) -> None:
        try:
            with self.reg.OpenKey(self.reg.HKEY_CURRENT_USER, subkey, 0, self.reg.KEY_SET_VALUE) as key:
                self.reg.DeleteValue(key, self.value_name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise AutostartError(f"Could not change HKCU\\{subkey}: {exc}") from None


def _split(value: str) -> list[str]:
    """Inverse of command_line() for the values we write (CommandLineToArgvW rules)."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = in_arg = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            j = i
            while j < len(value) and value[j] == "\\":
                j += 1
            n = j - i
            if j < len(value) and value[j] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i = j + 1
                else:
                    i = j
                in_arg = True
                continue
            current.append("\\" * n)
            i = j
            in_arg = True
            continue
        if c == '"':
            in_quotes = not in_quotes
            in_arg = True
        elif c in " \t" and not in_quotes:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return args
