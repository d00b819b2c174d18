"""Shared plumbing of the loopback sandboxes: threaded HTTP/1.1 server, request statistics,
fault injection and the `/_sandbox/` control endpoints.

Each sandbox subclasses `SandboxHandler` and implements `handle_app(method)`; it calls
`self.stats.count(operation)` once per request it serves so `/_sandbox/stats` reports per
operation, and asks `self.faults.draw()` whether to misbehave.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

CONTROL_PREFIX = "/_sandbox/"


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_operation: dict[str, int] = {}

    def count(self, operation: str) -> None:
        with self._lock:
            self.total += 1
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_operation = {}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": {"total": self.total, "by_operation": dict(self.by_operation)}}


@dataclass
class Faults:
    """Latency and failure injection. `draw()` decides per request.

    fail_rate: probability that a request fails; the failure is drawn from `kinds`
    ("http500", "drop", "busy" - busy means the protocol's own throttling answer).
    fail_next: the next N requests fail (deterministic, for tests), cycling through `kinds`.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    fail_next: int = 0
    kinds: tuple[str, ...] = ("http500", "drop", "busy")
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cycle: int = 0

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def configure(self, data: dict[str, Any]) -> None:
        with self._lock:
            if "latency_ms" in data:
                self.latency_ms = max(0.0, float(data["latency_ms"]))
            if "jitter_ms" in data:
                self.jitter_ms = max(0.0, float(data["jitter_ms"]))
            if "fail_rate" in data:
                self.fail_rate = min(1.0, max(0.0, float(data["fail_rate"])))
            if "fail_next" in data:
                self.fail_next = max(0, int(data["fail_next"]))
            if "kinds" in data and data["kinds"]:
                self.kinds = tuple(str(k) for k in data["kinds"])
            if "seed" in data:
                self._rng.seed(int(data["seed"]))

    def snapshot(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "fail_rate": self.fail_rate,
            "fail_next": self.fail_next,
            "kinds": list(self.kinds),
        }

    def delay(self) -> None:
        with self._lock:
            wait = self.latency_ms + (self._rng.random() * self.jitter_ms if self.jitter_ms else 0.0)
        if wait > 0:
            time.sleep(wait / 1000.0)

    def draw(self) -> str | None:
        """None for a normal answer, else one of `kinds`."""
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                kind = self.kinds[self._cycle % len(self.kinds)]
                self._cycle += 1
                return kind
            if self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                return self._rng.choice(self.kinds)
        return None


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type["SandboxHandler"], app: Any):
        self.app = app  # the sandbox's state object, reachable as self.server.app
        self.stats = RequestStats()
        self.faults = Faults()
        super().__init__(address, handler)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer goes out as two writes, the headers and then the body. With Nagle's algorithm on,
    # the body waited for the client's delayed ACK of the headers, up to 40 ms per request on Linux.
    # A real server sends the two together, so that wait only slowed every sandbox call.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    server_version = "WorkbooksSandbox/1.0"

    # --- to implement ---------------------------------------------------------------
    def handle_app(self, method: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- plumbing ---------------------------------------------------------------------
    @property
    def stats(self) -> RequestStats:
        return self.server.stats

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the stats endpoint is the record

    def read_body(self) -> bytes:
        if getattr(self, "_body", None) is not None:
            return self._body
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length > 0 else b""
        return self._body

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for key, value in items:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8", headers)

    def drop_connection(self) -> None:
        """Close the socket without an answer, as a failing network would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        self._body = None
        if self.path.startswith(CONTROL_PREFIX):
            self._control(method)
            return
        try:
            self.handle_app(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _control(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        body = self.read_body()
        if path == "/_sandbox/stats" and method == "GET":
            self.send_json(200, self.stats.snapshot())
        elif path == "/_sandbox/stats/reset" and method == "POST":
            self.stats.reset()
            self.send_json(200, {"ok": True})
        elif path == "/_sandbox/faults" and method in ("POST", "PUT"):
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("object expected")
                self.faults.configure(data)
            except (ValueError, TypeError) as exc:
                self.send_json(400, {"ok": False, "error": f"bad faults document: {exc}"})
                return
            self.send_json(200, {"ok": True, "faults": self.faults.snapshot()})
        elif path == "/_sandbox/faults" and method == "GET":
            self.send_json(200, self.faults.snapshot())
        else:
            extra: Callable[[str, str, bytes], bool] | None = getattr(self, "handle_control", None)
            if extra is not None and extra(method, path, body):
                return
            self.send_json(404, {"ok": False, "error": "unknown sandbox control endpoint"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")


class RunningServer:
    """A sandbox server on a background thread. Use as a context manager or call stop()."""

    def __init__(
        self,
        handler: type[SandboxHandler],
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: "TlsFiles | None" = None,
    ):
        self.httpd = SandboxHTTPServer((host, port), handler, app)
        self.tls = tls
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls.cert), str(tls.key))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"sandbox-{handler.__name__}", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def stats(self) -> RequestStats:
        return self.httpd.stats

    @property
    def faults(self) -> Faults:
        return self.httpd.faults

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A throwaway certificate with an IP subjectAltName, so clients can verify it when given
    the certificate file as their CA bundle (and refuse it otherwise)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workbooks-connector sandbox")])
    now = _dt.datetime.now(_dt.timezone.utc)
    try:
        san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        san = [x509.DNSName(host)]
    san.append(x509.DNSName("localhost"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "sandbox-cert.pem"
    key_path = directory / "sandbox-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return TlsFiles(cert_path, key_path)
