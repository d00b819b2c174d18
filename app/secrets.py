"""Passwords and API keys: the OS keyring, or environment variables named in the settings.

A set environment variable wins and is never copied into the keyring. Where keyring only offers
its fail or null backend there is no silent plaintext fallback: `SecretsUnavailable` says how to
fix it (install/unlock a keyring, or keep the named variables set).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from app.errors import SecretsUnavailable

SERVICE = "workbooks-connector"

NO_KEYRING_HELP = (
    "no usable keyring was found (install or unlock GNOME Keyring/Secret Service, KWallet, "
    "macOS Keychain or Windows Credential Manager), so the secret cannot be stored safely. "
    "Either make a keyring available, or keep the environment variable {var} set whenever the "
    "connector runs."
)


def keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring):
            return False
        try:
            from keyring.backends import null

            if isinstance(backend, null.Keyring):
                return False
        except ImportError:
            pass
        return True
    except Exception:  # a broken keyring install is "unusable", not a crash
        return False


@dataclass(frozen=True)
class SecretRef:
    """Where one secret lives: a keyring entry name and optionally an environment variable."""

    name: str  # e.g. "workbooks:https://host:user@example.com:password"
    env_var: str = ""

    def describe(self) -> str:
        return f"${self.env_var}" if self.env_var else "the keyring"


def store(ref: SecretRef, value: str) -> bool:
    """Keep `value` in the keyring. Returns False when no keyring exists (the caller then relies
    on the environment variable and tells the user so)."""
    if not keyring_usable():
        return False
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, ref.name, value)
    except KeyringError:
        return False
    return True


def get(ref: SecretRef) -> str:
    if ref.env_var:
        value = os.environ.get(ref.env_var)
        if value:
            return value
    if keyring_usable():
        import keyring
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(SERVICE, ref.name)
        except KeyringError as exc:
            raise SecretsUnavailable(f"the keyring refused access ({type(exc).__name__}); unlock it and try again") from None
        if value:
            return value
    raise SecretsUnavailable(NO_KEYRING_HELP.format(var=ref.env_var or "(none configured)")
                             if not keyring_usable() else
                             "no stored secret for this account; run configure again"
                             + (f" or set {ref.env_var}" if ref.env_var else ""))


def forget(ref: SecretRef) -> None:
    if not keyring_usable():
        return
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, ref.name)
    except (PasswordDeleteError, KeyringError):
        pass


def workbooks_secret(url: str, username: str, kind: str, env_var: str) -> SecretRef:
    return SecretRef(f"workbooks:{url}:{username or '-'}:{kind}", env_var)


def mailbox_secret(ews_url: str, username: str, env_var: str) -> SecretRef:
    return SecretRef(f"mailbox:{ews_url}:{username}:password", env_var)
