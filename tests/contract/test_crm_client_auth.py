"""Contract tests: sessions, api_key mode, re-login, logout and prerequisites against the real
Workbooks sandbox (real sockets, real httpx)."""
from __future__ import annotations

import logging

import pytest

from app.domain import filters as F
from app.domain.records import Kind, NewItem
from app.errors import AuthError
from tests.fixtures.crmclient_sandbox import key_client, password_client, sandbox, stats, store

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def env():
    with sandbox(people=120) as (server, sb):
        yield server, sb


def count(st, kind=Kind.PERSON, flt=None):
    return sum(len(p.records) for p in st.list_scope(kind, flt or F.everything()))


def test_password_login_identity_and_my_queues(env):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        ident = st.identity()
        assert ident.user_id == str(sb.user_id)
        assert ident.database_id == str(sb.database_id)
        assert ident.my_queues == dict(sb.my_queues)
        assert ident.login_name and ident.person_name
        assert count(st) == 120


def test_api_key_mode_reads_without_login_and_logs_in_once_for_identity(env):
    server, sb = env
    with key_client(server, sb) as client:
        st = store(client)
        before = stats(server)["by_operation"]
        assert count(st) == 120
        after = stats(server)["by_operation"]
        assert after.get("login", 0) == before.get("login", 0)  # the key alone authenticates
        ident = st.identity()
        assert ident.my_queues == dict(sb.my_queues) and ident.user_id == str(sb.user_id)
        assert count(st, flt=F.my_people()) > 0


def test_wrong_password_and_wrong_key_are_auth_errors_without_secrets(env):
    server, sb = env
    from app.connectors.crm import WorkbooksClient
    with WorkbooksClient(server.base_url, username=sb.username, password="wrong-password-123", backoff=0.01) as c:
        with pytest.raises(AuthError) as err:
            c.login()
        assert "wrong-password-123" not in str(err.value)
    with WorkbooksClient(server.base_url, api_key="not-a-real-key-0000", backoff=0.01) as c:
        with pytest.raises(AuthError) as err:
            c.read("crm/people.api", [])
        assert "not-a-real-key-0000" not in str(err.value)


def test_expired_session_logs_in_again_once(env):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        assert count(st) == 120
        logins = stats(server)["by_operation"].get("POST login", 0)
        sent = client.requests_sent
        sb.expire_sessions()
        assert count(st) == 120
        assert stats(server)["by_operation"].get("POST login", 0) == logins + 1  # re-logged in exactly once
        assert client.requests_sent - sent == 2 + 1 + 2  # 302, re-sent 302, login, then the two pages
        sb.expire_sessions()
        created = st.create(Kind.TASK, [NewItem({"subject": "After expiry", "status": "new"}, "link-expiry")])
        assert not isinstance(created[0], Exception), created[0]


def test_rotating_cookie_is_followed(env):
    server, sb = env
    sb.rotate_cookie = True
    try:
        with password_client(server, sb) as client:
            st = store(client)
            assert count(st) == 120
            created = st.create(Kind.TASK, [NewItem({"subject": "Rotated", "status": "new"}, "link-rot")])
            assert not isinstance(created[0], Exception), created[0]
    finally:
        sb.rotate_cookie = False


def test_logout_ends_the_session(env):
    server, sb = env
    with password_client(server, sb) as client:
        client.login()
        sid = client._session_id  # noqa: SLF001 - checking the server killed it
        client.logout()
        assert client.known_login() is None
        assert sid not in sb.sessions
        assert count(store(client)) == 120  # a later call simply signs in again


def test_prerequisites_name_the_capability_and_where_to_get_it(env):
    server, sb = env
    with key_client(server, sb) as client:
        assert store(client).missing_prerequisites() == []
    sb.set_permission("cases", "index", False)
    sb.set_permission("tasks", "destroy", False)
    try:
        with key_client(server, sb) as client:
            missing = store(client).missing_prerequisites()
        assert len(missing) == 2
        assert any("View CRM Cases" in m for m in missing)
        assert any("Modify Activities" in m for m in missing)
        assert all("Start \u203a Configuration \u203a Users & Security" in m for m in missing)
    finally:
        sb.set_permission("cases", "index", True)
        sb.set_permission("tasks", "destroy", True)


def test_secrets_never_logged(env, caplog):
    server, sb = env
    caplog.set_level(logging.DEBUG, logger="app.connectors.crm")
    with password_client(server, sb) as client:
        count(store(client))
        client.logout()
    text = caplog.text
    assert sb.password not in text and sb.api_key not in text


def _user(sb, login):
    return next(u for u in sb.dataset.users if u.username == login)


def test_multi_database_user_gets_the_remembered_or_default_database(env):
    server, sb = env
    from app.connectors.crm import WorkbooksClient
    multi = _user(sb, "multi@example.com")
    with WorkbooksClient(server.base_url, username=multi.username, password=multi.password, backoff=0.01) as c:
        info = c.login()
        assert info["logical_database_id"] == multi.default_database
        assert c.database_id == multi.default_database
    other = next(d for d in multi.databases if d != multi.default_database)
    with WorkbooksClient(server.base_url, username=multi.username, password=multi.password, database_id=other,
                         backoff=0.01) as c:
        assert store(c).identity().database_id == str(other)


def test_user_without_api_access_and_disabled_user(env):
    server, sb = env
    from app.connectors.crm import WorkbooksClient
    from app.errors import PrerequisiteError
    noapi = _user(sb, "noapi@example.com")
    with WorkbooksClient(server.base_url, username=noapi.username, password=noapi.password) as c:
        with pytest.raises(PrerequisiteError) as err:
            c.login()
        assert "API Access" in str(err.value) and noapi.password not in str(err.value)
    disabled = _user(sb, "disabled@example.com")
    with WorkbooksClient(server.base_url, username=disabled.username, password=disabled.password) as c:
        with pytest.raises(AuthError) as err:
            c.login()
        assert "disabled" in str(err.value)


def test_type_switched_off_reads_as_prerequisite_error(env):
    server, sb = env
    from app.domain.records import RefKind
    from app.errors import PrerequisiteError
    sb.set_permission("opportunities", "index", False)
    try:
        with key_client(server, sb) as client:
            st = store(client)
            with pytest.raises(PrerequisiteError):
                list(st.references_since(RefKind.OPPORTUNITY, None))
            assert any("View CRM Opportunities" in m for m in st.missing_prerequisites())
    finally:
        sb.set_permission("opportunities", "index", True)
