"""Plain values the Qt side exchanges with the worker: no Qt here, so the CLI and the journal
writer can import them too. Everything is frozen and made of strings, enums, tuples, datetimes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from app.errors import (
    AppError,
    AuthError,
    ConfigError,
    JournalError,
    LeaseHeld,
    PrerequisiteError,
    SignInAgainRequired,
    TransientError,
)
from app.sync.events import FatalIssue, FatalKind

log = logging.getLogger("workbooks_connector.runner")


class WorkerState(str, Enum):
    STARTING = "starting"
    IDLE = "idle"
    SYNCING = "syncing"
    PAUSED = "paused"
    ERROR = "error"  # the last cycle ended with a FatalIssue
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerStatus:
    """What the tray shows; emitted by `SyncWorker.status_changed` on every change."""

    state: WorkerState
    reason: str = ""  # why the current/last cycle ran: manual | schedule | start | wake | retry | first-sync
    last_sync: datetime | None = None  # end of the last finished cycle (aware UTC)
    last_ok: bool | None = None
    next_sync: datetime | None = None  # None: manual schedule or paused
    fatal: FatalIssue | None = None  # set while state is ERROR
    dry_run: bool = False


class Choice(str, Enum):
    OUTLOOK = "outlook"  # keep the Outlook version on both sides
    WORKBOOKS = "workbooks"  # keep the Workbooks version on both sides
    MERGED = "merged"  # per-field picks in `fields`
    BOTH = "both"  # first-sync mismatches only: unlink, keep two records
    LATER = "later"  # leave the conflict open


@dataclass(frozen=True)
class Resolution:
    choice: Choice
    fields: tuple[tuple[str, str], ...] = ()  # MERGED: (field name, "outlook"|"workbooks"|"base")


class HoldDecision(str, Enum):
    APPLY = "apply"  # carry out the held deletions
    RESTORE = "restore"  # re-create from the other side
    LATER = "later"


_BY_TYPE: tuple[tuple[type[BaseException], FatalKind], ...] = (
    (LeaseHeld, FatalKind.LEASE),
    (SignInAgainRequired, FatalKind.SIGN_IN_AGAIN),  # before AuthError: the tray offers the sign-in
    (AuthError, FatalKind.AUTH),
    (PrerequisiteError, FatalKind.PREREQUISITE),
    (JournalError, FatalKind.JOURNAL),
    (ConfigError, FatalKind.CONFIG),  # SecretsUnavailable too
    (TransientError, FatalKind.TRANSIENT),
)


def fatal_from_exception(exc: BaseException) -> FatalIssue:
    """Map an exception that ended a cycle to the FatalIssue the UI picks its flow from."""
    for cls, kind in _BY_TYPE:
        if isinstance(exc, cls):
            message = exc.message if isinstance(exc, AppError) else str(exc)
            if isinstance(exc, PrerequisiteError) and exc.missing:
                message = message + "\n\nMissing: " + ", ".join(exc.missing)
            return FatalIssue(kind, exc.title, message)  # type: ignore[attr-defined]
    log.error("unexpected error in a sync cycle", exc_info=(type(exc), exc, exc.__traceback__))
    if isinstance(exc, AppError):
        return FatalIssue(FatalKind.UNEXPECTED, exc.title, exc.message)
    return FatalIssue(
        FatalKind.UNEXPECTED,
        "The connector hit an unexpected problem",
        f"{type(exc).__name__}: {exc}. The details are in the log; nothing was lost, and the next "
        "sync will pick up where this one stopped.",
    )


RETRYABLE = frozenset({FatalKind.TRANSIENT, FatalKind.UNEXPECTED})
