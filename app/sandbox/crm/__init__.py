"""Workbooks API sandbox: a loopback server that behaves like the Workbooks service on the wire
(shared/docs/workbooks-api.md §7).

    server, box = start_crm_sandbox(people=500)
    # GET f"{server.base_url}/crm/people.api?api_key={box.api_key}&_start=0&_limit=100&client=api"
    server.stop()   # also saves the state when state_dir was given

Modules: routes (HTTP, auth, responses), control (/_sandbox/crm/...), auth (login, sessions), state
(CrmSandbox: data, knobs, recordings, test helpers), store (records and columns), query (reads),
batch (writes), formats (wire formats, clock), metadata (types and fields), seeding, persistence.
"""
from __future__ import annotations

from pathlib import Path

from app.sandbox import seed as _seed
from app.sandbox.crm.formats import Clock
from app.sandbox.crm.state import CrmSandbox
from app.sandbox.server import RunningServer, TlsFiles

# Seeded credentials of the signed-in user (also on the CrmSandbox object: .username, .password,
# .api_key, .database_id, .user_id, .my_queues). The key depends on the seed: api_key_for(seed).
USERNAME = _seed.MAILBOX
PASSWORD = _seed.CRM_PASSWORD
PERSON_NAME = _seed.USER_NAME
DATABASE_ID = _seed.CRM_DATABASE_ID
USER_ID = _seed.CRM_USER_ID
api_key_for = _seed.crm_api_key


class CrmRunningServer(RunningServer):
    """A RunningServer whose stop() also stops autosaving and writes the state file."""

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            box = self.httpd.app
            box.close()


def start_crm_sandbox(
    dataset: _seed.Dataset | None = None,
    *,
    people: int = 50,
    seed: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0.0,
    fail_rate: float = 0.0,
    state_dir: Path | str | None = None,
    tls: TlsFiles | None = None,
    clock: Clock | None = None,
) -> tuple[RunningServer, CrmSandbox]:
    from app.sandbox.crm.routes import CrmHandler

    box = CrmSandbox(dataset, people=people, seed=seed, clock=clock,
                     state_dir=Path(state_dir) if state_dir is not None else None)
    server = CrmRunningServer(CrmHandler, box, host=host, port=port, tls=tls)
    box.service_url = server.base_url
    box.secure_cookie = tls is not None
    for db in box.dbs.values():
        db.service_url = server.base_url
    server.faults.configure({"latency_ms": latency_ms, "fail_rate": fail_rate})
    if state_dir is not None:
        box.save()
        box.start_autosave()
    return server, box


__all__ = ["CrmSandbox", "start_crm_sandbox", "Clock", "USERNAME", "PASSWORD", "PERSON_NAME", "DATABASE_ID",
           "USER_ID", "api_key_for", "CrmRunningServer"]
