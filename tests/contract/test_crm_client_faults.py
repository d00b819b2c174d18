"""Contract tests: the client against every failure the Workbooks sandbox can inject (real
sockets): reads survive, writes that may have landed surface as TransientError and are verified
through created_through_reference, nothing is re-sent blindly, and TLS is verified."""
from __future__ import annotations

import uuid

import pytest

from app.connectors.crm import WorkbooksClient
from app.domain import filters as F
from app.domain.records import Kind, NewItem
from app.errors import ConfigError, TransientError
from tests.fixtures.crmclient_sandbox import faults, key_client, password_client, reset_stats, sandbox, stats, store

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def env():
    with sandbox(people=250) as (server, sb):
        yield server, sb


def read_all(st):
    return [r for p in st.list_scope(Kind.PERSON, F.everything()) for r in p.records]


READ_FAULTS = ["http500", "drop", "busy", "expired_cookie", "session_expired", "database_being_migrated",
               "non_json", "truncated"]


@pytest.mark.parametrize("kind", READ_FAULTS)
def test_reads_survive_each_injected_fault_in_cookie_mode(env, kind):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        client.login()
        # the sandbox also injects into login.api, where "session_expired" is no real answer: one shot
        faults(server, fail_next=1 if kind == "session_expired" else 2, kinds=[kind])
        try:
            records = read_all(st)
        finally:
            faults(server, fail_next=0, fail_rate=0.0)
        assert len({r.id for r in records}) == 250
        assert sb.internal_errors == []


@pytest.mark.parametrize("kind", ["http500", "drop", "busy", "database_being_migrated", "truncated"])
def test_reads_survive_each_injected_fault_in_key_mode(env, kind):
    server, sb = env
    with key_client(server, sb) as client:
        faults(server, fail_next=2, kinds=[kind])
        try:
            assert len(read_all(store(client))) == 250
        finally:
            faults(server, fail_next=0)


@pytest.mark.parametrize("kind", ["http500", "drop", "truncated"])
def test_write_that_may_have_landed_is_not_resent(env, kind):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        st.my_queues()
        st.metadata()
        link = str(uuid.uuid4())
        reset_stats(server)
        faults(server, fail_next=1, kinds=[kind])
        try:
            (res,) = st.create(Kind.TASK, [NewItem({"subject": "Maybe", "status": "new"}, link)])
        finally:
            faults(server, fail_next=0)
        assert isinstance(res, TransientError) and "may or may not" in str(res)
        assert stats(server)["by_operation"].get("PUT activity/tasks", 0) == 1  # sent once, never again
        # the engine's verification: did it land?
        landed = st.find_by_link(Kind.TASK, [link])
        assert len(landed) <= 1


@pytest.mark.parametrize("kind", ["busy", "expired_cookie", "session_expired"])
def test_write_refused_before_processing_is_resent_once_safe(env, kind):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        st.my_queues()
        st.metadata()
        link = str(uuid.uuid4())
        faults(server, fail_next=1, kinds=[kind])
        try:
            (res,) = st.create(Kind.TASK, [NewItem({"subject": "Surely", "status": "new"}, link)])
        finally:
            faults(server, fail_next=0)
        assert not isinstance(res, Exception), res
        assert len(st.find_by_link(Kind.TASK, [link])) == 1


def test_stalled_read_times_out_and_is_retried(env):
    server, sb = env
    with key_client(server, sb, timeout=0.5) as client:
        faults(server, fail_next=1, kinds=["stall"])
        try:
            assert len(read_all(store(client))) == 250
        finally:
            faults(server, fail_next=0)


def test_ten_percent_faults_in_cookie_mode_with_every_kind(env):
    server, sb = env
    with password_client(server, sb) as client:
        st = store(client)
        faults(server, fail_rate=0.10, seed=11,
               kinds=["http500", "drop", "busy", "expired_cookie", "truncated", "non_json"])
        try:
            for _ in range(3):
                assert len({r.id for r in read_all(st)}) == 250
        finally:
            faults(server, fail_rate=0.0)


def test_tls_is_verified_and_a_ca_bundle_is_honoured(tmp_path):
    from app.sandbox.server import make_self_signed
    files = make_self_signed(tmp_path)
    with sandbox(people=5, tls=files) as (server, sb):
        assert server.base_url.startswith("https://")
        with WorkbooksClient(server.base_url, api_key=sb.api_key, backoff=0.01) as untrusting:
            with pytest.raises(ConfigError) as err:
                untrusting.read("crm/people.api", [])
            assert "certificate" in str(err.value).lower()
        with WorkbooksClient(server.base_url, username=sb.username, password=sb.password,
                             ca_bundle=str(files.cert)) as trusting:
            assert len(read_all(store(trusting))) == 5
