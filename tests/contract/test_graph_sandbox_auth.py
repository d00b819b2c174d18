"""The sandbox's fake identity platform: the device-code flow over raw httpx (pending, approval,
decline, refresh, revocation) and driven end to end by msal's PublicClientApplication."""
from __future__ import annotations

import functools
import ssl
import threading
import time

import httpx
import msal
import pytest
import requests

from app.sandbox.graph import start_graph_sandbox

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def tls_env():
    server, sandbox = start_graph_sandbox(dataset=False, tls=True, device_interval=0, auto_approve_polls=None)
    try:
        yield server, sandbox
    finally:
        server.stop()


def _post(sandbox, action, **form):
    return httpx.post(f"{sandbox.authority}/oauth2/v2.0/{action}", data=form, verify=_ctx(sandbox))


def _ctx(sandbox):
    return ssl.create_default_context(cafile=str(sandbox.tls.cert))


def test_device_code_pending_then_approved_then_refresh(tls_env):
    server, sandbox = tls_env
    dc = _post(sandbox, "devicecode", client_id=sandbox.client_id,
               scope="User.Read Contacts.ReadWrite offline_access").json()
    assert {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"} <= set(dc)
    r = _post(sandbox, "token", grant_type=DEVICE_GRANT, client_id=sandbox.client_id, device_code=dc["device_code"])
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"
    # The user enters the code on the verification page.
    page = httpx.post(dc["verification_uri"], data={"otc": dc["user_code"]}, verify=_ctx(sandbox))
    assert "signed in" in page.text
    r = _post(sandbox, "token", grant_type=DEVICE_GRANT, client_id=sandbox.client_id, device_code=dc["device_code"],
              client_info="1")
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["scope"] == "User.Read Contacts.ReadWrite"
    assert {"access_token", "refresh_token", "id_token", "client_info", "expires_in"} <= set(body)
    me = httpx.get(sandbox.graph_url + "/me", headers={"Authorization": f"Bearer {body['access_token']}"},
                   verify=_ctx(sandbox))
    assert me.status_code == 200
    other = httpx.get(sandbox.graph_url + "/me/events", headers={"Authorization": f"Bearer {body['access_token']}"},
                      verify=_ctx(sandbox))
    assert other.status_code == 403  # not consented
    # Device codes are single use; refresh tokens give new access tokens until revoked.
    again = _post(sandbox, "token", grant_type=DEVICE_GRANT, client_id=sandbox.client_id, device_code=dc["device_code"])
    assert again.json()["error"] == "bad_verification_code"
    fresh = _post(sandbox, "token", grant_type="refresh_token", client_id=sandbox.client_id,
                  refresh_token=body["refresh_token"], scope="Contacts.ReadWrite offline_access")
    assert fresh.status_code == 200 and fresh.json()["access_token"] != body["access_token"]
    sandbox.revoke_refresh_tokens()
    gone = _post(sandbox, "token", grant_type="refresh_token", client_id=sandbox.client_id,
                 refresh_token=body["refresh_token"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"


def test_declined_unknown_client_and_bad_grant(tls_env):
    server, sandbox = tls_env
    dc = _post(sandbox, "devicecode", client_id=sandbox.client_id, scope="User.Read").json()
    sandbox.approve(dc["user_code"], decline=True)
    r = _post(sandbox, "token", grant_type=DEVICE_GRANT, client_id=sandbox.client_id, device_code=dc["device_code"])
    assert r.json()["error"] == "authorization_declined"
    assert _post(sandbox, "devicecode", client_id="someone-else", scope="User.Read").json()["error"] == \
        "unauthorized_client"
    assert _post(sandbox, "token", grant_type="password", client_id=sandbox.client_id).json()["error"] == \
        "unsupported_grant_type"


def test_msal_device_flow_against_the_sandbox(tls_env):
    server, sandbox = tls_env
    session = requests.Session()
    session.request = functools.partial(session.request, verify=str(sandbox.tls.cert))
    app = msal.PublicClientApplication(sandbox.client_id, authority=sandbox.authority, http_client=session,
                                       instance_discovery=False, validate_authority=False)
    flow = app.initiate_device_flow(scopes=["Contacts.ReadWrite"])
    assert flow["user_code"] and sandbox.authority_host in flow["verification_uri"]
    approver = threading.Thread(target=_approve_after_first_poll, args=(sandbox, flow["user_code"]), daemon=True)
    approver.start()
    result = app.acquire_token_by_device_flow(flow)
    approver.join(5)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == sandbox.mailbox
    [account] = app.get_accounts()
    assert account["username"] == sandbox.mailbox
    silent = app.acquire_token_silent(["Contacts.ReadWrite"], account=account)
    assert silent["access_token"] == result["access_token"]  # from the cache
    refreshed = app.acquire_token_silent(["Contacts.ReadWrite"], account=account, force_refresh=True)
    assert refreshed["access_token"] != result["access_token"]  # refresh_token grant


def _approve_after_first_poll(sandbox, user_code, timeout=10.0):
    """The user enters the code while msal is already polling (its first poll came back pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sandbox.identity.lock:
            polled = any(d.user_code == user_code and d.polls >= 1 for d in sandbox.identity.devices.values())
        if polled:
            sandbox.approve(user_code)
            return
        time.sleep(0.01)
