"""Contract tests: WorkbooksClient/CrmStore reads against the real Workbooks sandbox (real
sockets, real httpx): paging, every filter operator through our translation, _fm expressions,
My People, deltas, lookups, fault tolerance, and the issue's request budget."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.connectors.crm import mapping as M
from app.connectors.crm.query import LISTING_READERS, WAITING_PAGES, eq_list
from app.domain import filters as F
from app.domain.filters import Condition, Filter
from app.connectors.crm import CrmStore
from app.domain.records import HighWater, Kind, NewItem, RefKind
from tests.fixtures.crmclient_sandbox import (
    faults, key_client, password_client, reset_stats, sandbox, stats, store,
)

pytestmark = pytest.mark.timeout(120)
ALL_COLUMNS = ("person_first_name", "person_last_name", "main_location[email]", "main_location[alternate_email]",
               "home_location[email]", "watched", "assigned_to", "updated_at", "employer_name", "main_location[town]")


@pytest.fixture(scope="module")
def big():
    with sandbox(people=1000) as (server, sb):
        client = key_client(server, sb)
        yield server, sb, client, store(client)
        client.close()


@pytest.fixture(scope="module")
def everyone(big):
    """All 1,000 people, read unfiltered through the store, as raw rows."""
    _server, _sb, _client, st = big
    st.extra_columns[Kind.PERSON] = ALL_COLUMNS
    rows = [r.raw for page in st.list_scope(Kind.PERSON, F.everything()) for r in page.records]
    return rows


def ids(st, flt, kind=Kind.PERSON):
    return sorted(int(r.id) for page in st.list_scope(kind, flt) for r in page.records)


def test_paging_reads_all_1000_people_once_each(big, everyone):
    assert len(everyone) == 1000
    assert len({r["id"] for r in everyone}) == 1000
    assert all(isinstance(r["id"], int) for r in everyone)


def test_done_when_500_people_in_exactly_5_requests():
    with sandbox(people=500) as (server, sb):
        with key_client(server, sb) as client:
            st = store(client)
            reset_stats(server)
            before = client.requests_sent
            records = [r for page in st.list_scope(Kind.PERSON, F.everything()) for r in page.records]
            assert len(records) == 500 and len({r.id for r in records}) == 500
            assert client.requests_sent - before == 5
            assert stats(server)["total"] == 5
            # connections are reused: at most one for each id range read at once
            assert len(client._http._transport._pool.connections) <= LISTING_READERS  # noqa: SLF001


def _local(flt, rows):
    return sorted(r["id"] for r in rows if F.evaluate(flt, r))


STRING_CASES = [
    Condition("person_last_name", "eq", "Smith"),
    Condition("person_last_name", "eq", "Smith,Jones,García"),
    Condition("person_last_name", "ne", "Smith"),
    Condition("person_first_name", "bg", "J"),
    Condition("person_first_name", "nbg", "J"),
    Condition("main_location[email]", "ct", "acme"),
    Condition("main_location[email]", "nct", "acme"),
    Condition("main_location[alternate_email]", "blank"),
    Condition("main_location[alternate_email]", "not_blank"),
    Condition("watched", "true"),
    Condition("watched", "false"),
    Condition("id", "gt", "100500"),
    Condition("id", "ge", "100500"),
    Condition("id", "lt", "100020"),
    Condition("id", "le", "100020"),
    Condition("id", "between", "[100010,100030]"),
    Condition("id", "not_between", "[100010,100990]"),
    Condition("employer_name", "eq", "Acme Ltd"),
    Condition("main_location[town]", "eq", "York"),
]


@pytest.mark.parametrize("cond", STRING_CASES, ids=lambda c: f"{c.field}-{c.op}")
def test_every_filter_operator_agrees_with_reference_evaluation(big, everyone, cond):
    _server, _sb, _client, st = big
    flt = Filter((cond,))
    expected = _local(flt, everyone)
    got = ids(st, flt)
    assert got == expected
    assert 0 < len(got) < 1000 or cond.op in ("blank", "not_blank", "nct", "ne", "nbg", "false", "not_between")


def _updated(r):
    return M.parse_datetime(r["updated_at"])


def test_datetime_operators(big, everyone):
    _server, _sb, _client, st = big
    times = sorted(_updated(r) for r in everyone)
    pivot = times[400]
    t = pivot.strftime("%a %b %d %H:%M:%S UTC %Y")
    cases = {
        "gt": lambda u: u > pivot, "ge": lambda u: u >= pivot, "lt": lambda u: u < pivot, "le": lambda u: u <= pivot,
        "eq": lambda u: u == pivot, "ne": lambda u: u != pivot,
    }
    for op, pred in cases.items():
        expected = sorted(r["id"] for r in everyone if pred(_updated(r)))
        assert ids(st, Filter((Condition("updated_at", op, t),))) == expected, op
    day = pivot.date()
    expected = sorted(r["id"] for r in everyone if _updated(r).date() == day)
    assert ids(st, Filter((Condition("updated_at", "eq", day.isoformat()),))) == expected  # a bare date = whole day
    lo, hi = times[100], times[200]
    crit = f'["{lo.isoformat()}","{hi.isoformat()}"]'
    expected = sorted(r["id"] for r in everyone if lo <= _updated(r) <= hi)
    assert ids(st, Filter((Condition("updated_at", "between", crit),))) == expected
    expected = sorted(r["id"] for r in everyone if not lo <= _updated(r) <= hi)
    assert ids(st, Filter((Condition("updated_at", "not_between", crit),))) == expected


def test_relative_day_operators(big, everyone):
    _server, _sb, _client, st = big
    today = datetime.now(timezone.utc).date()
    preds = {
        "today": lambda d: d == today, "ge_today": lambda d: d >= today, "gt_today": lambda d: d > today,
        "le_today": lambda d: d <= today, "lt_today": lambda d: d < today,
    }
    for op, pred in preds.items():
        expected = sorted(r["id"] for r in everyone if pred(_updated(r).date()))
        assert ids(st, Filter((Condition("updated_at", op),))) == expected, op


@pytest.mark.parametrize("match", ["and", "or", "1 AND NOT 2", "(1 OR 2) AND 3", "1 xor 2", "!(1 or 3) AND 2",
                                   "(1 AND (2 OR 3)) OR NOT 3"])
def test_fm_expressions(big, everyone, match):
    _server, _sb, _client, st = big
    flt = Filter((Condition("person_first_name", "bg", "A"), Condition("watched", "false"),
                  Condition("main_location[email]", "ct", "globex")), match)
    assert ids(st, flt) == _local(flt, everyone)


def test_my_people_is_assigned_or_watched(big, everyone):
    _server, sb, _client, st = big
    queue = st.my_queues()["Private::Crm::PersonQueue"]
    assert queue == sb.my_queues["Private::Crm::PersonQueue"]
    got = ids(st, F.my_people())
    expected = sorted(r["id"] for r in everyone if str(r["assigned_to"]) == str(queue) or r["watched"] is True)
    assert got == expected and 0 < len(got) < 1000


def test_changes_since_is_ascending_deduplicated_and_resumable(big, everyone):
    _server, _sb, _client, st = big
    times = sorted((_updated(r), r["id"]) for r in everyone)
    mark_time = times[850][0]
    pages = list(st.changes_since(Kind.PERSON, HighWater(mark_time, 0)))
    recs = [r for p in pages for r in p.records]
    got = [(r.updated_at, int(r.id)) for r in recs]
    assert got == sorted(set(got))  # ascending by (updated_at, id), no repeats
    assert [t for t in got if t[1] in {r["id"] for r in everyone}] == [t for t in times if t[0] >= mark_time]
    deleted = [r for r in recs if r.deleted]
    assert deleted and all(int(r.id) not in {e["id"] for e in everyone} for r in deleted)  # soft-deleted included
    assert pages[-1].done and pages[-1].high_water == HighWater(got[-1][0], got[-1][1])
    # resuming from the last mark replays nothing
    again = [r for p in st.changes_since(Kind.PERSON, pages[-1].high_water) for r in p.records]
    assert again == []
    # resuming from a mid-page mark yields exactly the rest
    mid = HighWater(got[10][0], got[10][1])
    rest = [(r.updated_at, int(r.id)) for p in st.changes_since(Kind.PERSON, mid) for r in p.records]
    assert rest == got[11:]


def test_fetch_find_by_email_and_owners(big, everyone):
    _server, _sb, _client, st = big
    some = [str(r["id"]) for r in everyone[:150]]
    fetched = st.fetch(Kind.PERSON, some + ["999999"])
    assert sorted(r.id for r in fetched) == sorted(some)
    target = next(r for r in everyone if r["main_location[alternate_email]"])
    found = st.find_by_email(Kind.PERSON, [target["main_location[alternate_email]"].upper(), "nobody@nowhere.example"])
    assert [r.id for r in found] == [str(target["id"])]
    assert target["main_location[alternate_email]"].lower() in found[0].emails
    owners = st.owners_of_addresses([everyone[0]["main_location[email]"], "nobody@nowhere.example"])
    assert owners["nobody@nowhere.example"] == []
    assert any(t.crm_type == "person" and t.crm_id == str(everyone[0]["id"])
               for t in owners[everyone[0]["main_location[email]"].lower()])


def test_owners_of_addresses_one_query_per_type(big):
    server, _sb, client, st = big
    from app.sandbox.seed import build
    seeded = build(people=1000, seed=7)
    details = [p.contact_details_emails[0] for p in seeded.people if p.contact_details_emails][:5]
    mains = [p.email for p in seeded.people[:5]]
    before = client.requests_sent
    owners = st.owners_of_addresses(details + mains + ["x@unknown.example"])
    assert client.requests_sent - before == 3  # people, party_locations, sales_leads
    for addr in details + mains:
        assert owners[addr.lower()], addr
    assert all(t.crm_type in ("person", "organisation") for addr in details for t in owners[addr.lower()])


def test_references_since_reads_every_reference_type(big):
    _server, _sb, _client, st = big
    for kind in RefKind:
        refs = [ref for batch, _mark in st.references_since(kind, None) for ref in batch]
        assert refs, kind
        assert all(r.kind is kind and r.id and r.object_ref for r in refs)


def test_ten_percent_faults_on_a_1000_record_read_still_read_everything(big):
    server, _sb, client, st = big
    faults(server, fail_rate=0.10, kinds=["http500", "drop"], seed=3)
    try:
        records = [r for page in st.list_scope(Kind.PERSON, F.everything()) for r in page.records]
    finally:
        faults(server, fail_rate=0.0)
    assert len(records) == 1000 and len({r.id for r in records}) == 1000


def test_password_mode_reads_too(big):
    server, sb, _client, _st = big
    with password_client(server, sb) as client:
        st = store(client)
        ident = st.identity()
        assert ident.user_id == str(sb.user_id) and ident.my_queues == dict(sb.my_queues)
        flt = Filter((Condition("id", "eq", eq_list(["100001", "100002"])),))
        assert ids(st, flt) == [100001, 100002]


@pytest.mark.parametrize("people,page_size", [(1, 100), (100, 100), (101, 100), (250, 50), (333, 100), (640, 64),
                                              (1000, 100)])
def test_listing_by_id_ranges_reads_each_person_once_in_the_upward_scans_requests(people, page_size):
    with sandbox(people=people) as (server, sb):
        with key_client(server, sb) as client:
            st = CrmStore(client, page_size=page_size)
            expected = sorted(int(r["id"]) for r in sb.rows("people"))
            reset_stats(server)
            before = client.requests_sent
            pages = list(st.list_scope(Kind.PERSON, F.everything()))
            got = sorted(int(r.id) for p in pages for r in p.records)
            assert got == expected
            assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
            assert client.requests_sent - before == max(1, -(-len(expected) // page_size))


def listed(client, **kw):
    from app.connectors.crm.query import scan_id_ranges

    return scan_id_ranges(client.read, "crm/people.api", columns=("id", "name"), base=F.everything(), **kw)


def test_listing_by_id_ranges_misses_no_person_when_rows_change_meanwhile():
    """People added and deleted in every range while the listing runs: every person there
    throughout is read once, and nobody twice."""
    with sandbox(people=1000) as (server, sb):
        with key_client(server, sb) as client:
            st = store(client)
            kept = {int(r["id"]) for r in sb.rows("people")}
            seen: list[int] = []
            for n, (rows, done) in enumerate(listed(client, page_size=50)):
                seen.extend(int(r["id"]) for r in rows)
                if n in (1, 4):  # mid-listing: one new person, one deleted in each quarter of the ids
                    st.create(Kind.PERSON, [NewItem(fields={"first_name": "Late", "last_name": f"Comer {n}"},
                                                    link_id=f"late-{n}")])
                    for quarter in range(4):
                        gone = sorted(kept)[quarter * len(kept) // 4 + 100 + n]
                        kept.discard(gone)
                        sb.soft_delete("people", gone)
                if done:
                    break
            assert len(seen) == len(set(seen))
            assert kept <= set(seen)


def test_listing_by_id_ranges_is_exact_when_ids_are_used_unevenly():
    """Ids used densely at the start and sparsely above (the ranges are sized from the first
    page, so they come out uneven): still every person once, at most one request more per range."""
    with sandbox(people=900) as (server, sb):
        ids = sorted(int(r["id"]) for r in sb.rows("people"))
        for rid in ids[150:]:
            if rid % 3:
                sb.soft_delete("people", rid)
        expected = sorted(int(r["id"]) for r in sb.rows("people"))
        with key_client(server, sb) as client:
            before = client.requests_sent
            pages = list(listed(client, page_size=50))
            got = [int(r["id"]) for rows, _done in pages for r in rows]
            assert sorted(got) == expected and len(got) == len(expected)
            assert [done for _rows, done in pages] == [False] * (len(pages) - 1) + [True]
            assert client.requests_sent - before <= -(-len(expected) // 50) + LISTING_READERS


def test_listing_left_early_or_failing_stops_its_readers():
    """Closing the listing after two pages stops its range readers (no thread left, a few reads
    at most); a read that fails for good is raised to the consumer, its readers stopped too."""
    import threading

    from app.errors import AppError

    def readers():
        return [t for t in threading.enumerate() if t.name.startswith("crm-listing")]

    with sandbox(people=2000) as (server, sb):
        with key_client(server, sb, max_retries=0) as client:
            before = client.requests_sent
            pages = listed(client, page_size=50)
            next(pages), next(pages)
            pages.close()
            assert not readers()
            assert client.requests_sent - before <= 2 + LISTING_READERS + WAITING_PAGES
            sb.add_fault("http404", operation="GET crm/people", every=6, times=1)
            with pytest.raises(AppError):
                for _page in listed(client, page_size=50):
                    pass
            assert not readers()
