"""Read ahead: a page feed read on a background thread, handed over in order through a small queue.

A sync's reads spend most of their time waiting for the server while the engine thread, which
stages each page in the journal, sits idle, and the other way round. `ReadAhead` runs the feed's
`next()` on its own thread, at most `depth` pages ahead of the consumer, so the two overlap:

    with ReadAhead(crm.list_scope(kind, flt)) as pages:
        for page in pages:
            journal.write(...)            # the engine thread stays the journal's only writer
            if page.done or cancelled():
                break                     # leaving the block stops the reader and joins it

What the feed raises (an AppError, a bug) is raised again by the consumer's `next()`, the same
exception object, after the pages read before it; the reader thread is then already finished.
The reader never ends a feed early on its own: only the feed's own end is the end, so a consumer
never takes a stopped read for a complete one. A page read ahead but never taken is dropped: a
consumer that stops early (cancel, crash, an error) has cost at most `depth` reads more than the
pages it took.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")

_PAGE, _END, _RAISED = "page", "end", "raised"
# A stopping consumer hands the reader a credit to wake it; the timeout only bounds how long a
# reader can miss that wake-up.
_CREDIT_WAIT = 0.5


class ReadAhead(Generic[T]):
    """An iterator over `source`, whose items are produced on a daemon thread.

    The reader starts a read only while fewer than `depth` pages wait to be taken (including the
    one being read), so with depth 1 it reads page N+1 while the consumer works on page N. Use it
    as a context manager (or call `close()`): closing stops the reader after the read in hand,
    closes the source on the reader's own thread and joins it. The source is not touched before
    the first `next()` or `start()`; `start()` begins reading at once."""

    def __init__(self, source: Iterable[T], *, depth: int = 1, name: str = "read-ahead"):
        self._source = source
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._credits = threading.Semaphore(max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._finished = False

    # --- consumer side (the engine thread) ----------------------------------------------------

    def start(self) -> "ReadAhead[T]":
        if self._thread.ident is None and not self._finished:
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        self.start()
        tag, value = self._queue.get()
        if tag == _PAGE:
            self._credits.release()  # taken: the reader may start the next read
            return value
        self._finished = True
        self._thread.join()
        if tag == _RAISED:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop reading ahead and wait for the reader thread to end; idempotent."""
        self._finished = True
        self._stop.set()
        if self._thread.ident is None:  # never started: nothing read, nothing to join
            close_feed(self._source)
            return
        self._credits.release()  # wakes a reader waiting for room
        self._thread.join()
        while not self._queue.empty():  # pages read but never taken are dropped here
            self._queue.get_nowait()

    def __enter__(self) -> "ReadAhead[T]":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- reader side --------------------------------------------------------------------------

    def _read(self) -> None:
        feed = iter(self._source)
        try:
            while self._room():
                try:
                    page = next(feed)
                except StopIteration:
                    self._queue.put((_END, None))
                    return
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                    self._queue.put((_RAISED, exc))
                    return
                self._queue.put((_PAGE, page))
        finally:
            close_feed(feed)  # the feed's own clean-up runs here, on the thread that read it

    def _room(self) -> bool:
        """Wait until a read may start; False once the consumer has stopped."""
        while not self._stop.is_set():
            if self._credits.acquire(timeout=_CREDIT_WAIT):
                return not self._stop.is_set()
        return False


def close_feed(source: Any) -> None:
    """End a feed early if it can be ended (a generator: its clean-up runs now); lists need none."""
    close = getattr(source, "close", None)
    if callable(close):
        close()
