"""GraphMailbox against the Graph sandbox: recurring series (B11) and lost collections.

The meeting feed turns the occurrences and exceptions calendarView/delta reports into their
series master (with its pattern); the master's occurrences are the ones Graph expands
(/instances), keyed by original start; through app.sync.recurring the identities are the same
shape as on EWS and stable across runs. A contacts folder, To Do list or calendar answering
403/404 as a whole is `CollectionUnavailable`, never an empty feed."""
from __future__ import annotations

import datetime as dt

import pytest

from app.domain import recurrence as rec
from app.domain.records import Kind
from app.errors import CollectionUnavailable
from app.sync.recurring import RecurringMeetings, occurrence_id
from tests.fixtures.graph_sandbox import graph_sandbox

UTC = dt.timezone.utc
WINDOW = rec.Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC))


@pytest.fixture
def env():
    with graph_sandbox() as env:
        yield env


def second_tuesdays(env) -> str:
    """Second Tuesday of each month, 08:30 Chicago, March to June 2026 (DST starts 8 March)."""
    return env.sandbox.add_item("event", {
        "subject": "Ops review", "categories": ["Workbooks"],
        "start": {"dateTime": "2026-03-10T08:30:00", "timeZone": "Central Standard Time"},
        "end": {"dateTime": "2026-03-10T09:30:00", "timeZone": "Central Standard Time"},
        "recurrence": {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"],
                                   "index": "second"},
                       "range": {"type": "endDate", "startDate": "2026-03-10", "endDate": "2026-06-30",
                                 "recurrenceTimeZone": "Central Standard Time"}}})


def feed(port, token=None):
    changes, link = [], None
    for page in port.changes(Kind.MEETING, token):
        changes += page.changes
        link = page.token
    return changes, link


def test_instances_in_the_feed_come_out_as_their_master_with_graphs_occurrences(env):
    master_id = second_tuesdays(env)
    april, may = dt.datetime(2026, 4, 14, 13, 30, tzinfo=UTC), dt.datetime(2026, 5, 12, 13, 30, tzinfo=UTC)
    env.sandbox.delete_occurrence(master_id, april)
    env.sandbox.modify_occurrence(master_id, may, may + dt.timedelta(days=1), may + dt.timedelta(days=1, hours=2),
                                  subject="Ops review (Wednesday)")
    port = env.mailbox()
    changes, link = feed(port)
    [change] = changes  # three instances in the view, one series
    master = change.item
    assert (change.op, change.item_id, master.fields["subject"]) == ("upsert", master_id, "Ops review")
    assert master.series.pattern == rec.Pattern(rec.RELATIVE_MONTHLY, days_of_week=frozenset({1}), week_index=2)
    assert (master.series.zone, master.series.range_end) == ("America/Chicago", dt.date(2026, 6, 30))
    assert master.categorised

    got = port.series_occurrences(master, WINDOW)
    assert [(o.original_start, o.start, o.modified, o.subject) for o in got] == [
        (dt.datetime(2026, 3, 10, 13, 30, tzinfo=UTC), dt.datetime(2026, 3, 10, 13, 30, tzinfo=UTC), False, None),
        (may, may + dt.timedelta(days=1), True, "Ops review (Wednesday)"),
        (dt.datetime(2026, 6, 9, 13, 30, tzinfo=UTC), dt.datetime(2026, 6, 9, 13, 30, tzinfo=UTC), False, None),
    ]
    # The domain expansion of the pattern agrees with Graph's (cancellations aside).
    pattern = [o.start for o in rec.occurrences(master.series, WINDOW)]
    assert len(pattern) == 4 and (pattern[0], pattern[3]) == (got[0].start, got[2].start)
    [listed] = port.recurring_masters()
    assert listed.item_id == master_id and listed.series is not None

    # Through the recurring-meetings adapter: ids of master id + original start, stable per run.
    adapter = RecurringMeetings(port, window=lambda: WINDOW, links=lambda: [])
    first = [c.item_id for page in adapter.changes(Kind.MEETING, None) for c in page.changes]
    assert first == [occurrence_id(master_id, o.original_start) for o in got]
    again = [c.item_id for page in RecurringMeetings(env.mailbox(), window=lambda: WINDOW, links=lambda: []).changes(
        Kind.MEETING, None) for c in page.changes]
    assert again == first
    [one] = adapter.fetch(Kind.MEETING, [first[1]])
    assert (one.fields["subject"], one.fields["start"]) == ("Ops review (Wednesday)", "2026-05-13T13:30Z")

    # A cancelled occurrence is reported by its instance id only: a delete of an unknown id.
    env.sandbox.delete_occurrence(master_id, may)
    changes, _ = feed(port, link)
    assert [(c.op, c.item_id) for c in changes] == [("delete", env.sandbox.occurrence_id(master_id, may))]


def test_a_linked_occurrence_cancelled_is_deleted_through_the_adapter(env):
    master_id = second_tuesdays(env)
    port = env.mailbox()
    adapter = RecurringMeetings(port, window=lambda: WINDOW, links=lambda: [])
    pages = list(adapter.changes(Kind.MEETING, None))
    ids = [c.item_id for p in pages for c in p.changes]
    assert len(ids) == 4

    class Link:  # what the journal holds for each recorded occurrence
        def __init__(self, vid):
            self.ews_item_id, self.id, self.crm_id = vid, f"link-{vid[-14:]}", "1"

    linked = RecurringMeetings(port, window=lambda: WINDOW, links=lambda: [Link(i) for i in ids])
    env.sandbox.delete_occurrence(master_id, dt.datetime(2026, 4, 14, 13, 30, tzinfo=UTC))
    pages = list(linked.changes(Kind.MEETING, pages[-1].token))
    changes = [c for p in pages for c in p.changes]
    assert ("delete", ids[1]) in [(c.op, c.item_id) for c in changes]
    assert [c.item_id for c in changes if c.op == "upsert"] == [ids[0], ids[2], ids[3]]

    # The whole series deleted in Outlook: every linked occurrence goes.
    env.sandbox.delete_item(master_id)
    changes = [c for p in linked.changes(Kind.MEETING, pages[-1].token) for c in p.changes]
    assert {c.item_id for c in changes if c.op == "delete"} >= set(ids)
    assert not [c for c in changes if c.op == "upsert"]


@pytest.mark.parametrize("kind, folder", [(Kind.PERSON, "contacts"), (Kind.TASK, "defaultList"),
                                          (Kind.MEETING, "calendar")])
@pytest.mark.parametrize("status", [403, 404])
def test_a_collection_refused_as_a_whole_is_collection_unavailable(env, kind, folder, status):
    env.sandbox.add_item({"contacts": "contact", "defaultList": "task", "calendar": "event"}[folder],
                         {"contacts": {"givenName": "Ann"}, "defaultList": {"title": "Call"},
                          "calendar": {"subject": "Lunch", "start": {"dateTime": "2026-05-01T12:00:00",
                                                                     "timeZone": "UTC"},
                                       "end": {"dateTime": "2026-05-01T13:00:00", "timeZone": "UTC"}}}[folder])
    port = env.mailbox()
    token = [p.token for p in port.changes(kind, None)][-1]
    env.sandbox.deny(folder, status)
    for start in (None, token):  # a first read and a stored delta link alike
        with pytest.raises(CollectionUnavailable) as got:
            list(env.mailbox().changes(kind, start))
        assert got.value.collection == f"outlook:{kind.value}" and f"HTTP {status}" in got.value.message
    env.sandbox.allow(folder)
    assert [p.done for p in env.mailbox().changes(kind, token)][-1]

