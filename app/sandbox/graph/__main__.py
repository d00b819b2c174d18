"""Run the Graph sandbox alone: ``python -m app.sandbox.graph [--port N] [--tls DIR] ...``.

Prints one JSON line with the connection facts (GraphSandbox.connection_facts), then serves until
SIGINT/SIGTERM. msal needs https, so sign-in tests want --tls; device codes are approved
automatically after the first pending poll unless --manual-approve is given (then approve on the
verification page or via POST /_sandbox/graph/approve).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .sandbox import start_graph_sandbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.sandbox.graph", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--people", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tls", type=Path, metavar="DIR", help="generate a self-signed certificate in DIR")
    p.add_argument("--state", type=Path, metavar="DIR", help="keep the mailbox across restarts")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429/503")
    p.add_argument("--manual-approve", action="store_true", help="device codes wait for approval")
    args = p.parse_args(argv)
    server, sandbox = start_graph_sandbox(
        people=args.people, seed=args.seed, host=args.host, port=args.port, tls=args.tls,
        latency_ms=args.latency_ms, fail_rate=args.fail_rate, retry_after=args.retry_after,
        auto_approve_polls=None if args.manual_approve else 1, state_dir=args.state,
    )
    print(json.dumps(sandbox.connection_facts()), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
