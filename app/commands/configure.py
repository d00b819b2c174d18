"""`workbooks-connector configure`: non-interactive setup (interfaces.md section 2).

Both connections and the CRM prerequisites are verified before anything is saved; on any
failure nothing is written and the exit code is 2.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

from app import paths as paths_mod
from app import secrets, settings as st, wiring
from app.domain import filters
from app.errors import ConfigError, PrerequisiteError, UsageError

ADMIN_WHERE = "Start › Configuration › Users & Security"
SCHEDULE_ALIASES = {"twice-daily": "twice-daily"}


def _env(var: str, what: str) -> str:
    if not var:
        raise UsageError(f"name the environment variable that holds the {what}")
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"the environment variable {var} (the {what}) is not set or empty")
    return value


def settings_from_args(args: Any) -> tuple[st.Settings, str, str]:
    """Settings plus the two secrets, from configure's arguments (nothing saved)."""
    if args.workbooks_api_key_env and (args.workbooks_username or args.workbooks_password_env):
        raise UsageError("give either --workbooks-api-key-env or --workbooks-username with --workbooks-password-env, not both")
    if args.workbooks_api_key_env:
        wb = st.WorkbooksAccount(url=args.workbooks_url, auth="api_key", api_key_env=args.workbooks_api_key_env,
                                 database_id=args.workbooks_database or "", ca_bundle=args.ca_bundle or "")
        crm_secret = _env(args.workbooks_api_key_env, "Workbooks API key")
    elif args.workbooks_username and args.workbooks_password_env:
        wb = st.WorkbooksAccount(url=args.workbooks_url, auth="password", username=args.workbooks_username,
                                 password_env=args.workbooks_password_env,
                                 database_id=args.workbooks_database or "", ca_bundle=args.ca_bundle or "")
        crm_secret = _env(args.workbooks_password_env, "Workbooks password")
    else:
        raise UsageError("Workbooks sign-in needs --workbooks-api-key-env VAR, or --workbooks-username U "
                         "with --workbooks-password-env VAR")
    if not args.workbooks_url.lower().startswith(("http://", "https://")):
        raise ConfigError("--workbooks-url must start with https:// (for example https://secure.workbooks.com)")
    if args.ca_bundle and not os.path.isfile(args.ca_bundle):
        raise ConfigError(f"the CA bundle {args.ca_bundle} does not exist")
    mailbox_password = _env(args.ews_password_env, "mailbox password")
    mb = st.MailboxAccount(ews_url=args.ews_url, address=args.mailbox.strip().lower(), username=args.ews_username,
                           auth=args.ews_auth, password_env=args.ews_password_env, ca_bundle=args.ca_bundle or "")
    person_filter = filters.parse_cli_filter(args.filter)
    days = getattr(args, "email_capture_days", 0) or 0
    if not 0 <= days <= 90:
        raise ConfigError("--email-capture-days is between 0 and 90")
    settings = st.Settings(
        workbooks=wb,
        mailbox=mb,
        sync=st.SyncOptions(schedule=args.schedule, share_existing=args.share_existing, share_new=args.share_new == "yes"),
        filters=st.Filters(person=person_filter.to_json()),
        email=st.EmailOptions(capture_days_back=days,
                              never_record=tuple(a.strip().lower() for a in getattr(args, "never_record", []) if a.strip())),
    ).validate()
    return settings, crm_secret, mailbox_password


def prerequisite_message(missing: list[str]) -> str:
    lines = ", ".join(missing)
    return (f"Workbooks is missing: {lines}. Ask your Workbooks administrator to enable these "
            f"({ADMIN_WHERE}), then run configure again.")


def verify(settings: st.Settings, crm_secret: str, mailbox_password: str) -> tuple[st.Settings, dict[str, str]]:
    """Sign in to both sides and check prerequisites. Returns the settings completed with what the
    servers told us (database id, Exchange build) and the identities to record."""
    from app.connectors.ews.client import check_connection

    crm = wiring.connect_crm(settings, crm_secret)
    try:
        ident = crm.identity()
        missing = crm.missing_prerequisites()
        if missing:
            raise PrerequisiteError(prerequisite_message(missing), missing=tuple(missing))
    finally:
        crm.client.close()
    info = check_connection(wiring.ews_settings(settings, mailbox_password))
    if info.identity and info.identity.lower() != settings.mailbox.address.lower():
        raise ConfigError(f"the server answered for mailbox {info.identity}, not {settings.mailbox.address}")
    done = replace(
        settings,
        workbooks=replace(settings.workbooks, database_id=str(ident.database_id or settings.workbooks.database_id)),
        mailbox=replace(settings.mailbox, ews_build=info.build),
    )
    identities = {
        "mailbox": info.identity or settings.mailbox.address,
        "crm_database": str(ident.database_id),
        "crm_user": str(ident.user_id),
        "crm_url": settings.workbooks.url,
    }
    return done, identities


def run(args: Any) -> int:
    settings, crm_secret, mailbox_password = settings_from_args(args)
    settings, identities = verify(settings, crm_secret, mailbox_password)
    paths = paths_mod.profile(args.profile).ensure()
    stored_crm = secrets.store(wiring.crm_secret_ref(settings), crm_secret)
    stored_mb = secrets.store(wiring.mailbox_secret_ref(settings), mailbox_password)
    if not (stored_crm and stored_mb):
        print(
            "workbooks-connector: no usable keyring on this computer, so the secrets were not stored. "
            f"Keep {settings.workbooks.api_key_env or settings.workbooks.password_env} and "
            f"{settings.mailbox.password_env} set whenever the connector runs.",
            file=sys.stderr,
        )
    st.save(settings, paths.config)
    _record_identities(paths, identities)
    print(f"Configured {identities['mailbox']} with Workbooks database {identities['crm_database']} "
          f"(profile {paths.root}).")
    return 0


def _record_identities(paths: paths_mod.ProfilePaths, identities: dict[str, str]) -> None:
    try:
        from app.journal import identities as journal_identities
    except ImportError:
        return
    journal_identities.record(paths.journal, identities)
