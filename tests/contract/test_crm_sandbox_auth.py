"""Workbooks sandbox, raw wire: login variants and failures, cookies, logout, redirects, status codes,
metadata permissions."""
from __future__ import annotations

import pytest

from app.sandbox.crm import start_crm_sandbox
from tests.fixtures.crm_wire import FORM, Wire, batch, filters, form, request


@pytest.fixture(scope="module")
def env():
    server, box = start_crm_sandbox(people=20)
    yield server, box
    server.stop()


def login(base: str, pairs, headers=None):
    h = dict(FORM)
    h.update(headers or {})
    return request(base, "POST", "/login.api", body=form(pairs), headers=h)


def test_user_agent_required(env):
    server, box = env
    r = login(server.base_url, [("username", box.username), ("password", box.password), ("client", "api")],
              headers={"User-Agent": None})
    assert r.status == 403 and r.json["failure_reason"] == "user_agent_required"


@pytest.mark.parametrize("user,password,status,reason", [
    ("user@example.com", "wrong", 401, "unrecognised_name_or_password"),
    ("nobody@example.com", "x", 401, "unrecognised_name_or_password"),
    ("noapi@example.com", "noapi-password", 403, "no_permission_for_api"),
    ("disabled@example.com", "disabled-password", 401, "login_disabled"),
])
def test_login_failures(env, user, password, status, reason):
    server, _box = env
    r = login(server.base_url, [("username", user), ("password", password), ("client", "api")])
    assert r.status == status and r.json["failure_reason"] == reason and r.json["success"] is False
    assert not r.set_cookies


def test_database_selection(env):
    server, box = env
    r = login(server.base_url, [("username", "multi@example.com"), ("password", "multi-password"), ("client", "api")])
    assert r.status == 403 and r.json["failure_reason"] == "no_database_selection_made"
    dbs = {d["id"]: d["name"] for d in r.json["databases"]}
    assert len(dbs) == 2 and r.json["default_database_id"] in dbs
    main = [i for i, n in dbs.items() if n == "Main"][0]
    ok = login(server.base_url, [("username", "multi@example.com"), ("password", "multi-password"), ("client", "api"),
                                 ("logical_database_id", main)])
    assert ok.status == 200 and ok.json["logical_database_id"] == main and ok.json["database_name"] == "Main"
    other = [i for i in dbs if i != main][0]
    w = Wire(server.base_url)
    assert w.login("multi@example.com", "multi-password", logical_database_id=other).status == 200
    assert w.get("crm/people").json["total"] == 0  # the second database starts empty
    box.migrating.add(other)
    try:
        mig = login(server.base_url, [("username", "multi@example.com"), ("password", "multi-password"),
                                      ("client", "api"), ("logical_database_id", other)])
        assert mig.status == 403 and mig.json["failure_reason"] == "database_being_migrated"
    finally:
        box.migrating.discard(other)


def test_reconnect_issues_new_id_and_kills_old(env):
    server, box = env
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    old = w.session_id
    r = login(server.base_url, [("username", box.username), ("session_id", old), ("client", "api"),
                                ("logical_database_id", box.database_id)])
    assert r.status == 200 and r.json["session_id"] != old
    again = login(server.base_url, [("username", box.username), ("session_id", old), ("client", "api")])
    assert again.status == 401 and again.json["failure_reason"] == "no_session_found"
    stale = request(server.base_url, "GET", "/crm/people.api", headers={"Cookie": f"Workbooks-Session={old}"})
    assert stale.status == 302


def test_logout_and_expired_session_redirect(env):
    server, box = env
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    assert w.get("crm/people").status == 200
    out = request(server.base_url, "POST", "/logout", headers={"Cookie": f"Workbooks-Session={w.session_id}"})
    assert out.status == 302 and out.header("Location")
    target = request(server.base_url, "GET", out.header("Location"))
    assert target.status == 200 and target.header("Content-Type").startswith("text/html")
    after = w.get("crm/people")
    assert after.status == 302
    assert request(server.base_url, "GET", after.header("Location")).status == 200
    # expiry after inactivity (clock knob) and the explicit helper
    w2 = Wire(server.base_url)
    w2.login(box.username, box.password)
    box.clock.advance(box.session_ttl + 5)
    assert w2.get("crm/people").status == 302
    w3 = Wire(server.base_url)
    w3.login(box.username, box.password)
    box.expire_sessions()
    assert w3.get("crm/people").status == 302
    assert request(server.base_url, "GET", "/crm/people.api",
                   headers={"Cookie": "Workbooks-Session=0123456789abcdef0123456789abcdef"}).status == 302


def test_no_credentials_and_bad_key(env):
    server, _box = env
    assert request(server.base_url, "GET", "/crm/people.api").status == 401
    r = request(server.base_url, "GET", "/crm/people.api", query=[("api_key", "nope"), ("api_version", "1")])
    assert r.status == 401 and r.json["failure_reason"] == "unrecognised_name_or_password"


def test_expired_key(env):
    server, box = env
    key = box.dataset.users[1].api_key
    box.expire_key(key)
    r = request(server.base_url, "GET", "/crm/people.api", query=[("api_key", key), ("api_version", "1")])
    assert r.status == 401 and r.json["success"] is False


def test_unknown_controller_404_and_bad_verbs(env):
    server, box = env
    q = [("api_key", box.api_key)]
    assert request(server.base_url, "GET", "/crm/unicorns.api", query=q).status == 404
    assert request(server.base_url, "GET", "/nowhere/at/all.api", query=q).status == 404
    r = request(server.base_url, "POST", "/crm/people.api", query=q, body=form([("_method", "PATCH")]), headers=FORM)
    assert r.status == 405
    r = request(server.base_url, "PUT", "/crm/person_queues.api", query=q, body=form(batch([{"__method": "POST", "name": "Q"}])),
                headers=FORM)
    assert r.status == 405
    assert request(server.base_url, "PATCH", "/crm/people.api", query=q).status == 405


def test_metadata_and_permissions(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    rows = w.get("metadata/types").json["data"]
    by_ctrl = {r["controller_path"]: r for r in rows}
    for ctrl in ("crm/people", "crm/organisations", "crm/party_locations", "crm/sales_leads", "crm/cases",
                 "crm/opportunities", "activity/tasks", "activity/meetings", "activity/activity_links",
                 "email/emails", "email/email_links", "crm/person_queues", "activity/activity_queues"):
        assert ctrl in by_ctrl, ctrl
    people = by_ctrl["crm/people"]
    assert {a["name"]: a["permitted"] for a in people["actions"]} == {"index": True, "create": True, "update": True,
                                                                      "destroy": True}
    watched = [f for f in people["fields"] if f["name"] == "watched"][0]
    assert watched["is_filterable"] is True and watched["datatype"] == "boolean"
    box.set_permission("emails", "create", False)
    box.set_permission("cases", "index", False)
    try:
        rows = {r["controller_path"]: r for r in w.get("metadata/types").json["data"]}
        assert {a["name"]: a["permitted"] for a in rows["email/emails"]["actions"]}["create"] is False
        assert w.get("crm/cases").status == 404
        r = w.put("email/emails", batch([{"__method": "POST", "subject": "x", "status": "SENT"}]))
        assert r.status == 406
        only = w.get("metadata/types", [("class_names[]", "Private::Crm::Person")]).json["data"]
        assert [o["class_name"] for o in only] == ["Private::Crm::Person"]
    finally:
        box.set_permission("emails", "create", True)
        box.set_permission("cases", "index", True)


def test_person_queues_listing(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    rows = w.get("crm/person_queues", filters(("owner_id", "eq", box.user_id), ("queue_type", "eq", "user"),
                                              match="and")).json["data"]
    assert [r["id"] for r in rows] == [box.my_queues["Private::Crm::PersonQueue"]]
    un = w.get("crm/person_queues", filters(("queue_type", "eq", "Unassigned"))).json["data"]
    assert len(un) == 1 and un[0]["type"] == "Private::Crm::PersonQueue"


def test_cookie_rotation_knob(env):
    server, box = env
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    box.rotate_cookie = True
    try:
        first = w.session_id
        assert w.get("crm/people").status == 200
        assert w.session_id != first
        assert w.get("crm/people").status == 200
    finally:
        box.rotate_cookie = False


def test_gzip_when_user_agent_asks(env):
    server, box = env
    r = request(server.base_url, "GET", "/crm/people.api", query=[("api_key", box.api_key)],
                headers={"User-Agent": "ruby gzip"})
    assert r.header("Content-Encoding") == "gzip" and r.json["success"] is True


def test_cookie_on_every_response_under_a_login(env):
    server, box = env
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    cookie = {"Cookie": f"Workbooks-Session={w.session_id}"}
    for path in ("/crm/unicorns.api", "/crm/people.api", "/crm/people"):
        r = request(server.base_url, "GET", path, headers=cookie)
        assert any(c.startswith(f"Workbooks-Session={w.session_id}") for c in r.set_cookies), path
    assert request(server.base_url, "GET", "/crm/people", headers=cookie).status == 404  # no HTML UI


def test_seeded_permissions_of_the_colleague_and_expired_key(env):
    server, box = env
    w = Wire(server.base_url)
    colleague = box.dataset.users[1]
    assert w.login(colleague.username, colleague.password).status == 200
    rows = {r["controller_path"]: r for r in w.get("metadata/types").json["data"]}
    perms = {a["name"]: a["permitted"] for a in rows["crm/opportunities"]["actions"]}
    assert perms == {"index": False, "create": False, "update": False, "destroy": False}
    assert {a["name"]: a["permitted"] for a in rows["email/emails"]["actions"]}["index"] is True
    assert w.get("crm/opportunities").status == 404
    assert w.put("email/emails", batch([{"__method": "POST", "subject": "x"}])).status == 406
    r = request(server.base_url, "GET", "/crm/people.api", query=[("api_key", box.expired_api_key)])
    assert r.status == 401 and r.json["failure_reason"] == "api_key_expired"


def test_metadata_filters_and_columns(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    r = w.get("metadata/types", filters(("controller_path", "eq", "email/emails")) +
              [("_select_columns[]", "class_name"), ("_select_columns[]", "fields"), ("_select_columns[]", "actions")]).json
    assert r["total"] == 1
    row = r["data"][0]
    assert set(row) == {"id", "lock_version", "class_name", "fields", "actions"}
    assert {f["name"] for f in row["fields"]} >= {"subject", "from_address", "to_addresses", "cc_addresses",
                                                  "bcc_addresses", "sent_at", "message_id", "status"}


def test_throttling_redirect_keeps_the_cookie(env):
    server, box = env
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    server.faults.configure({"fail_next": 1, "kinds": ["busy"]})
    r = request(server.base_url, "GET", "/crm/people.api", headers={"Cookie": f"Workbooks-Session={w.session_id}"})
    assert r.status == 302 and any(c.startswith(f"Workbooks-Session={w.session_id}") for c in r.set_cookies)
