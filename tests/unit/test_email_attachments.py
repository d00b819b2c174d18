"""B35 in the email phase: attachments (the MIME source) only when enabled, the size cap with its
note, batches bounded by bytes, MIME read failures, and no MIME in the journal."""
from __future__ import annotations

import sqlite3

import pytest

from app.domain.records import RefKind
from app.errors import NotFound
from app.journal.email_store import open_email_store
from app.sync.email_mime import byte_bounded, mime_too_big, too_large_note
from app.sync.emails import EmailOptions, run_email_phase
from tests.fixtures.email_fakes import FakeEmailCrm, FakeSentItems, FixedClock

MB = 1024 * 1024
ANN = "ann@acme.example"


@pytest.fixture
def crm():
    c = FakeEmailCrm()
    c.add_ref(RefKind.ORGANISATION, "200001", "ORG-200001", "Acme Ltd", emails=("info@acme.example",))
    c.add_person("100001", "Ann Adams", ANN, employer="200001")
    return c


@pytest.fixture
def mb():
    return FakeSentItems()


@pytest.fixture
def store():
    s = open_email_store(None)
    yield s
    s.close()


def run(crm, mb, store, **opts):
    return run_email_phase(crm, mb, store, EmailOptions(**opts), FixedClock())


def test_enabled_sends_the_mime_and_the_journal_never_holds_it(crm, mb, tmp_path):
    store = open_email_store(tmp_path / "journal.sqlite3")
    m = mb.send([ANN], size=40_000)
    mb.mimes[m.item_id] = b"MIME-SOURCE-WITH-quote.pdf"
    res = run(crm, mb, store, attachments=True)
    assert res.emails_created == 1 and not res.issues
    _eid, rec = crm.email_by_mid(m.message_id)
    assert rec["rfc822"] == b"MIME-SOURCE-WITH-quote.pdf" and "not recorded" not in rec["body"]
    assert store.counts()["recorded"] == 1
    store.close()
    with sqlite3.connect(tmp_path / "journal.sqlite3") as con:
        dump = "\n".join(con.iterdump())
    assert "MIME-SOURCE" not in dump and "body text" not in dump


def test_disabled_reads_no_mime_and_notes_nothing_even_for_large_mail(crm, mb, store):
    small = mb.send([ANN])
    large = mb.send([ANN], size=30 * MB)
    run(crm, mb, store)
    assert mb.calls["message_mimes"] == 0
    for m in (small, large):
        _eid, rec = crm.email_by_mid(m.message_id)
        assert rec["rfc822"] is None and "not recorded" not in rec["body"]
    assert store.counts()["recorded"] == 2 and store.counts()["too_large"] == 0


def test_over_the_cap_recorded_without_attachments_with_the_note(crm, mb, store):
    big = mb.send([ANN], size=int(1.5 * MB))
    small = mb.send([ANN], size=200_000)
    run(crm, mb, store, attachments=True, max_attachment_mb=1)
    _eid, rec = crm.email_by_mid(big.message_id)
    assert rec["rfc822"] is None and rec["body"].endswith(too_large_note(1))
    assert big.item_id not in sum(mb.mime_batches, [])  # its MIME is never read
    assert crm.email_by_mid(small.message_id)[1]["rfc822"] is not None
    assert store.counts()["too_large"] == 1 and store.counts()["recorded"] == 1


def test_mime_larger_than_the_listed_size_allows_is_recorded_without_it(crm, mb, store):
    m = mb.send([ANN], size=100_000)
    mb.mimes[m.item_id] = b"x" * (2 * MB)  # grew since it was listed
    run(crm, mb, store, attachments=True, max_attachment_mb=1)
    rec = crm.email_by_mid(m.message_id)[1]
    assert rec["rfc822"] is None and too_large_note(1) in rec["body"]
    assert store.counts()["too_large"] == 1


def test_batches_are_bounded_by_bytes_not_only_by_count(crm, mb, store):
    sent = [mb.send([ANN], size=3 * MB) for _ in range(5)]
    res = run(crm, mb, store, attachments=True, mime_batch_bytes=9 * MB)
    assert res.emails_created == 5
    # about 4 MB of MIME each: two per batch, so three record calls, and never five MIMEs at once
    assert [len(b) for b in mb.mime_batches] == [2, 2, 1]
    assert crm.calls["record_emails"] == 3
    assert all(crm.email_by_mid(m.message_id)[1]["rfc822"] for m in sent)


def test_one_message_larger_than_the_batch_budget_travels_alone(crm, mb, store):
    mb.send([ANN], size=100)
    mb.send([ANN], size=10 * MB)
    mb.send([ANN], size=100)
    run(crm, mb, store, attachments=True, mime_batch_bytes=1 * MB)
    assert [len(b) for b in mb.mime_batches] == [1, 1, 1]


def test_unreadable_mime_waits_with_back_off_and_is_recorded_with_it_later(crm, mb, store):
    m = mb.send([ANN])
    mb.mime_fail.add(m.item_id)
    res = run(crm, mb, store, attachments=True)
    assert res.emails_created == 0 and len(res.issues) == 1 and "ErrorServerBusy" in res.issues[0].message
    assert crm.email_by_mid(m.message_id) is None  # not recorded without the attachments asked for
    mb.mime_fail.clear()
    clock = FixedClock()
    clock.advance(hours=1)
    res = run_email_phase(crm, mb, store, EmailOptions(attachments=True), clock)
    assert res.emails_created == 1 and crm.email_by_mid(m.message_id)[1]["rfc822"]


def test_message_gone_before_its_mime_is_read_is_recorded_from_the_headers(crm, mb, store, monkeypatch):
    m = mb.send([ANN])
    monkeypatch.setattr(mb, "message_mimes", lambda ids: [NotFound("gone") for _ in ids])
    res = run(crm, mb, store, attachments=True)
    assert res.emails_created == 1 and not res.issues
    assert crm.email_by_mid(m.message_id)[1]["rfc822"] is None


def test_mailbox_without_mime_reads_records_nothing_rather_than_dropping_attachments(crm, mb, store, monkeypatch):
    m = mb.send([ANN])
    monkeypatch.delattr(FakeSentItems, "message_mimes")
    res = run(crm, mb, store, attachments=True)
    assert res.emails_created == 0 and "Attachments not available" in res.issues[0].message
    assert crm.email_by_mid(m.message_id) is None


def test_byte_bounded_batches():
    weights = [5, 5, 5, 20, 1, 1]
    batches = list(byte_bounded(weights, count=3, budget=10, weight=lambda w: w))
    assert batches == [[5, 5], [5], [20], [1, 1]]
    assert list(byte_bounded([1] * 7, count=3, budget=100, weight=lambda w: w)) == [[1] * 3, [1] * 3, [1]]


def test_mime_size_check_allows_base64_growth_under_the_cap():
    assert not mime_too_big(b"x" * int(1.3 * MB), 1)  # a 1 MB message is ~1.33 MB of MIME
    assert mime_too_big(b"x" * int(1.5 * MB), 1)
