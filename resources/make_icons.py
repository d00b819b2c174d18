"""Write the SVG icons and render their PNGs (run after editing a shape):

    QT_QPA_PLATFORM=offscreen python resources/make_icons.py

Outputs resources/icons/*.svg and *-<size>.png, and copies them to app/ui/icons/ so an
installed package carries them too (app/ui/resources.py looks in both places).
"""
from __future__ import annotations

import math
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent
OUT = ROOT / "icons"
PKG = ROOT.parent / "app" / "ui" / "icons"

BRAND = "#2563eb"
STATES = {  # name -> (fill, glyph, glyph colour)
    "idle": (BRAND, "sync", "#ffffff"),
    "syncing": ("#ffffff", "sync-turned", BRAND),
    "paused": ("#6b7280", "pause", "#ffffff"),
    "error": ("#dc2626", "cross", "#ffffff"),
    "conflict": ("#ea580c", "swap", "#ffffff"),
    "attention": ("#d97706", "bang", "#ffffff"),
    "offline": ("#9ca3af", "sync", "#ffffff"),
}
TRAY_SIZES = (16, 22, 24, 32, 48, 64)
APP_SIZES = (16, 24, 32, 48, 64, 128, 256)


def _pt(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    a = math.radians(deg)
    return cx + r * math.cos(a), cy + r * math.sin(a)


def _arc_arrow(cx: float, cy: float, r: float, start: float, end: float, colour: str, width: float) -> str:
    """A clockwise arc from `start` to `end` degrees with a filled arrowhead at its end."""
    x0, y0 = _pt(cx, cy, r, start)
    stop = end - 14  # the stroke stops short; the head covers the rest
    x1, y1 = _pt(cx, cy, r, stop)
    large = 1 if (stop - start) % 360 > 180 else 0
    tip = _pt(cx, cy, r, end + 10)
    a = math.radians(stop)
    nx, ny = math.cos(a), math.sin(a)
    hw = width * 1.45
    b1 = (x1 + nx * hw, y1 + ny * hw)
    b2 = (x1 - nx * hw, y1 - ny * hw)
    f = lambda p: f"{p[0]:.2f} {p[1]:.2f}"  # noqa: E731
    return (
        f'<path d="M{x0:.2f} {y0:.2f} A{r} {r} 0 {large} 1 {x1:.2f} {y1:.2f}" fill="none" '
        f'stroke="{colour}" stroke-width="{width}" stroke-linecap="round"/>'
        f'<path d="M{f(b1)} L{f(tip)} L{f(b2)} Z" fill="{colour}" stroke="{colour}" '
        f'stroke-width="1" stroke-linejoin="round"/>'
    )


def glyph(kind: str, colour: str) -> str:
    if kind in ("sync", "sync-turned"):
        turn = 35 if kind == "sync-turned" else 0
        return (f'<g transform="rotate({turn} 32 32)">'
                + _arc_arrow(32, 32, 15, 170, 320, colour, 5.5)
                + _arc_arrow(32, 32, 15, 350, 500, colour, 5.5) + "</g>")
    if kind == "pause":
        return (f'<rect x="22" y="19" width="7.5" height="26" rx="2.5" fill="{colour}"/>'
                f'<rect x="34.5" y="19" width="7.5" height="26" rx="2.5" fill="{colour}"/>')
    if kind == "cross":
        return (f'<path d="M22 22 L42 42 M42 22 L22 42" stroke="{colour}" stroke-width="6.5" '
                f'stroke-linecap="round" fill="none"/>')
    if kind == "bang":
        return (f'<path d="M32 17 L32 36" stroke="{colour}" stroke-width="7" stroke-linecap="round"/>'
                f'<circle cx="32" cy="46" r="4.2" fill="{colour}"/>')
    if kind == "swap":
        return (f'<path d="M17 25 H41" stroke="{colour}" stroke-width="5" stroke-linecap="round"/>'
                f'<path d="M39 17.5 L48 25 L39 32.5 Z" fill="{colour}" stroke="{colour}" stroke-linejoin="round"/>'
                f'<path d="M47 40 H23" stroke="{colour}" stroke-width="5" stroke-linecap="round"/>'
                f'<path d="M25 32.5 L16 40 L25 47.5 Z" fill="{colour}" stroke="{colour}" stroke-linejoin="round"/>')
    raise ValueError(kind)


def tray_svg(state: str) -> str:
    fill, kind, colour = STATES[state]
    ring = f' stroke="{BRAND}" stroke-width="3.5"' if fill == "#ffffff" else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="29" fill="{fill}"{ring}/>' + glyph(kind, colour) + "</svg>\n"
    )


def app_svg() -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 64 64">'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">'
        '<stop offset="0" stop-color="#3b82f6"/><stop offset="1" stop-color="#1d4ed8"/></linearGradient></defs>'
        '<rect x="3" y="3" width="58" height="58" rx="14" fill="url(#g)"/>'
        + _arc_arrow(32, 32, 19, 170, 320, "#ffffff", 4.5)
        + _arc_arrow(32, 32, 19, 350, 500, "#ffffff", 4.5)
        + '<path d="M22.5 26 L26.8 39 L32 29.5 L37.2 39 L41.5 26" fill="none" stroke="#ffffff" '
          'stroke-width="3.6" stroke-linecap="round" stroke-linejoin="round"/>'
        "</svg>\n"
    )


def render(svg_path: pathlib.Path, sizes: tuple[int, ...]) -> None:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        raise SystemExit(f"invalid SVG: {svg_path}")
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        image.save(str(svg_path.with_name(f"{svg_path.stem}-{size}.png")))


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    OUT.mkdir(exist_ok=True)
    files = {f"tray-{s}.svg": (tray_svg(s), TRAY_SIZES) for s in STATES}
    files["app.svg"] = (app_svg(), APP_SIZES)
    for name, (text, sizes) in files.items():
        path = OUT / name
        path.write_text(text, encoding="utf-8")
        render(path, sizes)
    PKG.mkdir(parents=True, exist_ok=True)
    for path in OUT.iterdir():
        if path.suffix in (".svg", ".png"):
            shutil.copy2(path, PKG / path.name)
    print(f"wrote {len(list(OUT.glob('*')))} files to {OUT} and {PKG}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
