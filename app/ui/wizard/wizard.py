"""The first-run wizard. Every check runs on a probe thread; nothing is saved until the user
confirms on the first-sync page, and then only through the `on_confirm` callback (the app's
configure logic). Cancelling at any point leaves both sides and the profile untouched (R34)."""
from __future__ import annotations

from enum import IntEnum
from typing import Callable

from app.runner import qtcompat  # noqa: F401 - PySide6 6.12 / Python 3.11 work-around
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from app.runner.probes import ProbeRunner
from app.settings import EmailOptions, Filters, MailboxAccount, Settings, SyncOptions, WorkbooksAccount, graph_account
from app.ui import resources
from app.ui.ports import MailboxCredentials, WizardBackend, WizardResult, WorkbooksCredentials, WorkbooksSignIn
from app.ui.wizard.filters_page import FiltersPage
from app.ui.wizard.first_sync_page import FirstSyncPage
from app.ui.wizard.gap_page import GapPage
from app.ui.wizard.mailbox_page import MailboxPage
from app.ui.wizard.progress_page import ProgressPage
from app.ui.wizard.schedule_page import SchedulePage
from app.ui.wizard.sharing_page import SharingPage
from app.ui.wizard.workbooks_page import WorkbooksPage


class PageId(IntEnum):
    WORKBOOKS = 0
    GAP = 1
    MAILBOX = 2
    FILTERS = 3
    SHARING = 4
    SCHEDULE = 5
    FIRST_SYNC = 6
    PROGRESS = 7


class SetupWizard(QWizard):
    confirmed = Signal(object)  # WizardResult, after on_confirm succeeded
    first_sync_requested = Signal()

    def __init__(self, backend: WizardBackend, on_confirm: Callable[[WizardResult], None], *,
                 probes: ProbeRunner | None = None, debounce_ms: int = 400, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.on_confirm = on_confirm
        self.debounce_ms = debounce_ms
        self.probes = probes or ProbeRunner(self)
        self.setObjectName("setupWizard")
        self.setWindowTitle("Set up the Workbooks connector")
        self.setWindowIcon(resources.app_icon())
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setPixmap(QWizard.WizardPixmap.LogoPixmap, resources.app_icon().pixmap(48, 48))
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.resize(680, 560)

        # collected state (pages fill it in)
        self.workbooks = WorkbooksCredentials("", "api_key")
        self.signed_in: WorkbooksSignIn | None = None
        self.missing: list[str] = []
        self.mailbox = MailboxCredentials("", "", "", "")
        self.result: WizardResult | None = None

        self.workbooks_page = WorkbooksPage(self)
        self.gap_page = GapPage(self)
        self.mailbox_page = MailboxPage(self)
        self.filters_page = FiltersPage(self)
        self.sharing_page = SharingPage(self)
        self.schedule_page = SchedulePage(self)
        self.first_sync_page = FirstSyncPage(self)
        self.progress_page = ProgressPage(self)
        for pid, page in ((PageId.WORKBOOKS, self.workbooks_page), (PageId.GAP, self.gap_page),
                          (PageId.MAILBOX, self.mailbox_page), (PageId.FILTERS, self.filters_page),
                          (PageId.SHARING, self.sharing_page), (PageId.SCHEDULE, self.schedule_page),
                          (PageId.FIRST_SYNC, self.first_sync_page), (PageId.PROGRESS, self.progress_page)):
            self.setPage(int(pid), page)
        self.setStartId(int(PageId.WORKBOOKS))

    def build_result(self) -> WizardResult:
        wb, mb = self.workbooks, self.mailbox
        filters = self.filters_page.filters()
        if mb.backend == "graph":  # as `configure --mailbox-api graph` writes it
            mailbox = graph_account(mb.address, mb.client_id, tenant=mb.tenant, authority_host=mb.authority_host,
                                    graph_url=mb.graph_url, ca_bundle=mb.ca_bundle)
        else:
            mailbox = MailboxAccount(ews_url=mb.ews_url, address=mb.address, username=mb.username, auth=mb.auth)
        settings = Settings(
            workbooks=WorkbooksAccount(url=wb.url, auth=wb.auth, username=wb.username, database_id=wb.database_id),
            mailbox=mailbox,
            sync=SyncOptions(schedule=self.schedule_page.schedule(),
                             share_existing=self.sharing_page.share_existing(),
                             share_new=self.sharing_page.new_shared.isChecked()),
            filters=Filters(**{kind: flt.to_json() for kind, flt in filters.items()}),
            email=EmailOptions(capture_days_back=int(self.sharing_page.capture.currentData()),
                               never_record=self.sharing_page.never_record_list()),
        ).validate()
        secret = wb.api_key if wb.auth == "api_key" else wb.password
        return WizardResult(settings, secret, mb.password,
                            take_over_lease=self.mailbox_page.take_over.isChecked(),
                            mail_sync_also=self.mailbox_page.mail_sync.isChecked(),
                            mailbox_tokens=mb.tokens)

    def confirm(self) -> WizardResult:
        result = self.build_result()
        self.on_confirm(result)  # may raise AppError: the page shows it and stays
        self.result = result
        self.confirmed.emit(result)
        self.first_sync_requested.emit()
        return result

    def done(self, r: int) -> None:  # noqa: D401 - Qt override
        self.mailbox_page.sign_in.cancel(quiet=True)  # stop a device-code wait; a pending sign-in is dropped
        for name in ("wb_sign_in", "wb_prereq", "gap_prereq", "mailbox", "sharing_counts", "dry_run",
                     "preview:person", "preview:task", "preview:meeting"):
            self.probes.forget(name)
        super().done(r)
