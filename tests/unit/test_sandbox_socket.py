"""The sandboxes' sockets answer as a real server does: no Nagle wait between headers and body."""
from __future__ import annotations

import http.client
import socket

from app.sandbox.server import RunningServer, SandboxHandler


class _ReportsNoDelay(SandboxHandler):
    def handle_app(self, method: str) -> None:
        nodelay = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        self.send_bytes(200, b"nodelay=%d" % nodelay, "text/plain")


def test_answers_are_sent_without_nagle_delay():
    server = RunningServer(_ReportsNoDelay, app=None)
    try:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        for _ in range(2):  # the same kept-alive connection for the second request
            conn.request("GET", "/anything")
            answer = conn.getresponse()
            assert answer.status == 200
            assert answer.read() == b"nodelay=1"
        conn.close()
    finally:
        server.stop()
