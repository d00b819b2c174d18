"""Translation of exchangelib / requests exceptions into app errors (design.md section 7).

Nothing from exchangelib escapes the adapter: every public method runs inside `translated()`,
and per-item exception *instances* returned by bulk services go through `to_app_error()`.
Messages name the operation and the EWS response code only; never credentials, never content.
"""
from __future__ import annotations

import contextlib
import ssl
from typing import Iterator

import requests
from lxml import etree
from exchangelib import errors as ex

from app.errors import (
    AppError,
    AuthError,
    ConfigError,
    ItemRejected,
    NotFound,
    StaleVersion,
    TransientError,
)
from app.sync.ports import InvalidSyncToken

# Ordered: the first matching class wins (ResponseMessageError subclasses TransportError, so the
# specific codes come before the generic transport rows).
STALE = (ex.ErrorIrresolvableConflict, ex.ErrorStaleObject)
GONE = (ex.ErrorItemNotFound,)
BAD_TOKEN = (ex.ErrorInvalidSyncStateData, ex.ErrorSyncFolderNotFound)
AUTH = (ex.UnauthorizedError,)
CONFIG = (
    ex.ErrorNonExistentMailbox,
    ex.ErrorAccessDenied,
    ex.ErrorInvalidServerVersion,
    ex.ErrorFolderNotFound,
    ex.ErrorInvalidRequest,
    ex.AutoDiscoverError,
    ex.RedirectError,
    ex.UnknownTimeZone,
)
TRANSIENT = (
    ex.ErrorServerBusy,
    ex.RateLimitError,
    ex.ErrorExceededConnectionCount,
    ex.ErrorTimeoutExpired,
    ex.ErrorInternalServerTransientError,
    ex.ErrorInternalServerError,
    ex.ErrorTooManyObjectsOpened,
    ex.ErrorMailboxStoreUnavailable,
    ex.ErrorMailboxMoveInProgress,
    ex.SessionPoolMinSizeReached,
    ex.SessionPoolMaxSizeReached,
    ex.MalformedResponseError,
    ex.SOAPError,
    ex.CASError,
)
ITEM = (
    ex.ErrorItemSave,
    ex.ErrorInvalidChangeKey,
    ex.ErrorInvalidIdMalformed,
    ex.ErrorInvalidPropertySet,
    ex.ErrorInvalidPropertyRequest,
    ex.ErrorSchemaValidation,
    ex.ErrorCorruptData,
    ex.ErrorItemCorrupt,
    ex.ErrorInvalidValueForProperty,
    ex.ErrorObjectTypeChanged,
    ex.ErrorCannotDeleteObject,
    ex.ErrorQuotaExceeded,
    ex.ErrorMessageSizeExceeded,
)


def _code(exc: BaseException) -> str:
    return type(exc).__name__


def _text(exc: BaseException) -> str:
    """The server's message text, trimmed (EWS messages never carry our secrets)."""
    value = getattr(exc, "value", None) or (exc.args[0] if exc.args else "")
    text = " ".join(str(value).split())
    return text[:300]


def to_app_error(exc: BaseException, *, op: str = "EWS request", ref: str | None = None) -> AppError:
    """Map one library exception (raised, or returned in a bulk result) to an AppError."""
    if isinstance(exc, AppError):
        return exc
    code = _code(exc)
    if isinstance(exc, STALE):
        return StaleVersion(f"{op}: the item was changed in the mailbox since it was read ({code})", ref=ref)
    if isinstance(exc, GONE):
        return NotFound(f"{op}: the item no longer exists in the mailbox", ref=ref)
    if isinstance(exc, BAD_TOKEN):
        return InvalidSyncToken(f"{op}: the server refused the stored sync state ({code}); re-reading the folder", ref=ref)
    if isinstance(exc, AUTH):
        return AuthError(
            "The mail server refused the user name or password (or the sign-in method). "
            "Check the EWS user name, password and authentication type (basic/ntlm).",
            ref=ref,
        )
    if isinstance(exc, ex.ErrorInvalidServerVersion):
        err = ConfigError(
            "The mail server does not accept the stored Exchange version; run configure again so it is re-detected.",
            ref=ref,
        )
        err.ews_code = code  # check_connection drops the stored build on this one
        return err
    if isinstance(exc, ex.ErrorNonExistentMailbox):
        return ConfigError("The mailbox address does not exist on this mail server; check --mailbox.", ref=ref)
    if isinstance(exc, ex.ErrorAccessDenied):
        err = AuthError(f"{op}: the mail server denied access to this mailbox ({_text(exc) or code})", ref=ref)
        err.ews_code = code  # on a folder read: access to that folder lost (mailbox.changes)
        return err
    if isinstance(exc, CONFIG):
        err = ConfigError(f"{op}: {code}: {_text(exc)}".rstrip(": "), ref=ref)
        err.ews_code = code
        return err
    if isinstance(exc, TRANSIENT):
        err = TransientError(f"{op}: the mail server is busy or unavailable ({code}); will retry later", ref=ref)
        back_off = getattr(exc, "back_off", None)
        err.retry_after = float(back_off) if back_off else None  # seconds, when the server said so
        return err
    if isinstance(exc, ITEM):
        return ItemRejected(f"{op}: the mail server refused the item ({code}: {_text(exc)})", ref=ref)
    if isinstance(exc, ex.ResponseMessageError):
        return ItemRejected(f"{op}: the mail server refused the request ({code}: {_text(exc)})", ref=ref)
    if _tls_failure(exc):
        return ConfigError(
            "The mail server's TLS certificate could not be verified. If your company uses its own "
            "certificate authority, pass its certificate with --ca-bundle FILE.",
            ref=ref,
        )
    if isinstance(exc, ex.TransportError):
        err = TransientError(f"{op}: the mail server could not be reached ({code})", ref=ref)
        err.retry_after = None
        return err
    if isinstance(exc, (requests.exceptions.RequestException, ConnectionError, TimeoutError, OSError)):
        err = TransientError(f"{op}: the mail server could not be reached ({code})", ref=ref)
        err.retry_after = None
        return err
    if isinstance(exc, ex.EWSError):
        return ItemRejected(f"{op}: {code}: {_text(exc)}", ref=ref)
    if isinstance(exc, (ValueError, TypeError)):
        return ItemRejected(f"{op}: the item has a value the mailbox cannot store ({_text(exc)})", ref=ref)
    if isinstance(exc, (AttributeError, KeyError, IndexError, etree.LxmlError)):
        # exchangelib tripping over a response it did not expect (e.g. a SyncFolderItems error
        # without m:SyncState): treat as a bad answer from the server, try again later.
        err = TransientError(f"{op}: the mail server sent an answer that could not be read ({code})", ref=ref)
        err.retry_after = None
        return err
    return ItemRejected(f"{op}: unexpected {code}", ref=ref)


CERT_PROBLEMS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "IP address mismatch",
                 "Hostname mismatch", "doesn't match")


def _tls_failure(exc: BaseException) -> bool:
    """Certificate verification problems (exchangelib wraps requests' SSLError in a
    TransportError); other TLS trouble such as a cut handshake stays transient."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 6:
        if isinstance(cur, ssl.SSLCertVerificationError) or any(p in str(cur) for p in CERT_PROBLEMS):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


@contextlib.contextmanager
def translated(op: str, *, ref: str | None = None) -> Iterator[None]:
    """Run a block and re-raise any library exception as the matching AppError."""
    try:
        yield
    except AppError:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing from exchangelib/requests/lxml may escape
        raise to_app_error(exc, op=op, ref=ref) from None
