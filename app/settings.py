"""config.toml: the profile's settings as frozen dataclasses, with defaults, validation and an
atomic save. No secrets ever live here: only the names of environment variables that hold them.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.atomic_file import write_atomic
from app.errors import ConfigError

CONFIG_VERSION = 1
SCHEDULES = ("manual", "15min", "30min", "hourly", "twice-daily", "daily", "weekly")
SCHEDULE_SECONDS = {
    "manual": 0,
    "15min": 15 * 60,
    "30min": 30 * 60,
    "hourly": 3600,
    "twice-daily": 12 * 3600,
    "daily": 24 * 3600,
    "weekly": 7 * 24 * 3600,
}
KINDS = ("person", "task", "meeting")
# The email size cap (B35). A message is held in memory while it is sent to Workbooks, so the cap
# has an upper bound too; 100 MB is far above any mail server's default message limit.
MIN_ATTACHMENT_MB, MAX_ATTACHMENT_MB = 1, 100


@dataclass(frozen=True)
class WorkbooksAccount:
    url: str = ""
    auth: str = "api_key"  # "api_key" | "password"
    username: str = ""
    database_id: str = ""
    api_key_env: str = ""  # environment variable that may hold the key
    password_env: str = ""
    ca_bundle: str = ""


MAILBOX_BACKENDS = ("ews", "graph")  # Exchange Server (EWS) | Exchange Online (Microsoft Graph)
GRAPH_AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_URL = "https://graph.microsoft.com/v1.0"


@dataclass(frozen=True)
class MailboxAccount:
    backend: str = "ews"  # one of MAILBOX_BACKENDS
    ews_url: str = ""
    address: str = ""
    username: str = ""
    auth: str = "ntlm"  # "basic" | "ntlm"
    password_env: str = ""
    ews_build: str = ""  # "15.1.2507.6", stored after the first connection
    timezone: str = ""  # IANA zone for new meetings; empty means the computer's zone
    ca_bundle: str = ""
    # Microsoft Graph (backend "graph"). The sign-in's token cache lives in the keyring; token_env
    # names a variable holding a bearer token instead (automation), never the token itself.
    client_id: str = ""  # Entra app registration (public client with device-code flow)
    tenant: str = "organizations"  # tenant id or domain, or "organizations"
    authority_host: str = GRAPH_AUTHORITY_HOST
    graph_url: str = GRAPH_URL
    token_env: str = ""


def graph_account(address: str, client_id: str = "", *, tenant: str = "", authority_host: str = "",
                  graph_url: str = "", ca_bundle: str = "", token_env: str = "") -> MailboxAccount:
    """The Microsoft Graph mailbox account as `configure --mailbox-api graph` and the wizard
    write it: blanks take the Microsoft 365 defaults, addresses lose trailing slashes."""
    defaults = MailboxAccount()
    return MailboxAccount(
        backend="graph", address=address.strip().lower(), ca_bundle=ca_bundle or "",
        client_id=(client_id or "").strip(), tenant=(tenant or defaults.tenant).strip(),
        authority_host=(authority_host or defaults.authority_host).strip().rstrip("/"),
        graph_url=(graph_url or defaults.graph_url).strip().rstrip("/"),
        token_env=token_env or "",
    )


@dataclass(frozen=True)
class SyncOptions:
    schedule: str = "hourly"
    share_existing: str = "matching"  # all | none | matching
    share_new: bool = False
    kinds: tuple[str, ...] = KINDS
    calendar_days_back: int = 30
    calendar_days_ahead: int = 365
    # The "Related in Workbooks" block in contacts' notes (R18); it keeps a copy of Organisations,
    # Cases, Opportunities and Sales Leads current, four delta reads a cycle when email is off.
    related_items: bool = True


@dataclass(frozen=True)
class Filters:
    """Filter JSON per kind (app.domain.filters.Filter.to_json); empty means the default."""

    person: str = ""
    task: str = ""
    meeting: str = ""


@dataclass(frozen=True)
class Safety:
    max_deletes: int = 50
    max_delete_ratio: float = 0.10
    min_affected: int = 5
    leave_filter: str = "keep"  # keep | trash_unchanged: what a record leaving the filter does to its Outlook copy
    crm_delete: str = "trash"  # trash | keep: what a confirmed CRM deletion does to the Outlook copy


CONFLICT_POLICIES = ("ask", "crm_wins", "outlook_wins", "newest_wins")
DIRECTIONS = ("both", "to_outlook", "to_workbooks")  # "off" is a kind left out of sync.kinds
LEAVE_FILTER_POLICIES = ("keep", "trash_unchanged")
CRM_DELETE_POLICIES = ("trash", "keep")


@dataclass(frozen=True)
class Conflicts:
    """Per kind, what a field changed differently on both sides does (design.md 5.7); "ask" queues it."""

    person: str = "ask"
    task: str = "ask"
    meeting: str = "ask"


@dataclass(frozen=True)
class Directions:
    """Per kind, which way changes flow (B31): both, Workbooks → Outlook only, Outlook → Workbooks only."""

    person: str = "both"
    task: str = "both"
    meeting: str = "both"


@dataclass(frozen=True)
class EmailOptions:
    enabled: bool = True
    record_bcc: bool = False
    never_record: tuple[str, ...] = ()  # addresses or domains; the user's own domain is added at run time
    capture_days_back: int = 0
    # B35 "only if enabled, with a size cap": off by default; when on, each recorded email carries
    # its full MIME (attachments included) up to the cap, the Workbooks Dropbox limit by default.
    attachments: bool = False
    max_attachment_mb: int = 16
    link_organisation_by_domain: bool = False
    # Days an unmatched recipient address is watched for a CRM record to appear (late linking);
    # 0 watches without time limit (design.md table unmatched_address).
    watch_days: int = 0


@dataclass(frozen=True)
class Settings:
    workbooks: WorkbooksAccount = field(default_factory=WorkbooksAccount)
    mailbox: MailboxAccount = field(default_factory=MailboxAccount)
    sync: SyncOptions = field(default_factory=SyncOptions)
    filters: Filters = field(default_factory=Filters)
    safety: Safety = field(default_factory=Safety)
    email: EmailOptions = field(default_factory=EmailOptions)
    conflicts: Conflicts = field(default_factory=Conflicts)
    direction: Directions = field(default_factory=Directions)
    version: int = CONFIG_VERSION

    def validate(self) -> "Settings":
        if self.sync.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.sync.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if self.sync.share_existing not in ("all", "none", "matching"):
            raise ConfigError("share_existing must be all, none or matching")
        unknown = set(self.sync.kinds) - set(KINDS)
        if unknown:
            raise ConfigError(f"unknown record kinds {sorted(unknown)}")
        if self.workbooks.auth not in ("api_key", "password"):
            raise ConfigError("workbooks auth must be api_key or password")
        if self.mailbox.auth not in ("basic", "ntlm"):
            raise ConfigError("mailbox auth must be basic or ntlm")
        self._validate_mailbox_backend()
        if not 0 < self.safety.max_delete_ratio <= 1 or self.safety.max_deletes < 0:
            raise ConfigError("safety thresholds are out of range")
        self._validate_policies()
        if not 0 <= self.email.watch_days <= 3650:
            raise ConfigError("email.watch_days is between 0 (no limit) and 3650")
        if not 0 <= self.email.capture_days_back <= 90:
            raise ConfigError("email.capture_days_back is between 0 and 90")
        if not MIN_ATTACHMENT_MB <= self.email.max_attachment_mb <= MAX_ATTACHMENT_MB:
            raise ConfigError(f"email.max_attachment_mb is between {MIN_ATTACHMENT_MB} and {MAX_ATTACHMENT_MB}")
        return self

    def _validate_policies(self) -> None:
        for kind in KINDS:
            policy = getattr(self.conflicts, kind)
            if policy not in CONFLICT_POLICIES:
                raise ConfigError(f"conflicts.{kind} must be one of {', '.join(CONFLICT_POLICIES)}, not {policy!r}")
            way = getattr(self.direction, kind)
            if way not in DIRECTIONS:
                raise ConfigError(f"direction.{kind} must be one of {', '.join(DIRECTIONS)}, not {way!r}")
        if self.safety.leave_filter not in LEAVE_FILTER_POLICIES:
            raise ConfigError(f"safety.leave_filter must be one of {', '.join(LEAVE_FILTER_POLICIES)}")
        if self.safety.crm_delete not in CRM_DELETE_POLICIES:
            raise ConfigError(f"safety.crm_delete must be one of {', '.join(CRM_DELETE_POLICIES)}")

    def _validate_mailbox_backend(self) -> None:
        mb = self.mailbox
        if mb.backend not in MAILBOX_BACKENDS:
            raise ConfigError(f"mailbox backend must be one of {', '.join(MAILBOX_BACKENDS)}, not {mb.backend!r}")
        if mb.backend != "graph":
            return
        for name in ("authority_host", "graph_url"):
            value = getattr(mb, name)
            if not value.lower().startswith(("https://", "http://")):
                raise ConfigError(f"mailbox.{name} must be an https:// address, not {value!r}")
        if not mb.tenant.strip() or "/" in mb.tenant:
            raise ConfigError("mailbox.tenant must be a tenant id or domain, or organizations")
        if mb.address and not (mb.client_id or mb.token_env):
            raise ConfigError("the Microsoft 365 mailbox needs an app registration (client_id) or a token "
                              "environment variable (token_env)")

    @property
    def configured(self) -> bool:
        mb = self.mailbox
        reach = (mb.client_id or mb.token_env) if mb.backend == "graph" else mb.ews_url
        return bool(self.workbooks.url and reach and mb.address)


_SECTIONS = {
    "workbooks": WorkbooksAccount,
    "mailbox": MailboxAccount,
    "sync": SyncOptions,
    "filters": Filters,
    "safety": Safety,
    "email": EmailOptions,
    "conflicts": Conflicts,
    "direction": Directions,
}


def _coerce(cls: type, data: dict[str, Any], section: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{section}] in config.toml is not a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    defaults = cls()
    for key, value in data.items():
        if key not in known:
            continue  # written by a newer version: ignore rather than refuse
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"{section}.{key} in config.toml must be a list")
            value = tuple(str(v) for v in value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{section}.{key} in config.toml must be true or false")
        elif isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int):
                raise ConfigError(f"{section}.{key} in config.toml must be a whole number")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)):
                raise ConfigError(f"{section}.{key} in config.toml must be a number")
            value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{section}.{key} in config.toml must be text")
        values[key] = value
    return cls(**values)


def load(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it or run configure again") from None
    version = data.get("version", CONFIG_VERSION)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise ConfigError(f"{path} was written by a newer version of the connector; please upgrade")
    parts = {name: _coerce(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
    return Settings(**parts).validate()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def dumps(settings: Settings) -> str:
    lines = ["# Workbooks connector settings. No passwords or keys are stored here.", f"version = {settings.version}", ""]
    for name in _SECTIONS:
        lines.append(f"[{name}]")
        for key, value in asdict(getattr(settings, name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def save(settings: Settings, path: Path) -> None:
    settings.validate()
    write_atomic(path, dumps(settings))


__all__ = [
    "Settings", "WorkbooksAccount", "MailboxAccount", "SyncOptions", "Filters", "Safety", "EmailOptions", "Conflicts", "Directions",
    "load", "save", "dumps", "replace", "SCHEDULES", "SCHEDULE_SECONDS", "KINDS", "MAILBOX_BACKENDS",
    "CONFLICT_POLICIES", "LEAVE_FILTER_POLICIES", "CRM_DELETE_POLICIES", "DIRECTIONS", "MIN_ATTACHMENT_MB",
    "MAX_ATTACHMENT_MB",
]
