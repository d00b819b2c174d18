"""Composition root: real adapters for a profile's settings (used by the CLI, the worker, demo
and bench). The engine itself never learns which concrete connectors it drives."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from app import secrets
from app.errors import AppError, AuthError, ConfigError
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
    return CrmStore(client, filters=sync_filters(settings))


def sync_filters(settings: Settings) -> dict[Any, Any]:
    """The user's filter per kind (default when unset)."""
    from app.domain import filters
    from app.domain.records import Kind

    out = {}
    for kind in Kind:
        text = getattr(settings.filters, kind.value, "")
        out[kind] = filters.Filter.from_json(text) if text else filters.default_filter(kind)
    return out


def ews_settings(settings: Settings, password: str | None = None, **kw: Any) -> Any:
    from app.connectors.ews.client import EwsSettings
    from app import logs

    value = password if password is not None else secrets.get(mailbox_secret_ref(settings))
    logs.register_secret(value)
    return EwsSettings.from_account(settings.mailbox, value, **kw)


def graph_settings(settings: Settings, **kw: Any) -> Any:
    """GraphSettings for a profile whose mailbox backend is "graph" (no secrets in them)."""
    from app.connectors.graph import GraphSettings

    mb = settings.mailbox
    return GraphSettings(mailbox=mb.address, client_id=mb.client_id, tenant=mb.tenant,
                         authority_host=mb.authority_host, graph_url=mb.graph_url, ca_bundle=mb.ca_bundle or None,
                         timezone=mb.timezone or local_zone_name(), **kw)


def graph_tokens(settings: Settings, token: str | None = None) -> Any:
    """The Graph token provider: a bearer token from `token` or the configured environment variable
    (automation), else the device-code sign-in's token cache in the keyring (silent refresh)."""
    import os

    from app import logs
    from app.connectors.graph import GraphSignIn, StaticToken
    from app.errors import SecretsUnavailable

    mb = settings.mailbox
    value = token if token is not None else (os.environ.get(mb.token_env) if mb.token_env else None)
    if value:
        logs.register_secret(value)
        return StaticToken(value)
    if mb.token_env and not mb.client_id:
        raise SecretsUnavailable(f"the environment variable {mb.token_env} (the Microsoft 365 access token) is not "
                                 "set or empty; set it, or run configure with --graph-client-id to sign in instead")
    if not secrets.keyring_usable():
        unset = f"{mb.token_env} (the Microsoft 365 access token) is not set, and " if mb.token_env else ""
        raise SecretsUnavailable(
            f"{unset}no usable keyring was found, so the Microsoft 365 sign-in cannot be kept on this computer "
            "(install or unlock GNOME Keyring/Secret Service, KWallet, macOS Keychain or Windows Credential Manager "
            "and run configure again; for scripts, configure with --graph-token-env VAR and keep a token in VAR)")
    return GraphSignIn.from_settings(graph_settings(settings))


def local_zone_name() -> str:
    """This computer's IANA zone (for new meetings when the settings name none); UTC if unknown."""
    import os

    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            target = os.path.realpath("/etc/localtime")
            name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
        except OSError:
            name = ""
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(name)
        return name
    except Exception:  # noqa: BLE001 - empty, unknown or malformed zone names
        return "UTC"


def connect_mailbox(settings: Settings, password: str | None = None, **kw: Any) -> Any:
    """The MailboxPort for the profile's backend. For "graph", `password` is an optional bearer
    token (else the configured variable or the keyring sign-in) and `kw` go to GraphMailbox."""
    if settings.mailbox.backend == "graph":
        from app.connectors.graph import GraphMailbox

        return GraphMailbox.connect(graph_settings(settings), graph_tokens(settings, password), **kw)
    from app.connectors.ews.mailbox import EwsMailbox

    return EwsMailbox.connect(ews_settings(settings, password, **kw))


def connect_lease(mailbox: Any, settings: Settings | None = None) -> Any:
    """The LeasePort beside `mailbox`. Graph reuses the mailbox's client (one connection, and its
    requests count in the mailbox's requests_sent)."""
    backend = settings.mailbox.backend if settings is not None else (
        "graph" if type(mailbox).__name__ == "GraphMailbox" else "ews")
    if backend == "graph":
        from app.connectors.graph import GraphLease

        return GraphLease(mailbox.client)
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
        """HTTP requests sent so far; "ews" is the mailbox side for either backend (the JSON key of
        interfaces.md), read from the adapter's requests_sent (EwsMailbox and GraphMailbox)."""
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
    return Session(paths, settings, crm, mailbox, connect_lease(mailbox, settings))


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


PERSON_QUEUE = "Private::Crm::PersonQueue"
ACTIVITY_QUEUE = "Private::Activity::ActivityQueue"


def engine_config(settings: Settings, crm: Any) -> Any:
    """EngineConfig from the user's settings, with "my queue" resolved from the CRM login."""
    from app.domain.records import Kind
    from app.sync.config import EngineConfig, Thresholds

    kinds = tuple(Kind(k) for k in settings.sync.kinds)
    flts = sync_filters(settings)
    queues: dict[Any, str] = {}
    person_q = crm.my_queue(PERSON_QUEUE)
    activity_q = crm.my_queue(ACTIVITY_QUEUE)
    if person_q is not None:
        queues[Kind.PERSON] = str(person_q)
    if activity_q is not None:
        queues[Kind.TASK] = queues[Kind.MEETING] = str(activity_q)
    return EngineConfig(
        kinds=kinds,
        filters=flts,
        share_existing=settings.sync.share_existing,
        share_new=settings.sync.share_new,
        thresholds=Thresholds(
            max_deletions=settings.safety.max_deletes,
            max_fraction=settings.safety.max_delete_ratio,
            min_for_fraction=settings.safety.min_affected,
        ),
        my_queues=queues,
        conflict_policy={k: getattr(settings.conflicts, k.value) for k in Kind},
        leave_filter_policy=settings.safety.leave_filter,
        crm_delete_policy=settings.safety.crm_delete,
        direction={k: getattr(settings.direction, k.value) for k in Kind},
        calls_in_flight=GRAPH_CALLS_IN_FLIGHT if settings.mailbox.backend == "graph" else EWS_CALLS_IN_FLIGHT,
    )


# Write chunks on the wire at once (Executor._pipeline). Over EWS four keep a first sync's creates
# going while each waits for the commit that marks it in flight (10,000 people: about 1 s less
# than two); Exchange's default policy allows 27 concurrent connections per user. Microsoft Graph
# allows 4 concurrent requests per mailbox, and the change feed is read meanwhile: two.
EWS_CALLS_IN_FLIGHT = 4
GRAPH_CALLS_IN_FLIGHT = 2

IDENTITY_RECHECK = timedelta(hours=24)
CRM_IDENTITY_META = "crm:identity"  # JSON of the last confirmed CrmIdentity (ids, names, my queues)
CRM_CHECKED_META = "identity:crm_checked_at"
CRM_KEY_META = "identity:crm_key"  # fingerprint (not the key) of the API key that was checked


def _key_fingerprint(session: Session) -> str:
    import hashlib

    key = getattr(session.crm.client, "api_key", None) or ""
    return hashlib.sha256(f"{session.settings.workbooks.url}|{key}".encode()).hexdigest()[:16] if key else ""


def _known_crm_identity(journal: Any, session: Session, now: datetime) -> Any:
    """The CRM identity confirmed within IDENTITY_RECHECK with the same API key, else None.

    Only key mode uses it: an API key needs no login (workbooks-api.md 2.3), so asking the
    CRM who we are would cost a key login per cycle; a password session logs in anyway."""
    import json

    from app.domain.records import CrmIdentity

    client = session.crm.client
    if not getattr(client, "key_mode", False) or not hasattr(session.crm, "use_known_identity"):
        return None
    checked, text = journal.get_meta(CRM_CHECKED_META), journal.get_meta(CRM_IDENTITY_META)
    if not checked or not text or journal.get_meta(CRM_KEY_META) != _key_fingerprint(session):
        return None
    try:
        age = now - datetime.fromisoformat(checked)
        data = json.loads(text)
        ident = CrmIdentity(user_id=str(data["user_id"]), login_name=str(data.get("login_name", "")),
                            person_name=str(data.get("person_name", "")), database_id=str(data["database_id"]),
                            database_name=str(data.get("database_name", "")),
                            my_queues={str(k): int(v) for k, v in (data.get("my_queues") or {}).items()})
    except (ValueError, KeyError, TypeError):
        return None
    if not timedelta(0) <= age < IDENTITY_RECHECK:
        return None
    return ident


def forget_crm_identity(journal: Any) -> None:
    """After an authentication error: confirm the CRM identity again at the next cycle."""
    from app.sync.state import Batch

    try:
        journal.write(Batch(meta={CRM_CHECKED_META: ""}))
    except AppError:
        pass  # best effort; the daily re-check still happens


def check_identities(journal: Any, session: Session, now: datetime | None = None) -> None:
    """B16: the journal belongs to one mailbox, database and Workbooks user; anything else stops.

    In key mode the CRM identity and my queues confirmed by an earlier cycle (same key, less
    than a day ago, no authentication error since) are reused instead of a key login."""
    from app.sync.state import Batch

    now = now or datetime.now(timezone.utc)
    ident = _known_crm_identity(journal, session, now)
    fresh = ident is None
    if ident is None:
        ident = session.crm.identity()
    else:
        session.crm.use_known_identity(ident)
    now_ids = {
        "mailbox": session.mailbox.identity().lower(),
        "crm_database": str(ident.database_id),
        "crm_user": str(ident.user_id),
    }
    recorded = {key: journal.get_meta(f"identity:{key}") for key in now_ids}
    if all(v is None for v in recorded.values()):
        meta = {f"identity:{k}": v for k, v in now_ids.items()}
        if fresh:
            meta.update(_identity_meta(session, ident, now))
        journal.write(Batch(meta=meta))
        return
    changed = [k for k, v in now_ids.items() if recorded.get(k) not in (None, v)]
    if changed:
        names = {"mailbox": "mailbox", "crm_database": "Workbooks database", "crm_user": "Workbooks user"}
        what = ", ".join(names[k] for k in changed)
        raise ConfigError(
            f"the {what} differs from the one this profile was set up with, so nothing was synced "
            "(this prevents writing into the wrong account). Run configure with the original account, "
            "or use a new --profile for the new one."
        )
    if fresh:
        journal.write(Batch(meta=_identity_meta(session, ident, now)))


def _identity_meta(session: Session, ident: Any, now: datetime) -> dict[str, str]:
    import json
    from dataclasses import asdict

    data = asdict(ident)
    data["my_queues"] = dict(ident.my_queues)
    return {CRM_IDENTITY_META: json.dumps(data, sort_keys=True), CRM_CHECKED_META: now.isoformat(),
            CRM_KEY_META: _key_fingerprint(session)}


def sync_once(
    paths: ProfilePaths,
    settings: Settings,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    take_over: bool = False,
    observer: Any = None,
    cancel: Any = None,
) -> Any:
    """One full cycle for a profile: lock, connect, lease, identity check, run, close."""
    from app.journal.repo import open_journal
    from app.locks import ProfileLock, acquire_lease, machine_identity
    from app.sync.engine import SyncEngine

    with ProfileLock(paths.ensure().lock):
        session = open_session(paths, settings)
        try:
            clock = SystemClock()
            me = machine_identity(paths.lease)
            if dry_run:
                check_lease_only(session.lease, me, clock.now(), lease_file=paths.lease)
            else:
                acquire_lease(session.lease, me, clock.now(), take_over=take_over, lease_file=paths.lease)
            journal = open_journal(paths.journal)
            try:
                check_identities(journal, session, clock.now())
                email_journal, email_options = email_phase(journal, settings, session, clock)
                mailbox = recurring_meetings(session.mailbox, journal, settings, clock)
                engine = SyncEngine(session.crm, mailbox, journal, engine_config(settings, session.crm), clock,
                                    email_journal=email_journal, email_options=email_options,
                                    email_link_edits=email_link_edits(journal),
                                    related_notes=settings.sync.related_items)
                try:
                    summary = engine.run_cycle(dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                                               observer=observer, cancel=cancel)
                    return with_notices(summary, mailbox)
                except AuthError:
                    forget_crm_identity(journal)  # the key may have been revoked or moved: ask again
                    raise
            finally:
                close = getattr(journal, "close", None)
                if close is not None:
                    close()
        finally:
            session.close()


def recurring_meetings(mailbox: Any, journal: Any, settings: Settings, clock: Any) -> Any:
    """The mailbox as the engine sees it: recurring series as their occurrences in the calendar
    window (app.sync.recurring; Workbooks cannot store a repeat pattern)."""
    from app.domain.records import Kind
    from app.domain.recurrence import Window
    from app.sync.recurring import RecurringMeetings

    return RecurringMeetings(
        mailbox,
        window=lambda: Window.around(clock.now(), settings.sync.calendar_days_back, settings.sync.calendar_days_ahead),
        links=lambda: journal.links(Kind.MEETING),
        unshared=lambda: [r.ews_item_id for r in getattr(journal, "sharing_rows", lambda *_: [])(Kind.MEETING, "unshared")
                          if r.ews_item_id],
    )


def with_notices(summary: Any, mailbox: Any) -> Any:
    """The cycle summary with what the mailbox wrapper has to tell the user (interfaces.md keys kept)."""
    from dataclasses import replace

    notice = mailbox.notice() if hasattr(mailbox, "notice") else None
    return replace(summary, notices=tuple(summary.notices) + (notice,)) if notice else summary


def email_phase(journal: Any, settings: Settings, session: Session, clock: Any) -> tuple[Any, Any]:
    """The sent-mail phase's journal (same database file) and options. With recording off the
    options say so (`enabled` False): the phase then only keeps the copy of related records
    current, for the contacts' "Related in Workbooks" block, and reads no mail; (None, None) when
    that block is off too."""
    from app.journal.email_store import EmailStore
    from app.sync.email_phase_hook import options_from_settings

    if not settings.email.enabled and not settings.sync.related_items:
        return None, None
    store = EmailStore(journal.db)
    if not settings.email.enabled:
        return store, options_from_settings(settings.email, capture_start=None)
    own = settings.mailbox.address.rsplit("@", 1)[-1].lower() if "@" in settings.mailbox.address else ""
    options = options_from_settings(settings.email, capture_start=store.capture_start(clock.now()),
                                    own_domains=(own,) if own else ())
    return store, options


def email_link_edits(journal: Any) -> Any:
    """The user's link changes of recorded emails (B36), applied by every sync."""
    from app.journal.email_link_store import EmailLinkStore

    return EmailLinkStore(journal.db)


def check_lease_only(port: Any, me: Any, now: datetime, *, lease_file: Any = None) -> None:
    from app.errors import LeaseHeld
    from app.locks import LEASE_EXPIRY, describe_holder, remember_lease

    remember_lease(port, lease_file)
    current = port.read_lease()
    if current is not None and current.holder_machine_id != me.machine_id and now - current.heartbeat_at < LEASE_EXPIRY:
        raise LeaseHeld(f"{describe_holder(current, now)} is syncing this mailbox")
