"""Conflict and hold dialogs emit decisions; settings save; filter editor; notifications policy;
single instance; excepthook dialog."""
from __future__ import annotations

import threading
import uuid

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from app.domain.filters import Filter
from app.runner.values import Choice, HoldDecision, Resolution
from app.settings import Settings
from app.sync.events import FatalIssue, FatalKind, HoldRaised
from app.ui.conflict_dialog import ConflictDialog
from app.ui.error_dialogs import ExceptHooks
from app.ui.hold_dialog import HoldDialog
from app.ui.models.tables import CLASH
from app.ui.notifications import NotificationPolicy, Notifier, conflict_note, failure_note, hold_note
from app.ui.ports import ConflictView, FieldRow
from app.ui.settings_window import SettingsWindow
from app.ui.single_instance import SingleInstance
from tests.ui.fakes import FakeJournal


def test_conflict_dialog_preselects_one_sided_changes_and_emits_a_merge(qtbot):
    dialog = ConflictDialog(FakeJournal())
    qtbot.addWidget(dialog)
    dialog.show()
    m = dialog.fields
    assert [r.field for r in m.rows] == ["mobile_phone", "job_title", "business_city"]
    assert m.choices == [None, "outlook", "workbooks"]  # only the mobile is a real clash
    assert m.data(m.index(0, 1), Qt.ItemDataRole.BackgroundRole) == QBrush(CLASH)
    assert m.data(m.index(1, 3), Qt.ItemDataRole.BackgroundRole) is None  # unchanged side not highlighted
    assert not dialog.buttons["merged"].isEnabled()
    assert not dialog.buttons["both"].isVisible()  # not a first-sync pair
    m.setData(m.index(0, 4), "workbooks")
    assert dialog.buttons["merged"].isEnabled()
    with qtbot.waitSignal(dialog.decided, timeout=1000) as blocker:
        dialog.buttons["merged"].click()
    cid, resolution = blocker.args
    assert cid == "c1"
    assert resolution == Resolution(Choice.MERGED, (("mobile_phone", "workbooks"), ("job_title", "outlook"),
                                                    ("business_city", "workbooks")))
    assert dialog.list_model.rowCount() == 1 and dialog.current().conflict_id == "c2"


def test_conflict_dialog_keep_both_only_for_first_sync_pairs_and_decide_later(qtbot):
    first = ConflictView("c7", "person", "J. Smith (PER-7)",
                         (FieldRow("company", "Company", "Acme", None, "Acme Ltd"),), first_sync=True)
    dialog = ConflictDialog(None)
    qtbot.addWidget(dialog)
    dialog.set_conflicts([first])
    dialog.show()
    assert dialog.buttons["both"].isVisible() and dialog.buttons["both"].isEnabled()
    with qtbot.waitSignal(dialog.decided, timeout=1000) as blocker:
        dialog.buttons["later"].click()
    assert blocker.args[1].choice is Choice.LATER
    assert dialog.list_model.rowCount() == 1  # still open
    with qtbot.waitSignal(dialog.decided, timeout=1000) as blocker:
        dialog.buttons["both"].click()
    assert blocker.args == ["c7", Resolution(Choice.BOTH)]
    assert dialog.empty.isVisible()


def test_hold_dialog_decisions(qtbot):
    dialog = HoldDialog(FakeJournal())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.items.count() == 4 and dialog.items.item(3).text() == "… and 277 more"
    with qtbot.waitSignal(dialog.decided, timeout=1000) as blocker:
        dialog.buttons["restore"].click()
    assert blocker.args == ["h1", HoldDecision.RESTORE]
    assert not dialog.buttons["apply"].isEnabled()


def test_notification_policy_one_a_minute_and_successes_off():
    now = [0.0]
    policy = NotificationPolicy(clock=lambda: now[0])
    hold = hold_note(HoldRaised("h", "person", "outlook", "mass_delete", 280, 350))
    fail = failure_note(FatalIssue(FatalKind.AUTH, "Sign-in refused", "Workbooks no longer accepts your sign-in"))
    assert policy.offer(conflict_note(1)) is not None
    now[0] = 10
    assert policy.offer(fail) is None and policy.offer(hold) is None
    assert policy.waiting is hold  # the most important waits
    now[0] = 59
    assert policy.release() is None
    now[0] = 61
    assert policy.release() is hold and policy.waiting is None
    from app.sync.events import CycleSummary
    from app.ui.notifications import success_note

    now[0] = 500
    assert policy.offer(success_note(CycleSummary(ok=True, dry_run=False, seconds=1))) is None


def test_notifier_shows_the_waiting_note_when_the_minute_is_over(qtbot):
    now = [0.0]
    shown = []
    notifier = Notifier(lambda t, *_: shown.append(t), NotificationPolicy(clock=lambda: now[0], min_gap=0.2))
    notifier.post(conflict_note(2))
    notifier.post(failure_note(FatalIssue(FatalKind.JOURNAL, "Journal damaged", "x")))
    assert shown == ["2 conflicts to review"]
    now[0] = 1.0
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)
    assert shown[1] == "Journal damaged"


def test_single_instance_raises_the_first(qtbot):
    key = f"test-{uuid.uuid4()}"
    first, second = SingleInstance(key), SingleInstance(key)
    try:
        assert not first.notify_running(100)
        assert first.listen()
        with qtbot.waitSignal(first.activated, timeout=3000):
            assert second.notify_running(1000)
    finally:
        first.close()


def test_excepthook_from_a_thread_logs_and_shows_the_report_dialog(qtbot, caplog):
    hooks = ExceptHooks()
    hooks.install()
    try:
        def boom():
            raise RuntimeError("kaboom")

        with qtbot.waitSignal(hooks.shown, timeout=3000) as blocker:
            t = threading.Thread(target=boom)
            t.start()
            t.join()
        box = blocker.args[0]
        assert box.objectName() == "report_dialog" and "kaboom" in box.text()
        assert any(r.levelname == "CRITICAL" for r in caplog.records)
        box.close()
    finally:
        hooks.uninstall()


class FakeStore:
    def __init__(self):
        self.saved = []
        self.rebuilt = 0

    def load(self):
        return Settings()

    def save(self, settings, secrets):
        self.saved.append((settings, dict(secrets)))

    def preview_count(self, kind, flt):
        return 7 if flt.name == "custom" else 412

    def rebuild_journal(self):
        self.rebuilt += 1


def test_settings_window_saves_schedule_filters_safety_and_secrets(qtbot):
    store = FakeStore()
    window = SettingsWindow(store, FakeJournal())
    qtbot.addWidget(window)
    window.show()
    window.show_tab("schedule")
    window.schedule_radios["15min"].setChecked(True)
    people = window.filter_editors["person"]
    qtbot.waitUntil(lambda: people.preview_label.text() == "412 people will be added to Outlook", timeout=5000)
    people.radios["custom"].setChecked(True)
    qtbot.waitUntil(lambda: people.preview_label.text() == "7 people will be added to Outlook", timeout=5000)
    window.max_deletes.setValue(20)
    window.never_record.setPlainText("@lawfirm.example\nboss@example.test\n")
    assert not window.email_attachments.isChecked() and not window.email_attach.isEnabled()  # B35: off by default
    window.email_attachments.setChecked(True)
    assert window.email_attach.isEnabled()
    window.email_attach.setValue(4)
    window.mb_secret.setText("new-password")
    with qtbot.waitSignal(window.saved, timeout=1000):
        window.buttons.button(window.buttons.StandardButton.Save).click()
    settings, secrets = store.saved[0]
    assert settings.sync.schedule == "15min" and settings.safety.max_deletes == 20
    assert Filter.from_json(settings.filters.person).name == "custom"
    assert settings.email.never_record == ("@lawfirm.example", "boss@example.test")
    assert settings.email.attachments is True and settings.email.max_attachment_mb == 4
    assert secrets == {"mailbox": "new-password"} and window.mb_secret.text() == ""


def test_settings_explain_runs_in_the_background(qtbot):
    window = SettingsWindow(FakeStore(), FakeJournal())
    qtbot.addWidget(window)
    window.explain_edit.setText("jane@example.test")
    window.explain()
    qtbot.waitUntil(lambda: "linked to PER-1042" in window.explain_result.text(), timeout=5000)


def test_filter_editor_rejects_a_bad_expression(qtbot):
    from app.ui.filter_editor import FilterEditor

    editor = FilterEditor("task")
    qtbot.addWidget(editor)
    editor.radios["custom"].setChecked(True)
    editor.match.setCurrentIndex(2)
    editor.expression.setText("(1 OR 9")
    assert editor.error_label.text()
    editor.expression.setText("(1 OR 2) AND 3")
    assert editor.error_label.text() == ""
    assert editor.filter().match == "(1 OR 2) AND 3"
