"""The address index (design.md table unmatched_address): unmatched recipients are watched without
time limit unless `[email] watch_days` sets a cap; expired entries are pruned; probes are stamped;
nothing of a message body is kept while it waits."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from app import settings as st
from app.errors import ConfigError
from app.journal.email_store import open_email_store
from app.sync.email_phase_hook import options_from_settings
from app.sync.emails import EmailOptions, run_email_phase
from tests.fixtures.email_fakes import FakeEmailCrm, FakeSentItems, FixedClock

BODY = "Confidential body text that must never be stored"


@pytest.fixture
def world():
    store = open_email_store(None)
    yield FakeEmailCrm(), FakeSentItems(), store, FixedClock()
    store.close()


def rows(store, sql):
    with store.engine.begin() as con:
        return [tuple(r) for r in con.execute(text(sql))]


def test_without_a_cap_an_address_is_watched_for_ever_and_links_late(world):
    crm, mb, store, clock = world
    m = mb.send(["new@prospect.example"], body=BODY)
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert rows(store, "SELECT address, expires_at FROM unmatched_address") == [("new@prospect.example", None)]
    assert rows(store, "SELECT last_probe_at FROM unmatched_address")[0][0] is not None  # probed this run
    clock.advance(days=800)
    crm.add_person("100001", "Late Person", "new@prospect.example")
    res = run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert res.emails_created == 1 and ("person", "100001") in crm.targets_of(m.message_id)


def test_a_cap_expires_the_watch_and_prunes_the_entry(world):
    crm, mb, store, clock = world
    options = EmailOptions(watch_days=30)
    m = mb.send(["new@prospect.example"], body=BODY)
    run_email_phase(crm, mb, store, options, clock)
    (expires,) = rows(store, "SELECT expires_at FROM unmatched_address")[0]
    assert expires is not None and expires.startswith(str((clock.now() + timedelta(days=30)).date()))
    clock.advance(days=29)
    assert run_email_phase(crm, mb, store, options, clock).pending == 1  # still watched
    clock.advance(days=2)
    crm.add_person("100001", "Too Late", "new@prospect.example")
    res = run_email_phase(crm, mb, store, options, clock)
    assert res.emails_created == 0 and not crm.emails and m.message_id
    assert rows(store, "SELECT COUNT(*) FROM unmatched_address") == [(0,)]
    assert rows(store, "SELECT state FROM sent_email") == [("excluded",)]
    assert rows(store, "SELECT COUNT(*) FROM email_header") == [(0,)]


def test_waiting_messages_keep_headers_only_never_the_body(world, tmp_path):
    crm, mb, _store, clock = world
    store = open_email_store(tmp_path / "journal.sqlite3")
    try:
        mb.send(["new@prospect.example"], subject="Quote", body=BODY)
        run_email_phase(crm, mb, store, EmailOptions(), clock)
        assert mb.calls["message_body"] == 0  # not even read while nothing matches
        (headers,) = rows(store, "SELECT headers_json FROM email_header")[0]
        assert set(__import__("json").loads(headers)) == {"from", "to", "cc", "bcc", "size"}
    finally:
        store.close()
    for f in tmp_path.iterdir():
        assert BODY.encode() not in f.read_bytes()


def test_the_setting_reaches_the_phase_and_is_checked():
    assert options_from_settings(st.EmailOptions(), capture_start=None).watch_days is None
    assert options_from_settings(st.EmailOptions(watch_days=60), capture_start=None).watch_days == 60
    with pytest.raises(ConfigError):
        st.Settings(email=st.EmailOptions(watch_days=-1)).validate()
    text_ = st.dumps(st.Settings(email=st.EmailOptions(watch_days=45)))
    assert "watch_days = 45" in text_
