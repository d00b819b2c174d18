"""Composition root: real adapters for a profile's settings (used by the CLI, the worker, demo
and bench). The engine itself never learns which concrete connectors it drives."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app import secrets
from app.errors import AppError, ConfigError
from app.paths import ProfilePaths
from app.settings import Settings


def crm_secret_ref(settings: Settings) -> secrets.SecretRef:
    wb = settings.workbooks
    if wb.auth == "api_key":
        return secrets.workbooks_secret(wb.url, "", "api_key", wb.api_key_env)
    return secrets.workbooks_secret(wb.url, wb.username, "password", wb.password_env)


def mailbox_secret_ref(settings: Settings) -> secrets.SecretRef:
    mb = settings.mailbox
    return secrets.mailbox_secret(mb.ews_url, mb.username, mb.password_env)


def connect_crm(settings: Settings, secret: str | None = None) -> Any:
    """A CrmStore over a signed-in WorkbooksClient."""
    from app.connectors.crm.client import WorkbooksClient
    from app.connectors.crm.store import CrmStore
    from app import logs

    wb = settings.workbooks
    value = secret if secret is not None else secrets.get(crm_secret_ref(settings))
    logs.register_secret(value)
    if wb.auth == "api_key":
        client = WorkbooksClient(wb.url, api_key=value, ca_bundle=wb.ca_bundle or None)
    else:
        client = WorkbooksClient(
            wb.url, username=wb.username, password=value,
            database_id=wb.database_id or None, ca_bundle=wb.ca_bundle or None,
        )
    return CrmStore(client)


def ews_settings(settings: Settings, password: str | None = None, **kw: Any) -> Any:
    from app.connectors.ews.client import EwsSettings
    from app import logs

    value = password if password is not None else secrets.get(mailbox_secret_ref(settings))
    logs.register_secret(value)
    return EwsSettings.from_account(settings.mailbox, value, **kw)


def connect_mailbox(settings: Settings, password: str | None = None, **kw: Any) -> Any:
    from app.connectors.ews.mailbox import EwsMailbox

    return EwsMailbox.connect(ews_settings(settings, password, **kw))


def connect_lease(mailbox: Any) -> Any:
    from app.connectors.ews.lease import EwsLease

    return EwsLease(mailbox.account, mailbox.folders)


@dataclass
class Session:
    """Live connections of one profile. Close it when the run ends."""

    paths: ProfilePaths
    settings: Settings
    crm: Any
    mailbox: Any
    lease: Any
    extras: dict[str, Any] = field(default_factory=dict)

    def requests(self) -> dict[str, int]:
        return {
            "workbooks": int(getattr(self.crm.client, "requests_sent", 0)),
            "ews": int(getattr(self.mailbox, "requests_sent", 0)),
        }

    def close(self) -> None:
        for closer in (getattr(self.crm.client, "close", None), getattr(self.mailbox, "close", None)):
            if closer is None:
                continue
            try:
                closer()
            except AppError:
                pass  # closing never fails a run that already finished


def open_session(paths: ProfilePaths, settings: Settings) -> Session:
    if not settings.configured:
        raise ConfigError(
            "this profile is not set up yet: run `workbooks-connector configure ...` or start the app "
            f"to use the first-run wizard (profile: {paths.root})"
        )
    crm = connect_crm(settings)
    try:
        mailbox = connect_mailbox(settings)
    except BaseException:
        crm.client.close()
        raise
    return Session(paths, settings, crm, mailbox, connect_lease(mailbox))
