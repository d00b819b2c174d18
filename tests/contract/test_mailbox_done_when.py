"""Issue 4's Done-when, end to end: `workbooks-connector sandbox` prints its JSON line; an
exchangelib Account built only from that line (no autodiscover) creates, finds, syncs, updates and
deletes (to Deleted Items) contacts, tasks and calendar items, and reads sent items."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import exchangelib
import pytest

from app.connectors.ews import EwsMailbox, EwsSettings, check_connection
from app.domain.records import Kind, NewItem, Update

ROOT = Path(__file__).resolve().parents[2]
ITEMS = {
    Kind.PERSON: ({"first_name": "Done", "last_name": "When", "email1": "done@x.example"}, "job_title", "Tester"),
    Kind.TASK: ({"subject": "Done when", "status": "new", "due_date": "2025-07-01"}, "status", "complete"),
    Kind.MEETING: ({"subject": "Done when", "all_day": False, "start": "2025-07-01T09:00Z", "end": "2025-07-01T09:30Z",
                    "timezone": "Europe/London"}, "location", "Room 4"),
}


@pytest.fixture(scope="module")
def sandbox_line(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    proc = subprocess.Popen([sys.executable, "-m", "app", "sandbox", "--people", "5"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "WORKBOOKS_CONNECTOR_HOME": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line, "the sandbox command printed nothing"
        yield json.loads(line)
    finally:
        exchangelib.close_connections()  # drop keep-alive sockets first, so the server stops at once
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_account_from_the_json_line_does_the_whole_round(sandbox_line):
    line = sandbox_line
    settings = EwsSettings(endpoint=line["ews_url"], mailbox=line["mailbox"], username=line["ews_username"],
                           password=line["ews_password"], auth="ntlm", timezone="Europe/London")  # no build: one guess
    info = check_connection(settings)
    assert info.identity == line["mailbox"]
    port = EwsMailbox.connect(EwsSettings(**{**settings.__dict__, "build": info.build}))
    for kind, (fields, field, value) in ITEMS.items():
        token = list(port.changes(kind, None))[-1].token
        [stamp] = port.create(kind, [NewItem(fields, link_id=f"done-{kind.value}", crm_id="7")])
        [found] = port.find_by_marker(kind, link_id=f"done-{kind.value}")
        assert found.item_id == stamp.id and found.crm_id == "7"
        [page] = list(port.changes(kind, token))
        assert [(c.op, c.item_id) for c in page.changes] == [("upsert", stamp.id)]
        new = port.update(kind, Update(stamp.id, stamp.version, {**fields, field: value}, frozenset({field})))
        assert port.fetch(kind, [new.id])[0].fields[field] == value
        assert port.trash(kind, [new.id]) == [None]
        [page] = list(port.changes(kind, page.token))
        assert [(c.op, c.item_id) for c in page.changes] == [("delete", new.id)]
    sent = [m for p in port.sent_changes(None, None) for m in p.messages]
    assert sent and all(m.message_id and m.to for m in sent)
    assert port.message_body(sent[0].item_id)
