"""Microsoft 365 sign-in for the Graph backend: msal device-code flow, token cache in the keyring.

    signin = GraphSignIn.from_settings(settings)          # loads the cache from the keyring
    flow = signin.start_device_flow()                     # show flow.message to the user
    address = signin.finish_device_flow(flow)             # blocks until approved / expired
    token = signin.token()                                # silent; refreshes as needed

* The msal `SerializableTokenCache` is stored in the OS keyring through `app.secrets` under
  `graph:<authority>:<client id>:token-cache`, zlib-compressed and split into chunks small
  enough for Windows Credential Manager (2.5 KB per entry). Written only when it changed.
  Without a usable keyring the cache lives in memory for this run (the user signs in again
  next time) and a warning says so; nothing is written in plain text.
* `token()` uses `acquire_token_silent` (msal refreshes with the refresh token); when that is
  impossible (no account, refresh token revoked or expired, consent withdrawn) it raises
  `SignInAgainRequired` (an AuthError naming both fixes), which the tray turns into its
  re-consent prompt and the command line into exit 2.
* `keep_pending()` holds a new sign-in in memory until `keep()`: the wizard signs in before the
  user confirms, and a cancelled wizard must leave nothing behind (R34).
* The authority and CA bundle are configurable so tests drive the sandbox's fake identity
  platform (which needs https; `instance_discovery` is turned off for non-Microsoft hosts).
* Tokens never appear in logs, reprs or exception messages.
"""
from __future__ import annotations

import base64
import functools
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable

from app import secrets
from app.errors import (AuthError, ConfigError, SecretsUnavailable, SignInAgainRequired, SignInTimedOut,
                        TransientError)

log = logging.getLogger("app.connectors.graph.auth")

SCOPES = ("User.Read", "Contacts.ReadWrite", "Tasks.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite",
          "MailboxSettings.ReadWrite")
MICROSOFT_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
                   "login.partner.microsoftonline.cn")
CHUNK = 1800  # characters per keyring entry
SIGN_IN_AGAIN = ("the saved Microsoft 365 sign-in has expired or was revoked. Choose \"Sign in to Microsoft 365 "
                 "again…\" in the tray menu, or run `workbooks-connector configure` with the same --mailbox-api graph "
                 "options once more")


@dataclass(frozen=True)
class DeviceFlow:
    """What to show the user: open `verification_uri` and enter `user_code`."""

    user_code: str
    verification_uri: str
    message: str
    expires_at: float
    raw: dict[str, Any]

    def __repr__(self) -> str:
        return f"DeviceFlow(user_code={self.user_code!r}, verification_uri={self.verification_uri!r})"


class KeyringCache:
    """A msal SerializableTokenCache persisted in the keyring in chunks."""

    def __init__(self, ref: secrets.SecretRef):
        import msal

        self.ref = ref
        self.cache = msal.SerializableTokenCache()
        self.persistent = True
        self.pending = False  # True: changes wait in memory for keep() (see GraphSignIn.keep_pending)
        self._load()

    def _part(self, n: int) -> secrets.SecretRef:
        return secrets.SecretRef(f"{self.ref.name}#{n}")

    def _load(self) -> None:
        try:
            head = secrets.get(self.ref)
        except SecretsUnavailable:
            return
        try:
            _, count = head.split(":", 1)
            text = "".join(secrets.get(self._part(n)) for n in range(1, int(count) + 1))
            self.cache.deserialize(zlib.decompress(base64.b64decode(text)).decode("utf-8"))
        except (ValueError, zlib.error, SecretsUnavailable):
            log.warning("the saved Microsoft 365 sign-in could not be read; signing in again will replace it")

    def save(self) -> bool:
        """Write the cache if it changed; False when it could not be kept (no keyring)."""
        if self.pending or not self.cache.has_state_changed:
            return self.pending or self.persistent
        text = base64.b64encode(zlib.compress(self.cache.serialize().encode("utf-8"), 9)).decode()
        parts = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        ok = all(secrets.store(self._part(n), part) for n, part in enumerate(parts, 1))
        ok = ok and secrets.store(self.ref, f"v1:{len(parts)}")
        if not ok:
            if self.persistent:
                log.warning("no usable keyring: the Microsoft 365 sign-in is kept for this run only")
            self.persistent = False
            return False
        self.cache.has_state_changed = False
        return True

    def clear(self) -> None:
        try:
            _, count = secrets.get(self.ref).split(":", 1)
            for n in range(1, int(count) + 1):
                secrets.forget(self._part(n))
        except (ValueError, SecretsUnavailable):
            pass
        secrets.forget(self.ref)


def cache_ref(authority: str, client_id: str) -> secrets.SecretRef:
    return secrets.SecretRef(f"graph:{authority.rstrip('/')}:{client_id}:token-cache")


class GraphSignIn:
    """Token provider for GraphClient (`token(force_refresh=...)`) plus the device-code sign-in."""

    def __init__(self, client_id: str, authority: str, *, scopes: tuple[str, ...] = SCOPES,
                 ca_bundle: str | None = None, username: str | None = None, cache: KeyringCache | None = None,
                 timeout: float = 30.0):
        import msal

        self.client_id = client_id
        self.authority = authority.rstrip("/")
        self.scopes = list(scopes)
        self.username = username.lower() if username else None
        self.store = cache or KeyringCache(cache_ref(self.authority, client_id))
        host = self.authority.split("/")[2].lower() if "://" in self.authority else ""
        microsoft = host in MICROSOFT_HOSTS
        self._lock = threading.Lock()
        try:
            self.app = msal.PublicClientApplication(
                client_id, authority=self.authority, token_cache=self.store.cache,
                http_client=_http_session(ca_bundle, timeout),
                instance_discovery=None if microsoft else False, validate_authority=microsoft,
            )
        except ValueError as exc:
            raise ConfigError(f"the Microsoft 365 sign-in address is not usable ({_first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - requests errors while discovering the authority
            raise _transport_error(exc, "contacting the Microsoft 365 sign-in service") from None

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> "GraphSignIn":
        return cls(settings.client_id, settings.authority, ca_bundle=getattr(settings, "ca_bundle", None),
                   username=getattr(settings, "mailbox", None) or None, **kw)

    def __repr__(self) -> str:
        return f"GraphSignIn(client_id={self.client_id!r}, authority={self.authority!r})"

    # --- device-code flow ----------------------------------------------------------------------
    def start_device_flow(self) -> DeviceFlow:
        flow = self._call(lambda: self.app.initiate_device_flow(scopes=self.scopes), "starting the sign-in")
        if "user_code" not in flow:
            raise AuthError(f"Microsoft 365 refused to start the sign-in ({flow.get('error', 'unknown error')})")
        return DeviceFlow(flow["user_code"], flow.get("verification_uri", ""), flow.get("message", ""),
                          float(flow.get("expires_at", time.time() + 900)), flow)

    def finish_device_flow(self, flow: DeviceFlow, *, timeout: float | None = None,
                           cancelled: Callable[[], bool] | None = None) -> str:
        """Poll until the user approved (returns the signed-in address), declined or the code
        expired (AuthError). `timeout` / `cancelled` stop waiting early."""
        raw = dict(flow.raw)
        deadline = time.time() + timeout if timeout is not None else None
        if deadline is not None or cancelled is not None:
            raw["expires_at"] = min(raw.get("expires_at", deadline or 0), deadline or raw.get("expires_at", 0))
        exit_condition = (lambda f: (cancelled is not None and cancelled()) or f.get("expires_at", 0) < time.time())
        result = self._call(lambda: self.app.acquire_token_by_device_flow(raw, exit_condition=exit_condition),
                            "signing in")
        if "access_token" not in result:
            code = result.get("error", "unknown error")
            if code == "authorization_pending":
                raise SignInTimedOut("the sign-in was not completed in time; start it again")
            if code == "authorization_declined":
                raise AuthError("the sign-in was declined")
            raise AuthError(f"Microsoft 365 refused the sign-in ({code})")
        self.store.save()
        claims = result.get("id_token_claims") or {}
        address = str(claims.get("preferred_username") or claims.get("upn") or "").lower()
        self.username = address or self.username
        return address

    def sign_in(self, show: Callable[[str], None], **kw: Any) -> str:
        flow = self.start_device_flow()
        show(flow.message)
        return self.finish_device_flow(flow, **kw)

    # --- tokens --------------------------------------------------------------------------------
    def token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            accounts = self.app.get_accounts(username=self.username) if self.username else self.app.get_accounts()
            if not accounts:
                raise SignInAgainRequired(SIGN_IN_AGAIN)
            result = self._call(lambda: self.app.acquire_token_silent_with_error(
                self.scopes, account=accounts[0], force_refresh=force_refresh), "refreshing the sign-in")
            if not result or "access_token" not in result:
                code = (result or {}).get("error", "no cached sign-in")
                log.info("silent Microsoft 365 sign-in failed (%s)", code)
                raise SignInAgainRequired(SIGN_IN_AGAIN)
            self.store.save()
            return str(result["access_token"])

    def keep_pending(self) -> "GraphSignIn":
        """Hold sign-ins made from now on in memory until `keep()` (or forget them by dropping this)."""
        self.store.pending = True
        return self

    def keep(self) -> bool:
        """Write the sign-in to the keyring now; False when there is no usable keyring."""
        self.store.pending = False
        self.store.cache.has_state_changed = True
        return self.store.save()

    def signed_in(self) -> bool:
        return bool(self.app.get_accounts())

    def sign_out(self) -> None:
        for account in self.app.get_accounts():
            self.app.remove_account(account)
        self.store.clear()

    @staticmethod
    def _call(fn: Callable[[], Any], op: str) -> Any:
        try:
            return fn()
        except (AuthError, ConfigError):
            raise
        except ValueError as exc:
            raise AuthError(f"{op}: Microsoft 365 sent an unexpected answer ({_first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - requests' connection/TLS errors from inside msal
            raise _transport_error(exc, op) from None


def _http_session(ca_bundle: str | None, timeout: float) -> Any:
    """A requests session for msal with verification always on. `verify` is passed on every
    call: a session-level `verify` loses to REQUESTS_CA_BUNDLE in requests' environment merge."""
    import requests

    session = requests.Session()
    session.request = functools.partial(session.request, timeout=timeout,  # type: ignore[method-assign]
                                        **({"verify": ca_bundle} if ca_bundle else {}))
    return session


def _transport_error(exc: Exception, op: str) -> Exception:
    name = type(exc).__name__
    if "SSL" in name or "certificate verify failed" in str(exc).lower():
        return ConfigError(f"{op}: the certificate of the sign-in service was not trusted ({name}); check the CA "
                           f"bundle setting")
    return TransientError(f"{op}: the Microsoft 365 sign-in service could not be reached ({name})")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
