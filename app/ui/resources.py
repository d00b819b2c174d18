"""Finds icons both in an installed package (app/ui/icons/) and in the source tree
(resources/icons/). Both hold the same files, written by resources/make_icons.py."""
from __future__ import annotations

import functools
import pathlib

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

HERE = pathlib.Path(__file__).resolve().parent
CANDIDATES = (HERE / "icons", HERE.parents[1] / "resources" / "icons")
TRAY_STATES = ("idle", "syncing", "paused", "error", "conflict", "attention", "offline")


def icons_dir() -> pathlib.Path:
    for folder in CANDIDATES:
        if (folder / "app.svg").exists():
            return folder
    raise FileNotFoundError("icons not found in " + ", ".join(map(str, CANDIDATES)))


def _icon(stem: str) -> QIcon:
    folder = icons_dir()
    icon = QIcon()
    for png in sorted(folder.glob(f"{stem}-*.png")):
        size = int(png.stem.rsplit("-", 1)[1])
        icon.addFile(str(png), QSize(size, size))
    if icon.isNull():
        icon.addFile(str(folder / f"{stem}.svg"))
    return icon


@functools.lru_cache(maxsize=None)
def app_icon() -> QIcon:
    return _icon("app")


@functools.lru_cache(maxsize=None)
def tray_icon(state: str) -> QIcon:
    if state not in TRAY_STATES:
        state = "idle"
    return _icon(f"tray-{state}")
