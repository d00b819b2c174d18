"""The Graph sandbox's recurring series and lost collections over the wire with raw httpx:
POST a seriesMaster, calendarView / its delta / instances expand it into occurrences and
exceptions (Graph v1.0 event `type`, `seriesMasterId`, `originalStart`), PATCH makes an exception,
DELETE cancels an occurrence; `deny` makes a whole folder answer 403/404."""
from __future__ import annotations

import httpx
import pytest

from app.sandbox.graph import start_graph_sandbox

IMMUTABLE = 'IdType="ImmutableId"'
PREFER = {"Prefer": f'{IMMUTABLE}, outlook.timezone="UTC", odata.maxpagesize=100'}
WINDOW = {"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2031-01-01T00:00:00Z"}


@pytest.fixture
def env():
    server, sandbox = start_graph_sandbox(dataset=False, retry_after=0)
    client = httpx.Client(base_url=sandbox.graph_url + "/",
                          headers={"Authorization": f"Bearer {sandbox.mint_token()}", "Prefer": IMMUTABLE})
    try:
        yield sandbox, client
    finally:
        client.close()
        server.stop()


def weekly(count: int = 6) -> dict:
    """Wednesdays 14:00-15:00 London from 6 March 2030 (GMT), across the 31 March DST change."""
    return {"subject": "Weekly review",
            "start": {"dateTime": "2030-03-06T14:00:00", "timeZone": "GMT Standard Time"},
            "end": {"dateTime": "2030-03-06T15:00:00", "timeZone": "GMT Standard Time"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"],
                                       "firstDayOfWeek": "monday"},
                           "range": {"type": "numbered", "startDate": "2030-03-06", "numberOfOccurrences": count,
                                     "recurrenceTimeZone": "GMT Standard Time"}}}


def view(client, path="me/calendarView", **params):
    r = client.get(path, params={**WINDOW, **params}, headers=PREFER)
    assert r.status_code == 200, r.text
    return r.json()["value"]


def delta_round(client, url, params=None):
    entries = []
    while True:
        r = client.get(url, params=params, headers=PREFER)
        assert r.status_code == 200, r.text
        body, params = r.json(), None
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_series_expands_into_occurrences_exceptions_and_cancellations(env):
    sandbox, client = env
    r = client.post("me/events", json=weekly())
    assert r.status_code == 201, r.text
    master = r.json()
    assert master["type"] == "seriesMaster" and master["recurrence"]["range"]["numberOfOccurrences"] == 6

    occs = view(client)
    assert [o["type"] for o in occs] == ["occurrence"] * 6
    assert len({o["id"] for o in occs}) == 6 and master["id"] not in {o["id"] for o in occs}
    assert {o["seriesMasterId"] for o in occs} == {master["id"]} and all(o["recurrence"] is None for o in occs)
    # 14:00 London wall clock on both sides of the DST change
    assert [o["originalStart"] for o in occs[2:5]] == ["2030-03-20T14:00:00Z", "2030-03-27T14:00:00Z",
                                                       "2030-04-03T13:00:00Z"]
    assert occs[4]["start"] == {"dateTime": "2030-04-03T13:00:00.0000000", "timeZone": "UTC"}
    _, link = delta_round(client, "me/calendarView/delta", WINDOW)

    moved = client.patch(f"me/events/{occs[2]['id']}", json={
        "subject": "Weekly review (moved)", "start": {"dateTime": "2030-03-21T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-21T11:00:00", "timeZone": "UTC"}})
    assert moved.status_code == 200 and moved.json()["type"] == "exception", moved.text
    assert moved.json()["id"] == occs[2]["id"] and moved.json()["originalStart"] == "2030-03-20T14:00:00Z"
    assert client.delete(f"me/events/{occs[1]['id']}").status_code == 204
    assert client.get(f"me/events/{occs[1]['id']}").status_code == 404

    after = view(client)
    assert [(o["id"], o["type"]) for o in after] == [(occs[0]["id"], "occurrence"), (occs[2]["id"], "exception")] + [
        (o["id"], "occurrence") for o in occs[3:]]
    assert after[1]["subject"] == "Weekly review (moved)" and after[1]["start"]["dateTime"].startswith("2030-03-21T10")
    instances = view(client, f"me/events/{master['id']}/instances")
    assert [o["id"] for o in instances] == [o["id"] for o in after]
    assert client.get(f"me/events/{master['id']}/instances", headers=PREFER).status_code == 400  # needs a window

    # The next delta round reports only what those writes touched.
    entries, link = delta_round(client, link)
    assert [(e["id"], "@removed" in e, e.get("type")) for e in entries] == [
        (occs[2]["id"], False, "exception"), (occs[1]["id"], True, None)]
    # An edit of the series reports every instance; deleting it removes them all.
    assert client.patch(f"me/events/{master['id']}", json={"location": {"displayName": "Room 9"}}).status_code == 200
    entries, link = delta_round(client, link)
    assert len(entries) == 5 and {e["location"]["displayName"] for e in entries} == {"Room 9"}
    assert client.delete(f"me/events/{master['id']}").status_code == 204
    entries, _ = delta_round(client, link)
    assert {e["id"] for e in entries if "@removed" in e} >= {o["id"] for o in after}


@pytest.mark.parametrize("pattern, rng, expected", [
    ({"type": "daily", "interval": 2}, {"type": "endDate", "endDate": "2030-03-12"},
     ["2030-03-06", "2030-03-08", "2030-03-10", "2030-03-12"]),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
     {"type": "numbered", "numberOfOccurrences": 3}, ["2030-03-29", "2030-04-26", "2030-05-31"]),
    ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, {"type": "numbered", "numberOfOccurrences": 3},
     ["2030-03-31", "2030-04-30", "2030-05-31"]),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 6, "month": 3}, {"type": "noEnd"}, ["2030-03-06"]),
    ({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "first", "month": 9},
     {"type": "noEnd"}, ["2030-09-02"]),
])
def test_patterns_and_ranges(env, pattern, rng, expected):
    sandbox, client = env
    body = weekly()
    body["recurrence"] = {"pattern": pattern, "range": {**rng, "startDate": "2030-03-06"}}
    assert client.post("me/events", json=body).status_code == 201
    assert [o["originalStart"][:10] for o in view(client)] == expected


def test_invalid_recurrence_is_refused(env):
    sandbox, client = env
    body = weekly()
    body["recurrence"]["pattern"] = {"type": "fortnightly", "interval": 1}
    r = client.post("me/events", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidRequest"
    body = weekly()
    del body["recurrence"]["pattern"]["daysOfWeek"]
    assert client.post("me/events", json=body).status_code == 400


def test_denied_collections_answer_403_or_404_as_a_whole(env):
    sandbox, client = env
    contact = sandbox.add_item("contact", {"givenName": "Ann", "surname": "Lee"})
    sandbox.deny("contacts")
    r = client.get("me/contacts/delta")
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    assert client.get(f"me/contacts/{contact}").status_code == 403
    assert client.get("me/calendarView/delta", params=WINDOW).status_code == 200  # the others still answer
    sandbox.allow("contacts")
    assert client.get("me/contacts/delta").status_code == 200
    r = client.post(f"{sandbox.base_url}/_sandbox/graph/deny", json={"folder": "defaultList", "status": 404})
    assert r.status_code == 200
    assert client.get(f"me/todo/lists/{sandbox.default_list_id}/tasks/delta").status_code == 404
