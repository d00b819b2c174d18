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
