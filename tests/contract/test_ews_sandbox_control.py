"""Sandbox-side features: persistence, control endpoints, stats, knobs, Bearer, seeding."""
from __future__ import annotations

import json
import urllib.request

import pytest
from exchangelib import OAUTH2, Contact, close_connections
from exchangelib.errors import ErrorServerBusy

from app.sandbox import seed
from app.sandbox.ews import EwsSandbox, start_ews_sandbox
from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403
from tests.fixtures.ews_sandbox_fixtures import make_account


def _json(server, path, data=None):
    req = urllib.request.Request(server.base_url + path, method="POST" if data is not None else "GET",
                                 data=json.dumps(data).encode() if data is not None else None)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_seeded_mailbox_matches_dataset(ews):
    _server, sandbox = ews
    data = seed.build(30, 3)
    contacts = sandbox.items("contacts")
    assert sorted(c["props"]["EmailAddresses"]["EmailAddress1"] for c in contacts) == sorted(
        c.email for c in data.native_contacts)
    assert all(not c["ext"] for c in contacts)
    sent = sandbox.items("sentitems")
    assert sorted(m["props"]["InternetMessageId"] for m in sent) == sorted(m.message_id for m in data.sent_messages)
    assert all(not m["is_draft"] and m["sent"] for m in sent)
    assert sandbox.mailbox == "user@example.com" and sandbox.endpoint_path == "/EWS/Exchange.asmx"
    assert isinstance(sandbox, EwsSandbox)


def test_state_dir_persists_mailbox_and_sync_states(tmp_path, registered_properties):
    close_connections()
    server, sandbox = start_ews_sandbox(people=10, seed=1, state_dir=tmp_path)
    try:
        acct = make_account(sandbox)
        c = Contact(folder=acct.contacts, given_name="Kept", display_name="Kept", sbx_crm_id="PER-7")
        c.save()
        list(acct.contacts.sync_items())
        state = acct.contacts.item_sync_state
    finally:
        close_connections()
        server.stop()
    assert (tmp_path / "ews-mailbox.json").exists()
    server, sandbox = start_ews_sandbox(people=10, seed=1, state_dir=tmp_path)
    try:
        acct = make_account(sandbox)
        got = acct.contacts.get(id=c.id)
        assert (got.given_name, got.sbx_crm_id, got.changekey) == ("Kept", "PER-7", c.changekey)
        acct.contacts.item_sync_state = state
        assert list(acct.contacts.sync_items()) == []  # the old state is still valid
    finally:
        close_connections()
        server.stop()


def test_control_endpoints_and_stats(ews, account):
    server, sandbox = ews
    server.stats.reset()
    list(account.contacts.all().only("given_name"))
    stats = _json(server, "/_sandbox/stats")
    assert stats["requests"]["by_operation"].get("FindItem") == 1
    items = _json(server, "/_sandbox/ews/items?folder=contacts")["items"]
    first = items[0]["id"]
    ck = _json(server, "/_sandbox/ews/edit", {"id": first, "changes": {"JobTitle": "Edited"}})["change_key"]
    got = account.contacts.get(id=first)
    assert got.job_title == "Edited" and got.changekey == ck
    assert _json(server, "/_sandbox/ews/bump", {"id": first})["change_key"] != ck
    _json(server, "/_sandbox/ews/fail", {"operation": "GetItem", "kind": "busy", "count": 1})
    with pytest.raises(ErrorServerBusy):
        account.contacts.get(id=first)
    new = _json(server, "/_sandbox/ews/add", {"folder": "contacts", "kind": "Contact",
                                              "props": {"GivenName": "Via", "DisplayName": "Via HTTP"}})["id"]
    assert account.contacts.get(id=new).display_name == "Via HTTP"
    assert _json(server, "/_sandbox/ews/delete", {"id": new, "how": "MoveToDeletedItems"})["new_id"]
    assert _json(server, "/_sandbox/ews/info")["mailbox"] == "user@example.com"
    assert any(r["operation"] == "GetItem" for r in _json(server, "/_sandbox/ews/log")["requests"])


def test_quirk_knobs(ews, account):
    _server, sandbox = ews
    sandbox.set_knob("FindItem", "short_page", 2)
    assert len(list(account.contacts.all().only("given_name"))) == len(sandbox.items("contacts"))
    sandbox.set_knob("SyncFolderItems", "omit_body", True)
    changes = list(account.sent.sync_items(only_fields=["subject", "body"]))
    assert changes and all(i.body is None for _k, i in changes)


def test_bearer_token(monkeypatch):
    from exchangelib import Account, Build, Configuration, DELEGATE, EWSTimeZone, OAuth2AuthorizationCodeCredentials, Version
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    close_connections()
    server, sandbox = start_ews_sandbox(dataset=False, auth=("bearer",), bearer_token="tok-123")
    try:
        creds = OAuth2AuthorizationCodeCredentials(access_token={"access_token": "tok-123", "token_type": "Bearer",
                                                                 "expires_in": 3600})
        cfg = Configuration(service_endpoint=sandbox.url, credentials=creds, auth_type=OAUTH2,
                            version=Version(build=Build(15, 1, 2507, 6)))
        acct = Account(sandbox.mailbox, config=cfg, autodiscover=False, access_type=DELEGATE,
                       default_timezone=EWSTimeZone("UTC"))
        assert acct.contacts.total_count == 0
        assert {r["auth"] for r in sandbox.request_log} == {"bearer"}
    finally:
        close_connections()
        server.stop()


def test_fake_token_endpoint_and_rotation():
    import urllib.error
    import urllib.parse

    server, sandbox = start_ews_sandbox(dataset=False, auth=("bearer",), bearer_token="first")
    try:
        new = sandbox.rotate_bearer_token()
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "x"}).encode()
        with urllib.request.urlopen(urllib.request.Request(server.base_url + "/common/oauth2/v2.0/token",
                                                           data=form), timeout=5) as resp:
            doc = json.loads(resp.read())
        assert doc["access_token"] == new and doc["token_type"] == "Bearer" and doc["refresh_token"]
        for token, status in (("first", 401), (new, 200)):
            req = urllib.request.Request(server.base_url + sandbox.endpoint_path,
                                         headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    got = resp.status
            except urllib.error.HTTPError as err:
                got = err.code
            assert got == status
    finally:
        server.stop()


def test_per_operation_latency_and_any_operation_faults(ews, account):
    import time as _time

    server, sandbox = ews
    folder = account.contacts
    sandbox.set_knob("FindItem", "latency_ms", 150)
    started = _time.monotonic()
    list(folder.all().only("given_name"))
    assert _time.monotonic() - started >= 0.15
    sandbox.set_knob("FindItem", "latency_ms", 0)
    sandbox.fail_operation("*", "busy", 1)
    with pytest.raises(ErrorServerBusy):
        list(folder.all().only("given_name"))
    assert list(folder.all().only("given_name"))
