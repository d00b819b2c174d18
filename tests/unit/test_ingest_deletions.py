"""B7 in CRM ingest: a deletion seen once is only marked on its link, with the page's mark; a later
run's direct lookup confirms it (a delete is staged) or clears it."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app.domain.filters import Filter
from app.domain.records import HighWater, Kind
from app.sync.ingest import encode_mark, ingest_crm
from app.sync.state import Link
from tests.fixtures.fakes import FakeCrm, ManualClock

P = Kind.PERSON
SEEN = datetime(2026, 1, 1, tzinfo=timezone.utc)


def run(crm, links, *, mark, full=False):
    batches = []
    now = crm.clock.now()
    res = ingest_crm(crm, P, mark, flt=Filter(()), resolved=Filter(()), today=now.date(), now=now,
                     overlap=timedelta(0), links=links, full_listing=full, write=batches.append,
                     cancelled=lambda: False)
    return res, batches


def setup():
    clock = ManualClock()
    crm = FakeCrm(clock)
    rec = crm.add(P, {"first_name": "Ann", "last_name": "Lee"})
    mark = encode_mark(HighWater(clock.now(), 0))
    clock.advance(minutes=1)
    link = Link("l1", P, crm_id=rec.id, crm_lock_version=str(rec.lock_version), ews_item_id="e1")
    return crm, rec, link, mark


def test_first_sighting_in_a_delta_is_marked_with_the_page_not_staged():
    crm, rec, link, mark = setup()
    crm.user_delete(P, rec.id)
    res, batches = run(crm, [link], mark=mark)
    staged = [s for b in batches for s in b.stage]
    assert staged == [] and res.deletions_pending == 1 and res.deletions_confirmed == 0
    (page,) = [b for b in batches if b.cursors]
    assert page.gone_seen == [("l1", crm.clock.now())]  # committed together with the mark that passes it


def test_an_earlier_sighting_confirmed_by_lookup_stages_the_delete():
    crm, rec, link, mark = setup()
    crm.user_delete(P, rec.id)
    seen = replace(link, crm_gone_seen_at=SEEN)
    crm.calls.clear()
    res, batches = run(crm, [seen], mark=mark)
    (st,) = [s for b in batches for s in b.stage]
    assert (st.remote_id, st.change) == (rec.id, "delete") and res.deletions_confirmed == 1
    assert crm.calls.get("fetch") == 1


def test_an_earlier_sighting_the_lookup_finds_alive_is_cleared():
    crm, rec, link, mark = setup()
    seen = replace(link, crm_gone_seen_at=SEEN)
    res, batches = run(crm, [seen], mark=mark)
    assert [s for b in batches for s in b.stage] == []
    assert [g for b in batches for g in b.gone_seen] == [("l1", None)]
    assert res.deletions_confirmed == 0 and res.deletions_pending == 0


def test_missing_from_the_listing_and_the_lookup_is_a_sighting_only():
    crm, rec, link, mark = setup()
    del crm.records[(P, rec.id)]
    res, batches = run(crm, [link], mark=mark, full=True)
    assert [s for b in batches for s in b.stage] == [] and res.deletions_pending == 1
