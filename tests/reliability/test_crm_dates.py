"""Found by test_bad_input: an out-of-range date from Workbooks ("Fri Feb 31 25:61:00 UTC 2026")
raised ValueError out of the CRM delta read and ended `sync` as an internal error (exit 70). The
parsers are lenient by contract: unreadable means None, whatever the shape of the garbage."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.connectors.crm import mapping as M


@pytest.mark.parametrize("text", ["Fri Feb 31 25:61:00 UTC 2026", "Mon Jan 05 09:00:99 UTC 2026",
                                  "Tue Feb 29 10:00:00 Europe/London 2025", "not a date", "2026-13-45T00:00:00Z"])
def test_unreadable_datetimes_read_as_none(text):
    assert M.parse_datetime(text) is None


@pytest.mark.parametrize("text", ["2026-02-31", "2026-13-01", "31 Feb 2026", "garbage"])
def test_unreadable_dates_read_as_none(text):
    assert M.parse_date(text) is None


def test_readable_values_still_parse():
    assert M.parse_datetime("Mon Jan 05 09:00:00 UTC 2026") == datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    assert M.parse_date("2026-02-28") == date(2026, 2, 28)
    assert M.parse_date("5 Jan 2026") == date(2026, 1, 5)
