"""Issue 10 end to end: `configure --mailbox-api graph` + `sync --json` as subprocesses against the
Workbooks sandbox and the Graph sandbox (HTTPS, its CA bundle), and the same scenario on EWS.

The scenario (one test per backend, to keep the suite quick): the first sync brings exactly My
People into contacts and open activities into tasks and meetings and records sent mail; a second
sync writes nothing; an edit on either side crosses; the same field edited on both sides is a
conflict while different fields merge; a resolved conflict is applied; mail to an address added
to a Person later is recorded then. Then the Graph sign-in routes through the CLI: device code with
the token cache in a keyring, no keyring (exit 2), the token variable for automation.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import Cli, configure_args
from tests.e2e.conftest_graph import Mailbox, base_env, graph_cli, graph_configure_args, graph_sandboxes  # noqa: F401

WRITES = ("created", "updated", "deleted")
UNKNOWN = "prospect0@newclient.example"


def writes(summary: dict) -> int:
    return sum(n for key in WRITES for side in summary[key].values() for n in side.values()) + sum(
        summary["unshared"].values()
    )


def my_people(boxes) -> list[dict]:
    queue = boxes.crm.my_queues["Private::Crm::PersonQueue"]
    rows = [boxes.crm.get_record("people", r["id"]) for r in boxes.crm.rows("people")]
    return [r for r in rows if r.get("assigned_to") == queue or r.get("watched") is True]


def email_of(person: dict) -> str:
    return person["main_location[email]"].lower()


@pytest.fixture(params=["ews", "graph"])
def backend(request):
    """(cli, sandboxes, configure arguments) for each mailbox backend."""
    if request.param == "graph":
        boxes = request.getfixturevalue("graph_sandboxes")
        return request.getfixturevalue("graph_cli"), boxes, graph_configure_args(boxes, "--email-capture-days", "30")
    boxes = request.getfixturevalue("sandboxes")
    return request.getfixturevalue("cli"), boxes, configure_args(boxes, "--email-capture-days", "30")


def test_configure_and_sync_through_the_cli(backend):
    cli, boxes, args = backend
    mailbox = Mailbox(boxes)
    out = cli(*args)
    assert out.returncode == 0, out.stderr

    # First sync: exactly My People, open activities, sent mail recorded (never SEND).
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["errors"] == [], first
    people = my_people(boxes)
    assert len(mailbox.shared("contacts")) == len(people)
    for person in people:
        mailbox.contact_for(email_of(person))
    created = first["created"]["outlook"]
    assert created["tasks"] > 0 and created["meetings"] > 0, created
    assert len(mailbox.shared("tasks")) == created["tasks"]
    assert len(mailbox.shared("calendar")) == created["meetings"]
    outbox = boxes.crm.rows("emails")
    assert first["created"]["crm"]["emails"] == len({r.get("message_id") for r in outbox}) > 0
    assert first["email_links"] >= first["created"]["crm"]["emails"]
    assert all(r.get("status") == "SENT" for r in outbox)
    assert not any(UNKNOWN in (r.get("to_addresses") or "") for r in outbox)
    assert len(mailbox.sent()) >= len(outbox)

    # Second sync: nothing to write anywhere.
    code, again = cli.json("sync", "--json")
    assert code == 0 and writes(again) == 0 and again["email_links"] == 0, again

    # One sync with: an edit on each side (crosses), the same field edited on both sides (a
    # conflict, left alone on both) and different fields on both sides (merged).
    crm_side, outlook_side, a, b = people[:4]
    boxes.crm.bump_version("people", crm_side["id"], person_job_title="Chief Tea Officer")
    mailbox.edit(mailbox.contact_for(email_of(outlook_side))["id"], job_title="Head of Biscuits")
    ca, cb = mailbox.contact_for(email_of(a))["id"], mailbox.contact_for(email_of(b))["id"]
    boxes.crm.bump_version("people", a["id"], person_job_title="CRM title")
    mailbox.edit(ca, job_title="Outlook title")
    boxes.crm.bump_version("people", b["id"], person_job_title="Merged title")
    mailbox.edit(cb, company="Merged Company")
    code, summary = cli.json("sync", "--json")
    assert summary["conflicts"] == 1, summary
    assert summary["updated"]["outlook"]["contacts"] == 2 and summary["updated"]["crm"]["people"] == 2, summary
    assert mailbox.get(mailbox.contact_for(email_of(crm_side))["id"], "job_title") == "Chief Tea Officer"
    assert boxes.crm.get_record("people", outlook_side["id"])["person_job_title"] == "Head of Biscuits"
    assert mailbox.get(cb, "job_title") == "Merged title"
    assert boxes.crm.get_record("people", b["id"])["employer_name"] == "Merged Company"
    assert mailbox.get(ca, "job_title") == "Outlook title"
    assert boxes.crm.get_record("people", a["id"])["person_job_title"] == "CRM title"
    code, listing = cli.json("conflicts", "--json")
    assert [d["field"] for d in listing["conflicts"][0]["differences"]] == ["job_title"]
    out = cli("resolve", listing["conflicts"][0]["id"], "--keep", "crm")
    assert out.returncode == 0, out.stderr

    # The next sync applies the resolution, and records mail to an address nobody knew once a
    # Person has it.
    person = boxes.crm.rows("people")[-1]
    boxes.crm.add_contact_email(person["id"], UNKNOWN)
    code, late = cli.json("sync", "--json")
    assert code == 0, late
    assert mailbox.get(ca, "job_title") == "CRM title"
    assert late["created"]["crm"]["emails"] == 1 and late["email_links"] >= 1, late
    row = [r for r in boxes.crm.rows("emails") if UNKNOWN in (r.get("to_addresses") or "")][0]
    links = [link for link in boxes.crm.rows("email_links") if link.get("email_id") == row["id"]]
    assert any(str(link.get("resource_id")) == str(person["id"]) for link in links)
    if mailbox.api == "graph":  # the token route: the token is never written anywhere
        token = cli.env["WBC_TEST_GRAPH_TOKEN"]
        assert not [p for p in cli.home.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]


def test_graph_token_route_keeps_the_token_out_of_files_and_output(graph_cli, graph_sandboxes):
    token = graph_cli.env["WBC_TEST_GRAPH_TOKEN"]
    out = graph_cli(*graph_configure_args(graph_sandboxes))
    assert out.returncode == 0, out.stderr
    assert "WBC_TEST_GRAPH_TOKEN" in out.stderr  # told to keep the variable set
    assert token not in out.stdout + out.stderr
    text = (graph_cli.home / "config.toml").read_text()
    assert 'backend = "graph"' in text and 'token_env = "WBC_TEST_GRAPH_TOKEN"' in text
    assert not [p for p in graph_cli.home.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    # A wrong token: configure says so (exit 2) and saves nothing.
    out = graph_cli(*graph_configure_args(graph_sandboxes), env={"WBC_TEST_GRAPH_TOKEN": "not-a-token"})
    assert out.returncode == 2 and "Traceback" not in out.stderr and "not-a-token" not in out.stderr, out.stderr
    # The variable unset at sync time: named, exit 2, no traceback.
    out = graph_cli("sync", "--json", env={"WBC_TEST_GRAPH_TOKEN": ""})
    assert out.returncode == 2 and "WBC_TEST_GRAPH_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_graph_device_code_sign_in_is_kept_in_the_keyring(tmp_path, graph_sandboxes):
    keyring_file = tmp_path / "keyring.json"
    cli = Cli(tmp_path / "profile", base_env(WBC_TEST_KEY=graph_sandboxes.crm.api_key,
                                             WBC_TEST_KEYRING_FILE=str(keyring_file),
                                             PYTHON_KEYRING_BACKEND="tests.e2e.conftest_graph.FileKeyring"))
    out = cli(*graph_configure_args(graph_sandboxes, "--graph-sign-in-timeout", "60", token_env=None,
                                    client_id=True), timeout=120)
    assert out.returncode == 0, out.stderr
    # The prompt goes to stderr: where to go and which code to enter; stdout stays the one result line.
    assert "/devicelogin" in out.stderr and "enter the code" in out.stderr, out.stderr
    assert "enter the code" not in out.stdout
    stored = json.loads(keyring_file.read_text())
    assert any(":token-cache" in key for key in stored)  # the msal cache, under the app registration
    assert 'client_id = "' + graph_sandboxes.graph.client_id in (cli.home / "config.toml").read_text()
    # A later process signs in silently from the keyring.
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["errors"] == [], first
    assert len(Mailbox(graph_sandboxes).shared()) == len(my_people(graph_sandboxes)) > 0
    # configure again reuses the saved sign-in (no new code to enter).
    out = cli(*graph_configure_args(graph_sandboxes, token_env=None, client_id=True), timeout=120)
    assert out.returncode == 0 and "enter the code" not in out.stderr, out.stderr


def test_graph_sign_in_without_a_keyring_is_refused_clearly(graph_cli, graph_sandboxes):
    out = graph_cli(*graph_configure_args(graph_sandboxes, token_env=None, client_id=True))
    assert out.returncode == 2, out.stderr
    assert "keyring" in out.stderr and "--graph-token-env" in out.stderr and "Traceback" not in out.stderr
    assert not (graph_cli.home / "config.toml").exists()


def test_sandbox_command_prints_the_graph_facts(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "app", "sandbox", "--mailbox-api", "graph", "--people", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base_env())
    try:
        line = proc.stdout.readline()
        facts = json.loads(line)
    finally:
        proc.terminate()
        started = time.monotonic()
        proc.wait(timeout=30)
    assert time.monotonic() - started < 30
    for key in ("workbooks_url", "workbooks_api_key", "mailbox", "graph_url", "graph_authority_host",
                "graph_tenant", "graph_client_id", "ca_bundle"):
        assert facts.get(key), key
    assert facts["graph_url"].startswith("https://") and "ews_url" not in facts
    assert proc.returncode == 0, proc.stderr.read()


def test_device_code_wait_is_bounded_and_the_prompt_goes_to_stderr(capsys):
    """configure's sign-in helper (in process, in-memory keyring): nobody enters the code, so it
    stops after the timeout with a clear AuthError instead of waiting for the code to expire."""
    from app import settings as st
    from app.commands.configure import graph_device_sign_in
    from app.errors import AuthError
    from app.sandbox.graph import start_graph_sandbox

    server, graph = start_graph_sandbox(dataset=False, tls=True, auto_approve_polls=None)
    try:
        settings = st.Settings(mailbox=st.MailboxAccount(
            backend="graph", address=graph.mailbox, client_id=graph.client_id, tenant=graph.tenant,
            authority_host=graph.authority_host, graph_url=graph.graph_url, ca_bundle=str(graph.tls.cert)))
        started = time.monotonic()
        with pytest.raises(AuthError, match="not completed in time"):
            graph_device_sign_in(settings, timeout=2)
        assert time.monotonic() - started < 15
    finally:
        server.stop()
    captured = capsys.readouterr()
    assert "enter the code" in captured.err and "Waiting for the Microsoft 365 sign-in" in captured.err
    assert captured.out == ""


def test_graph_token_provider_routes(monkeypatch):
    """wiring.graph_tokens: a set token variable wins (never stored); otherwise the keyring sign-in;
    neither available is a SecretsUnavailable (exit 2) that names the variable and the fix."""
    from app import secrets, settings as st, wiring
    from app.connectors.graph import GraphSignIn, StaticToken
    from app.errors import SecretsUnavailable

    mb = st.MailboxAccount(backend="graph", address="me@x.example", client_id="app", token_env="WBC_TEST_TOKEN",
                           authority_host="https://login.example")
    settings = st.Settings(mailbox=mb)
    monkeypatch.setenv("WBC_TEST_TOKEN", "tok-123")
    provider = wiring.graph_tokens(settings)
    assert isinstance(provider, StaticToken) and provider.token() == "tok-123" and "tok-123" not in repr(provider)
    monkeypatch.delenv("WBC_TEST_TOKEN")
    built = []
    monkeypatch.setattr(GraphSignIn, "from_settings", classmethod(lambda cls, s: built.append(s) or "signin"))
    assert wiring.graph_tokens(settings) == "signin"  # falls back to the keyring sign-in
    assert built[0].client_id == "app" and built[0].authority == "https://login.example/organizations"
    monkeypatch.setattr(secrets, "keyring_usable", lambda: False)
    with pytest.raises(SecretsUnavailable, match="WBC_TEST_TOKEN.*keyring") as err:
        wiring.graph_tokens(settings)
    assert err.value.exit_code == 2
    token_only = st.Settings(mailbox=st.MailboxAccount(backend="graph", address="me@x.example",
                                                       token_env="WBC_TEST_TOKEN"))
    with pytest.raises(SecretsUnavailable, match="WBC_TEST_TOKEN"):
        wiring.graph_tokens(token_only)


def test_revoked_sign_in_stops_sync_with_the_fix_and_signing_in_again_resumes(tmp_path, graph_sandboxes):
    """Issue 10 re-consent on the command line: the sandbox revokes the refresh token (over its
    control endpoint, as an administrator would), `sync` exits 2 naming the fix, `configure` again
    signs in with a new device code, and `sync` works."""
    import httpx

    keyring_file = tmp_path / "keyring.json"
    cli = Cli(tmp_path / "profile", base_env(WBC_TEST_KEY=graph_sandboxes.crm.api_key,
                                             WBC_TEST_KEYRING_FILE=str(keyring_file),
                                             PYTHON_KEYRING_BACKEND="tests.e2e.conftest_graph.FileKeyring"))
    args = graph_configure_args(graph_sandboxes, "--graph-sign-in-timeout", "60", token_env=None, client_id=True)
    assert cli(*args, timeout=120).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    graph = graph_sandboxes.graph
    import ssl

    resp = httpx.post(graph.base_url + "/_sandbox/graph/revoke", json={},
                      verify=ssl.create_default_context(cafile=str(graph.tls.cert)))
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    out = cli("sync", "--json")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Sign in to Microsoft 365 again" in out.stderr and "configure" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "sbx-" not in out.stderr
    again = cli(*args, timeout=120)
    assert again.returncode == 0 and "enter the code" in again.stderr, again.stderr  # a new sign-in
    code, after = cli.json("sync", "--json")
    assert code == 0 and after["errors"] == [], after
