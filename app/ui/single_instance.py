"""One app per profile and user: a second launch asks the first to show itself, then exits."""
from __future__ import annotations

import getpass
import hashlib

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

MESSAGE = b"raise\n"


def server_name(profile_key: str) -> str:
    digest = hashlib.sha256(f"{getpass.getuser()}|{profile_key}".encode()).hexdigest()[:16]
    return f"workbooks-connector-{digest}"


class SingleInstance(QObject):
    activated = Signal()  # another launch asked us to come forward

    def __init__(self, profile_key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(profile_key)
        self.server: QLocalServer | None = None

    def notify_running(self, timeout_ms: int = 500) -> bool:
        """True if another instance answered (and was asked to show itself)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(MESSAGE)
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        """Become the primary instance. Call only after `notify_running()` returned False."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            QLocalServer.removeServer(self.name)  # a stale socket left by a crash
            if not server.listen(self.name):
                return False
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    @Slot()
    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            # The message is one short line sent right after connecting: read it here rather
            # than keeping per-connection closures alive.
            if conn.bytesAvailable() or conn.waitForReadyRead(500):
                data = bytes(conn.readAll().data())
                if MESSAGE.strip() in data:
                    self.activated.emit()
            conn.disconnectFromServer()
            conn.deleteLater()
