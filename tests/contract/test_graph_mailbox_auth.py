"""GraphSignIn against the sandbox's identity platform (https, msal): device-code sign-in, the
token cache in the keyring (chunked, reloaded by a new process), silent refresh, a clear
"sign in again" when refresh fails, no secrets in reprs, and check_connection's mailbox check."""
from __future__ import annotations

import threading
import time

import keyring
import pytest

from app.connectors.graph import GraphMailbox, GraphSettings, GraphSignIn, check_connection
from app.connectors.graph.auth import CHUNK, KeyringCache, cache_ref
from app.errors import AuthError, ConfigError
from app.sandbox.graph import start_graph_sandbox


@pytest.fixture(scope="module")
def tls_env():
    server, sandbox = start_graph_sandbox(dataset=False, tls=True, device_interval=1, auto_approve_polls=None)
    try:
        yield server, sandbox
    finally:
        server.stop()


@pytest.fixture
def settings(tls_env):
    server, sandbox = tls_env
    s = GraphSettings(mailbox=sandbox.mailbox, client_id=sandbox.client_id, tenant=sandbox.tenant,
                      authority_host=sandbox.authority_host, graph_url=sandbox.graph_url,
                      ca_bundle=str(sandbox.tls.cert), max_wait=2)
    yield s
    KeyringCache(cache_ref(s.authority, s.client_id)).clear()


def _sign_in(sandbox, signin):
    flow = signin.start_device_flow()
    assert flow.user_code in flow.message and flow.verification_uri.startswith(sandbox.base_url)
    threading.Timer(0.05, sandbox.approve, args=(flow.user_code,)).start()  # the user enters the code
    return signin.finish_device_flow(flow, timeout=20)


def test_device_code_sign_in_persists_in_the_keyring_and_refreshes(tls_env, settings):
    server, sandbox = tls_env
    signin = GraphSignIn.from_settings(settings)
    with pytest.raises(AuthError, match="Sign in to Microsoft 365 again"):
        signin.token()  # nothing cached yet
    assert _sign_in(sandbox, signin) == sandbox.mailbox
    token = signin.token()
    assert token not in repr(signin)
    # The cache lives in the keyring, compressed and chunked, never in one oversized entry.
    ref = cache_ref(settings.authority, settings.client_id)
    head = keyring.get_password("workbooks-connector", ref.name)
    assert head.startswith("v1:") and token not in head
    first = keyring.get_password("workbooks-connector", ref.name + "#1")
    assert first and len(first) <= CHUNK and token not in first
    # A later run signs in silently from the keyring, and the mailbox works with it.
    later = GraphSignIn.from_settings(settings)
    assert later.signed_in() and later.token() == token
    assert check_connection(settings, later) == sandbox.mailbox
    sandbox.expire_access_tokens()
    box = GraphMailbox.connect(settings, later)
    assert box.identity() == sandbox.mailbox  # 401 -> force_refresh -> refresh-token grant
    assert later.token() != token
    # Revoked refresh tokens: a clear "sign in again", nothing secret in the message.
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    with pytest.raises(AuthError) as err:
        GraphMailbox.connect(settings, GraphSignIn.from_settings(settings)).identity()
    assert "sign in" in str(err.value).lower() and "sbx-" not in str(err.value)
    later.sign_out()
    assert keyring.get_password("workbooks-connector", ref.name) is None


def test_declined_sign_in_and_wrong_mailbox(tls_env, settings):
    server, sandbox = tls_env
    signin = GraphSignIn.from_settings(settings)
    flow = signin.start_device_flow()
    threading.Timer(0.05, sandbox.approve, args=(flow.user_code,), kwargs={"decline": True}).start()
    started = time.monotonic()
    with pytest.raises(AuthError, match="declined"):
        signin.finish_device_flow(flow, timeout=20)
    assert time.monotonic() - started < 10
    _sign_in(sandbox, signin)
    other = GraphSettings(**{**settings.__dict__, "mailbox": "someone.else@example.com"})
    with pytest.raises(ConfigError, match="someone.else@example.com"):
        check_connection(other, signin)


def test_unreachable_or_untrusted_authority_is_a_clear_error(tls_env, settings):
    server, sandbox = tls_env
    untrusted = GraphSettings(**{**settings.__dict__, "ca_bundle": None})
    with pytest.raises(ConfigError, match="certificate"):
        GraphSignIn.from_settings(untrusted)
