"""One-shot background calls for the wizard and the filter editor (design.md §3).

Each probe runs a plain callable (built by the real backend with short-lived clients) on a
`QRunnable` in a private `QThreadPool`, and the result comes back to the GUI thread by signal.
A newer request under the same name makes the older result stale: it is dropped, so a fast
typist never sees yesterday's preview count.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger("workbooks_connector.runner")


class _Relay(QObject):
    done = Signal(str, int, bool, object)  # name, request id, ok, result-or-exception


class _Probe(QRunnable):
    def __init__(self, relay: _Relay, name: str, request: int, func: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._relay, self._name, self._request, self._func = relay, name, request, func

    def run(self) -> None:  # on a pool thread
        try:
            result = self._func()
        except Exception as exc:  # noqa: BLE001 - handed to the GUI as a value
            if not hasattr(exc, "title"):
                log.warning("probe %s failed: %s: %s", self._name, type(exc).__name__, exc)
            self._relay.done.emit(self._name, self._request, False, exc)
        else:
            self._relay.done.emit(self._name, self._request, True, result)


class ProbeRunner(QObject):
    """`submit(name, func)`; then `finished(name, result)` or `failed(name, exception)`."""

    finished = Signal(str, object)
    failed = Signal(str, object)
    busy_changed = Signal(str, bool)

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        # Parentless and referenced by every running probe: a probe finishing after this runner
        # (or its window) is gone emits on a live object, and Qt has dropped the connection.
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}

    def submit(self, name: str, func: Callable[[], Any]) -> int:
        request = next(self._ids)
        self._latest[name] = request
        self.busy_changed.emit(name, True)
        self.pool.start(_Probe(self._relay, name, request, func))
        return request

    def is_busy(self, name: str) -> bool:
        return name in self._latest

    def forget(self, name: str) -> None:
        """Drop the result of a pending probe (the page it was for has gone)."""
        self._latest.pop(name, None)

    @Slot(str, int, bool, object)
    def _on_done(self, name: str, request: int, ok: bool, value: object) -> None:
        if self._latest.get(name) != request:
            return  # stale
        del self._latest[name]
        self.busy_changed.emit(name, False)
        (self.finished if ok else self.failed).emit(name, value)

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        return self.pool.waitForDone(msecs)
