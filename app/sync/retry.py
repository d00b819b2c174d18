"""Per-item back-off (design.md 7): 1 min, 5 min, 30 min, 2 h, 12 h, then daily."""
from __future__ import annotations

from datetime import datetime, timedelta

SCHEDULE = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12))
DAILY = timedelta(days=1)
FLAG_AFTER = 5  # attempts before the item is flagged in the issues window


def delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure (1-based)."""
    if attempts <= 0:
        return timedelta(0)
    return SCHEDULE[attempts - 1] if attempts <= len(SCHEDULE) else DAILY


def retry_after(now: datetime, attempts: int) -> datetime:
    return now + delay(attempts)


def due(now: datetime, retry_at: datetime, last_version: str, current_version: str) -> bool:
    """Retry when the wait is over or the item changed since the failed try."""
    return now >= retry_at or (bool(current_version) and current_version != last_version)
