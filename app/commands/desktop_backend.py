"""What the windows need from the real connectors: the wizard's background checks, the settings
store, and persisting the wizard's result. No Qt here; every call runs on a probe or worker
thread with short-lived clients and raises AppError subclasses only."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from app import secrets
from app import settings as st
from app import wiring
from app.domain.filters import Filter
from app.domain.records import Kind
from app.errors import ConfigError, SecretsUnavailable
from app.paths import ProfilePaths
from app.ui.ports import (
    DatabaseChoice,
    MailboxCheck,
    MailboxCredentials,
    SharingCounts,
    WizardResult,
    WorkbooksCredentials,
    WorkbooksSignIn,
)


def _wb_settings(creds: WorkbooksCredentials) -> st.Settings:
    return st.Settings(workbooks=st.WorkbooksAccount(url=creds.url, auth=creds.auth, username=creds.username,
                                                     database_id=creds.database_id))


def _crm(creds: WorkbooksCredentials) -> Any:
    secret = creds.api_key if creds.auth == "api_key" else creds.password
    return wiring.connect_crm(_wb_settings(creds), secret)


def _mb_settings(creds: MailboxCredentials, timezone_name: str = "") -> st.Settings:
    if creds.backend == "graph":
        return st.Settings(mailbox=st.graph_account(creds.address, creds.client_id, tenant=creds.tenant,
                                                    authority_host=creds.authority_host, graph_url=creds.graph_url,
                                                    ca_bundle=creds.ca_bundle))
    return st.Settings(mailbox=st.MailboxAccount(ews_url=creds.ews_url, address=creds.address.strip().lower(),
                                                 username=creds.username, auth=creds.auth, timezone=timezone_name))


def _connect_mailbox(settings: st.Settings, password: str, tokens: Any = None) -> Any:
    """The mailbox for a wizard check: Graph uses the wizard's own sign-in (not yet in the keyring)."""
    if settings.mailbox.backend == "graph" and tokens is not None:
        from app.connectors.graph import GraphMailbox

        return GraphMailbox.connect(wiring.graph_settings(settings), tokens)
    return wiring.connect_mailbox(settings, password)


def count_scope(crm: Any, kind: Kind, flt: Filter) -> int:
    return sum(len(page.records) for page in crm.list_scope(kind, flt))


class WizardBackendImpl:
    def __init__(self, paths: ProfilePaths):
        self.paths = paths

    def sign_in_workbooks(self, creds: WorkbooksCredentials) -> WorkbooksSignIn:
        crm = _crm(creds)
        try:
            info = crm.client.login_info()
            dbs = tuple(DatabaseChoice(str(d.get("id")), str(d.get("name") or d.get("id")))
                        for d in info.get("databases") or () if isinstance(d, dict))
            return WorkbooksSignIn(str(info.get("person_name") or info.get("login_name") or ""), dbs)
        finally:
            crm.client.close()

    def check_prerequisites(self, creds: WorkbooksCredentials) -> Sequence[str]:
        crm = _crm(creds)
        try:
            return crm.missing_prerequisites()
        finally:
            crm.client.close()

    def graph_sign_in(self, creds: MailboxCredentials, *, pending: bool = True) -> Any:
        from app.commands.configure import no_keyring_for_graph
        from app.connectors.graph import GraphSignIn

        if not secrets.keyring_usable():
            raise no_keyring_for_graph()  # as configure: a sign-in that cannot be kept is refused
        signin = GraphSignIn.from_settings(wiring.graph_settings(_mb_settings(creds)))
        return signin.keep_pending() if pending else signin

    def test_mailbox(self, creds: MailboxCredentials) -> MailboxCheck:
        from app.locks import LEASE_EXPIRY, machine_identity

        settings = _mb_settings(creds)
        if creds.backend == "graph":
            from app.connectors.graph import check_connection as graph_check

            identity = graph_check(wiring.graph_settings(settings), creds.tokens)
            server = "Microsoft 365 (Microsoft Graph)"
        else:
            from app.connectors.ews.client import check_connection

            info = check_connection(wiring.ews_settings(settings, creds.password))
            identity, server = info.identity, f"Exchange (build {info.build})"
        holder, since = None, None
        mailbox = _connect_mailbox(settings, creds.password, creds.tokens)
        try:
            lease = wiring.connect_lease(mailbox, settings).read_lease()
            me = machine_identity(self.paths.ensure().lease)
            now = datetime.now(timezone.utc)
            if lease is not None and lease.holder_machine_id != me.machine_id and now - lease.heartbeat_at < LEASE_EXPIRY:
                holder, since = lease.holder_host, lease.heartbeat_at
        finally:
            mailbox.close()
        return MailboxCheck(identity, server, holder, since)

    def preview_counts(self, creds: WorkbooksCredentials, filters: Mapping[str, Filter]) -> Mapping[str, int]:
        crm = _crm(creds)
        try:
            return {kind: count_scope(crm, Kind(kind), flt) for kind, flt in filters.items()}
        finally:
            crm.client.close()

    def sharing_counts(self, creds: WorkbooksCredentials, mailbox: MailboxCredentials) -> SharingCounts:
        crm = _crm(creds)
        box = _connect_mailbox(_mb_settings(mailbox), mailbox.password, mailbox.tokens)
        try:
            addresses: set[str] = set()
            existing = 0
            for page in box.changes(Kind.PERSON, None):
                for change in page.changes:
                    if change.item is None or change.item.marker is not None:
                        continue
                    existing += 1
                    for key in ("email1", "email2", "email3"):
                        if change.item.fields.get(key):
                            addresses.add(str(change.item.fields[key]).lower())
            known = {a for rec in crm.find_by_email(Kind.PERSON, sorted(addresses)) for a in rec.emails}
            matching = 0
            for page in box.changes(Kind.PERSON, None):
                for change in page.changes:
                    item = change.item
                    if item is None or item.marker is not None:
                        continue
                    if any(str(item.fields.get(k) or "").lower() in known for k in ("email1", "email2", "email3")):
                        matching += 1
            return SharingCounts(existing, matching)
        finally:
            box.close()
            crm.client.close()

    def dry_run(self, result: WizardResult) -> Any:
        from app.journal.repo import open_journal
        from app.sync.engine import SyncEngine

        crm = wiring.connect_crm(result.settings, result.workbooks_secret)
        box = _connect_mailbox(result.settings, result.mailbox_password, result.mailbox_tokens)
        journal = open_journal(None)  # in memory: the real journal is untouched until the user confirms
        try:
            clock = wiring.SystemClock()
            meetings = wiring.recurring_meetings(box, journal, result.settings, clock)
            engine = SyncEngine(crm, meetings, journal, wiring.engine_config(result.settings, crm), clock)
            return wiring.with_notices(engine.run_cycle(dry_run=True), meetings)
        finally:
            journal.close()
            box.close()
            crm.client.close()


def persist_wizard_result(paths: ProfilePaths, result: WizardResult) -> None:
    """The wizard's last page was confirmed: verify once more, keep the secrets, save settings."""
    from app.commands.configure import no_keyring_for_graph, switch_backend_journal, verify

    if result.settings.mailbox.backend == "graph":
        # configure's Graph route with the wizard's sign-in, which reaches the keyring only now
        tokens = result.mailbox_tokens
        if tokens is None:
            raise ConfigError("sign in to Microsoft 365 on the mailbox page first")
        settings, _identities = verify(result.settings, result.workbooks_secret, "", graph_sign_in=lambda: tokens)
        if not tokens.keep():
            raise no_keyring_for_graph()
        switch_backend_journal(paths, settings)
        save_settings(paths, settings, {"workbooks": result.workbooks_secret})
        return
    settings, _identities = verify(result.settings, result.workbooks_secret, result.mailbox_password)
    switch_backend_journal(paths, settings)
    save_settings(paths, settings, {"workbooks": result.workbooks_secret, "mailbox": result.mailbox_password})


def save_settings(paths: ProfilePaths, settings: st.Settings, new_secrets: Mapping[str, str]) -> None:
    refs = {"workbooks": wiring.crm_secret_ref(settings), "mailbox": wiring.mailbox_secret_ref(settings)}
    for name, value in new_secrets.items():
        if not value:
            continue
        ref = refs[name]
        if not secrets.store(ref, value) and not ref.env_var:
            raise SecretsUnavailable(secrets.NO_KEYRING_HELP.format(var="(configure one with `workbooks-connector configure`)"))
    st.save(settings, paths.ensure().config)


class SettingsStoreImpl:
    def __init__(self, paths: ProfilePaths):
        self.paths = paths

    def load(self) -> st.Settings:
        return st.load(self.paths.config)

    def autostart_command(self) -> list[str]:
        """What runs at sign-in: this installation's tray app on this profile."""
        from app import autostart

        return autostart.launch_command(profile=self.paths.root)

    def save(self, settings: st.Settings, secrets_: Mapping[str, str]) -> None:
        save_settings(self.paths, settings.validate(), secrets_)

    def preview_count(self, kind: str, flt: Filter) -> int:
        crm = wiring.connect_crm(self.load())
        try:
            return count_scope(crm, Kind(kind), flt)
        finally:
            crm.client.close()

    def support_bundle(self) -> dict[str, str]:
        from app.support.bundle import collect

        return collect(self.paths)

    def rebuild_journal(self) -> None:
        """Move the journal aside; the next cycle re-pairs items by their markers (no duplicates)."""
        from app.commands.configure import set_journal_aside

        set_journal_aside(self.paths)
