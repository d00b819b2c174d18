"""A full CRM listing reaches the plan of its own cycle without being staged in the journal
(app/sync/held_listing.py): the end state is the one staging gives, the listing's mark commits
only with its plan, and a cycle stopped or failed before the plan loses nothing."""
from __future__ import annotations

import re
import sqlite3

import pytest

from app.domain.records import Kind, Side
from app.sync import engine as engine_module
from app.sync.held_listing import HeldListings
from tests.fixtures.journal_writes import before_each_write

P = Kind.PERSON
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class StagingAsBefore(HeldListings):
    """The listing staged in the journal page by page, as before listings were held."""

    def writer(self, kind):
        return self._journal.write

    def holding(self, kind):
        return False


def seed(world):
    """Creates, matches, an ambiguous match (its records stay staged after the plan: the
    conflict decides) and an unmatched contact: every way the plan leaves a listed record."""
    for i in range(23):
        world.crm.add(P, {"first_name": f"Ona{i}", "last_name": "Reed", "email1": f"ona{i}@reed.test"},
                      emails=(f"ona{i}@reed.test",))
    for i in range(3):
        world.mailbox.add(P, {"first_name": f"Ona{i}", "last_name": "Reed", "email1": f"ona{i}@reed.test"})
    world.crm.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme"})
    world.crm.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme", "job_title": "Other"})
    world.mailbox.add(P, {"first_name": "Sam", "last_name": "Roe", "company": "Acme"})
    world.mailbox.add(P, {"first_name": "Lone", "last_name": "Mailbox"})


def journal_rows(path):
    """The journal's content that does not depend on generated ids or the wall clock."""
    con = sqlite3.connect(path)
    try:
        q = {
            "links": "SELECT kind, state, ews_item_id, ews_change_key, ews_hash, crm_id, crm_lock_version, crm_hash, "
                     "base_hash, in_scope FROM item_link",
            "staged": "SELECT side, kind, remote_id, change, version, in_scope, payload_json FROM staged_change",
            "conflicts": "SELECT kind, conflict_kind, ews_item_id, crm_id, candidates_json, status FROM conflict",
            "outbox": "SELECT kind, side, op, state, attempts FROM outbox",
            "history": "SELECT action, kind, direction, reason FROM history",
            "cursors": "SELECT side, name, token FROM cursor",
            "meta": "SELECT key, value FROM meta WHERE key LIKE 'filter:%' OR key LIKE 'indexed:%'",
        }
        return {name: sorted(UUID.sub("<id>", repr(r)) for r in con.execute(sql).fetchall()) for name, sql in q.items()}
    finally:
        con.close()


def test_a_held_listing_ends_where_staging_it_did(make_world, monkeypatch):
    # calls one at a time: two on the wire may reach the server in either order, and take its ids so
    config = dict(share_existing="matching", crm_batch=4, calls_in_flight=0)
    held, staged = make_world(**config), make_world(**config)
    for w in (held, staged):
        seed(w)
    held.sync()
    monkeypatch.setattr(engine_module, "HeldListings", StagingAsBefore)
    staged.sync()
    a, b = journal_rows(held.path), journal_rows(staged.path)
    assert a == b
    assert len(a["conflicts"]) == 1  # the ambiguous pair waits, staged:
    assert sum(r.startswith("('crm'") for r in a["staged"]) == 2
    assert sum(r.startswith("('create', 'person'") for r in a["history"]) == 20
    monkeypatch.undo()
    for w in (held, staged):
        w.sync()
    assert journal_rows(held.path) == journal_rows(staged.path)


def test_the_listing_is_never_staged_and_its_mark_commits_with_the_plan(world):
    seed(world)
    batches = []
    before_each_write(world.journal, batches.append)
    assert world.sync().ok
    crm_staging = [b for b in batches if any(s.side is Side.CRM and s.kind is P for s in b.stage)]
    marks = [b for b in batches if ("crm", P.value) in [c[:2] for c in b.cursors]]
    assert len(marks) == 1 and marks[0].outbox, "the mark is written by the plan's own transaction"
    assert crm_staging == marks  # the only CRM staging is what the plan left: the ambiguous pair
    assert sorted(s.remote_id for s in marks[0].stage if s.side is Side.CRM and s.kind is P) == sorted(
        r.id for r in world.crm.live(P) if r.fields["first_name"] == "Sam")
    assert "filter:person" in marks[0].meta


def test_a_plan_that_fails_leaves_the_mark_where_it_was(world, monkeypatch):
    seed(world)

    def broken(*_a, **_kw):
        raise RuntimeError("planner bug")
    monkeypatch.setattr(engine_module.KindPlanner, "plan", broken)
    with pytest.raises(Exception):
        world.sync()
    assert world.journal.cursor("crm", P.value) is None
    assert journal_rows(world.path)["staged"] == sorted(journal_rows(world.path)["staged"])
    assert not [r for r in journal_rows(world.path)["staged"] if r.startswith("('crm'")]
    monkeypatch.undo()
    world.reopen()
    assert world.sync().ok
    assert len(world.mailbox.live(P)) == 25  # 5 there, 20 created
    assert world.sync().ok and len(world.mailbox.live(P)) == 25


class _StopAfter:
    def __init__(self, pages):
        self.pages, self.seen = pages, 0

    def cancelled(self):
        return self.seen >= self.pages


def test_a_listing_stopped_part_way_commits_no_mark_and_the_next_run_lists_again(world):
    """Stopped after some pages, the listing keeps what it read staged but not its mark: a mark
    would make the next run read only what changed since, and never see the rest."""
    for i in range(250):
        world.crm.add(P, {"first_name": f"P{i}", "last_name": "Page"})
    stop = _StopAfter(1)
    real_list = world.crm.list_scope

    def list_scope(kind, flt):
        for page in real_list(kind, flt):
            stop.seen += 1
            yield page
    world.crm.list_scope = list_scope
    summary = world.sync(cancel=stop)
    assert world.journal.cursor("crm", P.value) is None
    assert not summary.created["outlook"].get("contacts")
    assert 100 <= len([r for r in journal_rows(world.path)["staged"] if r.startswith("('crm'")]) < 250
    world.crm.list_scope = real_list
    assert world.sync().ok
    assert len(world.mailbox.live(P)) == 250
    assert world.sync().ok and len(world.mailbox.live(P)) == 250


def test_a_cycle_cancelled_between_listing_and_plan_keeps_the_listing_staged(world, monkeypatch):
    """As before: the listing is in the journal with its mark, and the next run plans it."""
    seed(world)
    stop = _StopAfter(1)
    real_back = engine_module.guards.collection_back

    def collection_back(*a, **kw):
        stop.seen = 1  # the cancel arrives once the listing is read, before the plan
        return real_back(*a, **kw)
    monkeypatch.setattr(engine_module.guards, "collection_back", collection_back)
    world.sync(cancel=stop)
    assert world.journal.cursor("crm", P.value) is not None
    assert len([r for r in journal_rows(world.path)["staged"] if r.startswith("('crm'")]) == 25
    monkeypatch.undo()
    assert world.sync().ok and len(world.mailbox.live(P)) == 25
