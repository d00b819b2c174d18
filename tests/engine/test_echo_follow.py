"""A folder about to receive many of our creates has its change feed followed while they are made
(app/sync/echo_follow.py): the token still ends past every create, what someone else did meanwhile
is still seen, and a follower that fails or is cancelled changes nothing."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from app.domain.records import Kind, Side
from app.errors import TransientError
from app.sync.state import PENDING
from tests.fixtures.engine_fakes import FakeMailbox

P = Kind.PERSON
CHUNK = 4
FOLLOW = dict(crm_batch=CHUNK, follow_creates_at=8, follow_round_items=CHUNK)


class FollowableMailbox(FakeMailbox):
    """The engine fake with the adapters' optional `known`: versions the caller holds (the echoes
    of its own writes) are left out of the pages unread."""

    def changes(self, kind, token, known=None):
        for page in super().changes(kind, token):
            if known is not None:
                page = replace(page, changes=tuple(
                    ch for ch in page.changes
                    if not (ch.op == "upsert" and ch.item is not None and known(ch.item_id, ch.item.change_key))))
            yield page


class DeltaMailbox(FakeMailbox):
    """Like Microsoft Graph's delta: `known` is accepted and ignored, pages carry whole items."""

    def changes(self, kind, token, known=None):
        return super().changes(kind, token)


def followed_world(make_world, mailbox=FollowableMailbox, **config):
    world = make_world(**{**FOLLOW, **config})
    world.mailbox = mailbox()
    return world


def people(world, n):
    for i in range(n):
        world.crm.add(P, {"first_name": f"Ona{i}", "last_name": "Reed", "email1": f"ona{i}@reed.test"})


def note_feed_reads(world, hold_at=4):
    """(thread name, creates made so far) for every read of the contacts feed. The `hold_at`-th
    create call waits (a slow server) until the follower has read, so a round surely runs mid-way."""
    reads, creates = [], [0]
    followed = threading.Event()
    real_changes, real_create = world.mailbox.changes, world.mailbox.create

    def changes(kind, token, known=None):
        reads.append((threading.current_thread().name, creates[0]))
        if "follower" in threading.current_thread().name:
            followed.set()
        return real_changes(kind, token, known=known)

    def create(kind, items):
        if creates[0] + 1 == hold_at:
            followed.wait(10)
        out = real_create(kind, items)
        creates[0] += 1
        return out
    world.mailbox.changes, world.mailbox.create = changes, create
    return reads, creates


def settled_again(world):
    """A second cycle finds nothing to do: no create, no staged change, nothing pending."""
    before = world.mailbox.calls.get("create", 0)
    summary = world.sync()
    assert summary.ok, summary.errors
    assert world.mailbox.calls.get("create", 0) == before
    assert sum(summary.created["outlook"].values()) == 0 and sum(summary.created["crm"].values()) == 0
    assert world.journal.outbox([PENDING]) == []
    return summary


@pytest.mark.parametrize("mailbox", [FollowableMailbox, DeltaMailbox])
def test_the_feed_is_read_while_the_creates_are_made_and_the_token_ends_past_them(make_world, mailbox):
    world = followed_world(make_world, mailbox)
    people(world, 6 * CHUNK)
    reads, creates = note_feed_reads(world)
    summary = world.sync()
    assert summary.ok and summary.created["outlook"]["contacts"] == 6 * CHUNK
    followed = [made for name, made in reads if "follower" in name]
    assert followed and min(followed) < creates[0]  # a round ran with creates still to come
    assert len(world.mailbox.live(P)) == 6 * CHUNK
    token = world.journal.cursor(Side.OUTLOOK.value, P.value)
    assert [ch for page in world.mailbox.changes(P, token) for ch in page.changes] == []  # nothing behind it
    settled_again(world)


def _user_acts_during_creates(world, at_create):
    """On the `at_create`-th create call, another mail client adds a contact, edits one of ours
    and deletes another of ours."""
    done, real_create = [], world.mailbox.create

    def create(kind, items):
        out = real_create(kind, items)
        done.append(out)
        if len(done) == at_create:
            ours = [s.id for batch in done[:2] for s in batch]
            world.mailbox.add(P, {"first_name": "Walk", "last_name": "In", "email1": "walk@in.test"})
            world.mailbox.edit(P, ours[0], job_title="Edited meanwhile")
            world.mailbox.user_delete(P, ours[1])
        return out
    world.mailbox.create = create


def _outcome(world):
    links = [l for l in world.journal.links(P)]
    return (sorted((l.crm_fields or {}).get("email1") or "" for l in links if l.state == "shared"),
            sorted((l.crm_fields or {}).get("job_title") or "" for l in links),
            sorted(it.fields.get("email1") or "" for it in world.mailbox.live(P)))


@pytest.mark.parametrize("mailbox", [FollowableMailbox, DeltaMailbox])
def test_what_another_client_does_meanwhile_is_seen_as_without_following(make_world, mailbox):
    outcomes = []
    for follow in ({}, {"follow_creates_at": 0}):
        world = followed_world(make_world, mailbox, **follow)
        people(world, 6 * CHUNK)
        _user_acts_during_creates(world, at_create=3)
        assert world.sync().ok
        world.sync()  # what was staged after our creates is planned now
        outcomes.append(_outcome(world))
        edited = [l for l in world.journal.links(P) if (l.crm_fields or {}).get("job_title") == "Edited meanwhile"]
        assert len(edited) == 1  # the edit reached the CRM
        assert len(world.mailbox.live(P)) == 6 * CHUNK  # the deleted one is not re-created
    assert outcomes[0] == outcomes[1]


def test_a_follower_that_fails_leaves_the_read_to_after_the_creates(make_world):
    world = followed_world(make_world)
    people(world, 6 * CHUNK)
    real_changes = world.mailbox.changes

    def changes(kind, token, known=None):
        if "follower" in threading.current_thread().name:
            raise TransientError("the connection dropped")
        return real_changes(kind, token, known=known)
    world.mailbox.changes = changes
    summary = world.sync()
    assert summary.ok, summary.errors
    token = world.journal.cursor(Side.OUTLOOK.value, P.value)
    assert [ch for page in real_changes(P, token) for ch in page.changes] == []
    world.mailbox.changes = real_changes
    settled_again(world)


def test_a_cancel_with_a_follower_running_keeps_the_old_token_and_resumes_cleanly(make_world):
    world = followed_world(make_world)
    people(world, 6 * CHUNK)
    calls, real_create = [], world.mailbox.create
    stop = threading.Event()

    def create(kind, items):
        calls.append(1)
        if len(calls) == 4:
            stop.set()
        return real_create(kind, items)
    world.mailbox.create = create

    class Cancel:
        def cancelled(self):
            return stop.is_set()
    world.sync()  # indexes the empty folder first: the token the cancelled run starts from
    world.crm.add(P, {"first_name": "Late", "last_name": "Reed", "email1": "late@reed.test"})
    before = world.journal.cursor(Side.OUTLOOK.value, P.value)
    assert before is not None
    calls.clear()
    for i in range(6 * CHUNK):
        world.crm.add(P, {"first_name": f"Bo{i}", "last_name": "Reed", "email1": f"bo{i}@reed.test"})
    world.clock.advance(minutes=5)
    world.engine().run_cycle(cancel=Cancel())
    assert world.journal.cursor(Side.OUTLOOK.value, P.value) == before
    assert not [t for t in threading.enumerate() if "follower" in t.name]
    world.mailbox.create = real_create
    world.sync()
    emails = [it.fields.get("email1") for it in world.mailbox.live(P)]
    assert len(emails) == len(set(emails)) == 2 * 6 * CHUNK + 1  # nothing duplicated, nothing missing
    settled_again(world)


def test_stopping_does_not_wait_for_a_read_stuck_on_the_network():
    import time

    from app.sync.echo_follow import EchoFollower

    release = threading.Event()

    class Stuck:
        def changes(self, kind, token, known=None):
            release.wait(30)  # a read on a dropped connection, until its timeout
            return iter(())
    follower = EchoFollower(Stuck(), P, "t0", lambda: 10_000, round_items=1, poll_seconds=0.01).start()
    time.sleep(0.1)
    started = time.monotonic()
    follower.stop()
    assert time.monotonic() - started < 5
    release.set()
