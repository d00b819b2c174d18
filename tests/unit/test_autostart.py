"""Start at sign-in (app/autostart): the XDG entry for real in a temporary XDG_CONFIG_HOME, the
LaunchAgent in a temporary folder, the Run key against an in-memory fake of winreg."""
from __future__ import annotations

import configparser
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from app import autostart
from app.autostart import AutostartError, launch_command, linux, macos, windows

AWKWARD = [
    "/opt/Workbooks connector/workbooks-connector",
    "--profile", "/home/ann/My \"work\" $HOME `x` 100% \\share\\",
    "plain", "semi;colon", "tab\there", "",
]


# --- Linux --------------------------------------------------------------------------------


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setattr(sys, "platform", "linux")
    return home


def test_linux_enable_writes_xdg_entry_under_xdg_config_home(xdg):
    assert not autostart.is_enabled()
    autostart.enable(["/opt/wc/workbooks-connector"])
    path = xdg / "autostart" / "workbooks-connector.desktop"
    assert path.is_file()
    assert autostart.is_enabled()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/opt/wc/workbooks-connector"
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == "workbooks-connector"
    assert autostart.backend().registered_command() == ["/opt/wc/workbooks-connector"]
    assert not list(path.parent.glob(".*")), "temporary file left behind"


def test_linux_disable_removes_entry_and_is_idempotent(xdg):
    autostart.enable(["/usr/bin/workbooks-connector"])
    autostart.disable()
    assert not (xdg / "autostart" / "workbooks-connector.desktop").exists()
    assert not autostart.is_enabled()
    autostart.disable()  # nothing to remove: still fine
    assert autostart.backend().registered_command() is None


def test_linux_enable_twice_replaces_the_command(xdg):
    autostart.enable(["/old/workbooks-connector"])
    autostart.enable(["/new/workbooks-connector"])
    assert autostart.backend().registered_command() == ["/new/workbooks-connector"]
    assert len(list((xdg / "autostart").iterdir())) == 1


def test_linux_default_is_home_dot_config_and_relative_xdg_is_ignored(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/dir"}
    assert linux.config_home(env) == tmp_path / ".config"
    assert linux.XdgAutostart(environ={"HOME": str(tmp_path)}).path == (
        tmp_path / ".config" / "autostart" / "workbooks-connector.desktop")


@pytest.mark.parametrize("key,value", [("Hidden", "true"), ("X-GNOME-Autostart-enabled", "false")])
def test_linux_entry_switched_off_by_the_desktop_counts_as_off(xdg, key, value):
    autostart.enable(["/usr/bin/workbooks-connector"])
    path = xdg / "autostart" / "workbooks-connector.desktop"
    text = path.read_text().replace("X-GNOME-Autostart-enabled=true\n", "")
    path.write_text(text + f"{key}={value}\n")
    assert not autostart.is_enabled()
    autostart.enable(["/usr/bin/workbooks-connector"])  # ticking the box again rewrites it
    assert autostart.is_enabled()


def test_linux_exec_quoting_round_trips_awkward_arguments(tmp_path):
    backend = linux.XdgAutostart(tmp_path)
    backend.enable(AWKWARD)
    assert backend.registered_command() == AWKWARD
    exec_line = linux.read_entry(backend.path)["Exec"]
    assert exec_line.startswith('"/opt/Workbooks connector/workbooks-connector" --profile "')
    assert "100%%" in exec_line  # a literal % is doubled (field codes)


def test_linux_exec_value_matches_the_spec_examples():
    assert linux.exec_value(["/usr/bin/app", "--flag"]) == "/usr/bin/app --flag"
    assert linux.exec_value(["a b"]) == '"a b"'
    assert linux.exec_value(['say "hi"']) == '"say \\\\"hi\\\\""'  # \" then string-level \\
    assert linux.exec_value(["back\\slash"]) == '"back\\\\\\\\slash"'  # four backslashes
    with pytest.raises(AutostartError):
        linux.exec_value(["two\nlines"])


@pytest.mark.skipif(not Path("/usr/bin/desktop-file-validate").exists(), reason="desktop-file-utils not installed")
def test_linux_entry_passes_desktop_file_validate(tmp_path):
    backend = linux.XdgAutostart(tmp_path)
    backend.enable(AWKWARD[:3])
    out = subprocess.run(["desktop-file-validate", str(backend.path)], capture_output=True, text=True)
    errors = [ln for ln in (out.stdout + out.stderr).splitlines() if "error" in ln]
    assert out.returncode == 0 and not errors, out.stdout + out.stderr


def test_linux_unwritable_folder_is_an_app_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AutostartError) as info:
        linux.XdgAutostart(blocker / "autostart").enable(["/usr/bin/workbooks-connector"])
    assert "Could not write" in info.value.message


# --- macOS --------------------------------------------------------------------------------


def test_macos_launch_agent_plist(tmp_path):
    agent = macos.LaunchAgent(tmp_path / "LaunchAgents")
    assert not agent.is_enabled()
    agent.enable(["/Applications/Workbooks connector.app/Contents/MacOS/workbooks-connector"])
    assert agent.path == tmp_path / "LaunchAgents" / "com.workbooks-connector.plist"
    data = plistlib.loads(agent.path.read_bytes())
    assert data["Label"] == "com.workbooks-connector"
    assert data["ProgramArguments"] == ["/Applications/Workbooks connector.app/Contents/MacOS/workbooks-connector"]
    assert data["RunAtLoad"] is True and data["KeepAlive"] is False
    assert agent.path.stat().st_mode & 0o022 == 0  # launchd refuses group/world-writable agents
    assert agent.is_enabled()
    assert agent.registered_command() == data["ProgramArguments"]
    agent.disable()
    assert not agent.path.exists() and not agent.is_enabled()
    agent.disable()


def test_macos_disabled_key_and_garbage_file(tmp_path):
    agent = macos.LaunchAgent(tmp_path)
    agent.enable(AWKWARD)
    assert agent.registered_command() == AWKWARD
    data = plistlib.loads(agent.path.read_bytes())
    agent.path.write_bytes(plistlib.dumps({**data, "Disabled": True}))
    assert not agent.is_enabled()
    agent.path.write_bytes(b"not a plist")
    with pytest.raises(AutostartError):
        agent.is_enabled()


def test_macos_default_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    assert macos.LaunchAgent().path == tmp_path / "Library" / "LaunchAgents" / "com.workbooks-connector.plist"


# --- Windows (fake registry) ----------------------------------------------------------------


class FakeWinreg:
    """The part of winreg RunKey uses, over a dict {subkey: {value name: (data, type)}}."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_READ = 0x20019
    KEY_SET_VALUE = 0x0002
    REG_SZ = 1
    REG_BINARY = 3

    class _Key:
        def __init__(self, values):
            self.values = values

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def __init__(self):
        self.keys: dict[str, dict[str, tuple[object, int]]] = {}
        self.fail_writes = False

    def OpenKey(self, root, subkey, reserved=0, access=KEY_READ):  # noqa: N802 - winreg's names
        assert root == self.HKEY_CURRENT_USER, "only the current user's hive may be touched"
        if subkey not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self._Key(self.keys[subkey])

    def CreateKeyEx(self, root, subkey, reserved=0, access=KEY_SET_VALUE):  # noqa: N802
        assert root == self.HKEY_CURRENT_USER
        if self.fail_writes:
            raise PermissionError(5, "Access is denied")
        return self._Key(self.keys.setdefault(subkey, {}))

    def QueryValueEx(self, key, name):  # noqa: N802
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return key.values[name]

    def SetValueEx(self, key, name, reserved, kind, data):  # noqa: N802
        key.values[name] = (data, kind)

    def DeleteValue(self, key, name):  # noqa: N802
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del key.values[name]


def test_windows_module_imports_without_winreg():
    assert windows.RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    if sys.platform != "win32":
        with pytest.raises(ImportError):
            windows.RunKey()  # the real registry is only there on Windows


def test_windows_run_key_enable_disable():
    reg = FakeWinreg()
    run = windows.RunKey(reg)
    assert not run.is_enabled()
    exe = r"C:\Program Files\Workbooks connector\workbooks-connector.exe"
    run.enable([exe])
    assert reg.keys[windows.RUN_KEY]["Workbooks connector"] == (f'"{exe}"', reg.REG_SZ)
    assert run.is_enabled()
    assert run.registered_command() == [exe]
    run.disable()
    assert "Workbooks connector" not in reg.keys[windows.RUN_KEY]
    assert not run.is_enabled()
    run.disable()  # idempotent


def test_windows_command_line_round_trips():
    reg = FakeWinreg()
    run = windows.RunKey(reg)
    command = [r"C:\Python311\pythonw.exe", "-m", "app", "--profile", r"D:\My Data\wc\ ", 'say "hi"']
    run.enable(command)
    assert run.registered_command() == command


def test_windows_task_manager_disabled_flag_is_honoured_and_cleared_by_enable():
    reg = FakeWinreg()
    run = windows.RunKey(reg)
    run.enable([r"C:\wc\workbooks-connector.exe"])
    reg.keys.setdefault(windows.APPROVED_KEY, {})["Workbooks connector"] = (b"\x03" + bytes(11), reg.REG_BINARY)
    assert not run.is_enabled()
    run.enable([r"C:\wc\workbooks-connector.exe"])
    assert run.is_enabled()
    assert "Workbooks connector" not in reg.keys[windows.APPROVED_KEY]
    reg.keys[windows.APPROVED_KEY]["Workbooks connector"] = (b"\x02" + bytes(11), reg.REG_BINARY)
    assert run.is_enabled()


def test_windows_registry_refusal_is_an_app_error():
    reg = FakeWinreg()
    reg.fail_writes = True
    with pytest.raises(AutostartError):
        windows.RunKey(reg).enable([r"C:\wc\workbooks-connector.exe"])


# --- choosing the backend and the command ----------------------------------------------------


def test_backend_follows_sys_platform(monkeypatch, tmp_path):
    assert isinstance(autostart.backend("linux"), linux.XdgAutostart)
    assert isinstance(autostart.backend("freebsd14"), linux.XdgAutostart)
    assert isinstance(autostart.backend("darwin"), macos.LaunchAgent)
    monkeypatch.setitem(sys.modules, "winreg", FakeWinreg())
    assert isinstance(autostart.backend("win32"), windows.RunKey)


def test_enable_without_command_uses_launch_command(xdg):
    autostart.enable()
    assert autostart.backend().registered_command() == launch_command()


def test_enable_refuses_empty_commands(xdg):
    with pytest.raises(ValueError):
        autostart.enable([])
    with pytest.raises(ValueError):
        autostart.enable(["/usr/bin/workbooks-connector", ""])


def test_launch_command_from_python():
    assert launch_command(frozen=False, executable="/usr/bin/python3", platform="linux") == [
        "/usr/bin/python3", "-m", "app"]
    assert launch_command()[-2:] == ["-m", "app"]  # the test run itself is not frozen


def test_launch_command_prefers_pythonw_on_windows(tmp_path):
    (tmp_path / "python.exe").write_text("")
    assert launch_command(frozen=False, executable=str(tmp_path / "python.exe"), platform="win32")[0] == str(
        tmp_path / "python.exe")
    (tmp_path / "pythonw.exe").write_text("")
    assert launch_command(frozen=False, executable=str(tmp_path / "python.exe"), platform="win32") == [
        str(tmp_path / "pythonw.exe"), "-m", "app"]


def test_launch_command_frozen_bundle(tmp_path):
    exe = tmp_path / "workbooks-connector"
    assert launch_command(frozen=True, executable=str(exe), platform="linux") == [str(exe)]
    app_exe = "/Applications/Workbooks connector.app/Contents/MacOS/workbooks-connector"
    assert launch_command(frozen=True, executable=app_exe, platform="darwin") == [app_exe]


def test_launch_command_frozen_windows_uses_the_windowed_twin(tmp_path):
    cli = tmp_path / "workbooks-connector-cli.exe"
    gui = tmp_path / "workbooks-connector.exe"
    cli.write_text("")
    assert launch_command(frozen=True, executable=str(cli), platform="win32") == [str(cli)]  # no twin: keep
    gui.write_text("")
    assert launch_command(frozen=True, executable=str(cli), platform="win32") == [str(gui)]


def test_launch_command_with_profile(tmp_path):
    command = launch_command(profile=tmp_path / "p", frozen=True, executable="/opt/wc/workbooks-connector",
                             platform="linux")
    assert command == ["/opt/wc/workbooks-connector", "--profile", str((tmp_path / "p").resolve())]
