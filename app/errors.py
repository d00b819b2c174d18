"""Exception hierarchy shared by every layer.

Each error carries a short title and a message written for the person at the keyboard, an
optional item reference, and the exit code the command line maps it to (interfaces.md §1).
Connectors translate their library's exceptions into these at the boundary, so nothing above
them ever sees an httpx, exchangelib or SQLAlchemy exception.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_CONFIG = 2
EXIT_MASS_DELETE = 3
EXIT_LEASE = 4
EXIT_USAGE = 64


class AppError(Exception):
    exit_code = EXIT_CONFIG
    title = "Something went wrong"

    def __init__(self, message: str, *, title: str | None = None, ref: str | None = None):
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        self.ref = ref

    def __str__(self) -> str:
        return self.message


class ItemError(AppError):
    """One record failed; the cycle records it and carries on."""

    exit_code = EXIT_ITEMS_FAILED
    title = "An item could not be synced"


class ItemRejected(ItemError):
    """The server refused this record (validation, permission on the row)."""


class TransientError(AppError):
    """Network trouble, throttling or a 5xx: try again later, nothing is lost."""

    exit_code = EXIT_ITEMS_FAILED
    title = "The server is not answering right now"


class StaleVersion(AppError):
    """The item changed on the server since we read it: re-read and re-plan."""

    exit_code = EXIT_ITEMS_FAILED
    title = "The item was changed elsewhere"


class NotFound(AppError):
    exit_code = EXIT_ITEMS_FAILED
    title = "The item no longer exists"


class AuthError(AppError):
    title = "Sign-in refused"


class SignInAgainRequired(AuthError):
    """A saved interactive sign-in (Microsoft 365) can no longer be refreshed silently: the
    person has to sign in again. Its own type so the tray can offer the sign-in itself."""

    title = "Sign in to Microsoft 365 again"


class SignInTimedOut(AuthError):
    """Nobody completed a device-code sign-in before the wait ended (or the code expired)."""

    title = "The Microsoft 365 sign-in was not completed"


class PrerequisiteError(AppError):
    """A licence, extension or capability is missing; the message names what to ask for."""

    title = "Your Workbooks administrator needs to enable something"

    def __init__(self, message: str, *, missing: tuple[str, ...] = (), **kw):
        super().__init__(message, **kw)
        self.missing = missing


class CollectionUnavailable(PrerequisiteError):
    """A whole type or folder answered 401/403/404 to a read: access (a capability, a licence, a
    folder permission) was lost. Never read as "everything was deleted" (product B7, design 5.8):
    the engine holds that type and syncs the others."""

    title = "Access to a whole type was lost"

    def __init__(self, message: str, *, collection: str = "", **kw):
        super().__init__(message, **kw)
        self.collection = collection


class ConfigError(AppError):
    title = "The connector is not set up correctly"


class SecretsUnavailable(ConfigError):
    title = "No safe place to keep passwords"


class LeaseHeld(AppError):
    exit_code = EXIT_LEASE
    title = "Another computer syncs this mailbox"


class SafetyHold(AppError):
    exit_code = EXIT_MASS_DELETE
    title = "Deletions held for review"


class JournalError(AppError):
    title = "The local sync journal is damaged"


class UsageError(AppError):
    exit_code = EXIT_USAGE
    title = "Wrong command usage"


class NotAvailableYet(AppError):
    title = "Not available yet"
