"""Packaging files, checked fast (the real bundle build is packaging/build.sh, too slow for CI).

The spec is executed with PyInstaller's build classes replaced by recorders, once per platform,
so what it would hand PyInstaller (data files, hidden imports, executables, the macOS bundle)
is checked without PyInstaller installed.
"""
from __future__ import annotations

import ast
import configparser
import importlib.util
import plistlib
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "workbooks-connector.spec"
DESKTOP = PACKAGING / "workbooks-connector.desktop"
BUILD_SH = PACKAGING / "build.sh"


class Recorder:
    """Stands in for Analysis, PYZ, EXE, COLLECT and BUNDLE: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        # what the spec reads from an Analysis
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], list(kwargs.get("datas", []))


def _fake_pyinstaller(monkeypatch):
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda name, *a, **k: [name]
    versioninfo = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for name in ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct",
                 "VarFileInfo", "VarStruct"):
        setattr(versioninfo, name, type(name, (Recorder,), {"__str__": lambda self: repr(self.args)}))
    for name, module in {
        "PyInstaller": types.ModuleType("PyInstaller"),
        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
        "PyInstaller.utils.hooks": hooks,
        "PyInstaller.utils.win32": types.ModuleType("PyInstaller.utils.win32"),
        "PyInstaller.utils.win32.versioninfo": versioninfo,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    sys.modules["PyInstaller.utils.win32"].versioninfo = versioninfo


def run_spec(monkeypatch, tmp_path, platform: str) -> dict:
    _fake_pyinstaller(monkeypatch)
    monkeypatch.setattr(sys, "platform", platform)
    made: dict[str, list[Recorder]] = {}

    def recorder(kind):
        def make(*args, **kwargs):
            obj = Recorder(*args, **kwargs)
            made.setdefault(kind, []).append(obj)
            return obj
        return make

    namespace = {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    namespace.update(SPECPATH=str(PACKAGING), workpath=str(tmp_path / "work"), __file__=str(SPEC),
                     __name__="__main__")
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return made


def test_spec_is_valid_python():
    ast.parse(SPEC.read_text(encoding="utf-8"))


@pytest.fixture(params=["linux", "win32", "darwin"])
def spec_run(request, monkeypatch, tmp_path):
    return request.param, run_spec(monkeypatch, tmp_path, request.param)


def test_spec_collects_the_data_the_app_needs(spec_run):
    _platform, made = spec_run
    (analysis,) = made["Analysis"]
    datas = analysis.kwargs["datas"]
    for source, _dest in datas:
        assert Path(source).exists(), source
    # app/ui/resources.py looks next to itself: frozen, that is <_MEIPASS>/app/ui/icons
    icon_entries = [(Path(s), d) for s, d in datas if d == "app/ui/icons"]
    assert len(icon_entries) == 1
    icons = icon_entries[0][0]
    assert icons.resolve() in {(ROOT / "app/ui/icons").resolve(), (ROOT / "resources/icons").resolve()}
    dests = {d for _s, d in datas}
    assert "share/applications" in dests
    assert "share/icons/hicolor/256x256/apps" in dests
    assert Path(analysis.args[0][0]) == PACKAGING / "launcher.py"
    assert str(ROOT) in analysis.kwargs["pathex"]


def test_spec_icons_cover_what_the_ui_asks_for():
    tree = ast.parse((ROOT / "app/ui/resources.py").read_text(encoding="utf-8"))
    states = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "TRAY_STATES")
    folder = ROOT / "app/ui/icons"
    assert (folder / "app.svg").exists() and list(folder.glob("app-*.png"))
    for state in states:
        assert (folder / f"tray-{state}.svg").exists(), state
        assert list(folder.glob(f"tray-{state}-*.png")), state


def test_spec_hidden_imports(spec_run):
    _platform, made = spec_run
    hidden = set(made["Analysis"][0].kwargs["hiddenimports"])
    for name in ("app",  # commands are loaded by name in cli.py
                 "tzdata", "zoneinfo", "keyring.backends.SecretService", "keyring.backends.Windows",
                 "keyring.backends.macOS", "secretstorage", "sqlalchemy.dialects.sqlite", "sqlite3",
                 "PySide6.QtSvg", "requests_ntlm", "spnego"):
        assert name in hidden, name


def test_spec_executables_per_platform(spec_run):
    platform, made = spec_run
    exes = {e.kwargs["name"]: e.kwargs for e in made["EXE"]}
    assert exes["workbooks-connector"]["console"] is False
    assert exes["workbooks-connector"]["upx"] is False
    (collect,) = made["COLLECT"]
    assert collect.kwargs["name"] == "workbooks-connector"
    if platform == "win32":
        assert exes["workbooks-connector-cli"]["console"] is True  # the CLI must print on Windows
        assert exes["workbooks-connector"]["icon"].endswith(".ico")
        assert exes["workbooks-connector"]["version"]  # VERSIONINFO resource file
        assert len(collect.args) >= 2
    else:
        assert set(exes) == {"workbooks-connector"}
    if platform == "darwin":
        (bundle,) = made["BUNDLE"]
        assert bundle.kwargs["icon"].endswith(".icns")
        plist = bundle.kwargs["info_plist"]
        assert plist["CFBundleShortVersionString"] == app.__version__
        assert plist["CFBundleVersion"] == app.__version__
        assert bundle.kwargs["version"] == app.__version__
    else:
        assert "BUNDLE" not in made
    for kwargs in exes.values():
        if kwargs["icon"]:
            assert Path(kwargs["icon"]).is_file()


def test_platform_icons_are_current():
    spec = importlib.util.spec_from_file_location("make_platform_icons", PACKAGING / "make_platform_icons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python packaging/make_platform_icons.py"
    ico = (PACKAGING / "icons/workbooks-connector.ico").read_bytes()
    assert ico[:4] == b"\0\0\1\0" and int.from_bytes(ico[4:6], "little") == len(module.ICO_SIZES)
    icns = (PACKAGING / "icons/workbooks-connector.icns").read_bytes()
    assert icns[:4] == b"icns" and int.from_bytes(icns[4:8], "big") == len(icns)


def test_info_plist():
    with open(PACKAGING / "Info.plist", "rb") as fh:
        plist = plistlib.load(fh)
    from app.autostart import macos

    assert plist["CFBundleIdentifier"] == macos.LABEL
    assert plist["CFBundleExecutable"] == "workbooks-connector"
    assert plist["LSUIElement"] is True  # menu-bar app: no Dock icon
    # the version is filled in by the spec from app/__init__.py, never written here
    assert "CFBundleShortVersionString" not in plist and "CFBundleVersion" not in plist


# --- the .desktop entry -----------------------------------------------------------------------


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    assert parser.sections()[0] == "Desktop Entry"
    return parser["Desktop Entry"]


def test_desktop_entry_keys():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Workbooks connector"
    assert entry["Exec"].split()[0] == "workbooks-connector"
    assert entry["Icon"] == "workbooks-connector"  # hicolor theme name, not a path
    assert entry["Categories"] == "Office;Network;"
    assert entry["Terminal"] == "false"
    assert entry["StartupNotify"] in ("true", "false")
    for key in entry:
        assert re.fullmatch(r"[A-Za-z0-9-]+(\[[^\]]+\])?", key), key
        assert key in {"Type", "Version", "Name", "GenericName", "Comment", "Exec", "TryExec", "Icon", "Terminal",
                       "Categories", "Keywords", "StartupNotify", "StartupWMClass"} or key.startswith("X-"), key


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (apt-get install desktop-file-utils)")
def test_desktop_file_validate():
    out = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    # Categories=Office;Network; earns a "more than one main category" hint: wanted, not an error
    assert not [ln for ln in text.splitlines() if ": error:" in ln or ": warning:" in ln], text


# --- version from one place -------------------------------------------------------------------


def test_version_has_one_source():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "app.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+|\.dev\d+)?", app.__version__)
    # the literal appears nowhere else in code or packaging
    literal = re.compile(re.escape(f'"{app.__version__}"') + "|" + re.escape(f"'{app.__version__}'")
                         + "|" + re.escape(f">{app.__version__}<"))
    offenders = []
    for path in [*(ROOT / "app").rglob("*.py"), *PACKAGING.rglob("*")]:
        if path.is_file() and path != ROOT / "app/__init__.py" and path.suffix not in (".ico", ".icns", ".pyc"):
            if literal.search(path.read_text(encoding="utf-8", errors="replace")):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"version hard-coded outside app/__init__.py: {offenders}"


def test_changelog_names_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "keepachangelog.com" in text
    assert re.search(r"^## \[Unreleased\]", text, re.M)
    assert re.search(rf"^## \[{re.escape(app.__version__)}\]", text, re.M), "no section for app.__version__"


# --- build.sh ---------------------------------------------------------------------------------


def test_build_script():
    text = BUILD_SH.read_text(encoding="utf-8")
    assert BUILD_SH.stat().st_mode & 0o111, "packaging/build.sh must be executable"
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(BUILD_SH)], check=True)
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert re.search(r'"pyinstaller>=\d+\.\d+', text), "pyinstaller needs a pinned lower bound"
    for needle in ("packaging/$NAME.spec", '--version', "demo --headless --people 30", "QT_QPA_PLATFORM=offscreen",
                   "WORKBOOKS_CONNECTOR_HOME=", "--bundle-selftest"):
        assert needle in text, needle


def test_build_outputs_are_ignored_and_not_in_ci():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "build/" in ignored and "dist/" in ignored
    ci = ROOT / ".ci" / "run"
    if ci.exists():
        assert "build.sh" not in ci.read_text(encoding="utf-8"), "the bundle build is too slow for CI"


def test_launcher_drops_dash_m_app_only_when_frozen(monkeypatch):
    spec = importlib.util.spec_from_file_location("wc_launcher", PACKAGING / "launcher.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)  # __name__ is not __main__: nothing runs
    argv = ["/opt/wc/workbooks-connector", "-m", "app", "--profile", "p", "sync", "--json"]
    assert launcher._strip_module_switch(argv) == argv  # not frozen
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert launcher._strip_module_switch(argv) == ["/opt/wc/workbooks-connector", "--profile", "p", "sync", "--json"]
    assert launcher._strip_module_switch(["x", "--version"]) == ["x", "--version"]


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None, reason="Linux installer")
def test_install_linux_script_with_a_fake_bundle(tmp_path):
    from app.autostart import linux as xdg

    bundle = tmp_path / "dist" / "workbooks-connector"
    share = bundle / "_internal" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy(DESKTOP, share / "applications")
    for size in (16, 256):
        (share / f"icons/hicolor/{size}x{size}/apps").mkdir(parents=True)
        shutil.copy(ROOT / f"app/ui/icons/app-{size}.png", share / f"icons/hicolor/{size}x{size}/apps")
    exe = bundle / "workbooks-connector"
    exe.write_text("#!/bin/sh\necho fake\n")
    exe.chmod(0o755)
    home = tmp_path / "home with space"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "BUNDLE": str(bundle), "PREFIX": str(home / ".local"),
           "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
    script = PACKAGING / "install-linux.sh"
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True)

    installed = home / ".local/lib/workbooks-connector/workbooks-connector"
    assert installed.is_file()
    assert (home / ".local/bin/workbooks-connector").resolve() == installed.resolve()
    assert (home / "data/icons/hicolor/256x256/apps/workbooks-connector.png").is_file()
    entry = xdg.read_entry(home / "data/applications/workbooks-connector.desktop")
    assert xdg.parse_exec(entry["Exec"]) == [str(installed)]
    assert entry["TryExec"] == str(installed)
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(["desktop-file-validate", str(home / "data/applications/workbooks-connector.desktop")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr

    xdg.XdgAutostart(home / "config" / "autostart").enable([str(installed)])
    subprocess.run(["bash", str(script), "--uninstall"], env=env, check=True, capture_output=True)
    assert not installed.exists() and not (home / ".local/bin/workbooks-connector").exists()
    assert not (home / "data/applications/workbooks-connector.desktop").exists()
    assert not (home / "config/autostart/workbooks-connector.desktop").exists()
    assert not list((home / "data/icons").rglob("workbooks-connector.*"))


def test_windows_installer_switches_the_same_run_value_as_the_app():
    from app.autostart import windows

    iss = (PACKAGING / "windows" / "workbooks-connector.iss").read_text(encoding="utf-8")
    assert f'Subkey: "{windows.RUN_KEY}"' in iss
    assert f'Subkey: "{windows.APPROVED_KEY}"' in iss
    assert iss.count(f'ValueName: "{windows.VALUE_NAME}"') == 3
    assert "uninsdeletevalue" in iss
    assert 'GetStringFileInfo(Bundle + "\\" + AppExe, "ProductVersion")' in iss  # version from the exe
    assert "PrivilegesRequired=lowest" in iss  # HKCU is the installing user's own
    assert (PACKAGING / "windows" / "../icons/workbooks-connector.ico").resolve().is_file()
