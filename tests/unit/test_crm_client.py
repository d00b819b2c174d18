"""Unit tests of WorkbooksClient against a scripted MockTransport (wire shape, auth, retries)."""
from __future__ import annotations

import httpx
import pytest

from app.connectors.crm.client import WorkbooksClient
from app.errors import AuthError, PrerequisiteError, TransientError
from tests.fixtures.crmclient_fake import Scripted, js, login_ok, page, redirect, values

SECRET = "pa55w0rd-very-secret"


def make(fake: Scripted, **kw) -> WorkbooksClient:
    kw.setdefault("sleep", lambda s: None)
    if "api_key" not in kw:
        kw.setdefault("username", "sam@example.com")
        kw.setdefault("password", SECRET)
    return WorkbooksClient("https://wb.example", transport=fake.transport(), **kw)


def test_key_mode_posts_everything_with_method_override():
    fake = Scripted().add(page([{"id": 1, "lock_version": 0}]))
    c = make(fake, api_key="KEY123")
    body = c.read("crm/people.api", [("_select_columns[]", "id"), ("_select_columns[]", "name")])
    assert body["data"][0]["id"] == 1
    req, params = fake.requests[0]
    assert req.method == "POST"
    assert req.url.path == "/crm/people.api"
    assert "_dc" in req.url.params
    assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert req.headers["user-agent"].startswith("WorkbooksConnector/")
    assert "cookie" not in req.headers
    assert ("_method", "GET") in params and ("api_key", "KEY123") in params and ("api_version", "1") in params
    assert values(params, "_select_columns[]") == ["id", "name"]
    assert not any(k == "_authenticity_token" for k, _ in params)


def test_password_login_chooses_remembered_database_and_sends_cookie_and_token():
    fake = Scripted().add(
        js({"failure_reason": "no_database_selection_made", "databases": [{"id": 11}, {"id": 12}],
            "default_database_id": 11}, status=403),
        login_ok(session="b" * 32),
        js({"success": True, "affected_objects": [{"id": 5, "lock_version": 1}],
            "affected_object_information": [{"success": True, "errors": [], "warnings": []}]}, cookie="c" * 32),
        page([]),
    )
    c = make(fake, database_id=13)  # remembered, but no longer offered
    c.write("crm/people.api", [("__method[]", "PUT")])
    c.read("crm/people.api", [])
    first, second = fake.requests[0][1], fake.requests[1][1]
    assert ("_fast_login", "false") in first and ("client", "api") in first and ("api_version", "1") in first
    assert values(first, "logical_database_id") == ["13"]
    assert values(second, "logical_database_id") == ["11"]  # the default
    write_req, write_params = fake.requests[2]
    assert write_req.headers["cookie"] == "Workbooks-Session=" + "b" * 32
    assert values(write_params, "_authenticity_token") == ["tok123456"]
    assert values(write_params, "_method") == ["PUT"]
    read_req, read_params = fake.requests[3]
    assert read_req.headers["cookie"] == "Workbooks-Session=" + "c" * 32  # overwritten by the latest Set-Cookie
    assert not values(read_params, "_authenticity_token")
    assert c.database_id == 11


def test_remembered_database_is_sent_at_first_login():
    fake = Scripted().add(login_ok())
    make(fake, database_id=11).login()
    assert values(fake.requests[0][1], "logical_database_id") == ["11"]


def test_database_choice_falls_back_to_default():
    fake = Scripted().add(
        js({"failure_reason": "no_database_selection_made", "databases": [{"id": 11}, {"id": 12}],
            "default_database_id": 11}, status=403),
        login_ok(),
    )
    c = make(fake)
    c.login()
    assert values(fake.requests[1][1], "logical_database_id") == ["11"]


def test_bad_password_is_auth_error_without_secret():
    fake = Scripted().add(js({"failure_reason": "unrecognised_name_or_password", "failure_message": "x"}, status=401))
    c = make(fake)
    with pytest.raises(AuthError) as err:
        c.read("crm/people.api", [])
    assert SECRET not in str(err.value) and "recognise" in str(err.value)


def test_no_api_permission_is_prerequisite():
    fake = Scripted().add(js({"failure_reason": "no_permission_for_api"}, status=403))
    with pytest.raises(PrerequisiteError) as err:
        make(fake).login()
    assert "API Access" in str(err.value)


def test_expired_session_relogs_in_once():
    fake = Scripted().add(
        login_ok(session="1" * 32),
        js({"failure_reason": "session_expired"}, status=401),
        login_ok(session="2" * 32),
        page([{"id": 1}]),
    )
    c = make(fake)
    assert c.read("crm/people.api", [])["data"] == [{"id": 1}]
    assert fake.requests[3][0].headers["cookie"].endswith("2" * 32)


def test_persistent_302_relogs_in_then_gives_up():
    fake = Scripted().add(login_ok(), redirect(), redirect(), login_ok(session="9" * 32), page([{"id": 3}]))
    c = make(fake)
    assert c.read("crm/people.api", [])["data"] == [{"id": 3}]
    assert [r.url.path for r, _ in fake.requests] == ["/login.api", "/crm/people.api", "/crm/people.api", "/login.api", "/crm/people.api"]
    fake2 = Scripted()
    fake2.default = lambda req, p: login_ok() if req.url.path == "/login.api" else redirect()
    with pytest.raises(TransientError):
        make(fake2, max_redirects=4).read("crm/people.api", [])


def test_302_in_key_mode_is_resent():
    fake = Scripted().add(redirect(), page([{"id": 1}]))
    c = make(fake, api_key="K")
    assert c.read("crm/people.api", [])["data"] == [{"id": 1}]
    assert len(fake.requests) == 2


def test_reads_retry_5xx_and_transport_errors_but_not_4xx():
    fake = Scripted().add(js({}, status=500), httpx.ReadError("boom"), httpx.RemoteProtocolError("gone"), page([{"id": 1}]))
    c = make(fake, api_key="K")
    assert c.read("crm/people.api", [])["data"] == [{"id": 1}]
    assert len(fake.requests) == 4
    fake = Scripted().add(js({}, status=406))
    with pytest.raises(PrerequisiteError):
        make(fake, api_key="K").read("crm/cases.api", [])
    assert len(fake.requests) == 1


def test_reads_give_up_after_max_retries():
    fake = Scripted()
    fake.default = lambda req, p: js({}, status=503)
    with pytest.raises(TransientError):
        make(fake, api_key="K", max_retries=3).read("crm/people.api", [])
    assert len(fake.requests) == 4


def test_writes_are_never_resent_when_they_may_have_landed():
    for failure in (js({}, status=500), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")):
        fake = Scripted().add(failure, page([]))
        with pytest.raises(TransientError) as err:
            make(fake, api_key="K").write("activity/tasks.api", [("__method[]", "POST")])
        assert "may or may not" in str(err.value)
        assert len(fake.requests) == 1


def test_writes_resent_when_nothing_landed():
    ok = js({"success": True, "affected_objects": [{"id": 1, "lock_version": 0}]})
    fake = Scripted().add(httpx.ConnectError("refused"), redirect(), ok)
    assert make(fake, api_key="K").write("activity/tasks.api", [])["success"] is True
    assert len(fake.requests) == 3


def test_invalid_token_relogs_in_and_resends_write():
    fake = Scripted().add(
        login_ok(token="old-token"),
        js({"success": False, "failures": ["Invalid authenticity token"]}),
        login_ok(token="new-token"),
        js({"success": True, "affected_objects": [{"id": 1, "lock_version": 0}]}),
    )
    c = make(fake)
    c.write("activity/tasks.api", [])
    assert values(fake.requests[3][1], "_authenticity_token") == ["new-token"]


def test_retry_after_is_honoured():
    slept: list[float] = []
    fake = Scripted().add(js({}, status=429, headers={"Retry-After": "3"}), page([]))
    make(fake, api_key="K", sleep=slept.append).read("crm/people.api", [])
    assert slept == [3.0]


def test_non_json_answer_relogs_in_cookie_mode():
    html = httpx.Response(200, content=b"<html>login</html>", headers={"Content-Type": "text/html"})
    fake = Scripted().add(login_ok(), html, login_ok(session="3" * 32), page([{"id": 2}]))
    assert make(fake).read("crm/people.api", [])["data"] == [{"id": 2}]


def test_failed_read_body_raises():
    fake = Scripted().add(js({"success": False, "errors": {"[]": {"x": "bad"}}}))
    with pytest.raises(Exception) as err:
        make(fake, api_key="K").read("crm/people.api", [])
    assert "bad" in str(err.value)


def test_logout_posts_logout_and_forgets_session():
    fake = Scripted().add(login_ok(), httpx.Response(302, headers={"Location": "/"}), login_ok(session="4" * 32))
    c = make(fake)
    c.login()
    c.logout()
    assert fake.requests[1][0].url.path == "/logout"
    assert fake.requests[1][0].headers["cookie"].startswith("Workbooks-Session=")
    assert c.known_login() is None
    c.login()
    assert "cookie" not in fake.requests[2][0].headers


def test_secrets_never_in_transient_messages():
    fake = Scripted()
    fake.default = lambda req, p: (_ for _ in ()).throw(httpx.ConnectError(f"failed api_key={SECRET}"))
    with pytest.raises(TransientError) as err:
        make(fake, api_key=SECRET, max_retries=1).read("crm/people.api", [])
    assert SECRET not in str(err.value)


def test_ca_bundle_builds_verifying_context(tmp_path):
    import ssl
    from app.sandbox.server import make_self_signed
    files = make_self_signed(tmp_path)
    c = WorkbooksClient("https://127.0.0.1:1", api_key="K", ca_bundle=str(files.cert))
    ctx = c._http._transport._pool._ssl_context  # noqa: SLF001 - verifying the TLS setup
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    c.close()


def test_needs_credentials():
    with pytest.raises(AuthError):
        WorkbooksClient("https://wb.example")


def test_server_echoing_a_secret_is_scrubbed():
    fake = Scripted().add(login_ok(), js({"success": False, "errors": {"[]": {"x": f"bad value {SECRET}"}}}))
    with pytest.raises(Exception) as err:
        make(fake).read("crm/people.api", [])
    assert SECRET not in str(err.value) and "***" in str(err.value)
    fake = Scripted().add(js({"failure_reason": "weird", "failure_message": f"no {SECRET}"}, status=401))
    with pytest.raises(AuthError) as err:
        make(fake).login()
    assert SECRET not in str(err.value)


def test_form_body_equals_urlencode_also_for_long_values_cut_into_slices():
    from urllib.parse import urlencode

    from app.connectors.crm.client import QUOTE_SLICE, form_body

    # a multi-byte character on each side of a slice boundary, spaces, reserved characters, CRLF
    long = ("a" * (QUOTE_SLICE - 1) + "é€ +/=&\r\n") * 3
    pairs = [("_ff[]", "id"), ("rfc822[]", long), ("subject[]", "Zoë & co 🚀"), ("empty[]", "")]
    assert form_body(pairs) == urlencode(pairs).encode("utf-8")


def test_form_body_equals_urlencode_for_a_listing_page_twice():
    """Names and naming values are quoted once and reused: the second body is the first, both
    urlencode's; data and secrets (criteria, the key) are quoted each time, never kept."""
    from urllib.parse import urlencode

    from app.connectors.crm import query as Q
    from app.connectors.crm.client import _quoted_name, form_body
    from app.connectors.crm.mapping import TYPES
    from app.domain.filters import Condition, Filter
    from app.domain.records import Kind

    flt = Filter((Condition("id", "gt", "102000"), Condition("name", "eq", "Zoë & co, 1+1=2")), "1 AND 2")
    pairs = ([("_method", "GET"), ("client", "api"), ("api_key", "secret-key/+="), ("api_version", "1")]
             + Q.column_params(TYPES[Kind.PERSON].columns) + Q.filter_params(flt) + Q.sort_params([("id", "ASC")])
             + Q.page_params(0, 100, count_total=False))
    _quoted_name.cache_clear()
    assert form_body(pairs) == form_body(list(pairs)) == urlencode(pairs).encode("utf-8")
    naming = {k for k, _ in pairs} | {v for k, v in pairs if k not in ("api_key", "_fc[]")}
    assert _quoted_name.cache_info().misses == len(naming)  # the key and the criteria never went in
