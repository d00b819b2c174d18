"""`workbooks-connector configure`: non-interactive setup (interfaces.md section 2).

Both connections and the CRM prerequisites are verified before anything is saved; on any
failure nothing is written and the exit code is 2.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Any, Callable

from app import paths as paths_mod
from app import secrets, settings as st, wiring
from app.domain import filters
from app.errors import ConfigError, PrerequisiteError, SecretsUnavailable, UsageError

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
    if getattr(args, "mailbox_api", "ews") == "graph":
        mb, mailbox_password = _graph_account(args)
    else:
        mailbox_password = _env(args.ews_password_env, "mailbox password")
        mb = st.MailboxAccount(ews_url=args.ews_url, address=args.mailbox.strip().lower(), username=args.ews_username,
                               auth=args.ews_auth, password_env=args.ews_password_env, ca_bundle=args.ca_bundle or "")
    person_filter = filters.parse_cli_filter(args.filter)
    directions, switched_off = sync_directions(getattr(args, "direction", []))
    days = getattr(args, "email_capture_days", 0) or 0
    if not 0 <= days <= 90:
        raise ConfigError("--email-capture-days is between 0 and 90")
    cap = getattr(args, "email_max_attachment_mb", None)
    cap = st.EmailOptions().max_attachment_mb if cap is None else cap
    if not st.MIN_ATTACHMENT_MB <= cap <= st.MAX_ATTACHMENT_MB:
        raise ConfigError(f"--email-max-attachment-mb is between {st.MIN_ATTACHMENT_MB} and {st.MAX_ATTACHMENT_MB}")
    settings = st.Settings(
        workbooks=wb,
        mailbox=mb,
        sync=st.SyncOptions(schedule=args.schedule, share_existing=args.share_existing, share_new=args.share_new == "yes",
                            kinds=tuple(k for k in st.KINDS if k not in switched_off)),
        direction=directions,
        filters=st.Filters(person=person_filter.to_json()),
        conflicts=conflict_policies(getattr(args, "conflict_policy", [])),
        email=st.EmailOptions(capture_days_back=days, attachments=getattr(args, "email_attachments", "no") == "yes",
                              max_attachment_mb=cap,
                              never_record=tuple(a.strip().lower() for a in getattr(args, "never_record", []) if a.strip())),
    ).validate()
    return settings, crm_secret, mailbox_password


def conflict_policies(specs: list[str]) -> st.Conflicts:
    return st.Conflicts(**_per_kind("--conflict-policy", specs, st.CONFLICT_POLICIES))


def _per_kind(flag: str, specs: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """`--flag VALUE` sets every kind, `--flag KIND=VALUE` one kind; later flags override earlier ones."""
    chosen: dict[str, str] = {}
    for spec in specs:
        kind, _, value = spec.rpartition("=")
        value = value.strip().lower().replace("-", "_")
        if value not in allowed:
            raise UsageError(f"{flag} {spec!r}: use one of {', '.join(allowed)}")
        kinds = [kind.strip().lower()] if kind else list(st.KINDS)
        for k in kinds:
            if k not in st.KINDS:
                raise UsageError(f"{flag} {spec!r}: the type is one of {', '.join(st.KINDS)}")
            chosen[k] = value
    return chosen


def sync_directions(specs: list[str]) -> tuple[st.Directions, set[str]]:
    """Directions per kind, and the kinds switched off."""
    chosen = _per_kind("--direction", specs, st.DIRECTIONS + ("off",))
    off = {k for k, v in chosen.items() if v == "off"}
    if off == set(st.KINDS):
        raise UsageError("--direction: at least one type must stay on")
    return st.Directions(**{k: v for k, v in chosen.items() if v != "off"}), off


def _graph_account(args: Any) -> tuple[st.MailboxAccount, str]:
    """The Microsoft Graph mailbox account, and the bearer token of --graph-token-env ("" when the
    device-code sign-in is used instead)."""
    mb = st.graph_account(args.mailbox, args.graph_client_id or "", tenant=args.graph_tenant or "",
                          authority_host=args.graph_authority_host or "", graph_url=args.graph_url or "",
                          ca_bundle=args.ca_bundle or "", token_env=args.graph_token_env or "")
    token = _env(args.graph_token_env, "Microsoft Graph access token") if args.graph_token_env else ""
    return mb, token


def graph_device_sign_in(settings: st.Settings, timeout: float) -> Any:
    """The keyring-backed sign-in for configure: reuse a saved sign-in of this mailbox, else run the
    device-code flow (the prompt goes to stderr) and wait at most `timeout` seconds."""
    from app.connectors.graph import GraphSignIn
    from app.errors import AuthError

    signin = GraphSignIn.from_settings(wiring.graph_settings(settings))
    try:
        # A refresh proves the saved sign-in still works: a cached access token can look valid
        # locally after the sign-in was revoked, and reusing it would send the user round in circles.
        signin.token(force_refresh=True)
        print("workbooks-connector: using the saved Microsoft 365 sign-in.", file=sys.stderr)
        return signin
    except AuthError:
        pass
    flow = signin.start_device_flow()
    prompt = flow.message or f"To sign in, go to {flow.verification_uri} and enter the code {flow.user_code}."
    wait = max(1, int(min(timeout, max(0.0, flow.expires_at - time.time())) // 60) or 1)
    print(prompt, file=sys.stderr)
    print(f"Waiting for the Microsoft 365 sign-in of {settings.mailbox.address} (up to {wait} minute"
          f"{'s' if wait != 1 else ''})...", file=sys.stderr, flush=True)
    signin.finish_device_flow(flow, timeout=timeout)
    return signin


def no_keyring_for_graph() -> SecretsUnavailable:
    return SecretsUnavailable(
        "no usable keyring was found on this computer, so the Microsoft 365 sign-in could not be kept and "
        "nothing was saved. Install or unlock a keyring (GNOME Keyring/Secret Service, KWallet, macOS Keychain, "
        "Windows Credential Manager) and run configure again; for scripts and CI, configure with "
        "--graph-token-env VAR and keep a Microsoft Graph access token in VAR.")


def prerequisite_message(missing: list[str]) -> str:
    lines = ", ".join(missing)
    return (f"Workbooks is missing: {lines}. Ask your Workbooks administrator to enable these "
            f"({ADMIN_WHERE}), then run configure again.")


def verify(settings: st.Settings, crm_secret: str, mailbox_password: str, *,
           graph_sign_in: Callable[[], Any] | None = None) -> tuple[st.Settings, dict[str, str]]:
    """Sign in to both sides and check prerequisites. Returns the settings completed with what the
    servers told us (database id, Exchange build) and the identities to record.

    Microsoft Graph: `mailbox_password` is a bearer token (automation), or `graph_sign_in()`
    returns the token provider (called only after the CRM checks passed), else the configured
    variable or the keyring sign-in is used."""
    crm = wiring.connect_crm(settings, crm_secret)
    try:
        ident = crm.identity()
        missing = crm.missing_prerequisites()
        if missing:
            raise PrerequisiteError(prerequisite_message(missing), missing=tuple(missing))
    finally:
        crm.client.close()
    if settings.mailbox.backend == "graph":
        return _verify_graph(settings, ident, mailbox_password, graph_sign_in)
    from app.connectors.ews.client import check_connection

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


def _verify_graph(settings: st.Settings, ident: Any, token: str,
                  graph_sign_in: Callable[[], Any] | None) -> tuple[st.Settings, dict[str, str]]:
    from app.connectors.graph import check_connection

    tokens = graph_sign_in() if graph_sign_in is not None and not token else \
        wiring.graph_tokens(settings, token or None)
    address = check_connection(wiring.graph_settings(settings), tokens)
    done = replace(settings, workbooks=replace(settings.workbooks,
                                               database_id=str(ident.database_id or settings.workbooks.database_id)))
    identities = {
        "mailbox": address or settings.mailbox.address,
        "crm_database": str(ident.database_id),
        "crm_user": str(ident.user_id),
        "crm_url": settings.workbooks.url,
    }
    return done, identities


def set_journal_aside(paths: paths_mod.ProfilePaths) -> bool:
    """Move the journal (with its -wal/-shm) into backups/; the next cycle re-pairs items by their
    markers and, where a backend shows none, by content. False when there was no journal."""
    import shutil
    from datetime import datetime, timezone

    from app.locks import ProfileLock

    with ProfileLock(paths.ensure().lock):
        if not paths.journal.exists():
            return False
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        paths.backups.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            src = paths.journal.with_name(paths.journal.name + suffix)
            if src.exists():
                shutil.move(str(src), str(paths.backups / f"{src.name}.{stamp}"))
        return True


def switch_backend_journal(paths: paths_mod.ProfilePaths, settings: st.Settings) -> bool:
    """Switching the mailbox between EWS and Microsoft Graph changes every item id (and Graph shows
    no markers on To Do tasks written over EWS). The journal's links would point at ids the new
    backend never reports, and a later CRM edit would re-create its Outlook copy; so the journal is
    set aside and the first cycle on the new backend re-pairs instead of duplicating."""
    try:
        previous = st.load(paths.config) if paths.config.exists() else None
    except ConfigError:
        return False  # an unreadable old config: nothing to compare with
    if previous is None or not previous.configured or previous.mailbox.backend == settings.mailbox.backend:
        return False
    pairs = _task_pairs(paths)
    if not set_journal_aside(paths):
        return False
    _carry_task_pairs(paths, pairs)
    print(f"workbooks-connector: the mailbox now uses {'Microsoft Graph' if settings.mailbox.backend == 'graph' else 'EWS'}"
          f" instead of {'Microsoft Graph' if previous.mailbox.backend == 'graph' else 'EWS'}; the sync journal was "
          f"moved to {paths.backups} and the next sync pairs the existing items again (no duplicates).",
          file=sys.stderr)
    return True


def _task_pairs(paths: paths_mod.ProfilePaths) -> dict[str, tuple[str, str]]:
    """The journal's task pairs before it is set aside (app/sync/carried.py); none if unreadable."""
    from app.journal.db import open_database
    from app.journal.repo import SqlJournal
    from app.sync import carried

    if not paths.journal.exists():
        return {}
    try:
        journal = SqlJournal(open_database(paths.journal, read_only=True))
    except Exception:  # noqa: BLE001 - a damaged journal carries nothing; it is still set aside
        return {}
    try:
        return carried.task_pairs(journal)
    except Exception:  # noqa: BLE001 - same: the ordinary re-pairing still runs
        return {}
    finally:
        journal.close()


def _carry_task_pairs(paths: paths_mod.ProfilePaths, pairs: dict[str, tuple[str, str]]) -> None:
    """Into the new journal, so its first cycle re-pairs tasks Graph (or EWS) shows without markers."""
    from app.errors import AppError
    from app.journal.repo import open_journal
    from app.sync import carried

    if not pairs:
        return
    try:
        journal = open_journal(paths.journal)
    except AppError:
        return  # best effort: without the pairs tasks still re-pair by subject + due date
    try:
        carried.carry(journal, pairs)
    finally:
        journal.close()


def run(args: Any) -> int:
    settings, crm_secret, mailbox_password = settings_from_args(args)
    graph = settings.mailbox.backend == "graph"
    graph_sign_in = None
    if graph and not mailbox_password:
        if not secrets.keyring_usable():
            raise no_keyring_for_graph()
        timeout = float(getattr(args, "graph_sign_in_timeout", 600.0) or 600.0)
        graph_sign_in = lambda: graph_device_sign_in(settings, timeout)  # noqa: E731 - after the CRM checks
    settings, identities = verify(settings, crm_secret, mailbox_password, graph_sign_in=graph_sign_in)
    paths = paths_mod.profile(args.profile).ensure()
    stored_crm = secrets.store(wiring.crm_secret_ref(settings), crm_secret)
    # Graph: the sign-in's token cache is already in the keyring; a --graph-token-env token is never stored.
    stored_mb = True if graph else secrets.store(wiring.mailbox_secret_ref(settings), mailbox_password)
    keep = [settings.workbooks.api_key_env or settings.workbooks.password_env]
    keep += [settings.mailbox.token_env] if graph else [settings.mailbox.password_env]
    if not (stored_crm and stored_mb):
        print(
            "workbooks-connector: no usable keyring on this computer, so the secrets were not stored. "
            f"Keep {' and '.join(v for v in keep if v)} set whenever the connector runs.",
            file=sys.stderr,
        )
    elif graph and settings.mailbox.token_env:
        print(f"workbooks-connector: the Microsoft Graph token is read from {settings.mailbox.token_env} at every "
              "run and never stored; keep it set and current (this route is meant for automation).", file=sys.stderr)
    switch_backend_journal(paths, settings)
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
