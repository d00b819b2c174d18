"""Workbooks sandbox, raw wire: requests byte-for-byte in the shapes the vendor's bindings produce
(workbooks/client_lib python/workbooks_api.py and php/workbooks_api.php), built by hand here."""
from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from app.sandbox.crm import start_crm_sandbox
from tests.fixtures.crm_wire import request

PY_UA = "test_client/0.1"


@pytest.fixture(scope="module")
def env():
    server, box = start_crm_sandbox(people=30)
    yield server, box
    server.stop()


def py_post_fields(post_params: dict, ordered: list[str]) -> bytes:
    """python binding make_request(): urlencode(dict) (None becomes "None") + '&' + ordered params."""
    text = urlencode(post_params)
    if ordered:
        text += "&" + "&".join(ordered)
    return text.encode()


def py_full_square(objs: list[dict]) -> list[str]:
    """python binding full_square(): row-major, sorted keys, unnest_key, percent-encoded names."""
    out = []
    keys = sorted(set().union(*[o.keys() for o in objs]))
    for o in objs:
        for k in keys:
            v = ":no_value:" if k not in o else (":null_value:" if o[k] is None else o[k])
            name = k
            if name.endswith("]]"):
                parts = name.split("[")
                name = parts[0] + "[" + "][".join(parts[1:])
            if isinstance(v, list):
                v = "[" + ",".join(map(str, v)) + "]"
            out.append(f"{quote(name)}[]={quote(str(v))}")
    return out


def py_filter(ids: list[int]) -> list[str]:
    ids = list(set(ids))
    out = ["_fm=or"] if len(ids) > 1 else []
    for i in ids:
        out += ["_ff[]=id", "_ft[]=eq", f"_fc[]={i}"]
    return out


def test_python_binding_password_login_get_and_batch(env):
    server, box = env
    base = server.base_url
    hdr = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": PY_UA}
    # login(): every parameter is url-encoded, so unset ones arrive as the string "None"
    login = py_post_fields({"api_key": None, "username": box.username, "password": box.password,
                            "_application_name": "Test App", "_strict_attribute_checking": True, "api_version": 1,
                            "_fast_login": True, "_method": "POST", "client": "api", "_audit_lifetime_days": None}, [])
    r = request(base, "POST", "/login.api", query=[("_dc", "1700000000000")], body=login, headers=hdr)
    assert r.status == 200, r.raw
    assert "my_queues" not in r.json  # _fast_login=True
    cookie = r.header("Set-Cookie")
    hdr["Cookie"] = "; ".join(c.split(";")[0] for c in cookie.split(", "))
    token = r.json["authenticity_token"]
    # get(): an HTTP GET with a form body; arrays appended raw
    body = py_post_fields({"_start": 0, "_limit": 5, "_method": "GET", "client": "api", "_audit_lifetime_days": None},
                          ["_select_columns[]=" + quote("main_location[email]"), "_ff[]=person_last_name",
                           "_ft[]=not_blank", "_fc[]=None"])
    got = request(base, "GET", "/crm/people.api", query=[("_dc", "1700000000001")], body=body, headers=hdr)
    assert got.status == 200 and len(got.json["data"]) == 5
    assert set(got.json["data"][0]) == {"id", "lock_version", "main_location[email]"}
    first, second = got.json["data"][:2]
    # batch(): HTTP PUT, filter then the full square (row-major)
    objs = [
        {"__method": "POST", "id": 0, "lock_version": 0, "name": "Py Lead",
         "org_lead_party[main_location[email]]": "py@lead.example", "person_lead_party[name]": "Py Person"},
        {"__method": "POST", "id": 0, "lock_version": 0, "name": "Py Lead 2", "person_lead_party[name]": None},
    ]
    body = py_post_fields({"_method": "PUT", "client": "api", "_authenticity_token": token,
                           "_audit_lifetime_days": None}, py_filter([0, 0]) + py_full_square(objs))
    put = request(base, "PUT", "/crm/sales_leads.api", query=[("_dc", "1700000000002")], body=body, headers=hdr)
    assert put.status == 200 and put.json["success"] is True and "errors" not in put.json, put.json
    a, b = put.json["affected_objects"]
    assert a["org_lead_party[main_location[email]]"] == "py@lead.example" and b["person_lead_party[name]"] is None
    upd = [{"__method": "PUT", "id": first["id"], "lock_version": first["lock_version"], "person_job_title": "Py"},
           {"__method": "DELETE", "id": second["id"], "lock_version": second["lock_version"]}]
    body = py_post_fields({"_method": "PUT", "client": "api", "_authenticity_token": token,
                           "_audit_lifetime_days": None}, py_filter([first["id"], second["id"]]) + py_full_square(upd))
    put = request(base, "PUT", "/crm/people.api", body=body, headers=hdr)
    assert put.json["success"] is True and [o["lock_version"] for o in put.json["affected_objects"]] == \
        [first["lock_version"] + 1, second["lock_version"] + 1]
    # strict attribute checking came from the login
    bad = py_full_square([{"__method": "POST", "id": 0, "lock_version": 0, "name": "X", "no_such": "1"}])
    body = py_post_fields({"_method": "PUT", "client": "api", "_authenticity_token": token}, py_filter([0]) + bad)
    assert request(base, "PUT", "/crm/organisations.api", body=body, headers=hdr).json["success"] is False
    # logout(): POST, no redirect following, success means a redirect
    out = request(base, "POST", "/logout", body=py_post_fields({"_method": "POST", "client": "api"}, []), headers=hdr)
    assert out.status == 302
    assert request(base, "GET", "/crm/people.api", body=b"_method=GET&client=api", headers=hdr).status == 302


def test_python_binding_key_mode(env):
    server, box = env
    hdr = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": PY_UA}
    params = {"api_key": box.api_key, "api_version": 1, "application_name": "Key App", "user_agent": PY_UA,
              "_method": "PUT", "client": "api", "_audit_lifetime_days": None}
    objs = [{"__method": "POST", "id": 0, "lock_version": 0, "name": "Key Org", "organisation_num_employees": 3}]
    r = request(server.base_url, "PUT", "/crm/organisations.api", body=py_post_fields(params, py_filter([0]) + py_full_square(objs)),
                headers=hdr)
    assert r.json["success"] is True and r.json["affected_objects"][0]["created_through"] == "Key App"


def test_php_binding_shapes(env):
    """php binding: always POST, `_method` and `client` first, `_dc` in the query, `Expect:` empty,
    `_api_version` in key mode, http_build_query() encoding of the named parameters."""
    server, box = env
    hdr = {"Content-type": "application/x-www-form-urlencoded", "Expect": "", "User-Agent": "PHP-Client/1.0"}
    named = {"_method": "GET", "client": "api", "api_logging_key": "k1", "api_logging_seq": 3,
             "api_key": box.api_key, "_api_version": 1, "_start": 0, "_limit": 2, "_sort": "id", "_dir": "DESC"}
    letter = box.rows("people")[0]["person_first_name"][0]
    body = urlencode(named) + "&" + "&".join(["_ff%5B%5D=person_first_name", "_ft%5B%5D=bg", "_fc%5B%5D=" + quote(letter)])
    r = request(server.base_url, "POST", "/crm/people.api", query=[("_dc", "1700000000000")], body=body.encode(),
                headers=hdr)
    assert r.status == 200 and r.json["success"] is True
    ids = [p["id"] for p in r.json["data"]]
    assert ids == sorted(ids, reverse=True) and r.json["data"] and all(
        p["person_first_name"].lower().startswith(letter.lower()) for p in r.json["data"])
    # a PHP batch: filter per record, always _fm=or
    p = r.json["data"][0]
    named = {"_method": "PUT", "client": "api", "api_logging_key": "k1", "api_logging_seq": 4,
             "api_key": box.api_key, "_api_version": 1}
    ordered = ["_ff%5B%5D=id", "_ft%5B%5D=eq", f"_fc%5B%5D={p['id']}", "_fm=or", "__method%5B%5D=PUT",
               f"id%5B%5D={p['id']}", f"lock_version%5B%5D={p['lock_version']}", "person_job_title%5B%5D=From+PHP"]
    w = request(server.base_url, "POST", "/crm/people.api", query=[("_dc", "1")],
                body=(urlencode(named) + "&" + "&".join(ordered)).encode(), headers=hdr)
    assert w.json["success"] is True and w.json["affected_objects"][0]["person_job_title"] == "From PHP"
    # the PHP binding reads the cookie with /^Set-Cookie: Workbooks-Session=(.*?);/m
    login = request(server.base_url, "POST", "/login.api", query=[("_dc", "2")], headers=hdr,
                    body=urlencode({"_method": "POST", "client": "api", "username": box.username,
                                    "password": box.password, "_fast_login": "0"}).encode())
    assert login.status == 200 and "my_queues" in login.json
    assert any(k == "Set-Cookie" and v.startswith("Workbooks-Session=") and ";" in v for k, v in login.headers.items())


def test_vba_binding_shapes(env):
    """VBA binding: JSON login with the key, GETs in the query string, batches with `_method`, the
    token and the id filter in the query and the square in the body."""
    import json

    server, box = env
    ua = {"User-Agent": "VBA-Web v4.1.6 (https://github.com/VBA-tools/VBA-Web)"}
    login = request(server.base_url, "POST", "/login.api", headers={**ua, "Content-Type": "application/json"},
                    body=json.dumps({"api_key": box.api_key, "_application_name": "Excel", "api_version": "1"}).encode())
    assert login.status == 200
    sid = [c for c in login.set_cookies if c.startswith("Workbooks-Session=")][0].split(";")[0].split("=", 1)[1]
    assert len(sid) >= 32
    cookie = {**ua, "Cookie": f"Workbooks-Session={sid}"}
    got = request(server.base_url, "GET", "/crm/organisations.api",
                  query=[("_dc", "123456789012"), ("_start", "0"), ("_limit", "1"), ("_select_columns[]", "name")],
                  headers=cookie)
    org = got.json["data"][0]
    query = [("_dc", "1"), ("_method", "PUT"), ("_authenticity_token", login.json["authenticity_token"]),
             ("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", str(org["id"]))]
    body = urlencode([("__method[]", "PUT"), ("id[]", org["id"]), ("lock_version[]", org["lock_version"]),
                      ("name[]", org["name"] + " (VBA)")]).encode()
    r = request(server.base_url, "POST", "/crm/organisations.api", query=query, body=body,
                headers={**cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.json["success"] is True and r.json["affected_objects"][0]["name"].endswith("(VBA)")
    assert request(server.base_url, "POST", "/logout", headers=cookie).status == 302
