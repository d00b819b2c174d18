"""Conflict, leave-filter and CRM-deletion policies: stored in config.toml, parsed from configure,
and handed to the engine."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from app import settings as st
from app.commands.configure import conflict_policies
from app.domain.records import Kind
from app.errors import ConfigError, UsageError
from app.wiring import engine_config


def test_policies_round_trip_and_default_to_ask(tmp_path):
    assert st.Settings().conflicts == st.Conflicts("ask", "ask", "ask")
    s = st.Settings(conflicts=st.Conflicts(person="crm_wins", meeting="newest_wins"),
                    safety=st.Safety(leave_filter="trash_unchanged", crm_delete="keep"))
    path = tmp_path / "config.toml"
    st.save(s, path)
    assert "[conflicts]" in path.read_text()
    assert st.load(path) == s


def test_a_file_from_before_the_policies_loads_with_the_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("version = 1\n[safety]\nmax_deletes = 9\n", encoding="utf-8")
    loaded = st.load(path)
    assert loaded.safety.max_deletes == 9 and loaded.safety.leave_filter == "keep"
    assert loaded.conflicts == st.Conflicts()


@pytest.mark.parametrize("section, body, named", [
    ("conflicts", "person = 'loudest_wins'", "conflicts.person"),
    ("safety", "leave_filter = 'shred'", "safety.leave_filter"),
    ("safety", "crm_delete = 'purge'", "safety.crm_delete"),
])
def test_unknown_policy_in_the_file_is_named(tmp_path, section, body, named):
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=named):
        st.load(path)


def test_configure_flags_apply_to_all_kinds_then_to_one():
    assert conflict_policies([]) == st.Conflicts()
    assert conflict_policies(["crm-wins"]) == st.Conflicts("crm_wins", "crm_wins", "crm_wins")
    assert conflict_policies(["outlook_wins", "task=ask"]) == st.Conflicts("outlook_wins", "ask", "outlook_wins")


@pytest.mark.parametrize("spec", ["loudest_wins", "contact=crm_wins", ""])
def test_configure_rejects_unknown_policies_and_types(spec):
    with pytest.raises(UsageError):
        conflict_policies([spec])


class _Crm:
    def my_queue(self, name):
        return None


def test_engine_receives_the_chosen_policies():
    settings = st.Settings(conflicts=st.Conflicts(task="newest_wins"),
                           safety=st.Safety(leave_filter="trash_unchanged", crm_delete="keep"))
    cfg = engine_config(settings, SimpleNamespace(my_queue=_Crm().my_queue))
    assert cfg.policy_for(Kind.TASK) == "newest_wins" and cfg.policy_for(Kind.PERSON) == "ask"
    assert cfg.leave_filter_policy == "trash_unchanged" and cfg.crm_delete_policy == "keep"


def test_directions_round_trip_and_reach_the_engine(tmp_path):
    s = st.Settings(direction=st.Directions(person="to_outlook", task="to_workbooks"))
    path = tmp_path / "config.toml"
    st.save(s, path)
    assert st.load(path) == s
    cfg = engine_config(s, SimpleNamespace(my_queue=_Crm().my_queue))
    assert cfg.direction_for(Kind.PERSON) == "to_outlook" and cfg.direction_for(Kind.MEETING) == "both"


def test_configure_direction_flags_and_off():
    from app.commands.configure import sync_directions

    assert sync_directions([]) == (st.Directions(), set())
    assert sync_directions(["to-outlook", "task=off"]) == (st.Directions("to_outlook", "both", "to_outlook"), {"task"})
    with pytest.raises(UsageError):
        sync_directions(["off"])
    with pytest.raises(UsageError):
        sync_directions(["person=sideways"])


def test_unknown_direction_in_the_file_is_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[direction]\nmeeting = 'sideways'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="direction.meeting"):
        st.load(path)
