"""ReadAhead (app/sync/prefetch.py): a feed read on a background thread, handed over in order."""
from __future__ import annotations

import threading
import time

import pytest

from app.errors import AuthError, CollectionUnavailable
from app.sync.prefetch import ReadAhead, close_feed

WAIT = 5.0  # generous bound for a thread to reach a point; the tests never sleep this long


class Feed:
    """A generator-backed feed that records which thread read each page and whether it was closed."""

    def __init__(self, n: int, *, fail_at: int | None = None, error: BaseException | None = None,
                 gate: threading.Event | None = None):
        self.n, self.fail_at, self.error, self.gate = n, fail_at, error, gate
        self.read: list[int] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()
        self.closed_on: str | None = None

    def __iter__(self):
        try:
            for i in range(self.n):
                if self.gate is not None:
                    assert self.gate.wait(WAIT)
                if i == self.fail_at:
                    raise self.error
                self.threads.add(threading.current_thread().name)
                self.read.append(i)
                yield i
        finally:
            self.closed_on = threading.current_thread().name
            self.closed.set()


def _reader_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_pages_arrive_in_order_and_are_read_on_the_reader_thread():
    feed = Feed(25)
    with ReadAhead(iter(feed), name="t-order") as pages:
        assert list(pages) == list(range(25))
    assert feed.threads == {"t-order"}
    assert feed.closed.is_set()
    assert not _reader_threads("t-order")


@pytest.mark.parametrize("depth", [1, 2])
def test_reads_run_at_most_depth_pages_ahead_of_the_consumer(depth):
    feed = Feed(10)
    with ReadAhead(iter(feed), depth=depth, name="t-depth") as pages:
        assert next(pages) == 0
        deadline = time.monotonic() + WAIT
        while len(feed.read) < 1 + depth and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # room to overrun if the bound did not hold
        assert len(feed.read) == 1 + depth  # the page taken, and `depth` read ahead: never more
        assert next(pages) == 1
        deadline = time.monotonic() + WAIT
        while len(feed.read) < 2 + depth and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert len(feed.read) == 2 + depth


def test_an_error_of_the_feed_is_raised_on_the_consumer_after_the_pages_before_it():
    err = CollectionUnavailable("The mailbox refused its contacts folder.", collection="outlook:person")
    feed = Feed(5, fail_at=2, error=err)
    got = []
    pages = ReadAhead(iter(feed), name="t-error")
    with pytest.raises(CollectionUnavailable) as caught:
        for page in pages:
            got.append(page)
    assert caught.value is err  # the same object: same type, message and exit code upstream
    assert got == [0, 1]
    assert not _reader_threads("t-error")  # raised only once the reader has ended
    assert list(pages) == []  # finished for good
    pages.close()


def test_a_bug_in_the_feed_surfaces_as_itself():
    feed = Feed(3, fail_at=0, error=ZeroDivisionError("bug"))
    with pytest.raises(ZeroDivisionError, match="bug"):
        with ReadAhead(iter(feed), name="t-bug") as pages:
            next(pages)


def test_an_early_stop_joins_the_reader_and_closes_the_feed_on_its_thread():
    feed = Feed(1000)
    with ReadAhead(iter(feed), depth=2, name="t-stop") as pages:
        for page in pages:
            if page == 3:
                break
    assert not _reader_threads("t-stop")
    assert feed.closed.is_set() and feed.closed_on == "t-stop"
    assert 4 <= len(feed.read) <= 4 + 2  # what was taken, plus at most `depth` read ahead


def test_an_exception_in_the_consumer_stops_the_reader():
    feed = Feed(1000)
    with pytest.raises(RuntimeError):
        with ReadAhead(iter(feed), name="t-consumer") as pages:
            next(pages)
            raise RuntimeError("staging failed")
    assert not _reader_threads("t-consumer")
    assert feed.closed.is_set()


def test_close_waits_for_the_read_in_hand_and_drops_it():
    gate = threading.Event()
    feed = Feed(5, gate=gate)
    pages = ReadAhead(iter(feed), name="t-inflight").start()
    closer = threading.Thread(target=pages.close)
    closer.start()
    closer.join(0.1)
    assert closer.is_alive()  # the reader is inside a read: close waits for it, never abandons it
    gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert not _reader_threads("t-inflight")
    assert list(pages) == []  # nothing read after the stop is handed over


def test_cancelling_mid_feed_never_reads_as_the_end_of_the_feed():
    """A consumer that stops (cancel) must not see StopIteration from the reader in place of the
    feed's own end: ingest would take a cut listing for a whole one."""
    cancelled = threading.Event()
    feed = Feed(50)
    taken = []
    with ReadAhead(iter(feed), name="t-cancel") as pages:
        for page in pages:
            taken.append(page)
            if page == 1:
                cancelled.set()
            if cancelled.is_set():
                break
    assert taken == [0, 1]
    assert not _reader_threads("t-cancel")


def test_a_feed_never_started_is_closed_without_a_thread():
    feed = Feed(3)
    gen = iter(feed)
    next(gen)  # started by hand, so closing it runs its clean-up
    ReadAhead(gen, name="t-never").close()
    assert feed.closed.is_set() and not _reader_threads("t-never")


def test_an_auth_error_on_the_first_page_reaches_the_consumer():
    feed = Feed(3, fail_at=0, error=AuthError("Workbooks refused the API key."))
    with ReadAhead(iter(feed), name="t-auth") as pages:
        with pytest.raises(AuthError, match="refused the API key"):
            list(pages)


def test_close_feed_accepts_plain_sequences():
    close_feed([1, 2, 3])  # nothing to end
    gen = (i for i in range(3))
    close_feed(gen)
    assert list(gen) == []
