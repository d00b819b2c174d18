"""Icons ship in the package (app/ui/icons) and in the source tree (resources/icons), alike."""
from __future__ import annotations

import pathlib

from PySide6.QtSvg import QSvgRenderer

from app.ui import resources

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_tray_state_and_the_app_icon_load(qtbot):
    assert not resources.app_icon().isNull()
    for state in resources.TRAY_STATES:
        icon = resources.tray_icon(state)
        assert not icon.isNull()
        assert icon.pixmap(22, 22).width() == 22


def test_packaged_and_source_icons_are_identical_and_valid():
    src, pkg = ROOT / "resources" / "icons", ROOT / "app" / "ui" / "icons"
    names = sorted(p.name for p in src.iterdir() if p.suffix in (".svg", ".png"))
    assert names == sorted(p.name for p in pkg.iterdir() if p.suffix in (".svg", ".png"))
    for name in names:
        assert (src / name).read_bytes() == (pkg / name).read_bytes(), name
    for svg in src.glob("*.svg"):
        assert QSvgRenderer(str(svg)).isValid(), svg.name
