"""Run the EWS sandbox alone: ``python -m app.sandbox.ews [--port N] [--auth basic,ntlm] ...``.

Prints one JSON line with the connection facts, then serves until SIGINT/SIGTERM. Handy for
release checks with other languages' EWS clients.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .sandbox import start_ews_sandbox
from .soap import ServerVersion


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.sandbox.ews", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--people", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--auth", default="basic,ntlm", help="comma list of none, basic, ntlm, bearer")
    p.add_argument("--user", action="append", default=[], metavar="DOMAIN:USER:PASSWORD",
                   help="extra user (blank DOMAIN for UPN/e-mail logins); repeatable")
    p.add_argument("--users-file", type=Path, help="file of DOMAIN:USER:PASSWORD lines")
    p.add_argument("--bearer-token")
    p.add_argument("--tls", type=Path, metavar="DIR", help="generate a self-signed certificate in DIR")
    p.add_argument("--state", type=Path, metavar="DIR")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--build", default="15.1.2507.6", help="ServerVersionInfo build")
    p.add_argument("--api-version", default="V2017_07_11", help="ServerVersionInfo Version attribute")
    args = p.parse_args(argv)
    users = list(args.user)
    if args.users_file:
        users += args.users_file.read_text(encoding="utf-8").splitlines()
    build = [int(x) for x in args.build.split(".")]
    server, sandbox = start_ews_sandbox(
        people=args.people, seed=args.seed, host=args.host, port=args.port,
        auth=tuple(a.strip() for a in args.auth.split(",") if a.strip()), users=users or None,
        tls=args.tls, latency_ms=args.latency_ms, fail_rate=args.fail_rate, state_dir=args.state,
        bearer_token=args.bearer_token, version=ServerVersion(*build, args.api_version),
    )
    facts = {"ews_url": sandbox.url, "mailbox": sandbox.mailbox, "ews_username": sandbox.username,
             "ews_password": sandbox.password}
    if args.tls:
        facts["ca_bundle"] = str(args.tls / "sandbox-cert.pem")
    print(json.dumps(facts), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
