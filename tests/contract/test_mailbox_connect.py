"""Connecting without autodiscover (ews.md 1): an Account from the sandbox's connection facts
alone, stored build vs one guess, Basic and NTLM, refused sign-ins, TLS with a CA file, OAuth2
hook. Real exchangelib over real sockets against the EWS sandbox."""
from __future__ import annotations

import socket
import time

import exchangelib
import pytest

from app.connectors.ews import EwsMailbox, EwsSettings, TokenCredentials, check_connection, open_account
from app.domain.records import Kind, NewItem
from app.errors import AuthError, ConfigError, TransientError
from tests.fixtures.mailbox_sandbox import BUILD, ews_sandbox


@pytest.fixture
def env():
    with ews_sandbox() as env:
        yield env


def test_account_from_the_sandbox_json_line_only(env):
    facts = env.facts  # exactly the keys `workbooks-connector sandbox` prints for EWS
    settings = EwsSettings(endpoint=facts["ews_url"], mailbox=facts["mailbox"], username=facts["ews_username"],
                           password=facts["ews_password"], auth="basic", build=BUILD, timezone="Europe/London")
    info = check_connection(settings)
    assert (info.identity, info.build) == (facts["mailbox"], BUILD)
    assert env.requests() == {"GetFolder": 1}  # no autodiscover, no ConvertId version probe
    mailbox = EwsMailbox.connect(settings)
    [stamp] = mailbox.create(Kind.PERSON, [NewItem({"first_name": "Ann", "email1": "ann@x.example"}, link_id="l1")])
    assert mailbox.find_by_marker(Kind.PERSON, link_id="l1")[0].item_id == stamp.id
    assert "ConvertId" not in env.requests()


def test_without_a_stored_build_one_guess_then_stored(env):
    info = check_connection(env.settings(build=""))
    assert info.build == BUILD and info.api_version.startswith("Exchange")
    assert env.requests() == {"ConvertId": 1, "GetFolder": 1}
    exchangelib.close_connections()
    env.reset_stats()
    check_connection(env.settings(build=info.build))
    assert env.requests() == {"GetFolder": 1}


def test_ntlm_sign_in_and_traffic(env):
    info = check_connection(env.settings(auth="ntlm"))
    assert info.identity == env.sandbox.mailbox
    mailbox = env.mailbox(auth="ntlm")
    [stamp] = mailbox.create(Kind.TASK, [NewItem({"subject": "over NTLM", "status": "new"}, link_id="n1")])
    assert mailbox.fetch(Kind.TASK, [stamp.id])[0].fields["subject"] == "over NTLM"
    assert [p.done for p in mailbox.changes(Kind.TASK, None)] == [True]


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_wrong_password_is_refused_fast_with_a_clear_message(env, auth):
    settings = env.settings(auth=auth, password="not-the-password-xyz", max_wait=60)
    started = time.monotonic()
    with pytest.raises(AuthError) as caught:
        check_connection(settings)
    assert time.monotonic() - started < 5  # FailFast: no retrying a wrong password until max_wait
    text = str(caught.value)
    assert "password" in text and "not-the-password-xyz" not in text and env.sandbox.password not in text
    assert not isinstance(caught.value.__cause__, Exception)  # nothing from exchangelib leaks out


def test_unreachable_endpoint_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings = EwsSettings(endpoint=f"http://127.0.0.1:{port}/EWS/Exchange.asmx", mailbox="user@example.com",
                           username="u", password="p", auth="basic", build=BUILD, timezone="UTC")
    with pytest.raises(TransientError):
        check_connection(settings, setup=False)  # start-up: try again later
    with pytest.raises(ConfigError) as caught:
        check_connection(settings)  # configure / wizard: name the setting to check
    assert "--ews-url" in str(caught.value) and f":{port}/" in str(caught.value)
    exchangelib.close_connections()


def test_configuration_problems_are_config_errors():
    base = dict(mailbox="user@example.com", username="u", password="p")
    with pytest.raises(ConfigError):
        open_account(EwsSettings(endpoint="mail.example.com/EWS/Exchange.asmx", build=BUILD, **base))
    with pytest.raises(ConfigError):
        open_account(EwsSettings(endpoint="https://mail.example.com/EWS/Exchange.asmx", auth="kerberos", **base))
    with pytest.raises(ConfigError):
        open_account(EwsSettings(endpoint="https://mail.example.com/EWS/Exchange.asmx", timezone="Mars/Base", **base))
    with pytest.raises(ConfigError):
        open_account(EwsSettings(endpoint="https://mail.example.com/EWS/Exchange.asmx", auth="oauth2", **base))
    with pytest.raises(ConfigError):
        open_account(EwsSettings(endpoint="https://mail.example.com/EWS/Exchange.asmx", build="15.x", **base))


def test_tls_verification_stays_on_and_a_ca_bundle_is_honoured():
    with ews_sandbox(tls=True) as env:
        assert env.facts["ews_url"].startswith("https://127.0.0.1:")
        with pytest.raises(ConfigError) as caught:
            check_connection(env.settings())  # self-signed: refused without the CA file
        assert "--ca-bundle" in str(caught.value)
        exchangelib.close_connections()
        info = check_connection(env.settings(ca_bundle=str(env.server.tls.cert)))
        assert info.identity == env.sandbox.mailbox
        mailbox = env.mailbox(ca_bundle=str(env.server.tls.cert))
        assert list(mailbox.changes(Kind.PERSON, None))[-1].done


def test_oauth2_token_hook(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # http sandbox only (ews.md 8, gotcha 42)
    with ews_sandbox(auth=("bearer",), bearer_token="sandbox-token-1") as env:
        refreshed = []
        token = {"access_token": "sandbox-token-1", "token_type": "Bearer", "expires_in": 3600,
                 "expires_at": time.time() + 3600}
        creds = TokenCredentials(access_token=token, refresher=lambda: token, on_refresh=refreshed.append)
        info = check_connection(env.settings(auth="oauth2", token_credentials=creds, password=""))
        assert info.identity == env.sandbox.mailbox


def test_a_stored_build_newer_than_the_server_is_corrected():
    from app.sandbox.ews.soap import ServerVersion

    with ews_sandbox(version=ServerVersion(14, 3, 123, 3, "Exchange2010_SP2")) as env:
        info = check_connection(env.settings(build=BUILD))  # stored 15.1: the server refuses Exchange2016
        assert (info.build, info.api_version) == ("14.3.123.3", "Exchange2010_SP2")  # to store instead
        assert "ConvertId" not in env.requests()  # exchangelib stepped down on the refused request itself
