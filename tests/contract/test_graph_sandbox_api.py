"""The Graph sandbox over the wire with raw httpx: auth, delta paging and tokens, etags and 412,
429/503 with Retry-After, $batch, extended properties via $filter/$expand, ImmutableId, errors."""
from __future__ import annotations

import httpx
import pytest

from app.sandbox.graph import start_graph_sandbox

GUID = "8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54"
CRM = f"String {{{GUID}}} Name WorkbooksCrmId"
IMMUTABLE = 'IdType="ImmutableId"'


@pytest.fixture
def env():
    server, sandbox = start_graph_sandbox(dataset=False, retry_after=0)
    client = httpx.Client(base_url=sandbox.graph_url + "/",
                          headers={"Authorization": f"Bearer {sandbox.mint_token()}", "Prefer": IMMUTABLE})
    try:
        yield server, sandbox, client
    finally:
        client.close()
        server.stop()


def _contacts(sandbox, n):
    return [sandbox.add_item("contact", {"givenName": f"P{i}", "surname": "Test"}) for i in range(n)]


def _delta_all(client, url, page=2, params=None):
    pages = []
    while True:
        r = client.get(url, params=params, headers={"Prefer": f"{IMMUTABLE}, odata.maxpagesize={page}"})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        params = None
        if "@odata.deltaLink" in body:
            return pages
        url = body["@odata.nextLink"]


def test_bearer_auth_and_graph_error_shape(env):
    server, sandbox, client = env
    r = httpx.get(sandbox.graph_url + "/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert set(r.json()["error"]) == {"code", "message", "innerError"} and "WWW-Authenticate" in r.headers
    r = httpx.get(sandbox.graph_url + "/me", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    expired = sandbox.mint_token(lifetime=-1)
    r = httpx.get(sandbox.graph_url + "/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    me = client.get("me").json()
    assert me["mail"] == sandbox.mailbox
    limited = sandbox.mint_token(["User.Read"])
    r = httpx.get(sandbox.graph_url + "/me/contacts", headers={"Authorization": f"Bearer {limited}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    assert client.get("me/nothing").status_code == 400


def test_delta_pages_links_and_net_changes(env):
    server, sandbox, client = env
    ids = _contacts(sandbox, 5)
    pages = _delta_all(client, "me/contacts/delta", params={"$select": "givenName"})
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    assert all("@odata.nextLink" in p for p in pages[:-1]) and "@odata.deltaLink" in pages[-1]
    assert [v["id"] for p in pages for v in p["value"]] == ids
    assert set(pages[0]["value"][0]) == {"@odata.etag", "id", "givenName"}  # $select survives the nextLink
    delta = pages[-1]["@odata.deltaLink"]
    [empty] = _delta_all(client, delta)
    assert empty["value"] == [] and "@odata.deltaLink" in empty
    client.patch(f"me/contacts/{ids[1]}", json={"jobTitle": "Boss"})
    client.patch(f"me/contacts/{ids[1]}", json={"jobTitle": "CEO"})
    assert client.delete(f"me/contacts/{ids[2]}").status_code == 204
    [page] = _delta_all(client, delta, page=10)
    got = {v["id"]: v for v in page["value"]}
    assert set(got) == {ids[1], ids[2]}  # one net change per item
    assert got[ids[2]]["@removed"] == {"reason": "deleted"} and "givenName" in got[ids[1]]
    # Resuming from a nextLink of the first round only gives what follows it.
    rest = _delta_all(client, pages[0]["@odata.nextLink"], page=10)
    assert ids[0] not in {v["id"] for p in rest for v in p["value"]}


def test_tampered_or_foreign_delta_tokens_are_gone(env):
    server, sandbox, client = env
    _contacts(sandbox, 3)
    [page] = _delta_all(client, "me/contacts/delta", page=10)
    link = page["@odata.deltaLink"]
    token = link.split("$deltatoken=")[1]
    bad = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    r = client.get(bad)
    assert r.status_code == 410 and r.json()["error"]["code"] == "syncStateNotFound"
    r = client.get(f"me/todo/lists/{sandbox.default_list_id}/tasks/delta", params={"$deltatoken": token})
    assert r.status_code == 410  # a contacts token on the tasks feed


def test_plain_paging_with_top_and_skiptoken(env):
    server, sandbox, client = env
    ids = _contacts(sandbox, 5)
    seen, url, params = [], "me/contacts", {"$top": "2"}
    while url:
        body = client.get(url, params=params).json()
        params = None
        seen += [v["id"] for v in body["value"]]
        url = body.get("@odata.nextLink")
    assert seen == ids
    first = client.get("me/contacts", params={"$top": "2"}).json()["@odata.nextLink"]
    assert client.get(first.replace("$skiptoken=", "$skiptoken=x")).status_code == 400


def test_etags_change_on_every_write_and_if_match_is_enforced(env):
    server, sandbox, client = env
    r = client.post("me/contacts", json={"givenName": "Ann"})
    assert r.status_code == 201
    etag0 = r.json()["@odata.etag"]
    assert etag0.startswith('W/"')
    r1 = client.patch(f"me/contacts/{r.json()['id']}", json={"jobTitle": "CTO"}, headers={"If-Match": etag0})
    etag1 = r1.json()["@odata.etag"]
    assert r1.status_code == 200 and etag1 != etag0
    stale = client.patch(f"me/contacts/{r.json()['id']}", json={"jobTitle": "Stale"}, headers={"If-Match": etag0})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    now = client.get(f"me/contacts/{r.json()['id']}").json()
    assert now["jobTitle"] == "CTO" and now["@odata.etag"] == etag1
    assert client.delete(f"me/contacts/{r.json()['id']}", headers={"If-Match": etag0}).status_code == 412
    unknown = client.post("me/contacts", json={"givenName": "X", "favouriteColour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBodyRead"


def test_throttling_and_unavailable_carry_retry_after(env):
    server, sandbox, client = env
    sandbox.throttle(1, retry_after=7)
    r = client.get("me")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["error"]["code"] == "TooManyRequests"
    sandbox.throttle(1, status=503, retry_after=2)
    r = client.get("me")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert client.get("me").status_code == 200
    assert httpx.post(server.base_url + "/_sandbox/faults", json={"fail_next": 1, "kinds": ["busy"]}).status_code == 200
    assert client.get("me").status_code == 429
    stats = httpx.get(server.base_url + "/_sandbox/stats").json()["requests"]["by_operation"]
    assert stats["GET me"] == 4


def test_batch_runs_up_to_twenty_requests_in_order(env):
    server, sandbox, client = env
    [cid] = _contacts(sandbox, 1)
    reqs = [{"id": "1", "method": "GET", "url": f"/me/contacts/{cid}?$select=givenName"},
            {"id": "2", "method": "POST", "url": "/me/contacts", "body": {"givenName": "New"},
             "headers": {"Content-Type": "application/json"}},
            {"id": "3", "method": "GET", "url": "/me/contacts/nope"},
            {"id": "4", "method": "PATCH", "url": f"/me/contacts/{cid}", "body": {"jobTitle": "x"},
             "headers": {"If-Match": 'W/"old"'}}]
    r = client.post("$batch", json={"requests": reqs})
    assert r.status_code == 200
    res = r.json()["responses"]
    assert [x["id"] for x in res] == ["1", "2", "3", "4"]
    assert [x["status"] for x in res] == [200, 201, 404, 412]
    assert res[0]["body"]["givenName"] == "P0"
    too_many = [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]
    assert client.post("$batch", json={"requests": too_many}).status_code == 400
    sandbox.throttle(1, inner=True, retry_after=3)
    res = client.post("$batch", json={"requests": reqs[:1] + reqs[2:3]}).json()["responses"]
    assert res[0]["status"] == 429 and res[0]["headers"]["Retry-After"] == "3" and res[1]["status"] == 404
    assert sandbox.batch_ops["POST contacts"] == 1


def test_extended_properties_filter_and_expand(env):
    server, sandbox, client = env
    a = client.post("me/contacts", json={"givenName": "A", "singleValueExtendedProperties": [
        {"id": CRM, "value": "42"}]}).json()["id"]
    client.post("me/contacts", json={"givenName": "B"})
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM}' and ep/value eq '42')"
    exp = f"singleValueExtendedProperties($filter=id eq '{CRM}')"
    body = client.get("me/contacts", params={"$filter": flt, "$expand": exp}).json()
    assert [v["id"] for v in body["value"]] == [a]
    assert body["value"][0]["singleValueExtendedProperties"] == [{"id": CRM, "value": "42"}]
    plain = client.get(f"me/contacts/{a}").json()
    assert "singleValueExtendedProperties" not in plain  # only when expanded
    assert client.get("me/contacts", params={"$filter": "startswith(givenName,'A')"}).status_code == 400
    tasks = f"me/todo/lists/{sandbox.default_list_id}/tasks"
    r = client.post(tasks, json={"title": "t", "singleValueExtendedProperties": [{"id": CRM, "value": "1"}]})
    assert r.status_code == 400  # todoTask has no extended properties in v1.0
    r = client.post(tasks, json={"title": "t", "extensions": [
        {"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "com.x", "crmId": "1"}]})
    assert r.status_code == 201
    got = client.get(f"{tasks}/{r.json()['id']}", params={"$expand": "extensions"}).json()
    assert got["extensions"][0]["crmId"] == "1"


def test_immutable_ids_survive_the_move_to_deleted_items(env):
    server, sandbox, client = env
    [cid] = _contacts(sandbox, 1)
    rest_id = httpx.get(f"{sandbox.graph_url}/me/contacts/{cid}",
                        headers={"Authorization": client.headers["Authorization"]}).json()["id"]
    assert rest_id != cid
    assert client.delete(f"me/contacts/{cid}").status_code == 204
    [trashed] = sandbox.items("deleteditems")
    assert trashed["id"] == cid and trashed["rest_id"] != rest_id
    assert client.get(f"me/contacts/{cid}").status_code == 404


def test_calendar_view_delta_needs_a_window_and_keeps_to_it(env):
    server, sandbox, client = env
    inside = client.post("me/events", json={"subject": "in", "start": {"dateTime": "2025-06-01T09:00:00",
                                                                        "timeZone": "Europe/London"},
                                            "end": {"dateTime": "2025-06-01T10:00:00", "timeZone": "Europe/London"}})
    client.post("me/events", json={"subject": "out", "start": {"dateTime": "2030-06-01T09:00:00", "timeZone": "UTC"},
                                   "end": {"dateTime": "2030-06-01T10:00:00", "timeZone": "UTC"}})
    assert client.get("me/calendarView/delta").status_code == 400
    pages = _delta_all(client, "me/calendarView/delta", page=10,
                       params={"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:00Z"})
    [event] = [v for p in pages for v in p["value"]]
    assert event["id"] == inside.json()["id"] and event["start"]["timeZone"] == "UTC"
    assert event["start"]["dateTime"].startswith("2025-06-01T08:00:00")  # BST shown in UTC
    assert event["originalStartTimeZone"] == "Europe/London"
    bad = client.post("me/events", json={"subject": "x", "isAllDay": True,
                                         "start": {"dateTime": "2025-06-01T09:00:00", "timeZone": "UTC"},
                                         "end": {"dateTime": "2025-06-02T00:00:00", "timeZone": "UTC"}})
    assert bad.status_code == 400


def test_state_dir_keeps_items_delta_links_and_tokens_across_a_restart(tmp_path):
    server, sandbox = start_graph_sandbox(dataset=False, state_dir=tmp_path)
    token = sandbox.mint_token()
    headers = {"Authorization": f"Bearer {token}", "Prefer": IMMUTABLE}
    created = httpx.post(sandbox.graph_url + "/me/contacts", json={"givenName": "Kept"}, headers=headers).json()
    link = httpx.get(sandbox.graph_url + "/me/contacts/delta", headers=headers).json()["@odata.deltaLink"]
    server.stop()
    server, sandbox = start_graph_sandbox(dataset=False, state_dir=tmp_path)
    try:
        port_link = link.split("/v1.0/")[1]
        r = httpx.get(f"{sandbox.graph_url}/{port_link}", headers=headers)  # same token, same secret
        assert r.status_code == 200 and r.json()["value"] == []
        got = httpx.get(f"{sandbox.graph_url}/me/contacts/{created['id']}", headers=headers).json()
        assert got["givenName"] == "Kept" and got["@odata.etag"] == created["@odata.etag"]
    finally:
        server.stop()
