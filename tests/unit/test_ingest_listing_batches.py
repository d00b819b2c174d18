"""A CRM listing stages its pages several at a time (ingest.LISTING_STAGE_ROWS): fewer, larger
transactions, with the listing's mark only in the last one."""
from __future__ import annotations

from datetime import timedelta

from app.domain.filters import Filter
from app.domain.records import Kind, Side
from app.sync.ingest import LISTING_STAGE_ROWS, ingest_crm
from tests.fixtures.fakes import FakeCrm, ManualClock

P = Kind.PERSON


def listing(n):
    clock = ManualClock()
    crm = FakeCrm(clock)
    for i in range(n):
        crm.add(P, {"first_name": f"Ida{i}", "last_name": "Moss"})
    batches = []
    now = clock.now()
    res = ingest_crm(crm, P, None, flt=Filter(()), resolved=Filter(()), today=now.date(), now=now,
                     overlap=timedelta(0), links=[], full_listing=True, write=batches.append,
                     cancelled=lambda: False, batch_size=100)
    return res, batches




def test_a_long_listing_is_staged_in_few_transactions_with_its_mark_last():
    n = 2 * LISTING_STAGE_ROWS + 250
    res, batches = listing(n)
    batches = [b for b in batches if b.stage or b.cursors]  # (the deletion check's own write aside)
    staged = [s.remote_id for b in batches for s in b.stage]
    assert len(staged) == len(set(staged)) == n == res.staged
    assert len(batches) == 3  # two full batches, then the rest with the mark
    assert all(len(b.stage) >= LISTING_STAGE_ROWS for b in batches[:-1])
    assert [b.cursors for b in batches[:-1]] == [[], []]
    assert batches[-1].cursors and batches[-1].cursors[0][:2] == (Side.CRM.value, P.value)
