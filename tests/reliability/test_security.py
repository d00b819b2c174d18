"""Secrets never leave the keyring or their environment variables; TLS is verified by default
(issue 8 part 3; design §7; interfaces §2).

Both sandboxes serve HTTPS with a self-signed certificate. Two profiles (API key; login and
password, which adds session cookies and authenticity tokens) run configure and a few syncs with
distinctive secrets, including runs that fail (a wrong password, server errors, debug logging).
Then every profile file (config.toml, journal.sqlite3 and its WAL, backups, logs/) and the stdout
and stderr of every run are scanned for each secret in the forms it could leak in: plain, URL- and
JSON-escaped, and inside a Basic Authorization header.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import urllib.parse

import pytest

from app.sandbox import seed
from app.sandbox.run import start_both
from tests.fixtures.reliability_env import (
    Cli, assert_clean, contact_by_crm_id, my_people_ids, profile_texts,
)

CRM_PASSWORD = "Crm-Pw-zebra-Ω-77310a"
CRM_API_KEY = "wbk-distinct-5be1f0a9c3d7e2"
WRONG_SECRET = "Wrong-Secret-kiwi-31337"


@pytest.fixture
def boxes():
    data = seed.build(40, 61)
    data.users[0] = dataclasses.replace(data.users[0], password=CRM_PASSWORD, api_key=CRM_API_KEY)
    boxes = start_both(people=40, seed_value=61, tls=True, dataset=data)
    assert boxes.crm.api_key == CRM_API_KEY
    try:
        yield boxes
    finally:
        boxes.stop()


def https_args(boxes, *, api_key: bool = True, ca_bundle: bool = True) -> list[str]:
    crm = (["--workbooks-api-key-env", "WBC_REL_KEY"] if api_key else
           ["--workbooks-username", seed.MAILBOX, "--workbooks-password-env", "WBC_REL_CRM_PW"])
    return [
        "configure", "--workbooks-url", boxes.workbooks_url, *crm,
        "--ews-url", boxes.ews_url, "--mailbox", boxes.ews.mailbox, "--ews-username", boxes.ews.username,
        "--ews-password-env", "WBC_REL_EWS_PW", "--ews-auth", "basic",
        *(["--ca-bundle", str(boxes.tls.cert)] if ca_bundle else []),
    ]


def forms(secret: str) -> set[str]:
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
           json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {s for s in out if len(s) >= 8}


def basic_headers(user: str, secret: str) -> set[str]:
    return {base64.b64encode(f"{user}:{secret}".encode()).decode()}


def session_secrets(boxes) -> set[str]:
    """Cookie values and authenticity tokens the CRM sandbox handed out or was sent."""
    out = set()
    for sid, session in list(boxes.crm.sessions.items()):
        out |= {sid, session.token}
    for req in list(boxes.crm.requests):
        cookie = (req.get("headers") or {}).get("Cookie") or ""
        for part in cookie.split(";"):
            if "=" in part:
                out.add(part.split("=", 1)[1].strip())
        params = req["params"] or []
        for item in (params.items() if isinstance(params, dict) else params):
            if isinstance(item, (tuple, list)) and len(item) == 2 and "token" in str(item[0]).lower():
                out.add(str(item[1]))
    return {s for s in out if len(s) >= 8}


def test_configure_refuses_an_untrusted_certificate_without_ca_bundle(boxes, tmp_path):
    cli = Cli.for_boxes(tmp_path / "p", boxes)
    run = cli(*https_args(boxes, ca_bundle=False), timeout=120)
    assert_clean(run)
    assert run.returncode == 2, (run.returncode, run.stderr)
    msg = run.stderr.lower()
    assert "certificate" in msg and "--ca-bundle" in msg, run.stderr
    assert not (cli.home / "config.toml").exists(), "a refused configure saved something"
    run = cli(*https_args(boxes), timeout=120)
    assert_clean(run)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("mode", ["api_key", "password"])
def test_no_secret_in_profile_files_output_or_errors(boxes, tmp_path, mode):
    api_key = mode == "api_key"
    cli = Cli.for_boxes(tmp_path / mode, boxes, WBC_REL_CRM_PW=CRM_PASSWORD)
    assert cli(*https_args(boxes, api_key=api_key), timeout=120).returncode == 0, cli.runs[-1].stderr
    code, _ = cli.sync()
    assert code == 0
    pid = my_people_ids(boxes)[0]
    boxes.crm.bump_version("people", pid, person_job_title=f"Secret scan {mode}")
    contact = next(iter(contact_by_crm_id(boxes).values()))
    boxes.ews.edit_item(contact["id"], JobTitle=f"Outlook scan {mode}")
    assert cli("--log-level", "debug", "sync", "--json").returncode == 0, cli.runs[-1].stderr
    # failures: server errors on both sides (their texts reach the output and the log) ...
    # (few on EWS: exchangelib waits 10 s, then doubles, after each 500 or dropped connection)
    boxes.crm_server.faults.configure({"fail_next": 4, "kinds": ["http500", "drop"]})
    boxes.ews_server.faults.configure({"fail_next": 1, "kinds": ["busy"]})
    try:
        cli("--log-level", "debug", "sync", "--json", timeout=120)
    finally:
        for server in (boxes.crm_server, boxes.ews_server):
            server.faults.configure({"fail_next": 0})
    # ... and refused credentials (the wrong value must not be echoed either)
    wrong = {"WBC_REL_KEY": WRONG_SECRET} if api_key else {"WBC_REL_CRM_PW": WRONG_SECRET}
    run = cli("--log-level", "debug", "sync", "--json", env=wrong)
    assert run.returncode == 2, (run.returncode, run.stderr)
    # (a wrong mailbox password has its own test below)
    assert cli("sync", "--json").returncode == 0, cli.runs[-1].stderr
    for run in cli.runs:
        assert_clean(run)

    secrets = set()
    for value in (CRM_API_KEY, CRM_PASSWORD, boxes.ews.password, WRONG_SECRET):
        secrets |= forms(value)
    secrets |= basic_headers(boxes.ews.username, boxes.ews.password)
    secrets |= basic_headers(boxes.ews.username, WRONG_SECRET)
    sessions = session_secrets(boxes)
    if not api_key:
        assert sessions, "the password profile never signed in with a session: nothing to scan for"
    secrets |= sessions
    files = profile_texts(cli.home)
    assert "config.toml" in files and "journal.sqlite3" in files and any(k.startswith("logs") for k in files)
    leaks = []
    for name, blob in files.items():
        for s in secrets:
            if s.encode() in blob or s.encode("utf-16-le") in blob:
                leaks.append((name, s[:4] + "…"))
    for i, run in enumerate(cli.runs):
        for s in secrets:
            for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                if s in text:
                    leaks.append((f"run {i} {run.args[:2]} {stream}", s[:4] + "…"))
    assert not leaks, f"secrets found: {sorted(set(leaks))}"


def test_wrong_mailbox_password_fails_promptly_with_exit_2(boxes, tmp_path):
    cli = Cli.for_boxes(tmp_path / "p", boxes)
    assert cli(*https_args(boxes), timeout=120).returncode == 0, cli.runs[-1].stderr
    code, _ = cli.sync()
    assert code == 0
    run = cli("sync", "--json", env={"WBC_REL_EWS_PW": WRONG_SECRET}, timeout=20)
    assert_clean(run)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert WRONG_SECRET not in run.stderr + run.stdout
