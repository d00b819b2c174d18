"""`workbooks-connector sandbox`: both sandboxes until SIGINT/SIGTERM (interfaces.md section 3).

`--mailbox-api graph` starts the Microsoft Graph sandbox (always HTTPS, because msal refuses a
plain-http authority; device codes approved automatically) in place of the EWS one; the Workbooks
sandbox stays plain HTTP unless --tls is given."""
from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from app.sandbox import seed
from app.sandbox.server import RunningServer, TlsFiles, make_self_signed


@dataclass
class Sandboxes:
    crm_server: RunningServer
    crm: Any
    ews_server: RunningServer | None  # None with mailbox_api="graph"
    ews: Any
    tls: TlsFiles | None = None
    graph_server: RunningServer | None = None  # with mailbox_api="graph"
    graph: Any = None  # GraphSandbox

    @property
    def mailbox_api(self) -> str:
        return "graph" if self.graph is not None else "ews"

    @property
    def workbooks_url(self) -> str:
        return self.crm_server.base_url

    @property
    def ews_url(self) -> str:
        if self.ews_server is None:
            raise AttributeError("no EWS sandbox runs beside the Graph sandbox")
        return self.ews_server.base_url + self.ews.endpoint_path

    def connection_facts(self) -> dict[str, Any]:
        ews = self.ews is not None
        facts: dict[str, Any] = {"workbooks_url": self.workbooks_url, **({"ews_url": self.ews_url} if ews else {}),
                                 "workbooks_username": self.crm.username, "workbooks_password": self.crm.password,
                                 "workbooks_api_key": self.crm.api_key}
        if ews:  # the order of interfaces.md section 3
            facts.update({"mailbox": self.ews.mailbox, "ews_username": self.ews.username,
                          "ews_password": self.ews.password})
        database_id = getattr(self.crm, "database_id", None)
        if database_id is not None:
            facts["workbooks_database_id"] = str(database_id)
        if self.tls is not None:
            facts["ca_bundle"] = str(self.tls.cert)
        if self.graph is not None:
            facts.update(self.graph.connection_facts())  # graph_*, mailbox, ca_bundle (the Graph server's)
        return facts

    def stop(self) -> None:
        pairs = [(self.crm_server, self.crm), (self.ews_server, self.ews), (self.graph_server, self.graph)]
        for server, state in pairs:
            if server is None:
                continue
            try:
                server.stop()
            finally:
                save = getattr(state, "save", None)
                if callable(save):
                    save()


def start_both(
    *,
    people: int = 50,
    seed_value: int = 1,
    host: str = "127.0.0.1",
    workbooks_port: int = 0,
    ews_port: int = 0,
    latency_ms: float = 0.0,
    fail_rate: float = 0.0,
    state_dir: Path | None = None,
    tls: bool = False,
    dataset: seed.Dataset | None = None,
    mailbox_api: str = "ews",
    graph_port: int = 0,
) -> Sandboxes:
    """The Workbooks sandbox plus the EWS sandbox, or with mailbox_api="graph" the Graph sandbox
    (HTTPS always; `tls` then also puts the Workbooks sandbox on HTTPS with the same certificate)."""
    from app.sandbox.crm import start_crm_sandbox
    from app.sandbox.ews import start_ews_sandbox

    if people < 0:
        raise ConfigError("--people cannot be negative")
    if not 0.0 <= fail_rate <= 1.0:
        raise ConfigError("--fail-rate is a share between 0 and 1")
    if mailbox_api not in ("ews", "graph"):
        raise ConfigError("--mailbox-api is ews or graph")
    data = dataset or seed.build(people, seed_value)
    tls_files = None
    if tls or mailbox_api == "graph":
        cert_dir = (state_dir / "tls") if state_dir else Path(tempfile.mkdtemp(prefix="wbc-sandbox-tls-"))
        tls_files = make_self_signed(cert_dir, host)
    crm_state = state_dir / "workbooks" if state_dir else None
    ews_state = state_dir / "ews" if state_dir else None
    crm_server, crm = start_crm_sandbox(
        data, host=host, port=workbooks_port, latency_ms=latency_ms, fail_rate=fail_rate,
        state_dir=crm_state, tls=tls_files if tls else None,
    )
    if mailbox_api == "graph":
        from app.sandbox.graph import start_graph_sandbox

        try:
            graph_server, graph = start_graph_sandbox(
                data, host=host, port=graph_port, latency_ms=latency_ms, fail_rate=fail_rate,
                state_dir=state_dir / "graph" if state_dir else None, tls=tls_files,
            )
        except BaseException:
            crm_server.stop()
            raise
        return Sandboxes(crm_server, crm, None, None, tls_files if tls else None, graph_server, graph)
    try:
        ews_server, ews = start_ews_sandbox(
            data, host=host, port=ews_port, latency_ms=latency_ms, fail_rate=fail_rate,
            state_dir=ews_state, tls=tls_files,
        )
    except BaseException:
        crm_server.stop()
        raise
    return Sandboxes(crm_server, crm, ews_server, ews, tls_files)


def run(args: Any) -> int:
    try:
        boxes = start_both(
            people=args.people,
            seed_value=args.seed,
            host=args.host,
            workbooks_port=args.workbooks_port,
            ews_port=args.ews_port,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            state_dir=Path(args.state).expanduser().resolve() if args.state else None,
            tls=args.tls,
            mailbox_api=getattr(args, "mailbox_api", "ews"),
            graph_port=getattr(args, "graph_port", 0),
        )
    except OSError as exc:
        raise ConfigError(f"could not start the sandboxes: {exc.strerror or exc}") from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(json.dumps(boxes.connection_facts()))
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        boxes.stop()
    return 0
