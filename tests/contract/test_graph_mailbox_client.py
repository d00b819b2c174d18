"""GraphClient's transport rules (httpx.MockTransport and the sandbox's dropped connections):
Retry-After in seconds or as an HTTP date, reads retried after a broken connection, writes that
may have landed never re-sent, error translation without secrets."""
from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from app.connectors.graph.client import GraphClient, StaticToken, parse_retry_after, to_app_error
from app.errors import AuthError, ItemRejected, NotFound, StaleVersion, TransientError
from app.sync.ports import InvalidSyncToken
from tests.fixtures.graph_sandbox import graph_sandbox


def _client(handler, **kw):
    waits = []
    client = GraphClient("https://graph.test/v1.0", StaticToken("secret-token"), transport=httpx.MockTransport(handler),
                         sleep=waits.append, **kw)
    return client, waits


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31


def test_reads_retry_broken_connections_but_writes_are_not_resent():
    calls = []

    def handler(request):
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ReadError("connection reset")
        return httpx.Response(200, json={"ok": True})

    client, waits = _client(handler)
    assert client.get_json("me", op="reading")["ok"] and calls == ["GET", "GET"] and len(waits) == 1
    calls.clear()
    with pytest.raises(TransientError) as err:
        client.request("POST", "me/contacts", op="creating a contact", json={"givenName": "A"})
    assert calls == ["POST"] and "may or may not" in str(err.value)
    calls.clear()

    def refused(request):
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(201, json={"id": "x"})

    client, waits = _client(refused)
    assert client.request("POST", "me/contacts", op="creating", json={}).json()["id"] == "x"  # never reached the server


def test_bearer_and_immutable_ids_on_every_request_and_no_secret_in_errors():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(400, json={"error": {"code": "ErrorInvalidProperty", "message": "secret-token?"}})

    client, _ = _client(handler)
    with pytest.raises(ItemRejected) as err:
        client.request("PATCH", "me/contacts/1", op="updating a contact", json={})
    assert seen[0].headers["Authorization"] == "Bearer secret-token"
    assert seen[0].headers["Prefer"] == 'IdType="ImmutableId"'
    assert "secret-token" not in str(err.value) and "ErrorInvalidProperty" in str(err.value)
    assert "secret-token" not in repr(client) and "secret-token" not in repr(client.tokens)


@pytest.mark.parametrize("status,code,cls", [
    (401, "InvalidAuthenticationToken", AuthError), (403, "ErrorAccessDenied", AuthError),
    (404, "ErrorItemNotFound", NotFound), (412, "ErrorIrresolvableConflict", StaleVersion),
    (410, "syncStateNotFound", InvalidSyncToken), (400, "resyncRequired", InvalidSyncToken),
    (503, "ServiceUnavailable", TransientError), (409, "ErrorFolderExists", ItemRejected),
])
def test_error_translation(status, code, cls):
    assert type(to_app_error(status, {"error": {"code": code}}, op="x")) is cls


def test_sandbox_dropped_connections(tmp_path):
    with graph_sandbox() as env:
        port = env.mailbox()
        env.server.faults.configure({"fail_next": 1, "kinds": ["drop"]})
        assert port.identity() == env.sandbox.mailbox  # a read is retried
        env.server.faults.configure({"fail_next": 1, "kinds": ["drop"]})
        with pytest.raises(TransientError):
            port.client.request("POST", "me/contacts", op="creating a contact", json={"givenName": "A"})
        assert env.sandbox.items("contacts") == []  # and it did not land twice (nor at all)
