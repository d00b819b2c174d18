from __future__ import annotations

import pytest

from app import settings as st
from app.errors import ConfigError


def test_round_trip_keeps_every_value(tmp_path):
    s = st.Settings(
        workbooks=st.WorkbooksAccount(url="https://x.example", auth="password", username="me@x", password_env="WB_PW"),
        mailbox=st.MailboxAccount(ews_url="https://mail/EWS/Exchange.asmx", address="me@x", username="me", auth="basic",
                                  password_env="EWS_PW", ews_build="15.1.2507.6", timezone="Europe/London"),
        sync=st.SyncOptions(schedule="daily", share_existing="all", share_new=True, kinds=("person",)),
        filters=st.Filters(person='{"name": "all", "match": "and", "conditions": []}'),
        safety=st.Safety(max_deletes=7, max_delete_ratio=0.2, min_affected=3),
        email=st.EmailOptions(never_record=("example.com", "boss@x.example"), record_bcc=True),
    )
    path = tmp_path / "config.toml"
    st.save(s, path)
    assert st.load(path) == s


def test_missing_file_gives_defaults(tmp_path):
    assert st.load(tmp_path / "nope.toml") == st.Settings()


def test_broken_toml_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[sync\nschedule=", encoding="utf-8")
    with pytest.raises(ConfigError):
        st.load(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[safety]\nmax_deletes = 'many'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="safety.max_deletes"):
        st.load(path)


def test_newer_file_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("version = 99\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="newer"):
        st.load(path)


def test_unknown_schedule_rejected():
    with pytest.raises(ConfigError):
        st.Settings(sync=st.SyncOptions(schedule="sometimes")).validate()


def test_graph_mailbox_round_trips(tmp_path):
    s = st.Settings(
        workbooks=st.WorkbooksAccount(url="https://x.example", api_key_env="WB_KEY"),
        mailbox=st.MailboxAccount(backend="graph", address="me@contoso.example", client_id="0000-app",
                                  tenant="contoso.onmicrosoft.com", authority_host="https://login.example",
                                  graph_url="https://graph.example/v1.0", token_env="GRAPH_TOKEN",
                                  ca_bundle="/etc/ca.pem", timezone="Europe/London"),
    )
    path = tmp_path / "config.toml"
    st.save(s, path)
    assert st.load(path) == s
    assert s.configured  # no EWS address needed for Microsoft Graph


def test_ews_file_without_graph_keys_loads_with_graph_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[mailbox]\nbackend = "ews"\news_url = "https://mail/EWS/Exchange.asmx"\naddress = "me@x"\n',
                    encoding="utf-8")
    mb = st.load(path).mailbox
    assert mb.backend == "ews" and mb.client_id == "" and mb.tenant == "organizations"
    assert mb.graph_url == "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize("mailbox, match", [
    (st.MailboxAccount(backend="imap"), "backend"),
    (st.MailboxAccount(backend="graph", address="me@x", client_id="a", graph_url="graph.example"), "graph_url"),
    (st.MailboxAccount(backend="graph", address="me@x", client_id="a", authority_host="ftp://x"), "authority_host"),
    (st.MailboxAccount(backend="graph", address="me@x", client_id="a", tenant=""), "tenant"),
    (st.MailboxAccount(backend="graph", address="me@x"), "client_id"),
])
def test_bad_graph_mailbox_is_rejected(mailbox, match):
    with pytest.raises(ConfigError, match=match):
        st.Settings(mailbox=mailbox).validate()


def test_graph_configured_needs_a_sign_in_route():
    wb = st.WorkbooksAccount(url="https://x.example")
    assert not st.Settings(workbooks=wb, mailbox=st.MailboxAccount(backend="graph", address="me@x")).configured
    assert st.Settings(workbooks=wb, mailbox=st.MailboxAccount(backend="graph", address="me@x",
                                                                 client_id="app")).configured
    # an EWS account still needs its EWS address
    assert not st.Settings(workbooks=wb, mailbox=st.MailboxAccount(address="me@x", client_id="app")).configured


def test_email_attachments_are_off_by_default_and_round_trip(tmp_path):
    assert st.Settings().email.attachments is False  # B35: "only if enabled"
    s = st.Settings(email=st.EmailOptions(attachments=True, max_attachment_mb=3))
    path = tmp_path / "config.toml"
    st.save(s, path)
    assert "attachments = true" in path.read_text(encoding="utf-8")
    assert st.load(path).email == s.email


@pytest.mark.parametrize("cap", [0, -1, 101])
def test_email_size_cap_out_of_range_is_refused(cap):
    with pytest.raises(ConfigError, match="max_attachment_mb is between 1 and 100"):
        st.Settings(email=st.EmailOptions(max_attachment_mb=cap)).validate()


def _configure_args(monkeypatch, *extra):
    from app.cli import build_parser

    monkeypatch.setenv("WB_K", "key")
    monkeypatch.setenv("EWS_P", "pw")
    return build_parser().parse_args([
        "configure", "--workbooks-url", "https://wb.example", "--workbooks-api-key-env", "WB_K",
        "--ews-url", "https://mail.example/EWS/Exchange.asmx", "--mailbox", "me@example.com",
        "--ews-username", "me", "--ews-password-env", "EWS_P", *extra])


def test_configure_email_attachment_flags(monkeypatch):
    from app.commands.configure import settings_from_args

    settings, _k, _p = settings_from_args(_configure_args(monkeypatch))
    assert (settings.email.attachments, settings.email.max_attachment_mb) == (False, 16)
    settings, _k, _p = settings_from_args(_configure_args(
        monkeypatch, "--email-attachments", "yes", "--email-max-attachment-mb", "2"))
    assert (settings.email.attachments, settings.email.max_attachment_mb) == (True, 2)
    with pytest.raises(ConfigError, match="--email-max-attachment-mb is between 1 and 100"):
        settings_from_args(_configure_args(monkeypatch, "--email-max-attachment-mb", "0"))


def test_support_bundle_summary_names_the_attachment_choice(tmp_path):
    import json

    from app.paths import ProfilePaths
    from app.support.bundle import _settings

    st.save(st.Settings(email=st.EmailOptions(attachments=True, max_attachment_mb=5)), tmp_path / "config.toml")
    email = json.loads(_settings(ProfilePaths(tmp_path)))["email"]
    assert (email["attachments"], email["max_attachment_mb"]) == (True, 5)
