"""B36: links of a recorded email added or removed by the user (app/journal/email_link_store.py,
app/sync/email_link_edits.py, app/commands/email_links.py) over the in-memory email fakes and a
journal file; plus the reference refresh that runs with sent-mail recording off (issue 6 item 6)."""
from __future__ import annotations

import json

import pytest

from app.cli import main
from app.domain.records import LinkTarget, RefKind
from app.errors import UsageError
from app.journal.email_link_store import EmailLinkStore
from app.journal.email_store import open_email_store
from app.sync.email_link_edits import apply_link_edits
from app.sync.email_phase_hook import record_sent_email
from app.sync.emails import EmailOptions, run_email_phase
from tests.fixtures.email_fakes import FakeEmailCrm, FakeSentItems, FixedClock

ORG, CASE, ANN = ("organisation", "200001"), ("case", "500001"), ("person", "100001")


@pytest.fixture
def crm():
    c = FakeEmailCrm()
    c.add_ref(RefKind.ORGANISATION, "200001", "ORG-200001", "Acme Ltd")
    c.add_person("100001", "Ann Adams", "ann@acme.example", employer="200001")
    c.add_ref(RefKind.CASE, "500001", "CASE-12", "Broken widget", person_ids=("100001",), status="Open")
    return c


@pytest.fixture
def world(crm, tmp_path):
    """One message to Ann (linked to Ann and her employer) and to an address nobody has yet."""
    mb, clock = FakeSentItems(), FixedClock()
    store = open_email_store(tmp_path / "journal.sqlite3")
    msg = mb.send(["ann@acme.example", "new@later.example"])
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert crm.targets_of(msg.message_id) == {ANN, ORG}
    links = EmailLinkStore(store.db)
    yield crm, mb, store, links, clock, msg
    store.close()


def apply(crm, links, clock):
    return apply_link_edits(crm, links, clock.now())


def test_removed_link_is_deleted_in_workbooks_and_never_added_again_by_late_linking(world):
    crm, mb, store, links, clock, msg = world
    email = links.find_email(msg.message_id)
    assert links.remove_link(email, LinkTarget(*ORG), clock.now()) == "removing"
    assert crm.targets_of(msg.message_id) == {ANN, ORG}  # a decision until the sync applies it
    res = apply(crm, links, clock)
    assert (res.removed, res.issues) == (1, [])
    assert crm.targets_of(msg.message_id) == {ANN} and crm.email_by_mid(msg.message_id)  # the email stays
    # the unknown address turns up on a colleague of the same employer: late linking adds her,
    # and would add the employer again were the removal not remembered
    crm.add_person("100009", "Nia New", "new@later.example", employer="200001")
    res = run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert res.retroactive_links == 1
    assert crm.targets_of(msg.message_id) == {ANN, ("person", "100009")}
    (view,) = links.emails()
    org = next(ln for ln in view.links if (ln.record.crm_type, ln.record.crm_id) == ORG)
    assert org.state == "removed" and not org.in_workbooks
    assert org.why == "removed by you (was: employer of a person the mail went to); it is not linked again automatically"
    (explained,) = store.explain_address("ann@acme.example")["emails"]
    org = next(ln for ln in explained["links"] if ln["type"] == "organisation")
    assert (org["state"], org["in_workbooks"]) == ("removed", False) and org["why"].startswith("removed by you")


def test_manual_link_is_made_once_even_when_a_crash_lost_the_confirmation(world):
    crm, mb, store, links, clock, msg = world
    email = links.find_email("email " + email_ref(links))
    assert links.add_link(email, LinkTarget(*CASE), clock.now()) == "added"
    assert links.add_link(email, LinkTarget(*CASE), clock.now()) == "already"
    # the link was posted, then the run died before the journal heard back
    crm.link_emails([(email.workbooks_email_id, LinkTarget(*CASE))])
    posted = crm.calls["link_emails"]
    res = apply(crm, links, clock)
    assert res.added == 1 and crm.calls["link_emails"] == posted  # adopted, not posted again
    assert sorted(crm.targets_of(msg.message_id)) == sorted({ANN, ORG, CASE})
    assert [t for e, t, _ in crm.links if e == email.workbooks_email_id].count(LinkTarget(*CASE)) == 1
    # the next email phase neither posts it again nor removes it
    run_email_phase(crm, mb, store, EmailOptions(), clock)
    assert crm.calls["link_emails"] == posted and CASE in crm.targets_of(msg.message_id)
    (view,) = links.emails()
    case = next(ln for ln in view.links if ln.reason == "manual")
    assert (case.record.name, case.record.object_ref, case.why, case.in_workbooks) == (
        "Broken widget", "CASE-12", "linked by you", True)


def test_manual_link_is_made_by_the_edits_not_by_the_automatic_linker(world):
    crm, mb, store, links, clock, msg = world
    email = links.find_email(msg.message_id)
    links.add_link(email, LinkTarget(*CASE), clock.now())
    run_email_phase(crm, mb, store, EmailOptions(), clock)  # the automatic linker leaves it alone
    assert CASE not in crm.targets_of(msg.message_id)
    assert apply(crm, links, clock).added == 1 and CASE in crm.targets_of(msg.message_id)


def test_removal_of_a_link_already_gone_is_confirmed_without_a_delete(world):
    crm, _mb, _store, links, clock, msg = world
    email = links.find_email(msg.message_id)
    links.remove_link(email, LinkTarget(*ANN), clock.now())
    crm.links = [row for row in crm.links if row[1] != LinkTarget(*ANN)]  # deleted before the crash
    res = apply(crm, links, clock)
    assert res.removed == 1 and crm.calls["unlink_emails"] == 0 and links.pending_removals() == []


def test_removed_then_linked_again_by_hand(world):
    crm, _mb, _store, links, clock, msg = world
    email = links.find_email(msg.message_id)
    links.remove_link(email, LinkTarget(*ANN), clock.now())
    apply(crm, links, clock)
    assert ANN not in crm.targets_of(msg.message_id)
    assert links.add_link(email, LinkTarget(*ANN), clock.now()) == "added"
    assert apply(crm, links, clock).added == 1 and ANN in crm.targets_of(msg.message_id)
    assert links.remove_link(email, LinkTarget(*CASE), clock.now()) == "not_linked"


def test_nothing_to_change_sends_no_request(world):
    crm, _mb, _store, links, clock, _msg = world
    before = dict(crm.calls)
    res = apply(crm, links, clock)
    assert (res.added, res.removed, res.issues) == (0, 0, []) and dict(crm.calls) == before


def test_add_refused_for_good_is_reported_once_and_dropped(world):
    crm, _mb, _store, links, clock, msg = world
    email = links.find_email(msg.message_id)
    crm.missing_targets.add(("opportunity", "999"))
    links.add_link(email, LinkTarget("opportunity", "999"), clock.now())
    res = apply(crm, links, clock)
    assert res.added == 0 and len(res.issues) == 1 and "does not exist" in res.issues[0].message
    assert links.pending_adds() == [] and apply(crm, links, clock).issues == []


def test_unrecorded_email_and_unknown_names_are_usage_errors(world):
    _crm, mb, store, links, clock, _msg = world
    pending = mb.send(["nobody@nowhere.example"])
    run_email_phase(_crm, mb, store, EmailOptions(), clock)
    with pytest.raises(UsageError, match="not recorded"):
        links.add_link(links.find_email(pending.message_id), LinkTarget(*CASE), clock.now())
    with pytest.raises(UsageError, match="no sent email"):
        links.find_email("abc")
    with pytest.raises(UsageError, match="no linkable"):
        links.resolve_target("CASE-404")
    assert links.resolve_target("case-12").target == LinkTarget(*CASE)
    assert links.resolve_target("ann@acme.example").target == LinkTarget(*ANN)
    assert links.resolve_target("organisation:200001").label == "Organisation Acme Ltd (ORG-200001)"
    assert [v.crm_id for v in links.linkable("widget")] == ["500001"]


def email_ref(links) -> str:
    return links.emails()[0].ref


def test_cli_link_and_unlink_record_decisions_and_exit_64_on_unknown_names(world, tmp_path, capsys, monkeypatch):
    _crm, _mb, _store, links, _clock, msg = world
    # in-process: the profile's log file setup would change the process-wide logger for later tests
    monkeypatch.setattr("app.logs.configure", lambda _args: None)
    profile = ["--profile", str(tmp_path)]
    ref = email_ref(links)
    assert main([*profile, "link-email", ref, "CASE-12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] == "added" and out["target"]["object_ref"] == "CASE-12"
    assert main([*profile, "unlink-email", msg.message_id, "ORG-200001"]) == 0
    assert "will be unlinked from Organisation Acme Ltd (ORG-200001) at the next sync" in capsys.readouterr().out
    assert main([*profile, "link-email", ref, "CASE-404"]) == 64
    assert "no linkable Workbooks record matches 'CASE-404'" in capsys.readouterr().err
    assert main([*profile, "emails"]) == 0
    text = capsys.readouterr().out
    assert f"email {ref}" in text and "Case Broken widget (CASE-12) [case:500001]: linked by you, link not made yet" in text
    assert "x  Organisation Acme Ltd (ORG-200001) [organisation:200001]: removed by you, to be taken out" in text


def test_with_recording_off_only_the_related_records_are_refreshed(crm, tmp_path):
    mb, clock = FakeSentItems(), FixedClock()
    mb.send(["ann@acme.example"])
    store = open_email_store(tmp_path / "journal.sqlite3")
    try:
        class Tally:
            created = {"crm": {}}
            issues: list = []

        assert record_sent_email(Tally(), crm, mb, store, EmailOptions(enabled=False), clock) == 0
        assert set(crm.calls) == {"references_since"} and not mb.calls  # no mail, no email request
        assert {r.object_ref for r in store.references()} == {"ORG-200001", "CASE-12"}
        assert record_sent_email(Tally(), crm, mb, store, EmailOptions(enabled=False, sync_references=False),
                                 clock) == 0
        assert crm.calls["references_since"] == len(RefKind)
    finally:
        store.close()


def test_desktop_link_change_is_written_by_the_profile_engine_and_read_back_by_the_windows(world, tmp_path):
    from app.paths import profile
    from app.runner.profile_engine import ProfileEngine
    from app.ui.journal_view import ReaderJournalView
    from app.ui.ports import EmailLinkChange

    _crm, _mb, _store, links, _clock, msg = world
    engine = ProfileEngine(profile(str(tmp_path)), load_settings=lambda: None)
    engine.change_email_link(EmailLinkChange(msg.message_id, "case", "500001", True))
    engine.change_email_link(EmailLinkChange(msg.message_id, "person", "100001", False))
    assert [p.target for p in links.pending_adds()] == [LinkTarget(*CASE)]
    assert [p.target for p in links.pending_removals()] == [LinkTarget(*ANN)]
    view = ReaderJournalView(tmp_path / "journal.sqlite3")
    (email,) = view.emails()
    assert {(ln.record.crm_id, ln.state) for ln in email.links} == {
        ("100001", "unlinking"), ("200001", "linked"), ("500001", "linked")}
    assert [r.label for r in view.linkable("widget")] == ["Case Broken widget (CASE-12)"]


def test_a_journal_from_before_schema_3_is_named_not_a_traceback(tmp_path):
    from sqlalchemy import text

    from app.errors import JournalError
    from app.journal.db import open_database
    from app.ui.journal_view import ReaderJournalView

    db = open_database(tmp_path / "journal.sqlite3")
    with db.engine.begin() as con:
        con.execute(text("ALTER TABLE email_link DROP COLUMN state"))
    with pytest.raises(JournalError, match="next sync updates it"):
        EmailLinkStore(db).emails()
    db.dispose()
    assert ReaderJournalView(tmp_path / "journal.sqlite3").emails() == []
