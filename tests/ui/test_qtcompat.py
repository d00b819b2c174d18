"""The PySide6 6.12 / Python 3.11 reference leak cannot bring the app down (qtcompat)."""
from __future__ import annotations

import pathlib
import sys

from PySide6.QtCore import QObject, QTimer, Signal

from app.runner import qtcompat

APP = pathlib.Path(__file__).resolve().parents[2] / "app"


class _Pinger(QObject):
    ping = Signal(object)


def test_many_void_calls_and_emits_are_survivable(qtbot):
    p, t = _Pinger(), QTimer()
    for _ in range(50_000):
        p.ping.emit(None)
        t.setInterval(5)
    if sys.version_info < (3, 12) and qtcompat.STEALS_REFERENCES:
        assert sys.getrefcount(None) > 1 << 50 and sys.getrefcount(True) > 1 << 50


def test_every_qt_module_applies_the_work_around():
    missing = []
    for folder in ("ui", "runner"):
        for path in (APP / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "PySide6" in text and path.name != "qtcompat.py" and "qtcompat" not in text:
                missing.append(str(path.relative_to(APP)))
    assert not missing, f"import app.runner.qtcompat in: {missing}"
