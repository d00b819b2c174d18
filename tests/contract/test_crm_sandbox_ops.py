"""Workbooks sandbox operations: persistence, faults, stats, request recording, control endpoints,
malformed input, TLS and seeding speed."""
from __future__ import annotations

import json
import random
import socket
import time
from urllib.parse import urlsplit

import pytest

from app.sandbox import seed
from app.sandbox.crm import start_crm_sandbox
from app.sandbox.crm.state import CrmSandbox
from app.sandbox.server import make_self_signed
from tests.fixtures.crm_wire import FORM, Wire, batch, filters, form, request


@pytest.fixture(scope="module")
def env():
    server, box = start_crm_sandbox(people=30)
    yield server, box
    server.stop()


def test_persistence_across_restart(tmp_path):
    server, box = start_crm_sandbox(people=25, state_dir=tmp_path)
    w = Wire(server.base_url, api_key=box.api_key)
    r = w.put("crm/people", batch([{"__method": "POST", "person_first_name": "Per", "person_last_name": "Sist"}])).json
    pid = r["affected_objects"][0]["id"]
    p = w.get("crm/people", filters(("id", "eq", 100001))).json["data"][0]
    w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                "person_job_title": "Survivor"}]))
    box.set_watched("people", pid, True)
    mail = w.put("email/emails", batch([{"__method": "POST", "subject": "Kept", "sent_at": "2026-02-03T04:05:06Z",
                                         "status": "SEND"}])).json["affected_objects"][0]
    opp = w.get("crm/opportunities", [("_start", 0), ("_limit", 1)]).json["data"][0]
    task = w.get("activity/tasks", [("_start", 0), ("_limit", 1)]).json["data"][0]
    server.stop()
    assert (tmp_path / "workbooks-state.json").exists()
    server2, box2 = start_crm_sandbox(people=25, state_dir=tmp_path)
    try:
        w2 = Wire(server2.base_url, api_key=box2.api_key)
        got = w2.get("crm/people", filters(("id", "eq", pid))).json["data"][0]
        assert got["name"] == "Per Sist" and got["watched"] is True
        again = w2.get("crm/people", filters(("id", "eq", p["id"]))).json["data"][0]
        assert again["person_job_title"] == "Survivor" and again["lock_version"] == p["lock_version"] + 1
        assert again["updated_at"] != p["updated_at"]
        mail2 = w2.get("email/emails", filters(("id", "eq", mail["id"]))).json["data"][0]
        assert mail2["sent_at"] == "Tue Feb 03 04:05:06 UTC 2026" and mail2["status"] == "SENT"
        assert box2.outbox and box2.outbox[-1]["email_id"] == mail["id"]
        def same(a, b):  # the port (so object_url) changes with the restart
            return {k: v for k, v in a.items() if k != "object_url"} == {k: v for k, v in b.items() if k != "object_url"}

        assert same(w2.get("crm/opportunities", filters(("id", "eq", opp["id"]))).json["data"][0], opp)
        assert same(w2.get("activity/tasks", filters(("id", "eq", task["id"]))).json["data"][0], task)
        assert w2.get("crm/people", filters(("created_at", "ge", "2026-01-01"), ("id", "eq", pid),
                                            match="and")).json["total"] == 1
        nxt = w2.put("crm/people", batch([{"__method": "POST", "person_last_name": "Next"}])).json
        assert nxt["affected_objects"][0]["id"] == pid + 1  # id counters persist too
    finally:
        server2.stop()


def test_autosave_writes_on_change(tmp_path):
    server, box = start_crm_sandbox(people=5, state_dir=tmp_path)
    try:
        path = tmp_path / "workbooks-state.json"
        before = path.stat().st_mtime_ns
        Wire(server.base_url, api_key=box.api_key).put("crm/organisations", batch([{"__method": "POST", "name": "Auto"}]))
        deadline = time.time() + 5
        while time.time() < deadline and path.stat().st_mtime_ns == before:
            time.sleep(0.1)
        assert "Auto" in path.read_text(encoding="utf-8")
    finally:
        server.stop()


def test_faults_http500_drop_busy(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    server.faults.configure({"fail_next": 3, "kinds": ["http500", "drop", "busy"]})
    r = w.get("crm/people")
    assert r.status == 500 and r.json["success"] is False
    with pytest.raises((ConnectionError, OSError, Exception)):
        w.get("crm/people")
    busy = w.get("crm/people")
    assert busy.status == 302 and busy.header("Location").startswith("/crm/people.api")
    assert w.get("crm/people").status == 200  # re-sending the same request works
    # fail rate over the control endpoint
    ctl = request(server.base_url, "POST", "/_sandbox/faults", body=json.dumps({"fail_rate": 1.0, "kinds": ["http500"]}).encode())
    assert ctl.status == 200
    assert w.get("crm/people").status == 500
    server.faults.configure({"fail_rate": 0.0})
    assert w.get("crm/people").status == 200


def test_more_fault_kinds(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    for kind, status in (("session_expired", 401), ("database_being_migrated", 403), ("http404", 404),
                         ("http406", 406), ("expired_cookie", 302), ("non_json", 200)):
        server.faults.configure({"fail_next": 1, "kinds": [kind]})
        assert w.get("crm/people").status == status, kind


def test_stats_by_operation(env):
    server, box = env
    request(server.base_url, "POST", "/_sandbox/stats/reset")
    w = Wire(server.base_url)
    w.login(box.username, box.password)
    w.get("crm/people")
    w.get("crm/people")
    w.put("crm/organisations", batch([{"__method": "POST", "name": "Counted"}]))
    stats = request(server.base_url, "GET", "/_sandbox/stats").json["requests"]
    assert stats["by_operation"] == {"POST login": 1, "GET crm/people": 2, "PUT crm/organisations": 1}
    assert stats["total"] == 4


def test_request_recording_and_reset(env):
    server, box = env
    box.reset_recording()
    body = form([("_method", "GET"), ("api_key", box.api_key), ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", "1")])
    request(server.base_url, "POST", "/crm/people.api", query=[("_dc", "123"), ("_fc[]", "2")], body=body, headers=FORM)
    rec = box.requests[-1]
    assert rec["method"] == "GET" and rec["http_method"] == "POST" and rec["operation"] == "GET crm/people"
    assert ("_dc", "123") in rec["params"] and ("_fc[]", "1") in rec["params"] and ("_fc[]", "2") not in rec["params"]
    assert rec["headers"]["User-Agent"]
    over_http = request(server.base_url, "GET", "/_sandbox/crm/requests").json
    assert over_http["requests"][-1]["operation"] == "GET crm/people"
    # a batch without an id filter is a logged protocol violation (accepted unless strict)
    w = Wire(server.base_url, api_key=box.api_key)
    pairs = [p for p in batch([{"__method": "POST", "name": "NoFilter"}]) if not p[0].startswith(("_ff", "_ft", "_fc"))]
    assert w.put("crm/organisations", pairs).json["success"] is True
    assert any("id filter" in v["message"] for v in box.violations)
    box.strict_protocol = True
    try:
        assert w.put("crm/organisations", pairs).status == 406
    finally:
        box.strict_protocol = False
    request(server.base_url, "POST", "/_sandbox/crm/requests/reset")
    assert box.requests == [] and box.violations == []


def test_control_endpoint_edits_behind_the_clients_back(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    p = w.get("crm/people", [("_start", 0), ("_limit", 1)]).json["data"][0]

    def edit(**doc):
        r = request(server.base_url, "POST", "/_sandbox/crm/edit", body=json.dumps(doc).encode())
        assert r.status == 200, r.raw
        return r.json

    assert edit(action="bump_version", type="people", id=p["id"])["lock_version"] == p["lock_version"] + 1
    edit(action="toggle_watched", type="people", id=p["id"])
    edit(action="reassign", type="people", id=p["id"], queue_id=box.queue_id("people", 0))
    loc = edit(action="add_contact_email", id=p["id"], email="behind@back.example")["id"]
    now = w.get("crm/people", filters(("id", "eq", p["id"]))).json["data"][0]
    assert now["watched"] is (not p["watched"]) and now["assigned_to_name"] == "Unassigned"
    assert w.get("crm/party_locations", filters(("email", "eq", "behind@back.example"))).json["data"][0]["id"] == loc
    live = request(server.base_url, "GET", "/_sandbox/crm/state").json["counts"]["people"]
    edit(action="soft_delete", type="people", id=p["id"])
    assert w.get("crm/people", filters(("id", "eq", p["id"]))).json["total"] == 0
    edit(action="inject_error", type="organisations", id=0, field="name", message="is reserved")
    r = w.put("crm/organisations", batch([{"__method": "POST", "name": "Injected"}])).json
    assert r["errors"] == {"[]": {"name": "is reserved"}}
    state = request(server.base_url, "GET", "/_sandbox/crm/state").json
    assert state["api_key"] == box.api_key and state["counts"]["people"] == live - 1
    assert request(server.base_url, "POST", "/_sandbox/crm/edit", body=b'{"action": "nope"}').status == 400
    assert request(server.base_url, "POST", "/_sandbox/crm/knobs", body=b'{"page_cap": 10}').status == 200
    assert len(w.get("crm/people", [("_start", 0), ("_limit", 50)]).json["data"]) == 10
    box.page_cap = 100
    clock = request(server.base_url, "POST", "/_sandbox/crm/clock", body=b'{"freeze": "2027-01-01T00:00:00Z"}').json
    assert clock["now"] == "Fri Jan 01 00:00:00 UTC 2027"
    box.clock.unfreeze()


MALFORMED = [
    ("GET", "/crm/people.api", [("_start", "-5"), ("_limit", "abc")], None),
    ("GET", "/crm/people.api", [("_sort", "no_such_column"), ("_dir", "SIDEWAYS")], None),
    ("GET", "/crm/people.api", [("_ff[]", "id"), ("_ft[]", "between"), ("_fc[]", "not json")], None),
    ("GET", "/crm/people.api", [("_ff[]", "created_at"), ("_ft[]", "gt"), ("_fc[]", "yesterday-ish")], None),
    ("GET", "/crm/people.api", [("_filter_json", "{not json")], None),
    ("GET", "/crm/people.api", [("_filter_json", '[["a"]]')], None),
    ("GET", "/crm/people.api", [("_fm", "1 AND 2")], None),
    ("POST", "/crm/people.api", [], b"\xff\xfe\x00garbage=%%%&&=="),
    ("POST", "/crm/people.api", [], b'{"_method": "PUT", "__method[]": [null], "id[]": ["x"]}'),
    ("PUT", "/crm/people.api", [("__method[]", "PUT"), ("id[]", "abc"), ("lock_version[]", "zz")], None),
    ("PUT", "/crm/people.api", [("__method[]", "FROB"), ("id[]", "0")], None),
    ("PUT", "/crm/people.api", [("__method[]", "POST"), ("created_at[]", "never"), ("person_last_name[]", "X")], None),
    ("PUT", "/activity/tasks.api", [("__method[]", "POST"), ("name[]", "t"), ("due[]", "32/13/2026"),
                                    ("reminder_minutes[]", "ten"), ("all_day[]", "perhaps")], None),
    ("PUT", "/crm/organisations.api", [("__method[]", "POST"), ("name[]", "o"),
                                       ("organisation_annual_revenue[]", "lots of money")], None),
    ("PUT", "/crm/people.api", [("__method[]", "PUT"), ("__method[]", "PUT"), ("id[]", "1")], None),
    ("GET", "/crm/people/99999999.api", [], None),
    ("GET", "/activity/tasks.api", [("_time_zone", "9" * 300), ("_ff[]", "due"), ("_ft[]", "ge"),
                                    ("_fc[]", "2026-01-01 10:00")], None),
    ("GET", "/activity/meetings.api", [("_ff[]", "start"), ("_ft[]", "eq"), ("_fc[]", "9999-12-31T23:59:59Z")], None),
    ("PUT", "/activity/tasks.api", [("__method[]", "POST"), ("name[]", "x"), ("due[]", "0001-01-01"),
                                    ("_time_zone", "../../etc/passwd")], None),
    ("GET", "/crm/people.api", [("_json_output_datetime_format", "%Q%"), ("callback", "alert(1)//")], None),
    ("GET", "/crm/people.api", [("_ff[]", "person_last_name"), ("_ft[]", "gt"), ("_fc[]", "2026-13-45")], None),
    ("GET", "/crm/people.api", [("_ff[]", "person_last_name"), ("_ft[]", "eq"), ("_fc[]", "2026-13-45")], None),
    ("GET", "/crm/../../etc/passwd.api", [], None),
]


@pytest.mark.parametrize("method,path,pairs,raw", MALFORMED)
def test_malformed_input_never_gives_a_traceback_500(env, method, path, pairs, raw):
    server, box = env
    box.internal_errors.clear()
    body = raw if raw is not None else form([("api_key", box.api_key)] + pairs)
    query = [("api_key", box.api_key)] if raw is not None else None
    ctype = "application/json" if raw is not None and raw.startswith(b"{") else "application/x-www-form-urlencoded"
    r = request(server.base_url, method, path, query=query, body=body, headers={"Content-Type": ctype})
    assert r.status != 500, r.raw
    assert not box.internal_errors, box.internal_errors
    assert r.header("Content-Type").startswith("application/json")
    r.json  # noqa: B018 - always parseable JSON


def test_random_garbage_parameters(env):
    server, box = env
    rng = random.Random(7)
    alphabet = "[]%&=_:,\\()!\"{}ab01 \x00é😀"
    box.internal_errors.clear()
    for _ in range(60):
        pairs = [("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8))),
                  "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))) for _ in range(rng.randrange(1, 6))]
        names = ["_ff[]", "_ft[]", "_fc[]", "_fm", "_sort", "_select_columns[]", "__method[]", "id[]", "name[]"]
        pairs += [(rng.choice(names), "".join(rng.choice(alphabet) for _ in range(5))) for _ in range(3)]
        method = rng.choice(["GET", "PUT", "POST", "DELETE"])
        r = request(server.base_url, method, "/crm/people.api", body=form([("api_key", box.api_key)] + pairs),
                    headers=FORM)
        assert r.status != 500, (pairs, r.raw)
    assert not box.internal_errors


def test_raw_socket_request_like_a_minimal_binding(env):
    server, box = env
    parts = urlsplit(server.base_url)
    body = f"_method=GET&api_key={box.api_key}&_start=0&_limit=2".encode()
    head = (f"POST /crm/people.api?_dc=1 HTTP/1.1\r\nHost: {parts.hostname}\r\nUser-Agent: vba\r\nExpect:\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(head.encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status, _, rest = data.partition(b"\r\n")
    assert b" 200 " in status
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["data"][1]["id"]


def test_tls_sets_secure_cookie(tmp_path):
    import ssl
    import http.client

    tls = make_self_signed(tmp_path / "tls")
    server, box = start_crm_sandbox(people=3, tls=tls)
    try:
        ctx = ssl.create_default_context(cafile=str(tls.cert))
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=5)
        conn.request("POST", "/login.api", body=form([("username", box.username), ("password", box.password),
                                                     ("client", "api")]), headers={**FORM, "User-Agent": "t"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200 and "; secure" in r.getheader("Set-Cookie")
        conn.close()
    finally:
        server.stop()


def test_seeding_speed_and_counts():
    t0 = time.process_time()  # CPU time: other processes on a busy CI machine do not count
    box = CrmSandbox(seed.build(10000, 1))
    elapsed = time.process_time() - t0
    assert elapsed < 2.0, elapsed
    assert len(box.rows("people")) == 10000
    assert box.rows("organisations") and box.rows("sales_leads") and box.rows("cases") and box.rows("opportunities")
    tasks = box.rows("tasks")
    assert any(t["activity_status"] == "Complete" for t in tasks) and any(t["activity_status"] != "Complete" for t in tasks)
    again = CrmSandbox(seed.build(10000, 1))
    assert again.rows("people")[123] == box.rows("people")[123]


def test_per_endpoint_fault_rules(env):
    server, box = env
    w = Wire(server.base_url, api_key=box.api_key)
    doc = {"clear": True, "rules": [{"operation": "GET crm/people", "kind": "http500", "every": 2, "times": 2}]}
    assert request(server.base_url, "POST", "/_sandbox/crm/faults", body=json.dumps(doc).encode()).status == 200
    statuses = [w.get("crm/people").status for _ in range(6)]
    assert statuses == [200, 500, 200, 500, 200, 200]
    assert w.get("crm/organisations").status == 200  # other endpoints untouched
    box.add_fault("busy", operation="PUT crm/organisations", times=1)
    r = w.put("crm/organisations", batch([{"__method": "POST", "name": "Throttled"}]))
    assert r.status == 302
    assert w.put("crm/organisations", batch([{"__method": "POST", "name": "Throttled"}])).json["success"]
    box.clear_faults()


def test_module_constants_match_the_sandbox(env):
    from app.sandbox import crm

    _server, box = env
    assert (crm.USERNAME, crm.PASSWORD, crm.DATABASE_ID, crm.USER_ID) == (box.username, box.password,
                                                                         box.database_id, box.user_id)
    assert crm.api_key_for(1) == box.api_key
    assert set(box.my_queues) == {"Private::Crm::PersonQueue", "Private::Crm::OrganisationQueue",
                                  "Private::Crm::SalesLeadQueue", "Private::Crm::OpportunityQueue",
                                  "Private::Crm::CaseQueue", "Private::Activity::ActivityQueue"}


def test_unreadable_state_file_is_a_clear_error(tmp_path):
    from app.errors import ConfigError

    (tmp_path / "workbooks-state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read"):
        CrmSandbox(seed.build(3), state_dir=tmp_path)


def test_malformed_content_length_closes_cleanly(env):
    server, box = env
    parts = urlsplit(server.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"POST /crm/people.api HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nContent-Length: abc\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 406")


def test_fifty_thousand_people_work():
    t0 = time.perf_counter()
    server, box = start_crm_sandbox(people=50000)
    try:
        started = time.perf_counter() - t0
        w = Wire(server.base_url, api_key=box.api_key)
        q = box.my_queues["Private::Crm::PersonQueue"]
        t1 = time.perf_counter()
        body = w.get("crm/people", filters(("assigned_to", "eq", q), ("watched", "true", ""),
                                           ("updated_at", "ge", "2026-01-20"), ("is_deleted", "true", ""),
                                           ("is_deleted", "false", ""), match="(1 OR 2) AND 3 AND (4 OR 5)")
                     + [("_sort[]", "updated_at"), ("_dir[]", "ASC"), ("_sort[]", "id"), ("_dir[]", "ASC"),
                        ("_start", 0), ("_limit", 100)]).json
        delta = time.perf_counter() - t1
        assert body["total"] > 1000 and len(body["data"]) == 100
        assert w.get("crm/people", [("_start", 49950), ("_limit", 100)]).json["total"] == 50000
        assert started < 10 and delta < 5, (started, delta)
    finally:
        server.stop()
