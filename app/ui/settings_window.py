"""Settings (design.md §9): Accounts, Filters, Sharing, Schedule, Email, Safety, Advanced, and
an "Explain…" field. Nothing is written until Save; saving goes through `SettingsStore`, then
`saved(settings)` lets the application tell the worker to reload."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.filters import Filter
from app.errors import AppError
from app.runner.probes import ProbeRunner
from app.settings import KINDS, MAX_ATTACHMENT_MB, MIN_ATTACHMENT_MB, SCHEDULES, Settings
from app.ui import resources, text
from app.ui.filter_editor import FilterEditor
from app.ui.ports import JournalView, SettingsStore

TABS = ("accounts", "filters", "sharing", "schedule", "email", "conflicts", "safety", "advanced")


def _form(parent: QWidget | None = None) -> tuple[QWidget, QFormLayout]:
    page = QWidget(parent)
    form = QFormLayout(page)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    return page, form


def _choice(labels: dict[str, str], current: str) -> QComboBox:
    box = QComboBox()
    for key, label in labels.items():
        box.addItem(label, key)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def _password() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText("unchanged")
    return edit


class SettingsWindow(QWidget):
    saved = Signal(object)  # Settings
    rebuild_journal_requested = Signal()
    share_again_requested = Signal(object)  # UnsharedView
    take_over_lease_requested = Signal()
    rerun_wizard_requested = Signal()
    graph_sign_in_requested = Signal()
    log_level_changed = Signal(str)

    def __init__(self, store: SettingsStore, journal: JournalView | None = None, *,
                 probes: ProbeRunner | None = None, autostart: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store, self.journal = store, journal
        self.autostart_offered = autostart  # False in demo mode: a throwaway profile never starts at sign-in
        self.setObjectName("settingsWindow")
        self.setWindowTitle("Settings — Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.resize(720, 560)
        self.probes = probes or ProbeRunner(self)
        self.probes.finished.connect(self._probe_done)
        self.probes.failed.connect(self._probe_failed)
        self.settings = store.load()

        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(self._accounts_tab(), "Accounts")
        self.tabs.addTab(self._filters_tab(), "Filters")
        self.tabs.addTab(self._sharing_tab(), "Sharing")
        self.tabs.addTab(self._schedule_tab(), "Schedule")
        self.tabs.addTab(self._email_tab(), "Email")
        self.tabs.addTab(self._conflicts_tab(), "Conflicts")
        self.tabs.addTab(self._safety_tab(), "Safety")
        self.tabs.addTab(self._advanced_tab(), "Advanced")

        self.explain_edit = QLineEdit()
        self.explain_edit.setObjectName("explainQuery")
        self.explain_edit.setPlaceholderText("Why isn't this syncing? Email address, CASE-1234, name or subject")
        self.explain_edit.returnPressed.connect(self.explain)
        explain_button = QPushButton("Explain…")
        explain_button.setObjectName("explainButton")
        explain_button.clicked.connect(self.explain)
        self.explain_result = QLabel()
        self.explain_result.setObjectName("explainResult")
        self.explain_result.setWordWrap(True)
        self.explain_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        explain_row = QHBoxLayout()
        explain_row.addWidget(self.explain_edit, 1)
        explain_row.addWidget(explain_button)
        explain_button.setEnabled(journal is not None)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(explain_row)
        layout.addWidget(self.explain_result)
        layout.addWidget(self.buttons)

    def focus_explain(self) -> None:
        """The tray's "Explain…" entry: the explain field, ready to type into."""
        self.explain_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.explain_edit.selectAll()

    def show_tab(self, name: str) -> None:
        if name in TABS:
            self.tabs.setCurrentIndex(TABS.index(name))

    # --- tabs ----------------------------------------------------------------------------------

    def _accounts_tab(self) -> QWidget:
        s = self.settings
        page = QWidget()
        v = QVBoxLayout(page)
        wb = QGroupBox("Workbooks")
        f = QFormLayout(wb)
        self.wb_url = QLineEdit(s.workbooks.url)
        self.wb_auth = QComboBox()
        self.wb_auth.addItem("API key", "api_key")
        self.wb_auth.addItem("User name and password", "password")
        self.wb_auth.setCurrentIndex(self.wb_auth.findData(s.workbooks.auth))
        self.wb_user = QLineEdit(s.workbooks.username)
        self.wb_db = QLineEdit(s.workbooks.database_id)
        self.wb_secret = _password()
        f.addRow("Address:", self.wb_url)
        f.addRow("Sign in with:", self.wb_auth)
        f.addRow("User name:", self.wb_user)
        f.addRow("Database id:", self.wb_db)
        f.addRow("New key or password:", self.wb_secret)
        mb = self._graph_mailbox_box() if s.mailbox.backend == "graph" else self._ews_mailbox_box()
        rerun = QPushButton("Run the setup assistant again…")
        rerun.clicked.connect(self.rerun_wizard_requested.emit)
        v.addWidget(wb)
        v.addWidget(mb)
        v.addWidget(rerun, 0, Qt.AlignmentFlag.AlignLeft)
        v.addStretch(1)
        return page

    def _graph_mailbox_box(self) -> QGroupBox:
        """A Microsoft 365 mailbox has no address or password to edit here: it is changed by signing
        in again, or by the setup assistant (which also re-pairs when the account changes)."""
        mb = self.settings.mailbox
        box = QGroupBox("Mailbox — Exchange Online (Microsoft 365)")
        g = QFormLayout(box)
        for label, value, name in (("Mailbox:", mb.address, "graphAddress"), ("Tenant:", mb.tenant, "graphTenant"),
                                   ("Application (client) id:", mb.client_id or "—", "graphClientId")):
            shown = QLabel(value)
            shown.setObjectName(name)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            g.addRow(label, shown)
        again = QPushButton("Sign in to Microsoft 365 again…")
        again.setObjectName("graphSignInAgain")
        again.clicked.connect(self.graph_sign_in_requested.emit)
        g.addRow(again)
        return box

    def _ews_mailbox_box(self) -> QGroupBox:
        s = self.settings
        mb = QGroupBox("Mailbox — Exchange Server (EWS)")
        g = QFormLayout(mb)
        self.mb_url = QLineEdit(s.mailbox.ews_url)
        self.mb_address = QLineEdit(s.mailbox.address)
        self.mb_user = QLineEdit(s.mailbox.username)
        self.mb_auth = QComboBox()
        self.mb_auth.addItem("NTLM (Windows sign-in)", "ntlm")
        self.mb_auth.addItem("Basic", "basic")
        self.mb_auth.setCurrentIndex(self.mb_auth.findData(s.mailbox.auth))
        self.mb_secret = _password()
        g.addRow("EWS address:", self.mb_url)
        g.addRow("Mailbox:", self.mb_address)
        g.addRow("User name:", self.mb_user)
        g.addRow("Sign-in method:", self.mb_auth)
        g.addRow("New password:", self.mb_secret)
        return mb

    def _filters_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        top = QHBoxLayout()
        top.addWidget(QLabel("Record type:"))
        self.filter_kind = QComboBox()
        top.addWidget(self.filter_kind)
        top.addStretch(1)
        v.addLayout(top)
        self.filter_stack = QStackedWidget()
        self.filter_editors: dict[str, FilterEditor] = {}
        preview: Callable[[str, Filter], int] | None = getattr(self.store, "preview_count", None)
        for kind, label in zip(KINDS, ("People", "Tasks", "Meetings")):
            editor = FilterEditor(kind, preview=preview, probes=self.probes)
            stored = getattr(self.settings.filters, kind)
            if stored:
                try:
                    editor.set_filter(Filter.from_json(stored))
                except AppError:
                    pass
            self.filter_editors[kind] = editor
            self.filter_stack.addWidget(editor)
            self.filter_kind.addItem(label, kind)
        self.filter_kind.currentIndexChanged.connect(self.filter_stack.setCurrentIndex)
        v.addWidget(self.filter_stack, 1)
        note = QLabel("A record that leaves its filter is unlinked, never deleted in Workbooks. Changes take "
                      "effect at the next sync, after a preview.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #6b7280;")
        v.addWidget(note)
        return page

    def _sharing_tab(self) -> QWidget:
        page, f = _form()
        self.direction_boxes: dict[str, QComboBox] = {}
        for kind in KINDS:
            current = getattr(self.settings.direction, kind) if kind in self.settings.sync.kinds else "off"
            box = _choice(text.DIRECTION_LABELS, current)
            box.setObjectName(f"direction_{kind}")
            self.direction_boxes[kind] = box
            f.addRow(f"{text.KIND_PLURALS[kind]} sync:", box)
        way = QLabel("One way: changes on the other side stay there and are not carried over; nothing is deleted.")
        way.setWordWrap(True)
        way.setStyleSheet("color: #6b7280;")
        f.addRow(way)
        self.share_new = QCheckBox("Share new Outlook contacts, tasks and meetings automatically")
        self.share_new.setChecked(self.settings.sync.share_new)
        f.addRow(self.share_new)
        hint = QLabel("Otherwise a new item stays Native (private) until you add the “Workbooks” category to it in "
                      "any mail client. Removing the category unshares an item; nothing is deleted.")
        hint.setWordWrap(True)
        f.addRow(hint)
        self.share_existing = QComboBox()
        for key, label in (("matching", "Share the ones matching a Workbooks person"), ("none", "Keep them Native"),
                           ("all", "Share all of them")):
            self.share_existing.addItem(label, key)
        self.share_existing.setCurrentIndex(self.share_existing.findData(self.settings.sync.share_existing))
        f.addRow("Existing contacts (first sync):", self.share_existing)
        f.addRow(QLabel("Not synced any more — select one and share it again:"))
        self.unshared_list = QListWidget()
        self.unshared_list.setObjectName("unsharedList")
        self.unshared_list.setMaximumHeight(160)
        self.unshared_list.itemSelectionChanged.connect(
            lambda: self.share_again_button.setEnabled(bool(self.unshared_list.selectedItems())))
        self.share_again_button = QPushButton("Share again")
        self.share_again_button.setObjectName("shareAgain")
        self.share_again_button.setEnabled(False)
        self.share_again_button.clicked.connect(self._share_again)
        f.addRow(self.unshared_list)
        f.addRow(self.share_again_button)
        self.load_unshared()
        return page

    def load_unshared(self) -> None:
        self.unshared_list.clear()
        rows = list(self.journal.unshared()) if self.journal is not None else []
        for row in rows:
            kind = text.KIND_PLURALS.get(row.kind, row.kind).rstrip("s").lower()
            what = text.UNSHARED_REASONS.get(row.reason, row.reason)
            after = " — sharing again re-creates it in Outlook" if row.removed_from_outlook else ""
            item = QListWidgetItem(f"{row.label or '(no name)'} ({kind}, {what}){after}")
            item.setData(Qt.ItemDataRole.UserRole, row)
            self.unshared_list.addItem(item)
        if not rows:
            empty = QListWidgetItem("Nothing: every item the connector knows is shared or was never shared.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.unshared_list.addItem(empty)

    def _share_again(self) -> None:
        for item in self.unshared_list.selectedItems():
            row = item.data(Qt.ItemDataRole.UserRole)
            if row is None:
                continue
            self.share_again_requested.emit(row)
            item.setText(f"{row.label or '(no name)'} — shared again at the next sync")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.share_again_button.setEnabled(False)

    def _schedule_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.start_at_sign_in = QCheckBox("Start Workbooks connector when I sign in")
        self.start_at_sign_in.setObjectName("startAtSignIn")
        self.start_at_sign_in.setVisible(self.autostart_offered)
        v.addWidget(self.start_at_sign_in)
        self.read_autostart()
        if self.autostart_offered:
            v.addSpacing(8)
        v.addWidget(QLabel("Sync automatically:"))
        self.schedule_radios: dict[str, QRadioButton] = {}
        for key in SCHEDULES:
            radio = QRadioButton(text.SCHEDULE_LABELS[key])
            radio.setObjectName(f"schedule_{key}")
            radio.setChecked(key == self.settings.sync.schedule)
            self.schedule_radios[key] = radio
            v.addWidget(radio)
        note = QLabel("A sync missed while the computer slept runs within two minutes of waking. "
                      "“Sync now” in the tray menu works with any choice.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #6b7280;")
        v.addWidget(note)
        v.addStretch(1)
        return page

    def _email_tab(self) -> QWidget:
        e = self.settings.email
        page, f = _form()
        self.email_enabled = QCheckBox("Record sent emails in Workbooks")
        self.email_enabled.setChecked(e.enabled)
        self.email_bcc = QCheckBox("Include Bcc recipients")
        self.email_bcc.setChecked(e.record_bcc)
        self.email_days = QComboBox()
        for days, label in ((0, "From the day of setup"), (7, "7 days back"), (30, "30 days back"), (90, "90 days back")):
            self.email_days.addItem(label, days)
        self.email_days.setCurrentIndex(max(0, self.email_days.findData(e.capture_days_back)))
        self.email_attachments = QCheckBox("Keep attachments")
        self.email_attachments.setToolTip("Records each email with its attachments, up to the size on the right; "
                                          "a larger email is recorded without them, with a note saying so")
        self.email_attachments.setChecked(e.attachments)
        self.email_attach = QSpinBox()
        self.email_attach.setRange(MIN_ATTACHMENT_MB, MAX_ATTACHMENT_MB)
        self.email_attach.setSuffix(" MB")
        self.email_attach.setValue(e.max_attachment_mb)
        self.email_attach.setEnabled(e.attachments)
        self.email_attachments.toggled.connect(self.email_attach.setEnabled)
        attach_row = QHBoxLayout()
        attach_row.addWidget(self.email_attachments)
        attach_row.addWidget(QLabel("up to"))
        attach_row.addWidget(self.email_attach)
        attach_row.addStretch(1)
        self.never_record = QPlainTextEdit("\n".join(e.never_record))
        self.never_record.setPlaceholderText("one address or @domain per line")
        self.never_record.setMaximumHeight(120)
        f.addRow(self.email_enabled)
        f.addRow(self.email_bcc)
        f.addRow("Record mail sent:", self.email_days)
        f.addRow("Attachments:", attach_row)
        f.addRow("Never record mail to:", self.never_record)
        return page

    def _conflicts_tab(self) -> QWidget:
        page, f = _form()
        intro = QLabel("Edits to different fields on each side are always both kept. When the same field was "
                       "changed differently in Outlook and in Workbooks:")
        intro.setWordWrap(True)
        f.addRow(intro)
        self.conflict_policy: dict[str, QComboBox] = {}
        for kind in KINDS:
            box = _choice(text.CONFLICT_POLICY_LABELS, getattr(self.settings.conflicts, kind))
            box.setObjectName(f"conflictPolicy_{kind}")
            self.conflict_policy[kind] = box
            f.addRow(f"{text.KIND_PLURALS[kind]}:", box)
        return page

    def _safety_tab(self) -> QWidget:
        s = self.settings.safety
        page, f = _form()
        intro = QLabel("Deletions beyond these limits are held for your decision; everything else keeps syncing.")
        intro.setWordWrap(True)
        f.addRow(intro)
        self.max_deletes = QSpinBox()
        self.max_deletes.setRange(0, 100_000)
        self.max_deletes.setValue(s.max_deletes)
        self.max_ratio = QDoubleSpinBox()
        self.max_ratio.setRange(1, 100)
        self.max_ratio.setSuffix(" %")
        self.max_ratio.setValue(s.max_delete_ratio * 100)
        self.min_affected = QSpinBox()
        self.min_affected.setRange(1, 10_000)
        self.min_affected.setValue(s.min_affected)
        f.addRow("Hold when more than:", self.max_deletes)
        f.addRow("…or more than:", self.max_ratio)
        f.addRow("…of a type's items, with at least:", self.min_affected)
        self.leave_filter = _choice(text.LEAVE_FILTER_LABELS, s.leave_filter)
        self.leave_filter.setObjectName("leaveFilterPolicy")
        self.crm_delete = _choice(text.CRM_DELETE_LABELS, s.crm_delete)
        self.crm_delete.setObjectName("crmDeletePolicy")
        f.addRow("A record leaves the filter:", self.leave_filter)
        f.addRow("A record is deleted in Workbooks:", self.crm_delete)
        return page

    def _advanced_tab(self) -> QWidget:
        page, f = _form()
        self.log_level = QComboBox()
        self.log_level.addItems(["info", "debug (for one hour)", "warning"])
        self.log_level.currentTextChanged.connect(lambda t: self.log_level_changed.emit(t.split(" ")[0]))
        rebuild = QPushButton("Rebuild the sync journal…")
        rebuild.setObjectName("rebuildJournal")
        rebuild.clicked.connect(self._confirm_rebuild)
        take = QPushButton("Move syncing of this mailbox to this computer…")
        take.setObjectName("takeOverLease")
        take.clicked.connect(self.take_over_lease_requested.emit)
        f.addRow("Log level:", self.log_level)
        f.addRow("Journal:", rebuild)
        f.addRow("Mailbox lease:", take)
        bundle = QPushButton("Create a support bundle…")
        bundle.setObjectName("supportBundle")
        bundle.clicked.connect(self.open_support_bundle)
        f.addRow("Diagnostics:", bundle)
        note = QLabel("Rebuilding re-pairs items by their markers and addresses; nothing is duplicated or deleted, "
                      "the next sync is just slower.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #6b7280;")
        f.addRow(note)
        return page

    def open_support_bundle(self) -> None:
        from app.support.bundle import default_name, write_zip
        from app.ui.support_dialog import SupportBundleDialog

        dialog = SupportBundleDialog(self.store.support_bundle(), write_zip, default_name(), self)
        dialog.open()
        self.support_dialog = dialog

    # --- start at sign-in (app/autostart) ---------------------------------------------------------

    def read_autostart(self) -> None:
        """Show what is registered now (another window, or the user, may have changed it)."""
        if not self.autostart_offered:
            return
        from app import autostart

        try:
            enabled = autostart.is_enabled()
        except AppError as exc:
            self.start_at_sign_in.setChecked(False)
            self.start_at_sign_in.setEnabled(False)
            self.start_at_sign_in.setToolTip(exc.message)
            return
        self.start_at_sign_in.setEnabled(True)
        self.start_at_sign_in.setToolTip("")
        self.start_at_sign_in.setChecked(enabled)

    def _apply_autostart(self) -> None:
        """Register or remove the sign-in entry when the box differs from what is registered."""
        if not self.autostart_offered or not self.start_at_sign_in.isEnabled():
            return
        from app import autostart

        wanted = self.start_at_sign_in.isChecked()
        if wanted == autostart.is_enabled():
            return
        if wanted:
            command_for = getattr(self.store, "autostart_command", None)
            autostart.enable(command_for() if command_for is not None else autostart.launch_command())
        else:
            autostart.disable()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        self.read_autostart()
        self.load_unshared()  # a sync may have unshared something since the window was made
        super().showEvent(event)

    # --- actions -------------------------------------------------------------------------------

    def collect(self) -> tuple[Settings, dict[str, str]]:
        s = self.settings
        filters = replace(s.filters, **{k: e.filter().to_json() for k, e in self.filter_editors.items()})
        schedule = next(k for k, r in self.schedule_radios.items() if r.isChecked())
        new = replace(
            s,
            workbooks=replace(s.workbooks, url=self.wb_url.text().strip(), auth=self.wb_auth.currentData(),
                              username=self.wb_user.text().strip(), database_id=self.wb_db.text().strip()),
            mailbox=s.mailbox if s.mailbox.backend == "graph" else replace(
                s.mailbox, ews_url=self.mb_url.text().strip(), address=self.mb_address.text().strip(),
                username=self.mb_user.text().strip(), auth=self.mb_auth.currentData()),
            sync=replace(s.sync, schedule=schedule, share_new=self.share_new.isChecked(),
                         share_existing=self.share_existing.currentData(),
                         kinds=tuple(k for k, box in self.direction_boxes.items() if box.currentData() != "off")),
            direction=replace(s.direction, **{k: box.currentData() for k, box in self.direction_boxes.items()
                                              if box.currentData() != "off"}),
            filters=filters,
            email=replace(s.email, enabled=self.email_enabled.isChecked(), record_bcc=self.email_bcc.isChecked(),
                          capture_days_back=int(self.email_days.currentData()),
                          attachments=self.email_attachments.isChecked(), max_attachment_mb=self.email_attach.value(),
                          never_record=tuple(x.strip() for x in self.never_record.toPlainText().splitlines() if x.strip())),
            safety=replace(s.safety, max_deletes=self.max_deletes.value(),
                           max_delete_ratio=round(self.max_ratio.value() / 100, 4),
                           min_affected=self.min_affected.value(), leave_filter=self.leave_filter.currentData(),
                           crm_delete=self.crm_delete.currentData()),
            conflicts=replace(s.conflicts, **{k: box.currentData() for k, box in self.conflict_policy.items()}),
        )
        secrets = {}
        if self.wb_secret.text():
            secrets["workbooks"] = self.wb_secret.text()
        if s.mailbox.backend != "graph" and self.mb_secret.text():
            secrets["mailbox"] = self.mb_secret.text()
        return new, secrets

    @Slot()
    def save(self) -> bool:
        try:
            new, secrets = self.collect()
            new.validate()
            self.store.save(new, secrets)
        except AppError as exc:
            box = QMessageBox(QMessageBox.Icon.Warning, exc.title, exc.message, QMessageBox.StandardButton.Ok, self)
            box.setObjectName("settingsError")
            box.open()
            return False
        self.settings = new
        self.wb_secret.clear()
        if new.mailbox.backend != "graph":
            self.mb_secret.clear()
        self.saved.emit(new)
        try:
            self._apply_autostart()
        except AppError as exc:
            self.read_autostart()
            box = QMessageBox(QMessageBox.Icon.Warning, exc.title, exc.message, QMessageBox.StandardButton.Ok, self)
            box.setObjectName("settingsError")
            box.open()
            return False
        return True

    def _confirm_rebuild(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Rebuild the sync journal?",
                          "The connector forgets its pairings and finds them again at the next sync, by the markers "
                          "on each item. Nothing is deleted or duplicated.",
                          QMessageBox.StandardButton.Cancel, self)
        go = box.addButton("Rebuild", QMessageBox.ButtonRole.AcceptRole)
        go.clicked.connect(self.rebuild_journal_requested.emit)
        box.open()

    @Slot()
    def explain(self) -> None:
        query = self.explain_edit.text().strip()
        if not query or self.journal is None:
            return
        journal = self.journal
        self.explain_result.setText("Looking…")
        self.probes.submit("explain", lambda: journal.explain(query))

    @Slot(str, object)
    def _probe_done(self, name: str, value: object) -> None:
        if name == "explain":
            self.explain_result.setText(str(value))

    @Slot(str, object)
    def _probe_failed(self, name: str, exc: object) -> None:
        if name == "explain":
            self.explain_result.setText("Could not explain: " + getattr(exc, "message", str(exc)))
