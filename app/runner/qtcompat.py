"""Work-around for a PySide6 binding bug, applied only where it is detected.

PySide6 6.12 on Python 3.11 returns `None` from void methods (`QTimer.start`, `setText`, ...)
and the bool result of `SignalInstance.emit()` without taking a reference, so every such call
steals one reference to `None`, `True` or `False`. Python 3.12 made these singletons immortal
(PEP 683), which hides the bug there; on 3.11 their counts reach zero after some thousands of
calls and the interpreter aborts ("none_dealloc: deallocating None"). A tray app calls Qt for
days, so on an affected interpreter we do what 3.12 does: give the three singletons a reference
count so large that no realistic run can drain it. Nothing changes on unaffected versions.

Importing this module applies the fix; every module in app/runner and app/ui imports it (the
Qt layer's entry points do, and `tests/ui/test_qtcompat.py` checks the detection).
"""
from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

IMMORTAL = 1 << 60  # 3.12 uses a similar saturated count for immortal objects


def _steals_references() -> bool:
    if sys.version_info >= (3, 12):
        return False  # singletons are immortal: the stolen references do no harm
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(16):
        probe.setObjectName("probe")  # a void method
    return before - sys.getrefcount(None) >= 16


def _immortalise(obj: object) -> None:
    refcnt = ctypes.c_ssize_t.from_address(id(obj))  # CPython: ob_refcnt is the first field
    if refcnt.value < IMMORTAL:
        refcnt.value = IMMORTAL


STEALS_REFERENCES = _steals_references()
if STEALS_REFERENCES:
    for _singleton in (None, True, False):
        _immortalise(_singleton)


def ensure() -> bool:
    """Re-apply (cheap, idempotent); returns whether the work-around is active."""
    if STEALS_REFERENCES:
        for obj in (None, True, False):
            _immortalise(obj)
    return STEALS_REFERENCES
