"""Found by test_security: the Workbooks sandbox answered HTTP 500 (TypeError from
secrets.compare_digest on a non-ASCII str) to login.api with a password like "Crm-Pw-zebra-Ω", so a
user with such a password could not even be simulated."""
from __future__ import annotations

import dataclasses
import json
import urllib.parse
import urllib.request

import pytest

from app.sandbox import seed
from app.sandbox.crm import start_crm_sandbox


@pytest.mark.parametrize("password,ok", [("Crm-Pw-zebra-Ω-77310a", True), ("wrong-Ω", False), ("ascii-wrong", False)])
def test_login_with_non_ascii_passwords(password, ok):
    data = seed.build(3, 1)
    data.users[0] = dataclasses.replace(data.users[0], password="Crm-Pw-zebra-Ω-77310a")
    server, box = start_crm_sandbox(data)
    try:
        body = urllib.parse.urlencode({"username": seed.MAILBOX, "password": password, "client": "api",
                                       "json": "pretty", "_application_name": "test"}).encode()
        req = urllib.request.Request(server.base_url + "/login.api", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, reply = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            status, reply = err.code, json.loads(err.read() or b"{}")
        assert box.internal_errors == []
        if ok:
            assert status == 200 and reply["success"] is True, reply
        else:
            assert status == 401 and reply.get("failure_reason") == "unrecognised_name_or_password", (status, reply)
    finally:
        server.stop()
