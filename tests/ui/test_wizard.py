"""The first-run wizard end to end with a fake backend: gap page, nothing saved on cancel,
the result on finish, and the first sync's progress."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QWizard

from app.domain.filters import Filter
from app.sync.events import CycleSummary, Phase, Progress
from app.ui.wizard import PageId, SetupWizard
from tests.ui.fakes import FakeWizardBackend


@pytest.fixture
def make_wizard(qtbot):
    made = []

    def make(backend: FakeWizardBackend):
        saved = []
        wizard = SetupWizard(backend, saved.append, debounce_ms=10)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard, saved

    yield make
    for wizard in made:
        wizard.probes.wait_for_done(5000)


def page(wizard) -> int:
    return wizard.currentId()


def sign_in_with_key(qtbot, wizard):
    p = wizard.workbooks_page
    p.url.setText("https://wb.example.test")
    p.api_key.setText("key-123")
    p.sign_in_button.click()
    qtbot.waitUntil(p.isComplete, timeout=5000)


def connect_mailbox(qtbot, wizard, take_over=False):
    p = wizard.mailbox_page
    p.server.setChecked(True)
    p.ews_url.setText("https://mail.example.test/EWS/Exchange.asmx")
    p.address.setText("priya@example.test")
    p.password.setText("secret")
    p.test_button.click()
    qtbot.waitUntil(lambda: p.result is not None, timeout=5000)
    if take_over:
        assert not p.isComplete()
        p.take_over.setChecked(True)
    assert p.isComplete()


def go_to_first_sync(qtbot, wizard):
    sign_in_with_key(qtbot, wizard)
    wizard.next()
    assert page(wizard) == PageId.MAILBOX
    connect_mailbox(qtbot, wizard)
    wizard.next()
    assert page(wizard) == PageId.FILTERS
    people = wizard.filters_page.editors["person"]
    qtbot.waitUntil(lambda: people.preview_label.text() == "412 people will be added to Outlook", timeout=5000)
    qtbot.waitUntil(lambda: "37 open tasks" in wizard.filters_page.summary.text(), timeout=5000)
    wizard.next()
    assert page(wizard) == PageId.SHARING
    qtbot.waitUntil(lambda: wizard.sharing_page.counts is not None, timeout=5000)
    assert "60 matching" in wizard.sharing_page.share_matching.text()
    wizard.next()
    assert page(wizard) == PageId.SCHEDULE
    wizard.schedule_page.radios["daily"].setChecked(True)
    wizard.next()
    assert page(wizard) == PageId.FIRST_SYNC
    qtbot.waitUntil(wizard.first_sync_page.isComplete, timeout=5000)


def test_wizard_end_to_end_returns_the_result_only_on_confirmation(qtbot, make_wizard):
    backend = FakeWizardBackend()
    wizard, saved = make_wizard(backend)
    go_to_first_sync(qtbot, wizard)
    plan = wizard.first_sync_page.plan.text()
    assert "290 contacts" in plan and "Pair 60" in plan and "4 need your decision" in plan and "0 deletions" in plan
    assert saved == []  # a preview writes nothing
    assert wizard.button(QWizard.WizardButton.CommitButton).text() == "Save and sync"
    with qtbot.waitSignal(wizard.first_sync_requested, timeout=2000):
        wizard.next()  # the commit
    assert page(wizard) == PageId.PROGRESS
    assert len(saved) == 1
    result = saved[0]
    s = result.settings
    assert s.workbooks.url == "https://wb.example.test" and s.workbooks.auth == "api_key"
    assert result.workbooks_secret == "key-123" and result.mailbox_password == "secret"
    assert s.mailbox.address == "priya@example.test" and s.sync.schedule == "daily"
    assert s.sync.share_existing == "matching" and s.sync.share_new is False
    assert Filter.from_json(s.filters.person).name == "my-people"
    assert "secret" not in repr(s) and "key-123" not in repr(s)  # secrets stay out of the settings
    pp = wizard.progress_page
    pp.on_progress(Progress(Phase.EXECUTE, "person", 120, 412))
    assert pp.label.text() == "Syncing contacts 120/412" and pp.bar.value() == 120
    pp.on_finished(CycleSummary(ok=True, dry_run=False, seconds=3, conflicts=1))
    assert pp.label.text().startswith("First sync finished")
    assert pp.isComplete()


def test_missing_prerequisites_stop_on_the_gap_page_until_fixed(qtbot, make_wizard):
    backend = FakeWizardBackend(missing=["View CRM Cases", "Outlook Connector extension enabled on your user record"])
    wizard, saved = make_wizard(backend)
    sign_in_with_key(qtbot, wizard)
    assert "needs to enable 2 things" in wizard.workbooks_page.status.label.text()
    wizard.next()
    assert page(wizard) == PageId.GAP
    gap = wizard.gap_page
    assert gap.list.count() == 2 and "View CRM Cases" in gap.list.item(0).text()
    assert not gap.isComplete()
    gap.copy_button.click()
    clip = QApplication.clipboard().text()
    assert "View CRM Cases" in clip and "Users & Security" in clip
    gap.again_button.click()  # still missing
    qtbot.waitUntil(lambda: gap.again_button.isEnabled() and "Still missing" in gap.status.label.text(), timeout=5000)
    backend.missing = []  # the administrator fixed it
    gap.again_button.click()
    qtbot.waitUntil(gap.isComplete, timeout=5000)
    wizard.next()
    assert page(wizard) == PageId.MAILBOX
    assert saved == []


def test_cancel_saves_nothing(qtbot, make_wizard):
    backend = FakeWizardBackend()
    wizard, saved = make_wizard(backend)
    go_to_first_sync(qtbot, wizard)
    wizard.reject()
    assert saved == [] and wizard.result is None
    assert "dry_run" in backend.calls  # the preview ran, but nothing was confirmed


def test_refused_password_is_shown_and_blocks_next(qtbot, make_wizard):
    backend = FakeWizardBackend(refuse_password=True)
    wizard, _ = make_wizard(backend)
    p = wizard.workbooks_page
    p.by_password.setChecked(True)
    p.url.setText("https://wb.example.test")
    p.username.setText("priya@example.test")
    p.password.setText("wrong")
    p.sign_in_button.click()
    qtbot.waitUntil(lambda: "did not accept" in p.status.label.text(), timeout=5000)
    assert not p.isComplete()
    p.password.setText("right")
    p.sign_in_button.click()
    qtbot.waitUntil(p.isComplete, timeout=5000)
    assert p.database.count() == 2 and p.credentials().database_id == "42"


def test_lease_holder_is_named_and_moving_must_be_confirmed(qtbot, make_wizard):
    backend = FakeWizardBackend(lease_holder="OLD-LAPTOP")
    wizard, saved = make_wizard(backend)
    sign_in_with_key(qtbot, wizard)
    wizard.next()
    connect_mailbox(qtbot, wizard, take_over=True)
    assert "OLD-LAPTOP" in wizard.mailbox_page.lease.text()
    assert wizard.build_result().take_over_lease


def test_custom_filter_changes_the_live_count(qtbot, make_wizard):
    backend = FakeWizardBackend()
    wizard, _ = make_wizard(backend)
    sign_in_with_key(qtbot, wizard)
    wizard.next()
    connect_mailbox(qtbot, wizard)
    wizard.next()
    people = wizard.filters_page.editors["person"]
    people.radios["custom"].setChecked(True)
    people.table.cellWidget(0, 0).setCurrentText("main_location[country]")
    qtbot.waitUntil(lambda: people.preview_label.text() == "350 people will be added to Outlook", timeout=5000)
    assert "350 people" in wizard.filters_page.summary.text()
    flt = people.filter()
    assert flt.name == "custom" and flt.conditions[0].field == "main_location[country]"
