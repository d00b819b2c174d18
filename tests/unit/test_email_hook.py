"""app/sync/email_phase_hook.py: settings -> options, counts folded into the engine's tally."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.journal.email_store import open_email_store
from app.settings import EmailOptions as SettingsEmail
from app.sync.email_phase_hook import options_from_settings, record_sent_email
from app.sync.events import empty_counts
from app.sync.executor import Tally
from tests.fixtures.email_fakes import FakeEmailCrm, FakeSentItems, FixedClock


def test_options_from_settings_caps_days_back():
    start = datetime(2026, 5, 1, tzinfo=timezone.utc)
    opts = options_from_settings(SettingsEmail(capture_days_back=400, never_record=("x.example",), record_bcc=True),
                                 capture_start=start)
    assert opts.capture_since == start - timedelta(days=90)
    assert opts.never_record == ("x.example",) and opts.record_bcc and opts.enabled
    assert options_from_settings(SettingsEmail(), capture_start=None).capture_since is None


def test_record_sent_email_folds_counts_into_the_tally():
    crm, mb, clock = FakeEmailCrm(), FakeSentItems(), FixedClock()
    crm.add_person("1", "Ann Adams", "ann@acme.example")
    mb.send(["ann@acme.example"])
    mb.send(["ann@acme.example"], subject="BAD")
    crm.reject_subjects.add("BAD")
    store = open_email_store(None)
    start = store.capture_start(clock.now() - timedelta(days=30))
    assert store.capture_start(clock.now()) == start  # kept from the first run
    tally = Tally(empty_counts(), empty_counts(), empty_counts(), {"crm": 0, "outlook": 0})
    links = record_sent_email(tally, crm, mb, store, options_from_settings(SettingsEmail(), capture_start=start), clock)
    assert tally.created["crm"]["emails"] == 1 and links == 1
    assert len(tally.issues) == 1 and tally.issues[0][0].startswith("email ")
