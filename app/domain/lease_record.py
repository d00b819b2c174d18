"""The lease as stored in the mailbox: one small JSON document, the same for every mailbox route."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from app.domain.records import Lease

UNREADABLE_HOLDER = "unknown computer"


def encode_lease(lease: Lease) -> str:
    return json.dumps({
        "holder_machine_id": lease.holder_machine_id,
        "holder_host": lease.holder_host,
        "heartbeat_at": lease.heartbeat_at.astimezone(timezone.utc).isoformat(),
        "app_version": lease.app_version,
    })


def decode_lease(text: str | None, version: str) -> Lease:
    try:
        data = json.loads(text or "")
        beat = datetime.fromisoformat(data["heartbeat_at"])
        return Lease(holder_machine_id=str(data["holder_machine_id"]), holder_host=str(data.get("holder_host", "")),
                     heartbeat_at=beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc),
                     app_version=str(data.get("app_version", "")), version=version)
    except (ValueError, KeyError, TypeError):
        # Unreadable lease: an expired lease from an unknown machine, so it can be taken over.
        return Lease(holder_machine_id="", holder_host=UNREADABLE_HOLDER,
                     heartbeat_at=datetime(1970, 1, 1, tzinfo=timezone.utc), version=version)
