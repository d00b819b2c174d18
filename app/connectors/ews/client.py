"""Building the exchangelib Account without autodiscover (ews.md section 1).

`EwsSettings` carries everything the app stores at setup (endpoint, mailbox, user, auth type,
Exchange build, zone, CA bundle); `open_account()` turns it into an `Account` and
`check_connection()` verifies it with a FailFast policy (configure, wizard, start-up), returning
the identity and the build to store. Background sync uses FaultTolerance with a bounded
`max_wait`. TLS verification always stays on; a company CA file is honoured per endpoint through a
verifying `HTTPAdapter` subclass (never `NoVerifyHTTPAdapter`).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import requests.adapters
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    OAUTH2,
    Account,
    BaseProtocol,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    FaultTolerance,
    OAuth2AuthorizationCodeCredentials,
    Version,
)

from app.connectors.ews.errors import translated
from app.connectors.ews.properties import register_properties
from app.errors import ConfigError, TransientError


AUTH_TYPES = {"basic": BASIC, "ntlm": NTLM, "oauth2": OAUTH2}
DEFAULT_MAX_WAIT = 300


for _name in ("exchangelib", "requests_ntlm", "spnego", "urllib3"):
    # Their debug traces contain message content and headers (design.md 7, logging).
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class EwsSettings:
    endpoint: str  # https://host/EWS/Exchange.asmx, used verbatim
    mailbox: str  # primary SMTP address
    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = "ntlm"  # basic | ntlm | oauth2
    build: str = ""  # "15.1.2507.6" stored at setup; empty -> one guess
    timezone: str = ""  # IANA zone; empty -> this computer's zone
    ca_bundle: str = ""  # PEM file of a company CA
    max_wait: int = DEFAULT_MAX_WAIT  # FaultTolerance bound for background work (seconds)
    fail_fast: bool = False  # True for connection checks
    # HTTP sessions exchangelib may open at once (its default is one, which would queue the sync's
    # concurrent calls: four write chunks on the wire, a feed read ahead or followed); Exchange's
    # default throttling policy allows 27 concurrent EWS connections per user
    max_connections: int | None = 6
    token_credentials: Any = field(default=None, repr=False)  # OAuth2 credentials object (see TokenCredentials)

    @classmethod
    def from_account(cls, acct: Any, password: str, **kw: Any) -> "EwsSettings":
        """From app.settings.MailboxAccount plus the secret read from the keyring."""
        return cls(endpoint=acct.ews_url, mailbox=acct.address, username=acct.username or acct.address,
                   password=password, auth=acct.auth, build=acct.ews_build, timezone=acct.timezone,
                   ca_bundle=acct.ca_bundle, **kw)


@dataclass(frozen=True)
class ConnectionInfo:
    identity: str  # primary SMTP address reached
    build: str  # Exchange build to store, e.g. "15.1.2507.6"
    api_version: str


class TokenCredentials(OAuth2AuthorizationCodeCredentials):
    """Delegated OAuth2 token owned by the app (msal): `refresher()` returns a new token dict,
    `on_refresh(token)` persists it. exchangelib 5.6.0 passes one keyword argument to refresh()."""

    def __init__(self, access_token: dict, refresher: Callable[[], dict] | None = None,
                 on_refresh: Callable[[dict], None] | None = None, **kwargs: Any):
        super().__init__(access_token=access_token, **kwargs)
        self._refresher = refresher
        self._on_refresh = on_refresh

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        if self._refresher is not None:
            self.on_token_auto_refreshed(self._refresher())

    def on_token_auto_refreshed(self, access_token: dict) -> None:
        super().on_token_auto_refreshed(access_token)
        if self._on_refresh is not None:
            self._on_refresh(access_token)


class _WholeChunkResponse(requests.Response):
    """exchangelib parses `response.iter_content()` with requests' default chunk size of ONE byte
    (about a third of the time spent reading a page of 100 contacts); hand it 64 KiB slices."""

    def iter_content(self, chunk_size=65536, decode_unicode=False):
        return super().iter_content(chunk_size=chunk_size or 65536, decode_unicode=decode_unicode)


class EwsHttpAdapter(requests.adapters.HTTPAdapter):
    """Installed as BaseProtocol.HTTP_ADAPTER_CLS (process-wide). TLS verification stays on: for
    endpoints registered with a company CA file it verifies against that file, every other URL
    keeps requests' normal verification. Also serves responses in 64 KiB slices (see above)."""

    _bundles: dict[str, str] = {}
    _counts: dict[str, int] = {}
    _lock = threading.Lock()

    @classmethod
    def install(cls) -> None:
        if BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
            BaseProtocol.HTTP_ADAPTER_CLS = cls

    @classmethod
    def register(cls, endpoint: str, ca_file: str) -> None:
        with cls._lock:
            cls._bundles[_origin(endpoint)] = ca_file
        cls.install()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # noqa: D401
        origin = _origin(request.url or "")
        bundle = self._bundles.get(origin)
        if bundle and verify is not False:
            verify = bundle
        response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        if response.status_code != 401:  # authentication legs are not requests of their own
            with self._lock:
                self._counts[origin] = self._counts.get(origin, 0) + 1
        return response

    @classmethod
    def requests_to(cls, endpoint: str) -> int:
        """Requests answered by `endpoint`'s server so far in this process (auth legs excluded)."""
        with cls._lock:
            return cls._counts.get(_origin(endpoint), 0)

    def build_response(self, req, resp):
        response = super().build_response(req, resp)
        response.__class__ = _WholeChunkResponse
        return response


CaBundleAdapter = EwsHttpAdapter  # the name ews.md 1.4 uses for the CA-file mapping


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_build(text: str) -> Build | None:
    if not text:
        return None
    try:
        numbers = [int(p) for p in text.strip().split(".")]
    except ValueError:
        raise ConfigError(f"stored Exchange build {text!r} is not like 15.1.2507.6") from None
    return Build(*numbers[:4])


def build_text(build: Build) -> str:
    return ".".join(str(n) for n in (build.major_version, build.minor_version, build.major_build, build.minor_build))


def _credentials(s: EwsSettings) -> Any:
    if s.auth == "oauth2":
        if s.token_credentials is None:
            raise ConfigError("OAuth2 sign-in needs a token; sign in with Microsoft again")
        return s.token_credentials
    if not s.username or not s.password:
        raise ConfigError("the EWS user name or password is missing")
    return Credentials(s.username, s.password)


def _zone(name: str) -> EWSTimeZone:
    if name:
        try:
            return EWSTimeZone(name)
        except Exception:  # noqa: BLE001 - zoneinfo / exchangelib raise several types
            raise ConfigError(f"unknown time zone {name!r}; use an IANA name such as Europe/London") from None
    try:
        return EWSTimeZone.localzone()
    except Exception:  # noqa: BLE001
        return EWSTimeZone("UTC")


class SignInAwareFaultTolerance(FaultTolerance):
    """FaultTolerance, except that a final HTTP 401 is a refused sign-in, not throttling.

    exchangelib retries 401 as "the server wants us to slow down" until max_wait runs out, so a
    changed password would hang every background sync for minutes. The NTLM handshake's own 401s
    never reach this point, so what arrives here is the server's answer to our credentials."""

    def raise_response_errors(self, response: Any) -> Any:
        if response.status_code == 401:
            from exchangelib.errors import UnauthorizedError

            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        return super().raise_response_errors(response)


def open_account(s: EwsSettings) -> Account:
    """An Account built from stored facts only: no autodiscover, and no version probe when a
    build is stored. Registers our extended properties (once per process)."""
    register_properties()
    if s.auth not in AUTH_TYPES:
        raise ConfigError(f"unknown EWS authentication {s.auth!r}; use basic or ntlm")
    if not s.endpoint.lower().startswith(("http://", "https://")):
        raise ConfigError("the EWS URL must start with https:// (for example https://mail.example.com/EWS/Exchange.asmx)")
    EwsHttpAdapter.install()
    if s.ca_bundle:
        EwsHttpAdapter.register(s.endpoint, s.ca_bundle)
    build = parse_build(s.build)
    policy = FailFast() if s.fail_fast else SignInAwareFaultTolerance(max_wait=s.max_wait)
    with translated("connecting to the mailbox"):
        config = Configuration(
            service_endpoint=s.endpoint,
            credentials=_credentials(s),
            auth_type=AUTH_TYPES[s.auth],
            version=Version(build=build) if build else None,
            retry_policy=policy,
            max_connections=s.max_connections,
        )
        return Account(
            primary_smtp_address=s.mailbox,
            config=config,
            autodiscover=False,
            access_type=DELEGATE,
            default_timezone=_zone(s.timezone),
        )


def check_connection(s: EwsSettings, *, setup: bool = True) -> ConnectionInfo:
    """Verify endpoint, credentials and mailbox with FailFast: one GetFolder (plus a ConvertId
    version probe when no build is stored). Raises AuthError or ConfigError with a message naming
    the fix. An unreachable server is a ConfigError naming --ews-url during setup (configure, the
    wizard: the default), and a TransientError with `setup=False` (start-up checks: retry later)."""
    s = replace(s, fail_fast=True)
    try:
        try:
            return _check(s)
        except ConfigError as err:
            if s.build and getattr(err, "ews_code", "") == "ErrorInvalidServerVersion":
                return _check(replace(s, build=""))  # stored build refused: guess once more
            raise
    except TransientError as err:
        if not setup:
            raise
        raise ConfigError(f"Could not reach the mail server at {s.endpoint} ({err.message}). "
                          "Check the EWS URL (--ews-url) and the network connection.") from None


def _check(s: EwsSettings) -> ConnectionInfo:
    from app.connectors.ews.folders import FolderSet  # folders imports this module's siblings only
    from app.domain.records import Kind

    account = open_account(s)
    # One GetFolder for the four folders the connector uses: proves sign-in, mailbox and access.
    FolderSet(account).resolve([Kind.PERSON, Kind.TASK, Kind.MEETING, "sent"])
    with translated("checking the mailbox connection"):
        version = account.version
        return ConnectionInfo(
            identity=account.primary_smtp_address.lower(),
            build=build_text(version.build),
            api_version=str(version.api_version),
        )
