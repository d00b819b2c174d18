"""Journal file handling: pragmas, integrity check, corrupt file moved aside, migrations, newer files."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from app.domain.records import Kind, Side
from app.errors import JournalError
from app.journal import migrations, models
from app.journal.db import WAL_AUTOCHECKPOINT_PAGES, open_database, quick_check
from app.journal.repo import open_journal
from app.sync.state import Batch, Link, Staged


def test_pragmas_wal_foreign_keys_full_sync(tmp_path):
    db = open_database(tmp_path / "j.sqlite3")
    with db.engine.connect() as con:
        assert con.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert con.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert con.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert con.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert con.execute(text("PRAGMA wal_autocheckpoint")).scalar() == WAL_AUTOCHECKPOINT_PAGES
    db.dispose()


def test_new_file_is_stamped_with_schema_version(tmp_path):
    j = open_journal(tmp_path / "j.sqlite3")
    assert j.get_meta("schema_version") == str(models.SCHEMA_VERSION)
    j.close()


def test_every_design_table_exists(tmp_path):
    db = open_database(tmp_path / "j.sqlite3")
    with db.engine.connect() as con:
        names = {r[0] for r in con.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"meta", "scope", "cursor", "item_link", "staged_change", "outbox", "conflict", "item_error", "sharing",
            "safety_hold", "sent_email", "email_link", "unmatched_address", "crm_reference", "lease", "history"} <= names
    db.dispose()


def test_corrupt_file_is_backed_up_and_rebuilt(tmp_path):
    path = tmp_path / "journal.sqlite3"
    j = open_journal(path)
    j.write(Batch(links=[Link("l1", Kind.PERSON, ews_item_id="e", crm_id="1")]))
    j.close()
    data = bytearray(path.read_bytes())
    data[100:4000] = b"\x00garbage" * 487 + b"\x00" * (3900 - 8 * 487)
    path.write_bytes(bytes(data))
    j = open_journal(path)
    assert j.recovered_from is not None and j.recovered_from.exists()
    assert j.links() == []  # lost-state path: the engine re-matches by markers
    assert j.get_meta("recovered_from") == j.recovered_from.name
    j.close()


def test_not_a_database_is_moved_aside(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    assert not quick_check(path)
    j = open_journal(path)
    assert j.recovered_from is not None
    assert j.get_meta("schema_version") == str(models.SCHEMA_VERSION)
    j.close()


def test_newer_schema_is_refused_clearly(tmp_path):
    path = tmp_path / "journal.sqlite3"
    open_journal(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="newer version"):
        open_journal(path)
    assert path.exists()  # left alone, not rebuilt


def test_older_schema_is_backed_up_then_migrated_step_by_step(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = open_database(path)
    seen = []

    def step2(con):
        seen.append(2)
        con.execute(text("ALTER TABLE item_link ADD COLUMN extra TEXT"))

    def step3(con):
        seen.append(3)
        migrations.clear_links_and_cursors(con)

    with db.engine.begin() as con:  # pretend the file is a schema 1 file
        con.execute(text("UPDATE meta SET value='1' WHERE key='schema_version'"))
    assert migrations.ensure_schema(db.engine, path, target=3, steps={2: step2, 3: step3}) == 3
    assert seen == [2, 3]
    assert migrations.current_version(db.engine) == 3
    assert (tmp_path / "journal.sqlite3.v1.bak").exists()
    db.dispose()


def test_failed_migration_step_keeps_the_old_version(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = open_database(path)
    with db.engine.begin() as con:
        con.execute(text("UPDATE meta SET value='1' WHERE key='schema_version'"))

    def broken(con):
        con.execute(text("INSERT INTO meta(key, value) VALUES ('half', 'done')"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrations.ensure_schema(db.engine, path, target=2, steps={2: broken})
    assert migrations.current_version(db.engine) == 1
    with db.engine.connect() as con:
        assert con.execute(text("SELECT count(*) FROM meta WHERE key='half'")).scalar() == 0
    db.dispose()


def test_schema_2_adds_pending_deletion_and_meeting_id_columns_and_keeps_links(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = open_database(path)
    with db.engine.begin() as con:
        con.execute(text("DROP INDEX ix_item_link_ews_global_id"))
        for column in ("crm_gone_seen_at", "ews_global_id"):
            con.execute(text(f"ALTER TABLE item_link DROP COLUMN {column}"))
        con.execute(text("UPDATE meta SET value='1' WHERE key='schema_version'"))
        con.execute(text("INSERT INTO item_link (id, kind, state, crm_type, crm_id, ews_item_id, mapping_version, "
                         "in_scope, origin) VALUES ('l1', 'person', 'shared', 'person', '7', 'e1', 1, 1, 'crm')"))
    db.dispose()
    j = open_journal(path)  # migrates 1 -> 2 -> the current version
    assert j.get_meta("schema_version") == str(models.SCHEMA_VERSION)
    assert (tmp_path / "journal.sqlite3.v1.bak").exists()
    (link,) = j.links()
    assert (link.id, link.crm_id, link.ews_item_id, link.crm_gone_seen_at, link.ews_global_id) == (
        "l1", "7", "e1", None, None)
    seen = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    j.write(Batch(gone_seen=[("l1", seen)]))
    assert j.links()[0].crm_gone_seen_at == seen
    j.write(Batch(links=[replace(link, crm_lock_version="9")]))  # an older snapshot does not clear it
    assert j.links()[0].crm_gone_seen_at == seen
    j.write(Batch(gone_seen=[("l1", None)]))
    assert j.links()[0].crm_gone_seen_at is None
    j.write(Batch(links=[replace(link, ews_global_id="UID-1")]))
    j.write(Batch(links=[link]))  # written without the meeting id: it is kept
    assert j.links()[0].ews_global_id == "UID-1"
    j.close()


def test_cursor_commits_with_its_staged_changes(tmp_path):
    j = open_journal(tmp_path / "j.sqlite3")
    good = Staged(Side.OUTLOOK, Kind.PERSON, "e1", "upsert", "ck1")
    j.write(Batch(stage=[good], cursors=[("outlook", "person", "7")]))
    assert j.cursor("outlook", "person") == "7" and len(j.load(Kind.PERSON).staged) == 1
    bad = Batch(stage=[Staged(Side.OUTLOOK, Kind.PERSON, "e2", "upsert", "ck2")], cursors=[("outlook", "person", "8")],
                links=[Link("x", Kind.PERSON, ews_item_id="dup"), Link("y", Kind.PERSON, ews_item_id="dup")])
    with pytest.raises(Exception):
        j.write(bad)
    assert j.cursor("outlook", "person") == "7"  # rolled back together
    assert [s.remote_id for s in j.load(Kind.PERSON).staged] == ["e1"]
    j.close()


def test_read_only_reader_needs_an_existing_journal(tmp_path):
    with pytest.raises(JournalError):
        open_database(tmp_path / "missing.sqlite3", read_only=True)


def test_schema_3_keeps_email_links_as_linked_and_remembers_removals(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = open_database(path)
    with db.engine.begin() as con:
        for column in ("state", "changed_at"):
            con.execute(text(f"ALTER TABLE email_link DROP COLUMN {column}"))
        con.execute(text("UPDATE meta SET value='2' WHERE key='schema_version'"))
        con.execute(text("INSERT INTO sent_email (id, internet_message_id, subject, state) VALUES (1, '<m1@x>', 's', 'recorded')"))
        con.execute(text("INSERT INTO email_link (sent_email_id, target_type, target_id, matched_address, reason, retroactive,"
                         " crm_link_id) VALUES (1, 'person', '7', 'a@x', 'address', 0, '1000001')"))
    db.dispose()
    j = open_journal(path)
    assert j.get_meta("schema_version") == "3"
    assert (tmp_path / "journal.sqlite3.v2.bak").exists()
    with j.db.engine.connect() as con:
        assert con.execute(text("SELECT state, changed_at, crm_link_id FROM email_link")).one() == (
            "linked", None, "1000001")
    j.close()
