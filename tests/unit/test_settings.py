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
