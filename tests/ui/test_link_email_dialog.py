"""History window → "Link email…" (B36): the email's links with why, "Remove link" and "Add link…"
with a search; each change reaches the engine on the worker thread, which then runs a sync."""
from __future__ import annotations

import pytest

from app.ui.link_email_dialog import PENDING_ADD, PENDING_REMOVE
from tests.ui.fakes import FakeEngine
from tests.ui.test_tray_app import make_app  # noqa: F401 - the fixture


@pytest.fixture
def history(qtbot, make_app):  # noqa: F811
    engine = FakeEngine(steps=1)
    ctrl = make_app(engine)
    ctrl.perform("history")
    window = ctrl.windows["history"]
    window.tabs.setCurrentIndex(1)
    assert window.emails.rowCount() == 1 and not window.link_button.isEnabled()
    assert window.emails.item(0, 2).text() == "Person Jane Doe (PER-1001), Organisation Acme Ltd (ORG-2001)"
    window.emails.selectRow(0)
    window.link_button.click()
    dialog = window.link_dialog
    assert dialog.isVisible()
    return ctrl, engine, dialog


def changes(engine):
    return [args[0] for name, args in engine.commands if name == "change_email_link"]


def test_links_are_listed_with_why_and_one_is_removed_off_the_gui_thread(qtbot, history):
    ctrl, engine, dialog = history
    texts = [dialog.links.item(i).text() for i in range(dialog.links.count())]
    assert texts == ["Person Jane Doe (PER-1001) — matched the address jane.alt@acme.test",
                     "Organisation Acme Ltd (ORG-2001) — employer of a person the mail went to"]
    assert not dialog.remove_button.isEnabled()
    dialog.links.item(0).setSelected(True)
    assert dialog.remove_button.isEnabled()
    with qtbot.waitSignal(ctrl.handle.journal_changed, timeout=5000):
        dialog.remove_button.click()
    (change,) = changes(engine)
    assert (change.message_id, change.crm_type, change.crm_id, change.add) == (
        "<proposal@ourco.test>", "person", "1001", False)
    assert dialog.links.item(0).text().endswith(PENDING_REMOVE) and not dialog.remove_button.isEnabled()
    qtbot.waitUntil(lambda: len(engine.calls) == 1, timeout=5000)  # the sync that makes it in Workbooks
    assert "MainThread" not in engine.threads


def test_add_link_searches_the_known_records_and_links_the_chosen_one(qtbot, history):
    ctrl, engine, dialog = history
    assert not dialog.search_box.isVisible()
    dialog.add_button.click()
    assert dialog.search_box.isVisible()
    # records already linked are not offered again
    assert [dialog.results.item(i).text() for i in range(dialog.results.count())] == ["Case Broken widget (CASE-12)"]
    qtbot.keyClicks(dialog.search, "acme")
    assert dialog.results.count() == 0
    dialog.search.setText("widget")
    dialog.results.item(0).setSelected(True)
    with qtbot.waitSignal(ctrl.handle.journal_changed, timeout=5000):
        dialog.link_button.click()
    (change,) = changes(engine)
    assert (change.crm_type, change.crm_id, change.add) == ("case", "5001", True)
    assert dialog.links.item(dialog.links.count() - 1).text() == f"Case Broken widget (CASE-12) — {PENDING_ADD}"
    assert dialog.results.count() == 0
