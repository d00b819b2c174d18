"""QApplication setup and the wiring of worker signals to the tray, windows and notifications.

`run_app()` is the entry point the tray command calls; `ConnectorApp` is the same wiring without
an event loop of its own, so tests drive it with fakes.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable, Sequence

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon, QWidget

import app as app_package
from app.runner.scheduler import Scheduler
from app.runner.sync_worker import EngineFactory, WorkerHandle
from app.runner.values import Choice, HoldDecision, Resolution
from app.sync.events import FatalIssue, FatalKind
from app.ui import resources
from app.ui.error_dialogs import ExceptHooks, fatal_dialog
from app.ui.models.status_model import StatusModel
from app.ui.notifications import NotificationPolicy, Notifier
from app.ui.ports import JournalView, SettingsStore, WizardBackend, WizardResult
from app.ui.single_instance import SingleInstance
from app.ui.status_window import StatusWindow
from app.ui.tray import TrayController

log = logging.getLogger("workbooks_connector.ui")


class ConnectorApp(QObject):
    """Owns the worker thread, the tray (or the status window) and the windows."""

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        journal: JournalView,
        settings_store: SettingsStore | None = None,
        wizard_backend: WizardBackend | None = None,
        on_wizard_finished: Callable[[WizardResult], None] | None = None,
        schedule: str = "hourly",
        needs_setup: bool = False,
        use_tray: bool | None = None,
        scheduler_factory: Callable[[str], Scheduler] | None = None,
        notification_policy: NotificationPolicy | None = None,
        first_run_delay: float | None = None,
        demo: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.journal = journal
        self.settings_store = settings_store
        self.wizard_backend = wizard_backend
        self.on_wizard_finished = on_wizard_finished
        self.needs_setup = needs_setup
        self.demo = demo  # a throwaway demo profile: nothing is registered with the desktop
        if scheduler_factory is None and first_run_delay is not None:
            delay = float(first_run_delay)
            scheduler_factory = lambda s: Scheduler(s, start_delay=delay)  # noqa: E731
        self.handle = WorkerHandle(engine_factory, schedule=schedule, scheduler_factory=scheduler_factory, parent=self)
        self.model = StatusModel(journal, self)
        self.model.settings_available = settings_store is not None
        self.model.schedule = schedule
        self.model.workbooks_url = self._workbooks_url()
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.use_tray = use_tray
        self.tray: TrayController | None = None
        self.status_window: StatusWindow | None = None
        if use_tray:
            self.tray = TrayController(self.model, self)
            self.tray.action.connect(self.perform)
            sink = self.tray.notify
        else:
            self.status_window = self._make_status_window()
            sink = self.status_window.notify
        self.notifier = Notifier(sink, notification_policy, self)
        self.notifier.open_requested.connect(self.perform)
        if self.tray is not None:
            self.tray.icon.messageClicked.connect(self.notifier.clicked)

        h = self.handle
        h.status_changed.connect(self.model.set_worker_status)
        h.progress.connect(self.model.set_progress)
        h.conflict_raised.connect(self.model.note_conflict)
        h.conflict_raised.connect(self.notifier.on_conflict)
        h.hold_raised.connect(self.notifier.on_hold)
        h.hold_raised.connect(lambda _e: self.model.refresh())
        h.fatal_issue.connect(self.on_fatal)
        h.cycle_finished.connect(self.notifier.on_cycle)
        h.journal_changed.connect(self.reload_views)
        h.undo_state.connect(self.model.set_undo_state)
        h.journal_changed.connect(h.check_undo)  # after each cycle or decision

        self.windows: dict[str, QWidget] = {}
        self.fatal_box: QMessageBox | None = None
        self.wizard = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.handle.start()
        self._watch_network()
        if self.needs_setup:
            # Nothing to sync with yet: no automatic runs until the wizard is confirmed.
            self.model.setup_needed = True
            self.handle.pause()
        self.model.refresh()
        self.handle.check_undo()
        if self.tray is not None:
            self.tray.show()
        else:
            assert self.status_window is not None
            self.status_window.show()
        if self.needs_setup:
            self.open_wizard()

    def _watch_network(self) -> None:
        """Catch up when the network returns (R32), where the platform can tell us."""
        try:
            from PySide6.QtNetwork import QNetworkInformation

            if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
                return
            info = QNetworkInformation.instance()
        except Exception:  # noqa: BLE001 - optional: the wall-clock check still catches up after sleep
            log.info("no network-reachability backend; relying on the schedule's catch-up")
            return
        if info is not None:
            self._network_online = info.reachability() == QNetworkInformation.Reachability.Online
            info.reachabilityChanged.connect(self._reachability_changed)

    @Slot(object)
    def _reachability_changed(self, reachability: object) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        online = reachability == QNetworkInformation.Reachability.Online
        if online and not getattr(self, "_network_online", True):
            self.handle.network_back()
        self._network_online = online

    @Slot()
    def shutdown(self) -> None:
        if not self.handle.shutdown():
            log.error("quitting with the sync worker still busy")
        for window in list(self.windows.values()):
            window.close()
        if self.tray is not None:
            self.tray.hide()

    @Slot()
    def bring_forward(self) -> None:
        """A second launch: show the status window (or the wizard, while setting up)."""
        if self.wizard is not None and self.wizard.isVisible():
            self._raise(self.wizard)
        else:
            self.perform("status")

    # --- actions ---------------------------------------------------------------------------------

    @Slot(str)
    def perform(self, key: str) -> None:
        h = self.handle
        if key == "sync_now":
            h.sync_now(reason="manual")
        elif key == "cancel_sync":
            h.cancel()
        elif key == "pause":
            h.pause()
        elif key == "resume":
            h.resume()
        elif key in ("conflicts", "holds", "issues", "history", "undo"):
            self.open_window(key)
        elif key == "open_workbooks":
            self.open_workbooks()
        elif key == "explain" and not self.needs_setup:
            window = self.open_window("settings")
            if window is not None:
                window.focus_explain()  # type: ignore[attr-defined]
        elif key == "setup" or (key.startswith("settings") and self.needs_setup):
            self.open_wizard()
        elif key.startswith("settings"):
            window = self.open_window("settings")
            if window is not None and ":" in key:
                window.show_tab(key.split(":", 1)[1])  # type: ignore[attr-defined]
        elif key == "status":
            if self.status_window is None:
                self.status_window = self._make_status_window()
            self._raise(self.status_window)
        elif key == "about":
            self.show_about()
        elif key == "graph_sign_in":
            self.sign_in_again()
        elif key == "allow_once":
            h.allow_mass_delete_once()
        elif key == "take_over_lease":
            h.take_over_lease()
        elif key == "rebuild_journal":
            if self.settings_store is not None:
                self.settings_store.rebuild_journal()
                h.reload_settings(None)
        elif key in ("copy_admin_message", "copy_details"):
            fatal = self.model.worker.fatal
            if fatal is not None:
                QGuiApplication.clipboard().setText(f"{fatal.title}\n\n{fatal.message}")
        elif key == "quit":
            QApplication.quit()
        else:
            log.warning("unknown action %s", key)

    def _workbooks_url(self) -> str:
        if self.settings_store is None or self.needs_setup:
            return ""
        try:
            return self.settings_store.load().workbooks.url.strip()
        except Exception:  # noqa: BLE001 - an unreadable config must not break the tray
            log.warning("could not read the Workbooks address", exc_info=True)
            return ""

    def open_workbooks(self) -> bool:
        """Open the configured Workbooks database in the browser."""
        url = self.model.workbooks_url or self._workbooks_url()
        if not url:
            return False
        if not QDesktopServices.openUrl(QUrl.fromUserInput(url)):
            log.warning("no browser opened %s", url)
            QGuiApplication.clipboard().setText(url)
            box = QMessageBox(QMessageBox.Icon.Information, "Open Workbooks",
                              f"No web browser could be started. The address is on the clipboard:<br><b>{url}</b>")
            box.setObjectName("openWorkbooksFailed")
            self.windows["open_workbooks"] = box
            box.show()
            return False
        return True

    @Slot(object)
    def _settings_saved(self, settings: object) -> None:
        sync = getattr(settings, "sync", None)
        schedule = getattr(sync, "schedule", None)
        if schedule:
            self.model.schedule = schedule
        self.model.workbooks_url = getattr(getattr(settings, "workbooks", None), "url", "") or ""
        self.handle.reload_settings(schedule)
        self.model.changed.emit()

    def _make_status_window(self) -> StatusWindow:
        window = StatusWindow(self.model)
        window.action.connect(self.perform)
        return window

    def _raise(self, window: QWidget) -> None:
        window.show()
        window.raise_()
        window.activateWindow()

    def open_window(self, key: str) -> QWidget | None:
        window = self.windows.get(key)
        if window is None:
            window = self._build_window(key)
            if window is None:
                return None
            self.windows[key] = window
        elif hasattr(window, "reload"):
            window.reload()  # type: ignore[attr-defined]
        self._raise(window)
        return window

    def _build_window(self, key: str) -> QWidget | None:
        if key == "conflicts":
            from app.ui.conflict_dialog import ConflictDialog

            dialog = ConflictDialog(self.journal)
            dialog.decided.connect(self.on_conflict_decided)
            return dialog
        if key == "holds":
            from app.ui.hold_dialog import HoldDialog

            dialog = HoldDialog(self.journal)
            dialog.decided.connect(self.on_hold_decided)
            return dialog
        if key == "issues":
            from app.ui.issues_window import IssuesWindow

            window = IssuesWindow(self.journal)
            window.retry.connect(self.handle.retry_item)
            window.ignore.connect(self.handle.ignore_item)
            return window
        if key == "undo":
            from app.ui.undo_dialog import UndoDialog

            dialog = UndoDialog(self.handle)
            dialog.start()
            return dialog
        if key == "history":
            from app.ui.history_window import HistoryWindow

            window = HistoryWindow(self.journal)
            window.email_link_changed.connect(self.handle.change_email_link)
            return window
        if key == "settings":
            if self.settings_store is None:
                return None
            from app.ui.settings_window import SettingsWindow

            window = SettingsWindow(self.settings_store, self.journal, autostart=not self.demo)
            window.saved.connect(self._settings_saved)
            window.rebuild_journal_requested.connect(lambda: self.perform("rebuild_journal"))
            window.take_over_lease_requested.connect(self.handle.take_over_lease)
            window.share_again_requested.connect(self.handle.share_again)
            window.graph_sign_in_requested.connect(self.sign_in_again)
            window.rerun_wizard_requested.connect(self.open_wizard)
            window.log_level_changed.connect(self.set_log_level)
            return window
        return None

    @Slot(str)
    def set_log_level(self, level: str) -> None:
        """Debug logging lasts one hour (design.md §7), then falls back to info."""
        logger = logging.getLogger("workbooks_connector")
        logger.setLevel({"debug": logging.DEBUG, "warning": logging.WARNING}.get(level, logging.INFO))
        for handler in logger.handlers:
            handler.setLevel(logger.level)
        if level == "debug":
            QTimer.singleShot(3600 * 1000, self, lambda: self.set_log_level("info"))

    @Slot()
    def reload_views(self) -> None:
        self.model.refresh()
        for key in ("conflicts", "holds", "issues", "history"):
            window = self.windows.get(key)
            if window is not None and window.isVisible():
                window.reload()  # type: ignore[attr-defined]

    @Slot(str, object)
    def on_conflict_decided(self, conflict_id: str, resolution: Resolution) -> None:
        if resolution.choice is not Choice.LATER:
            self.handle.resolve_conflict(conflict_id, resolution)

    @Slot(str, object)
    def on_hold_decided(self, hold_id: str, decision: HoldDecision) -> None:
        if decision is not HoldDecision.LATER:
            self.handle.decide_hold(hold_id, decision)

    @Slot(object)
    def on_fatal(self, fatal: FatalIssue) -> None:
        self.notifier.on_fatal(fatal)
        if fatal.kind is FatalKind.TRANSIENT:
            return  # the icon says "offline" and the scheduler backs off; no dialog
        if self.fatal_box is not None:
            try:
                self.fatal_box.close()
            except RuntimeError:  # already deleted
                pass
        self.fatal_box = fatal_dialog(fatal, self.perform)
        self.fatal_box.show()

    def sign_in_again(self) -> QWidget | None:
        """Re-consent (issue 10): a Microsoft 365 device-code sign-in straight into the keyring, then
        a sync. The worker dropped its engine on the error, so the next one reads the new sign-in."""
        if self.wizard_backend is None or self.settings_store is None:
            return None
        window = self.windows.get("graph_sign_in")
        if window is not None and window.isVisible():
            self._raise(window)
            return window
        from app.ui.ports import MailboxCredentials
        from app.ui.wizard.device_sign_in import SignInAgainDialog

        try:
            creds = MailboxCredentials.from_settings(self.settings_store.load())
        except Exception:  # noqa: BLE001 - an unreadable config must not break the tray
            log.warning("could not read the mailbox settings", exc_info=True)
            return None
        backend = self.wizard_backend
        dialog = SignInAgainDialog(lambda: backend.graph_sign_in(creds, pending=False), creds.address)
        dialog.signed_in.connect(lambda _address: self.handle.sync_now(reason="signed-in"))
        self.windows["graph_sign_in"] = dialog
        self._raise(dialog)
        dialog.start()
        return dialog

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Workbooks connector",
                          f"<b>Workbooks connector</b> {getattr(app_package, '__version__', '')}<br>"
                          "Keeps your Exchange mailbox and your Workbooks CRM database in step.<br>"
                          "Open source, MIT licence.")
        box.setIconPixmap(resources.app_icon().pixmap(64, 64))
        box.setObjectName("aboutBox")
        self.windows["about"] = box
        box.show()

    # --- first-run wizard --------------------------------------------------------------------------

    @Slot()
    def open_wizard(self) -> None:
        if self.wizard_backend is None:
            log.warning("no wizard backend: cannot run the setup assistant")
            return
        if self.wizard is not None and self.wizard.isVisible():
            self._raise(self.wizard)
            return
        from app.ui.wizard import SetupWizard

        wizard = SetupWizard(self.wizard_backend, self._wizard_confirm)
        wizard.first_sync_requested.connect(self._first_sync)
        self.handle.progress.connect(wizard.progress_page.on_progress)
        self.handle.cycle_finished.connect(wizard.progress_page.on_finished)
        self.handle.fatal_issue.connect(wizard.progress_page.on_fatal)
        self.wizard = wizard
        self._raise(wizard)

    def _wizard_confirm(self, result: WizardResult) -> None:
        if self.on_wizard_finished is not None:
            self.on_wizard_finished(result)  # persists; raises AppError to keep the wizard open

    @Slot()
    def _first_sync(self) -> None:
        assert self.wizard is not None and self.wizard.result is not None
        self.needs_setup = False
        self.model.setup_needed = False
        self.model.schedule = self.wizard.result.settings.sync.schedule
        self.model.workbooks_url = self.wizard.result.settings.workbooks.url.strip()
        self.model.changed.emit()
        self.handle.reload_settings(self.wizard.result.settings.sync.schedule)
        self.handle.resume()
        if self.wizard.result.take_over_lease:
            self.handle.take_over_lease()
        self.handle.sync_now(reason="first-sync")


def run_app(
    profile_paths: object,
    engine_factory: EngineFactory,
    *,
    journal: JournalView,
    settings_store: SettingsStore | None = None,
    wizard_backend: WizardBackend | None = None,
    on_wizard_finished: Callable[[WizardResult], None] | None = None,
    needs_setup: bool = False,
    schedule: str = "hourly",
    argv: Sequence[str] | None = None,
    use_tray: bool | None = None,
    first_run_delay: float | None = None,
    demo: bool = False,
) -> int:
    """Start the tray app on `profile_paths` (app.paths.ProfilePaths or a directory) and run the
    event loop; returns the exit code. A second launch on the same profile raises the first and
    returns 0 at once. `first_run_delay` (seconds) overrides the scheduler's wait before the
    first automatic sync; the demo passes a short one so it syncs within seconds of opening.
    `demo` also hides settings that would register the throwaway profile with the desktop."""
    qt_app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
    assert isinstance(qt_app, QApplication)
    qt_app.setQuitOnLastWindowClosed(False)
    qt_app.setApplicationName("Workbooks connector")
    qt_app.setOrganizationName("workbooks-connector")
    qt_app.setWindowIcon(resources.app_icon())
    root = getattr(profile_paths, "root", profile_paths)
    single = SingleInstance(os.fspath(root))
    if single.notify_running():
        print("workbooks-connector: already running; brought its window forward", file=sys.stderr)
        return 0
    single.listen()
    hooks = ExceptHooks()
    hooks.install()
    controller = ConnectorApp(engine_factory, journal=journal, settings_store=settings_store,
                              wizard_backend=wizard_backend, on_wizard_finished=on_wizard_finished,
                              schedule=schedule, needs_setup=needs_setup, use_tray=use_tray,
                              first_run_delay=first_run_delay, demo=demo)
    single.activated.connect(controller.bring_forward)
    qt_app.aboutToQuit.connect(controller.shutdown)
    controller.start()
    try:
        return int(qt_app.exec())
    finally:
        hooks.uninstall()
        single.close()
