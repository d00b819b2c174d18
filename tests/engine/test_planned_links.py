"""The links a plan has just written reach the executor as written (Executor.run(planned=...)):
it does not read them back, and ends as reading them back would have."""
from __future__ import annotations

import sqlite3

from app.domain.records import Kind
from app.sync import executor as executor_module
from tests.engine.test_held_listing import UUID, journal_rows, seed

P = Kind.PERSON


def snapshot_texts(path):
    con = sqlite3.connect(path)
    try:
        return sorted(UUID.sub("<id>", repr(r)) for r in con.execute(
            "SELECT crm_id, ews_item_id, ews_json, crm_json, base_json, crm_updated_at, origin, mapping_version, "
            "ews_global_id, crm_gone_seen_at FROM item_link"))
    finally:
        con.close()


def reading_links(world):
    """Every link id the executor's journal is asked for, in order."""
    asked = []
    journal = world.journal
    many, one = journal.links_by_id, journal.link
    journal.links_by_id = lambda ids: (asked.extend(ids), many(ids))[1]
    journal.link = lambda link_id: (asked.append(link_id), one(link_id))[1]
    return asked


def test_a_first_sync_ends_as_reading_the_links_back_would_and_reads_none_it_was_given(make_world, monkeypatch):
    given, reread = make_world(crm_batch=10), make_world(crm_batch=10)
    seed(given)
    seed(reread)
    asked = reading_links(given)
    canonicalised = []
    real_canonical = executor_module.canonical
    monkeypatch.setattr(executor_module, "canonical", lambda kind, fields: (canonicalised.append(1),
                                                                           real_canonical(kind, fields))[1])
    summary = given.sync()
    assert summary.created["outlook"]["contacts"] == 20 and not summary.errors
    # only the matched pairs' second writes (a share after the update) read their link, which the
    # first write changed; the twenty created contacts' links never
    created = {l.id for l in given.journal.links(P) if l.origin == "crm"}
    assert len(created) == 20 and not created & set(asked)

    real_run = executor_module.Executor.run
    monkeypatch.setattr(executor_module.Executor, "run",
                        lambda self, ops, cancelled=lambda: False, *, planned=None: real_run(self, ops, cancelled))
    given_canonicalised, canonicalised[:] = len(canonicalised), []
    reread.sync()
    # the plan's snapshots are canonical already: a settle does not work them out again
    assert given_canonicalised + 20 <= len(canonicalised)
    assert journal_rows(given.path) == journal_rows(reread.path)
    assert snapshot_texts(given.path) == snapshot_texts(reread.path)


def test_a_matched_pair_written_twice_ends_with_the_mailboxs_change_key(world):
    world.crm.add(P, {"first_name": "Ada", "last_name": "Byron", "email1": "ada@x.test"}, emails=("ada@x.test",))
    world.mailbox.add(P, {"first_name": "Ada", "last_name": "Byron", "email1": "ada@x.test", "job_title": "Countess"})
    summary = world.sync()  # the pair's link is planned new: an update, then the sharing
    assert not summary.errors
    (link,) = world.journal.links(P)
    (item,) = world.mailbox.live(P)
    assert item.change_key == link.ews_change_key and link.state == "shared"
    assert world.sync().ok  # and nothing is left to redo
