"""Workbooks sandbox, raw wire: batch writes - locking, all-or-nothing, per-object transactions,
:no_value:/:null_value:, nested names, body encodings, emails that must never be sent."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from app.sandbox.crm import start_crm_sandbox
from tests.fixtures.crm_wire import FORM, Wire, batch, filters, form, request

STALE = "This record cannot be saved since it has already been updated elsewhere."


@pytest.fixture(scope="module")
def env():
    server, box = start_crm_sandbox(people=60)
    yield server, box, Wire(server.base_url, api_key=box.api_key)
    server.stop()


def person(w: Wire, pid: int) -> dict:
    body = w.get("crm/people", filters(("id", "eq", pid))).json
    assert body["total"] == 1
    return body["data"][0]


def some_people(w: Wire, n: int, offset: int) -> list[dict]:
    return w.get("crm/people", [("_start", offset), ("_limit", n), ("_sort", "id"), ("_dir", "ASC")]).json["data"]


def test_stale_lock_version_exact_failure(env):
    _server, box, w = env
    p = some_people(w, 1, 0)[0]
    box.bump_version("people", p["id"])  # someone else edits it
    r = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                    "person_job_title": "Stale"}]))
    assert r.status == 200
    assert r.json == {
        "success": False, "failures": [STALE], "errors": {"[]": {"lock_version": STALE}},
        "affected_object_errors": [{"lock_version": [STALE]}],
        "affected_object_information": [{"success": False, "errors": {"lock_version": STALE}, "warnings": []}],
    }
    assert person(w, p["id"])["person_job_title"] == p["person_job_title"]


def test_no_op_update_keeps_version_and_real_change_bumps_once(env):
    _server, _box, w = env
    p = some_people(w, 1, 1)[0]
    same = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                       "person_job_title": p["person_job_title"]}])).json
    assert same["success"] and same["affected_objects"] == [{"id": p["id"], "lock_version": p["lock_version"]}]
    two = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                      "person_job_title": "T2", "main_location[town]": "Leeds-on-Sea"}])).json
    assert two["affected_objects"][0]["lock_version"] == p["lock_version"] + 1
    assert two["affected_objects"][0]["main_location[town]"] == "Leeds-on-Sea"


def test_one_bad_record_all_or_nothing(env):
    _server, box, w = env
    a, b, c = some_people(w, 3, 5)
    recs = [
        {"__method": "PUT", "id": a["id"], "lock_version": a["lock_version"], "person_job_title": "AON"},
        {"__method": "PUT", "id": b["id"], "lock_version": b["lock_version"], "person_job_title": "x" * 300},
        {"__method": "POST", "person_first_name": "Never", "person_last_name": "Created"},
        {"__method": "DELETE", "id": c["id"], "lock_version": c["lock_version"]},
    ]
    before = len(box.rows("people"))
    r = w.put("crm/people", batch(recs)).json
    assert r["success"] is False
    assert r["errors"] == {"[]": {"person_job_title": "is too long (maximum is 255 characters)"}}
    assert r["affected_object_errors"] == [{}, {"person_job_title": ["is too long (maximum is 255 characters)"]}, {}, {}]
    assert "failures" not in r
    assert person(w, a["id"])["person_job_title"] == a["person_job_title"]
    assert person(w, c["id"])["lock_version"] == c["lock_version"]
    assert len(box.rows("people")) == before


def test_one_bad_record_per_object_transactions(env):
    _server, box, w = env
    a, b = some_people(w, 2, 10)
    box.bump_version("people", b["id"])
    recs = [
        {"__method": "PUT", "id": a["id"], "lock_version": a["lock_version"], "person_job_title": "POT"},
        {"__method": "PUT", "id": b["id"], "lock_version": b["lock_version"], "person_job_title": "POT"},
        {"__method": "POST", "person_first_name": "Per", "person_last_name": "Object"},
    ]
    r = w.put("crm/people", batch(recs) + [("_per_object_transactions", "true")]).json
    assert r["success"] is True and "errors" not in r
    info = r["affected_object_information"]
    assert [i["success"] for i in info] == [True, False, True]
    assert info[1]["errors"] == {"lock_version": STALE}
    assert person(w, a["id"])["person_job_title"] == "POT"
    assert person(w, b["id"])["person_job_title"] == b["person_job_title"]
    assert r["affected_objects"][2]["name"] == "Per Object"


def test_no_value_and_null_value(env):
    _server, _box, w = env
    a, b = some_people(w, 2, 15)
    assert a["person_job_title"] and b["person_job_title"]
    r = w.put("crm/people", batch([
        {"__method": "PUT", "id": a["id"], "lock_version": a["lock_version"], "person_job_title": None,
         "main_location[town]": "Kept?"},
        {"__method": "PUT", "id": b["id"], "lock_version": b["lock_version"], "main_location[town]": "Bath"},
    ])).json
    assert r["success"]
    assert person(w, a["id"])["person_job_title"] is None  # :null_value:
    nb = person(w, b["id"])
    assert nb["person_job_title"] == b["person_job_title"] and nb["main_location[town]"] == "Bath"  # :no_value:


def test_nested_names_sales_lead(env):
    _server, _box, w = env
    r = w.put("crm/sales_leads", batch([{
        "__method": "POST", "person_lead_party[name]": "Lee Lead", "org_lead_party[name]": "Lead Org",
        "org_lead_party[main_location[email]]": "info@leadorg.example",
        "person_lead_party[main_location[email]]": "lee@leadorg.example",
    }]))
    body = r.json
    assert body["success"], body
    lead = body["affected_objects"][0]
    assert lead["org_lead_party[main_location[email]]"] == "info@leadorg.example"
    assert lead["object_ref"].startswith("LEAD-")
    found = w.get("crm/sales_leads", filters(("person_lead_party[main_location][email]", "eq", "lee@leadorg.example"))).json
    assert found["total"] == 1


def test_validation_error_shape_and_strict_attributes(env):
    _server, _box, w = env
    r = w.put("crm/organisations", batch([{"__method": "POST", "industry": "No name"}])).json
    assert r == {**r, "success": False, "errors": {"[]": {"name": "can't be blank"}},
                 "affected_object_errors": [{"name": ["can't be blank"]}]}
    lax = w.put("crm/organisations", batch([{"__method": "POST", "name": "Lax", "no_such_field": "x"}])).json
    assert lax["success"] is True
    strict = w.put("crm/organisations", batch([{"__method": "POST", "name": "Strict", "no_such_field": "x"}])
                   + [("_strict_attribute_checking", "true")]).json
    assert strict["success"] is False and "no_such_field" in strict["errors"]["[]"]
    dup_ref = some_people(w, 1, 20)[0]
    other = some_people(w, 1, 21)[0]
    r = w.put("crm/people", batch([{"__method": "PUT", "id": other["id"], "lock_version": other["lock_version"],
                                    "refcode": dup_ref["refcode"]}])).json
    assert r["errors"] == {"[]": {"refcode": f"'{dup_ref['refcode']}' is already used"}}


def test_more_than_100_records_rejected(env):
    _server, _box, w = env
    recs = [{"__method": "POST", "name": f"Bulk {i}"} for i in range(101)]
    r = w.put("crm/organisations", batch(recs))
    assert r.status == 406 and r.json["success"] is False


def test_created_through_reference_and_application_name(env):
    server, box, _w = env
    body = form([("_method", "PUT"), ("api_key", box.api_key), ("_application_name", "Workbooks connector"),
                 ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", "0"), ("__method[]", "POST"), ("id[]", "0"),
                 ("lock_version[]", "0"), ("name[]", "Ref Task"), ("created_through_reference[]", "AAMkAD=+/x"),
                 ("due[]", "2026-04-01"), ("activity_status[]", "New")])
    r = request(server.base_url, "POST", "/activity/tasks.api", body=body, headers=FORM).json
    t = r["affected_objects"][0]
    assert t["created_through_reference"] == "AAMkAD=+/x" and t["created_through"] == "Workbooks connector"
    assert t["due"] == "2026-03-31T23:00:00.000Z,0,Europe/London" and t["due_date"] == " 1 Apr 2026"
    assert t["assigned_to"] == box.my_queues["Private::Activity::ActivityQueue"]


def test_email_send_never_leaves_the_machine(env):
    _server, box, w = env
    rfc = "From: user@example.com\r\nTo: a@b.example\r\nSubject: Hello\r\nMessage-ID: <m1@x>\r\n\r\nBody"
    r = w.put("email/emails", batch([{"__method": "POST", "rfc822": rfc, "status": "SEND"}])).json
    e = r["affected_objects"][0]
    assert e["status"] == "SENT" and e["subject"] == "Hello" and e["message_id"] == "<m1@x>"
    assert box.outbox and box.outbox[-1]["email_id"] == e["id"]
    r2 = w.put("email/emails", batch([{"__method": "POST", "subject": "Recorded", "from_address": "user@example.com",
                                       "to_addresses": "x@y.example", "sent_at": "2026-01-02T10:00:00Z",
                                       "message_id": "<m2@x>", "status": "SENT"}])).json
    assert r2["affected_objects"][0]["sent_at"] == "Fri Jan 02 10:00:00 UTC 2026"
    link = w.put("email/email_links", batch([{"__method": "POST", "email_id": r2["affected_objects"][0]["id"],
                                              "resource_id": some_people(w, 1, 0)[0]["id"],
                                              "resource_type": "Private::Crm::Person"}])).json
    assert link["success"], link
    assert len(box.outbox) == 1


def test_json_multipart_and_encoded_brackets(env):
    server, box, w = env
    p = some_people(w, 1, 30)[0]
    doc = {"api_key": box.api_key, "_method": "PUT", "_ff[]": ["id"], "_ft[]": ["eq"], "_fc[]": [p["id"]],
           "__method[]": ["PUT"], "id[]": [p["id"]], "lock_version[]": [p["lock_version"]],
           "person_job_title[]": ["From JSON"]}
    r = request(server.base_url, "POST", "/crm/people.api", body=json.dumps(doc).encode(),
                headers={"Content-Type": "application/json"})
    assert r.json["success"], r.json
    boundary = "xXxBoundary"
    fields = [("api_key", box.api_key), ("_method", "PUT"), ("__method[]", "PUT"), ("id[]", str(p["id"])),
              ("lock_version[]", str(p["lock_version"] + 1)), ("person_job_title[]", "From multipart ☕"),
              ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", str(p["id"]))]
    parts = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n" for k, v in fields)
    mp = (parts + f"--{boundary}--\r\n").encode()
    r = request(server.base_url, "POST", "/crm/people.api", body=mp,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.json["success"], r.json
    assert person(w, p["id"])["person_job_title"] == "From multipart ☕"
    # brackets percent-encoded (the usual) and raw (some bindings), body wins over query
    raw = (f"api_key={box.api_key}&_method=PUT&__method[]=PUT&id[]={p['id']}&lock_version[]={p['lock_version'] + 2}"
           f"&person_job_title[]={quote('Raw brackets')}&_ff[]=id&_ft[]=eq&_fc[]={p['id']}").encode()
    r = request(server.base_url, "POST", "/crm/people.api", query=[("_method", "GET")], body=raw, headers=FORM)
    assert r.json["success"] and r.json["affected_objects"][0]["person_job_title"] == "Raw brackets"


def test_assign_and_watch_move_updated_at(env):
    _server, box, w = env
    box.clock.freeze()
    try:
        mine = box.my_queues["Private::Crm::PersonQueue"]
        p = w.get("crm/people", filters(("assigned_to", "eq", mine)) + [("_start", 3), ("_limit", 1)]).json["data"][0]
        box.clock.advance(120)
        box.set_watched("people", p["id"], not p["watched"])
        after = person(w, p["id"])
        assert after["watched"] is (not p["watched"]) and after["updated_at"] != p["updated_at"]
        box.clock.advance(60)
        box.reassign("people", p["id"], box.queue_id("people", 0))
        again = person(w, p["id"])
        assert again["assigned_to_name"] == "Unassigned" and again["updated_at"] != after["updated_at"]
        assert again["lock_version"] == after["lock_version"] + 1
        r = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": again["lock_version"],
                                        "assigned_to": box.my_queues["Private::Crm::PersonQueue"]}])).json
        assert r["success"] and r["affected_objects"][0]["assigned_to"] == box.my_queues["Private::Crm::PersonQueue"]
        bad = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": again["lock_version"] + 1,
                                          "assigned_to": 999999}])).json
        assert bad["success"] is False and "assigned_to" in bad["errors"]["[]"]
    finally:
        box.clock.unfreeze()


def test_contact_details_rows(env):
    _server, box, w = env
    p = some_people(w, 1, 45)[0]
    loc_id = box.add_contact_email(p["id"], "hidden.extra@elsewhere.example")
    rows = w.get("crm/party_locations", filters(("email", "eq", "hidden.extra@elsewhere.example"),
                                                ("alternate_email", "eq", "hidden.extra@elsewhere.example"),
                                                match="or")).json
    assert rows["total"] == 1 and rows["data"][0]["party_id"] == p["id"] and rows["data"][0]["id"] == loc_id
    main = w.get("crm/party_locations", filters(("id", "eq", p["main_location_id"]))).json["data"][0]
    assert main["email"] == p["main_location[email]"]


def test_employer_name_links_existing_organisation_only(env):
    _server, box, w = env
    p = some_people(w, 1, 50)[0]
    orgs = {o["name"]: o["id"] for o in w.get("crm/organisations", [("_start", 0), ("_limit", 100)]).json["data"]}
    r = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                    "employer_name": "hooli"}])).json["affected_objects"][0]
    assert r["employer_name"] == "hooli" and person(w, p["id"])["employer_link"] == orgs["Hooli"]
    n_orgs = len(box.rows("organisations"))
    r = w.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"] + 1,
                                    "employer_name": "Brand New Startup"}])).json
    assert r["success"] and person(w, p["id"])["employer_link"] is None
    assert len(box.rows("organisations")) == n_orgs  # never created automatically


def test_editing_a_main_location_row_bumps_its_owner(env):
    _server, _box, w = env
    p = some_people(w, 1, 52)[0]
    loc = w.get("crm/party_locations", filters(("id", "eq", p["main_location_id"]))).json["data"][0]
    r = w.put("crm/party_locations", batch([{"__method": "PUT", "id": loc["id"], "lock_version": loc["lock_version"],
                                             "telephone": "+44 1 2 3"}])).json
    assert r["success"], r
    after = person(w, p["id"])
    assert after["main_location[telephone]"] == "+44 1 2 3" and after["lock_version"] == p["lock_version"] + 1


def test_delete_verb_and_put_verb_default_methods(env):
    server, box, w = env
    created = w.put("crm/organisations", batch([{"__method": "POST", "name": "Verb Co"}])).json["affected_objects"][0]
    body = form([("api_key", box.api_key), ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", created["id"]),
                 ("id[]", created["id"]), ("lock_version[]", created["lock_version"])])
    r = request(server.base_url, "DELETE", "/crm/organisations.api", body=body, headers=FORM).json
    assert r["success"] and r["affected_objects"] == [{"id": created["id"], "lock_version": 1}]


def test_links_must_point_at_existing_records(env):
    _server, _box, w = env
    task = w.get("activity/tasks", [("_start", 0), ("_limit", 1)]).json["data"][0]
    p = some_people(w, 1, 55)[0]
    ok = w.put("activity/activity_links", batch([{"__method": "POST", "activity_id": task["id"],
                                                  "activity_type": "Private::Activity::Task", "resource_id": p["id"],
                                                  "resource_type": "Private::Crm::Person"}])).json
    assert ok["success"], ok
    bad = w.put("activity/activity_links", batch([{"__method": "POST", "activity_id": task["id"],
                                                   "activity_type": "Private::Activity::Task", "resource_id": 1,
                                                   "resource_type": "Private::Crm::Person"}])).json
    assert bad["success"] is False and "resource_id" in bad["errors"]["[]"]
    bad2 = w.put("email/email_links", batch([{"__method": "POST", "email_id": 1, "resource_id": p["id"],
                                              "resource_type": "Private::Crm::Nonsense"}])).json
    assert bad2["success"] is False and set(bad2["errors"]["[]"]) >= {"email_id"}


def test_watched_is_per_user_and_assignment_is_a_queue(env):
    server, box, w = env
    p = some_people(w, 1, 57)[0]
    assert p["assigned_to"] == p["queue_entry[queue_id]"]
    colleague = Wire(server.base_url)
    c = box.dataset.users[1]
    colleague.login(c.username, c.password)
    mine_before = person(w, p["id"])["watched"]
    r = colleague.put("crm/people", batch([{"__method": "PUT", "id": p["id"], "lock_version": p["lock_version"],
                                            "watched": "1"}])).json
    assert r["success"] and r["affected_objects"][0]["watched"] is True
    assert r["affected_objects"][0]["lock_version"] == p["lock_version"]  # watching is not a record change
    theirs = colleague.get("crm/people", filters(("id", "eq", p["id"]))).json["data"][0]
    assert theirs["watched"] is True and person(w, p["id"])["watched"] is mine_before
    queues = colleague.get("crm/person_queues", filters(("owner_id", "eq", c.user_id))).json["data"]
    assert [q["name"] for q in queues] == [c.name]
