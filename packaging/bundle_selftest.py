"""Checks only a frozen bundle needs: run as `workbooks-connector --bundle-selftest`.

`--version` and `demo --headless` exercise the CLI, the sandboxes, exchangelib, httpx, lxml and
SQLite, but never Qt: this covers what they miss and what PyInstaller most often drops. Every
app module imports (no hidden import forgotten); the icons are found under sys._MEIPASS and
render through Qt's image plugins (PNG and SVG) on the current Qt platform; Qt's
network-information plugins are present; keyring's backends
are importable; tzdata's zones load; start at sign-in names the bundle's executable; certifi's CA file is present; a journal database opens.
Prints one line per check and exits 1 if any failed. packaging/build.sh runs it.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

CHECKS: list[tuple[str, Callable[[], str]]] = []


def check(fn: Callable[[], str]) -> Callable[[], str]:
    CHECKS.append((fn.__name__.replace("_", " "), fn))
    return fn


@check
def app_modules_import() -> str:
    import app

    # app.__main__ would run the CLI on import
    names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.") if m.name != "app.__main__"]
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - report every module, not the first
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if len(names) < 20:
        raise AssertionError(f"only {len(names)} app modules found in the bundle")
    if failed:
        raise AssertionError("; ".join(failed))
    return f"{len(names)} modules"


@check
def icons_from_bundle() -> str:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.ui import resources

    qt_app = QApplication.instance() or QApplication(["workbooks-connector"])
    folder = resources.icons_dir()
    base = Path(getattr(sys, "_MEIPASS", "")).resolve()
    if getattr(sys, "frozen", False) and base not in folder.resolve().parents:
        raise AssertionError(f"icons found outside the bundle: {folder}")
    for state in resources.TRAY_STATES:
        if resources.tray_icon(state).pixmap(22, 22).isNull():
            raise AssertionError(f"tray icon {state!r} does not render")
    if resources.app_icon().pixmap(256, 256).isNull():
        raise AssertionError("app icon does not render")
    if QIcon(str(folder / "app.svg")).pixmap(48, 48).isNull():
        raise AssertionError("SVG icons do not render (Qt svg image format plugin missing)")
    return f"{folder} on Qt platform {qt_app.platformName()}"


@check
def network_information() -> str:
    """The scheduler's "network is back" trigger needs one of Qt's network-information plugins."""
    from PySide6.QtNetwork import QNetworkInformation

    backends = QNetworkInformation.availableBackends()
    if not backends:
        raise AssertionError("no QNetworkInformation backend plugin in the bundle")
    return ", ".join(backends)


@check
def keyring_backends() -> str:
    import keyring
    import keyring.backend

    wanted = {"win32": "keyring.backends.Windows", "darwin": "keyring.backends.macOS"}.get(
        sys.platform, "keyring.backends.SecretService")
    importlib.import_module(wanted)
    names = sorted(type(b).__module__ + "." + type(b).__name__ for b in keyring.backend.get_all_keyring())
    return f"{wanted} importable; usable here: {', '.join(names) or 'none'} (current: {type(keyring.get_keyring()).__name__})"


@check
def time_zones() -> str:
    import zoneinfo

    for key in ("Europe/London", "America/New_York", "Australia/Sydney", "UTC"):
        zoneinfo.ZoneInfo(key)
    count = len(zoneinfo.available_timezones())
    if count < 300:
        raise AssertionError(f"only {count} time zones available")
    return f"{count} zones"


@check
def tls_certificates() -> str:
    import certifi

    path = Path(certifi.where())
    if not path.is_file():
        raise AssertionError(f"certifi CA bundle missing: {path}")
    return str(path)


@check
def journal_database() -> str:
    from app.journal import db

    with tempfile.TemporaryDirectory() as tmp:
        db.open_database(Path(tmp) / "journal.sqlite3").dispose()
    return "opened a fresh journal"


@check
def autostart_command() -> str:
    """Start at sign-in must name this bundle's executable (not `python -m app`)."""
    from app import autostart

    command = autostart.launch_command()
    if getattr(sys, "frozen", False):
        if command != [sys.executable] or not Path(sys.executable).is_file():
            raise AssertionError(f"launch command {command!r} is not the bundle executable")
    if sys.platform.startswith("linux"):
        from app.autostart.linux import XdgAutostart

        with tempfile.TemporaryDirectory() as tmp:
            entry = XdgAutostart(Path(tmp))
            entry.enable(command)
            if entry.registered_command() != command:
                raise AssertionError(f"XDG entry reads back as {entry.registered_command()!r}")
    return " ".join(command)


def run() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    failures = 0
    for name, fn in CHECKS:
        try:
            print(f"ok   {name}: {fn()}")
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
    print("bundle self-test " + ("passed" if not failures else f"failed ({failures} checks)"))
    sys.stdout.flush()
    return 1 if failures else 0
