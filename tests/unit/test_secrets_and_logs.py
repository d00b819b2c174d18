from __future__ import annotations

import logging

import keyring
import pytest

from app import logs, secrets
from app.errors import SecretsUnavailable


def test_env_variable_wins_and_is_not_copied(monkeypatch):
    ref = secrets.workbooks_secret("https://x", "me", "password", "WB_TEST_PW")
    monkeypatch.setenv("WB_TEST_PW", "from-env")
    assert secrets.get(ref) == "from-env"
    assert keyring.get_password(secrets.SERVICE, ref.name) is None


def test_keyring_round_trip(monkeypatch):
    ref = secrets.mailbox_secret("https://m", "me", "")
    assert secrets.store(ref, "s3cret-value")
    assert secrets.get(ref) == "s3cret-value"
    secrets.forget(ref)
    with pytest.raises(SecretsUnavailable):
        secrets.get(ref)


def test_no_keyring_backend_is_a_clear_error(monkeypatch):
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    ref = secrets.mailbox_secret("https://m", "me", "EWS_PW_UNSET")
    assert secrets.store(ref, "x") is False
    with pytest.raises(SecretsUnavailable, match="EWS_PW_UNSET"):
        secrets.get(ref)


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Basic dXNlcjpwYXNz",
        "Cookie: Workbooks-Session=0123456789abcdef0123456789abcdef",
        "POST login.api api_key=abcdef123456&client=api",
        'password="hunter2hunter2"',
        "Bearer eyJhbGciOi.abc.def",
    ],
)
def test_redaction_masks_secrets(line):
    out = logs.redact(line)
    for secret in ("dXNlcjpwYXNz", "0123456789abcdef", "abcdef123456", "hunter2hunter2", "eyJhbGciOi"):
        assert secret not in out


def test_redaction_masks_addresses_and_registered_values(tmp_path):
    logs.register_secret("very-private-token")
    assert logs.redact("jane.doe@example.com") == "j***@example.com"
    assert "very-private-token" not in logs.redact("value very-private-token here")


def test_file_log_never_contains_secrets(tmp_path):
    logs.attach_file(tmp_path)
    log = logs.get_logger("test")
    log.setLevel(logging.INFO)
    logs.get_logger().setLevel(logging.INFO)
    log.info("login with password=%s for %s", "pw-123456", "a.person@example.org")
    for h in logs.get_logger().handlers:
        h.flush()
    text = (tmp_path / "connector.log").read_text()
    assert "pw-123456" not in text and "a.person@example.org" not in text
    assert "a***@example.org" in text


def test_a_librarys_warning_goes_to_the_file_log_not_to_stderr(tmp_path):
    """exchangelib warns ("Server requested back off ...") through its own logger; with nothing
    above it but the app's logger, Python printed it on stderr ahead of the command's message.
    A fresh interpreter, so no test runner's handler stands in for ours."""
    import subprocess
    import sys

    code = ("import logging, sys; from pathlib import Path; from app import logs; "
            "logs.attach_file(Path(sys.argv[1])); "
            "logging.getLogger('exchangelib.util').warning('Server requested back off until %s', 'then'); "
            "logging.getLogger('exchangelib.util').info('not kept: below the root level')")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    text = (tmp_path / "connector.log").read_text()
    assert "WARNING exchangelib.util: Server requested back off until then" in text
    assert "not kept" not in text
