"""Issue 10 in the desktop app, on the real stack: the first-run wizard's Microsoft 365 choice signs
in with a device code against the Graph sandbox (through real msal/httpx) and saves what
`configure --mailbox-api graph` saves; waiting can be cancelled and times out with a clear message;
a revoked sign-in stops sync with a "Sign in to Microsoft 365 again" prompt in the tray whose
action signs in again, after which sync works."""
from __future__ import annotations

import keyring
import pytest
from PySide6.QtWidgets import QApplication, QPushButton, QWizard

from app import paths as paths_mod
from app import secrets, wiring
from app import settings as st
from app.commands.desktop_backend import SettingsStoreImpl, WizardBackendImpl, persist_wizard_result
from app.connectors.graph.auth import cache_ref
from app.runner.profile_engine import ProfileEngine
from app.runner.scheduler import Scheduler
from app.sync.events import FatalKind
from app.ui.application import ConnectorApp
from app.ui.journal_view import ReaderJournalView
from app.ui.notifications import NotificationPolicy
from app.ui.wizard import PageId, SetupWizard

pytestmark = pytest.mark.slow


@pytest.fixture
def boxes():
    from app.sandbox.run import start_both

    boxes = start_both(people=20, seed_value=5, mailbox_api="graph")
    boxes.graph.identity.auto_approve_polls = None  # the test enters the code (approve) itself
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture
def paths(tmp_path):
    return paths_mod.ProfilePaths(tmp_path / "profile").ensure()


def token_cache_saved(graph) -> bool:
    return keyring.get_password("workbooks-connector", cache_ref(graph.authority, graph.client_id).name) is not None


def fill_graph_mailbox(page, boxes) -> None:
    g = boxes.graph
    assert page.online.isChecked()  # Microsoft 365 is the first choice
    page.address.setText(g.mailbox)
    page.client_id.setText(g.client_id)
    page.tenant.setText(g.tenant)
    page.authority_host.setText(g.authority_host)
    page.graph_url.setText(g.graph_url)
    page.ca_bundle.setText(str(g.tls.cert))


def to_mailbox_page(qtbot, wizard, boxes) -> None:
    wp = wizard.workbooks_page
    wp.url.setText(boxes.workbooks_url)
    wp.api_key.setText(boxes.crm.api_key)
    wp.sign_in_button.click()
    qtbot.waitUntil(wp.isComplete, timeout=15_000)
    wizard.next()
    assert wizard.currentId() == PageId.MAILBOX


def wait_for_code(qtbot, panel) -> str:
    qtbot.waitUntil(lambda: panel.code_row.isVisibleTo(panel) and panel.code.text() != "", timeout=15_000)
    return panel.code.text()


@pytest.fixture
def wizard_on(qtbot, paths):
    made = []

    def make(confirm):
        wizard = SetupWizard(WizardBackendImpl(paths), confirm, debounce_ms=10)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard

    yield make
    for wizard in made:
        wizard.reject()
        assert wizard.probes.wait_for_done(20_000)


def test_wizard_signs_in_to_microsoft_365_and_saves_what_configure_saves(qtbot, boxes, paths, wizard_on):
    g = boxes.graph
    wizard = wizard_on(lambda result: persist_wizard_result(paths, result))
    to_mailbox_page(qtbot, wizard, boxes)
    page = wizard.mailbox_page
    fill_graph_mailbox(page, boxes)
    assert page.test_button.text().startswith("Sign in with Microsoft 365")
    page.test_button.click()
    code = wait_for_code(qtbot, page.sign_in)
    assert g.base_url + "/devicelogin" in page.sign_in.instructions.text()
    page.sign_in.copy_button.click()
    assert QApplication.clipboard().text() == code
    assert not page.isComplete() and not page.test_button.isEnabled()
    assert g.approve(code)  # the user enters the code in the browser
    qtbot.waitUntil(page.isComplete, timeout=20_000)
    assert "Connected to " + g.mailbox in page.status.label.text() and "Microsoft 365" in page.status.label.text()
    assert not token_cache_saved(g)  # nothing is kept before the user confirms (R34)

    # The rest of the wizard runs on this sign-in: preview counts, sharing counts, the dry run.
    wizard.next()
    assert wizard.currentId() == PageId.FILTERS
    wizard.next()
    assert wizard.currentId() == PageId.SHARING
    qtbot.waitUntil(lambda: wizard.sharing_page.counts is not None, timeout=20_000)
    wizard.next()
    wizard.next()
    assert wizard.currentId() == PageId.FIRST_SYNC
    qtbot.waitUntil(wizard.first_sync_page.isComplete, timeout=30_000)
    assert "contacts" in wizard.first_sync_page.plan.text()
    assert not (paths.config.exists() and st.load(paths.config).configured)
    wizard.button(QWizard.WizardButton.CommitButton).click()
    assert wizard.currentId() == PageId.PROGRESS, wizard.first_sync_page.status.label.text()

    saved = st.load(paths.config)
    assert saved.mailbox == st.graph_account(g.mailbox, g.client_id, tenant=g.tenant, authority_host=g.authority_host,
                                             graph_url=g.graph_url, ca_bundle=str(g.tls.cert))
    assert token_cache_saved(g)  # now the sign-in is kept, in the keyring only
    text = paths.config.read_text()
    assert boxes.crm.api_key not in text and "sbx-" not in text
    # A later process signs in silently from the keyring and syncs.
    summary = wiring.sync_once(paths, saved)
    assert summary.ok and sum(summary.created["outlook"].values()) > 0


def test_device_code_wait_can_be_cancelled_and_times_out(qtbot, boxes, paths, wizard_on):
    g = boxes.graph
    wizard = wizard_on(lambda result: None)
    to_mailbox_page(qtbot, wizard, boxes)
    page = wizard.mailbox_page
    fill_graph_mailbox(page, boxes)
    page.test_button.click()
    wait_for_code(qtbot, page.sign_in)
    assert page.sign_in.cancel_button.isEnabled()
    page.sign_in.cancel_button.click()  # answered at once; the poll thread stops at its next interval
    assert "cancelled" in page.sign_in.status.label.text().lower()
    assert page.test_button.isEnabled() and not page.isComplete()
    assert wizard.probes.wait_for_done(10_000)
    page.sign_in.timeout = 2  # nobody enters the code
    page.test_button.click()
    wait_for_code(qtbot, page.sign_in)
    qtbot.waitUntil(lambda: "not entered within" in page.sign_in.status.label.text(), timeout=20_000)
    assert "Sign in again" in page.sign_in.status.label.text() and page.test_button.isEnabled()
    assert not page.isComplete() and not token_cache_saved(g)


@pytest.fixture
def graph_profile(boxes, paths):
    """A profile set up as `configure --mailbox-api graph` leaves it: the sign-in in the keyring."""
    from app.connectors.graph import GraphSignIn

    g = boxes.graph
    settings = st.Settings(
        workbooks=st.WorkbooksAccount(url=boxes.workbooks_url, auth="api_key"),
        mailbox=st.graph_account(g.mailbox, g.client_id, tenant=g.tenant, authority_host=g.authority_host,
                                 graph_url=g.graph_url, ca_bundle=str(g.tls.cert)),
        sync=st.SyncOptions(schedule="manual"),
    ).validate()
    assert secrets.store(wiring.crm_secret_ref(settings), boxes.crm.api_key)
    signin = GraphSignIn.from_settings(wiring.graph_settings(settings))
    flow = signin.start_device_flow()
    g.approve(flow.user_code)
    assert signin.finish_device_flow(flow, timeout=20) == g.mailbox
    st.save(settings, paths.config)
    return paths


def test_revoked_sign_in_prompts_in_the_tray_and_signing_in_again_resumes_sync(qtbot, boxes, graph_profile):
    paths, g = graph_profile, boxes.graph
    ctrl = ConnectorApp(lambda: ProfileEngine(paths), journal=ReaderJournalView(paths.journal),
                        settings_store=SettingsStoreImpl(paths), wizard_backend=WizardBackendImpl(paths),
                        use_tray=True, schedule="manual", scheduler_factory=lambda s: Scheduler(s, start_delay=3600),
                        notification_policy=NotificationPolicy(min_gap=0))
    shown = []
    ctrl.notifier.shown.connect(shown.append)
    try:
        with qtbot.waitSignal(ctrl.handle.status_changed, timeout=5000):
            ctrl.start()
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=60_000) as first:
            ctrl.perform("sync_now")
        assert first.args[0].ok

        g.revoke_refresh_tokens()  # an administrator revoked the sessions ...
        g.expire_access_tokens()  # ... and the access token has run out
        with qtbot.waitSignal(ctrl.handle.fatal_issue, timeout=60_000) as failed:
            ctrl.perform("sync_now")
        fatal = failed.args[0]
        assert fatal.kind is FatalKind.SIGN_IN_AGAIN and "configure" in fatal.message
        qtbot.waitUntil(lambda: any(n.title == "Sign in to Microsoft 365 again" for n in shown), timeout=5000)
        note = next(n for n in shown if n.title == "Sign in to Microsoft 365 again")
        assert note.target == "graph_sign_in"
        assert ctrl.tray.state == "attention"
        assert ctrl.fatal_box is not None and ctrl.fatal_box.findChild(QPushButton, "flow_graph_sign_in") is not None
        ctrl.tray.rebuild_menu()
        action = ctrl.tray.find_action("graph_sign_in")
        assert action is not None and ctrl.tray.menu.actions()[0] is action

        g.identity.auto_approve_polls = 1  # the user signs in promptly this time
        with qtbot.waitSignal(ctrl.handle.cycle_finished, timeout=60_000) as again:
            action.trigger()  # opens the sign-in dialog (the wizard's widget), then syncs
            dialog = ctrl.windows["graph_sign_in"]
            qtbot.waitUntil(lambda: dialog.panel.code.text() != "", timeout=15_000)
        assert again.args[0].ok, again.args[0].as_json()
        assert not dialog.isVisible()
        qtbot.waitUntil(lambda: ctrl.tray.find_action("graph_sign_in") is None or not ctrl.tray.menu.isVisible(),
                        timeout=2000)
        ctrl.tray.rebuild_menu()
        assert ctrl.tray.find_action("graph_sign_in") is None  # the prompt is gone once syncing works
    finally:
        ctrl.shutdown()
        for w in ctrl.windows.values():
            w.close()
        if ctrl.fatal_box is not None:
            ctrl.fatal_box.close()


def test_without_a_keyring_the_wizard_says_so_instead_of_signing_in(qtbot, boxes, paths, wizard_on, monkeypatch):
    monkeypatch.setattr(secrets, "keyring_usable", lambda: False)
    wizard = wizard_on(lambda result: None)
    to_mailbox_page(qtbot, wizard, boxes)
    page = wizard.mailbox_page
    fill_graph_mailbox(page, boxes)
    page.test_button.click()
    qtbot.waitUntil(lambda: "keyring" in page.sign_in.status.label.text(), timeout=15_000)
    assert page.test_button.isEnabled() and not page.isComplete()
    assert page.sign_in.code.text() == ""  # no code was asked for
