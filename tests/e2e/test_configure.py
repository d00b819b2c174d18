"""`configure` verifies both sides before saving anything (interfaces.md section 2)."""
from __future__ import annotations

from app import settings as st
from tests.e2e.conftest import configure_args


def test_configure_saves_settings_without_secrets(cli, sandboxes):
    out = cli(*configure_args(sandboxes, "--schedule", "daily", "--share-new", "yes"))
    assert out.returncode == 0, out.stderr
    assert "no usable keyring" in out.stderr  # told where the secrets must come from
    text = (cli.home / "config.toml").read_text()
    assert sandboxes.crm.api_key not in text and sandboxes.ews.password not in text
    saved = st.load(cli.home / "config.toml")
    assert saved.sync.schedule == "daily" and saved.sync.share_new is True
    assert saved.mailbox.ews_build  # learned from the server, so later starts skip the version probe
    assert saved.workbooks.database_id


def test_wrong_mailbox_password_exits_2_and_saves_nothing(cli, sandboxes):
    out = cli(*configure_args(sandboxes), env={"WBC_TEST_EWS_PW": "not-the-password"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "not-the-password" not in out.stderr
    assert not (cli.home / "config.toml").exists()


def test_wrong_api_key_exits_2(cli, sandboxes):
    out = cli(*configure_args(sandboxes), env={"WBC_TEST_KEY": "wbk-wrong"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert not (cli.home / "config.toml").exists()


def test_missing_variable_is_named(cli, sandboxes):
    out = cli(*configure_args(sandboxes), env={"WBC_TEST_EWS_PW": ""})
    assert out.returncode == 2 and "WBC_TEST_EWS_PW" in out.stderr


def test_bad_filter_json_is_a_clear_error(cli, sandboxes):
    out = cli(*configure_args(sandboxes, "--filter", "{not json"))
    assert out.returncode == 2 and "filter" in out.stderr.lower() and "Traceback" not in out.stderr
