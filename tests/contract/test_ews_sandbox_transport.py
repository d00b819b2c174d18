"""Authentication, version guessing, TLS and fault injection, exchangelib against the sandbox."""
from __future__ import annotations

import base64
import http.client

import pytest
from exchangelib import NTLM, Build, FailFast, FaultTolerance, close_connections
from exchangelib.errors import ErrorServerBusy, UnauthorizedError

from app.sandbox.ews import start_ews_sandbox
from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403
from tests.fixtures.ews_sandbox_fixtures import make_account


@pytest.fixture
def sandbox_factory():
    started = []

    def start(**kw):
        close_connections()
        kw.setdefault("dataset", False)
        server, sandbox = start_ews_sandbox(**kw)
        started.append(server)
        return server, sandbox

    yield start
    close_connections()
    for server in started:
        server.stop()


def _ops(server):
    return server.stats.snapshot()["requests"]["by_operation"]


def test_ntlm_handshake_with_upn_and_domain_users(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("ntlm",), users=["CORP:sam:S3cret!"])
    acct = make_account(sandbox, auth_type=NTLM)  # e-mail style login: "\\user@example.com"
    assert acct.contacts.total_count == 0
    assert list(acct.contacts.all()) == []
    assert {r["auth"] for r in sandbox.request_log} == {"ntlm"}
    close_connections()
    acct = make_account(sandbox, auth_type=NTLM, username="CORP\\sam", password="S3cret!")
    assert acct.contacts.total_count == 0
    close_connections()
    bad = make_account(sandbox, auth_type=NTLM, username="CORP\\sam", password="wrong")
    with pytest.raises(UnauthorizedError):
        bad.contacts.total_count


def test_basic_checked_on_every_request(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic",))
    assert make_account(sandbox).contacts.total_count == 0
    close_connections()
    with pytest.raises(UnauthorizedError):
        make_account(sandbox, password="nope").contacts.total_count


def test_version_guessing_uses_convert_id_probe(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic",))
    acct = make_account(sandbox, version=False)
    assert acct.contacts.total_count == 0
    assert acct.version.build == Build(15, 1, 2507, 6)
    assert _ops(server).get("ConvertId") == 1


def test_auth_type_guessing_picks_ntlm_from_401(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic", "ntlm"))
    acct = make_account(sandbox, auth_type=None, version=False)
    assert acct.contacts.total_count == 0
    assert acct.protocol.auth_type == NTLM


def test_tls_verified_with_generated_cert_and_refused_without(sandbox_factory, tmp_path, monkeypatch):
    server, sandbox = sandbox_factory(tls=tmp_path / "tls", auth=("basic",))
    assert sandbox.url.startswith("https://127.0.0.1:")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(Exception) as info:
        make_account(sandbox).contacts.total_count
    assert "CERTIFICATE_VERIFY_FAILED" in repr(info.value) or "certificate" in repr(info.value).lower()
    close_connections()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "tls" / "sandbox-cert.pem"))
    assert make_account(sandbox).contacts.total_count == 0


def test_server_busy_back_off_honoured(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic",), busy_backoff_ms=40)
    acct = make_account(sandbox, retry_policy=FaultTolerance(max_wait=5))
    folder = acct.contacts
    sandbox.fail_operation("FindItem", "busy", 2)
    assert list(folder.all()) == []
    assert _ops(server)["FindItem"] == 3
    close_connections()
    acct = make_account(sandbox, retry_policy=FailFast())
    folder = acct.contacts
    sandbox.fail_operation("FindItem", "busy", 1)
    with pytest.raises(ErrorServerBusy) as info:
        list(folder.all())
    assert info.value.back_off == pytest.approx(0.04)


def test_injected_http500_and_dropped_connections_surface(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic",))
    acct = make_account(sandbox)
    folder = acct.contacts
    for kind in ("http500", "drop"):
        sandbox.fail_operation("FindItem", kind, 1)
        with pytest.raises(Exception):
            list(folder.all())
    assert list(folder.all()) == []  # next request is fine


def _raw(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_endpoint_http_behaviour(sandbox_factory):
    server, sandbox = sandbox_factory(auth=("basic", "ntlm"))
    resp, _ = _raw(server, "GET", "/EWS/Exchange.asmx")
    assert resp.status == 401
    schemes = [v.split()[0] for k, v in resp.getheaders() if k.lower() == "www-authenticate"]
    assert {"NTLM", "Basic", "Negotiate"} <= set(schemes)
    resp, _ = _raw(server, "POST", "/ews/exchange.asmx", b"<x/>", {"Content-Type": "text/xml"})
    assert resp.status == 401
    auth = "Basic " + base64.b64encode(f"{sandbox.username}:{sandbox.password}".encode()).decode()
    resp, _ = _raw(server, "GET", "/ews/EXCHANGE.asmx", headers={"Authorization": auth})
    assert resp.status == 200
    resp, _ = _raw(server, "GET", "/EWS/Other.asmx", headers={"Authorization": auth})
    assert resp.status == 404


def test_older_server_makes_exchangelib_step_down(sandbox_factory):
    from app.sandbox.ews.soap import ServerVersion

    server, sandbox = sandbox_factory(auth=("basic",), version=ServerVersion(14, 3, 123, 4, "Exchange2010_SP2"))
    acct = make_account(sandbox)  # stored build 15.1 -> asks for Exchange2016 first
    assert acct.contacts.total_count == 0
    assert acct.version.api_version == "Exchange2010_SP2"
    log = [r for r in sandbox.request_log if r["operation"] == "GetFolder"]
    assert log[0]["outcome"] == "ErrorInvalidServerVersion"
    assert log[-1]["request_server_version"] == "Exchange2010_SP2" and log[-1]["outcome"] == "NoError"
    close_connections()
    guessed = make_account(sandbox, version=False)
    assert guessed.version.build == Build(14, 3, 123, 4)
    assert guessed.contacts.total_count == 0


def test_raw_ntlm_inside_negotiate_header_authenticates_the_connection(sandbox_factory):
    import spnego

    server, sandbox = sandbox_factory(auth=("ntlm",), users=["CORP:dana:Pw-123"])
    client = spnego.client("CORP\\dana", "Pw-123", hostname="127.0.0.1", protocol="ntlm")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
            b'<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>'
            b'<t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>')

    def send(headers):
        conn.request("POST", "/EWS/Exchange.asmx", body=body, headers={"Content-Type": "text/xml", **headers})
        resp = conn.getresponse()
        resp.read()
        return resp

    first = send({"Authorization": "Negotiate " + base64.b64encode(client.step()).decode()})
    assert first.status == 401
    challenge = first.getheader("WWW-Authenticate")
    assert challenge.startswith("Negotiate ")
    token = client.step(base64.b64decode(challenge.split(" ", 1)[1]))
    assert send({"Authorization": "Negotiate " + base64.b64encode(token).decode()}).status == 200
    assert send({}).status == 200  # the connection stays authenticated
    conn.close()
