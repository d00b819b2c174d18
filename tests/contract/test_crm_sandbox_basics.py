"""Workbooks sandbox, raw wire: login, key mode, reads and paging, batch writes."""
from __future__ import annotations

import pytest

from app.sandbox.crm import start_crm_sandbox
from tests.fixtures.crm_wire import FORM, Wire, batch, filters, form, request


@pytest.fixture(scope="module")
def sandbox():
    server, box = start_crm_sandbox(people=500)
    yield server, box
    server.stop()


def test_done_when_curl_reads_100_of_500(sandbox):
    server, box = sandbox
    r = request(server.base_url, "GET", "/crm/people.api",
                query=[("api_key", box.api_key), ("_start", 0), ("_limit", 100), ("client", "api")],
                headers={"User-Agent": "curl/8.5.0"})
    assert r.status == 200
    assert r.header("Content-Type") == "application/json; charset=utf-8"
    assert "no-store" in r.header("Cache-Control")
    body = r.json
    assert body["success"] is True and body["total"] == 500 and len(body["data"]) == 100
    assert set(body) >= {"success", "total", "data", "flash", "updates"}
    row = body["data"][0]
    assert isinstance(row["id"], int) and row["lock_version"] == 0 and row["object_ref"].startswith("PERS-")
    assert isinstance(row["watched"], bool) and "main_location[email]" in row


def test_all_500_in_five_pages(sandbox):
    server, box = sandbox
    w = Wire(server.base_url, api_key=box.api_key)
    ids = []
    for start in range(0, 600, 100):
        body = w.get("crm/people", [("_start", start), ("_limit", 100), ("_sort", "id"), ("_dir", "ASC")]).json
        ids += [r["id"] for r in body["data"]]
        assert body["total"] == 500
    assert len(ids) == len(set(ids)) == 500


def test_password_login_cookie_and_token(sandbox):
    server, box = sandbox
    w = Wire(server.base_url)
    r = w.login(box.username, box.password)
    assert r.status == 200
    cookie = r.set_cookies[0]
    assert cookie.startswith("Workbooks-Session=") and "HttpOnly" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # no TLS
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert len(sid) == 32 and int(sid, 16) >= 0 and sid == r.json["session_id"]
    assert r.json["my_queues"]["Private::Crm::PersonQueue"] == box.my_queues["Private::Crm::PersonQueue"]
    assert r.json["logical_database_id"] == box.database_id and r.json["user_id"] == box.user_id
    read = w.get("crm/people", [("_start", 0), ("_limit", 5)])
    assert read.status == 200 and read.set_cookies, "the cookie comes back on every response under a login"
    # a write without the token is refused with 200 / failures
    pid = read.json["data"][0]["id"]
    rec = {"__method": "PUT", "id": pid, "lock_version": read.json["data"][0]["lock_version"], "person_job_title": "X"}
    bad = w.put("crm/people", batch([rec]), token=False)
    assert bad.status == 200 and bad.json["success"] is False and bad.json["failures"] == ["Invalid authenticity token"]
    good = w.put("crm/people", batch([rec]))
    assert good.json["success"] is True and "errors" not in good.json
    assert good.json["affected_objects"][0]["lock_version"] == rec["lock_version"] + 1


def test_fast_login_omits_my_queues(sandbox):
    server, box = sandbox
    r = request(server.base_url, "POST", "/login.api", headers=FORM,
                body=form([("username", box.username), ("password", box.password), ("client", "api"),
                           ("_fast_login", "true")]))
    assert r.status == 200 and "my_queues" not in r.json


def test_key_login_then_cookie(sandbox):
    server, box = sandbox
    r = request(server.base_url, "POST", "/login.api", headers=FORM,
                body=form([("api_key", box.api_key), ("client", "api"), ("api_version", "1")]))
    assert r.status == 200 and r.json["user_id"] == box.user_id


def test_batch_create_update_delete(sandbox):
    server, box = sandbox
    w = Wire(server.base_url, api_key=box.api_key)
    first = w.get("crm/people", [("_start", 0), ("_limit", 2), ("_sort", "id"), ("_dir", "DESC")]).json["data"]
    a, b = first
    r = w.put("crm/people", batch([
        {"__method": "POST", "person_first_name": "Zed", "person_last_name": "Zebra", "main_location[email]": "zed@z.example"},
        {"__method": "PUT", "id": a["id"], "lock_version": a["lock_version"], "person_job_title": "Boss"},
        {"__method": "DELETE", "id": b["id"], "lock_version": b["lock_version"]},
    ])).json
    assert r["success"] is True and "errors" not in r and r["flash"] == "saved successfully"
    created, updated, deleted = r["affected_objects"]
    assert created["id"] > 0 and created["lock_version"] == 0 and created["name"] == "Zed Zebra"
    assert created["main_location[email]"] == "zed@z.example" and created["created_through"] == "workbooks_api"
    assert updated == {**{k: updated[k] for k in updated}, "id": a["id"], "lock_version": a["lock_version"] + 1}
    assert updated["person_job_title"] == "Boss" and "updated_at" in updated and "name" not in updated
    assert deleted == {"id": b["id"], "lock_version": b["lock_version"] + 1}
    assert [i["success"] for i in r["affected_object_information"]] == [True, True, True]
    found = w.get("crm/people", filters(("main_location[email]", "eq", "zed@z.example"))).json
    assert found["total"] == 1 and found["data"][0]["id"] == created["id"]
    gone = w.get("crm/people", filters(("id", "eq", b["id"]))).json
    assert gone["total"] == 0
    shown = w.get("crm/people", filters(("id", "eq", b["id"]), ("is_deleted", "true", ""), match="and")).json
    assert shown["total"] == 1 and shown["data"][0]["is_deleted"] is True
