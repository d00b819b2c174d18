"""The executor's journal while chunks of writes are pipelined: commits run behind the engine.

Settling a first sync's creates spends most of its journal time inside SQLite, executing the
chunk's statements and waiting for the commit's fsync, with the interpreter free. Here each write
the engine thread decides is committed on one committer thread, in the order written, so the
engine settles the next chunk meanwhile. The committer is what a first sync's settling waits for,
and it shares the interpreter with the engine and the call threads, so it does as little Python
as it can: each batch's rows are made on the engine thread as it is written (SqlJournal.prepare),
and the batches waiting when the committer comes round are committed in one transaction. What
the design asks of the journal still holds:

* one writer: the committer writes the engine's batches in order, a transaction covering one or
  several of them whole, as the engine would have; after a failed write nothing more is written,
  and the failure is raised to the engine at its next write or read, or when it waits;
* in flight before sent: each call waits for the write that marked its chunk in flight, and is
  not sent once any write has failed (`committed`, Executor._send);
* reads see every write before them: a read waits for the writes still committing, except the
  links of a chunk no write in progress touches (the next chunks'), which read the same either way.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Sequence

from app.sync.gc_pause import gc_paused
from app.sync.state import Batch, Link

GROUP_MOST = 8  # batches in one transaction at most, when the committer has fallen behind


class CommitBehind:
    def __init__(self, journal: Any):
        self._journal = journal
        self._together = getattr(journal, "write_together", None)
        self._prepare = getattr(journal, "prepare", None)
        self._queue: deque[tuple[Batch, Future]] = deque()
        self._queued = threading.Condition()
        self._closing = False
        self._writing: list[tuple[Future, frozenset[str]]] = []  # (commit, link ids it writes)
        self._failed: BaseException | None = None
        self.last: Future | None = None
        self._committer = threading.Thread(target=self._commit_queued, name="journal-commit", daemon=True)
        self._committer.start()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._journal, name)
        if not callable(target):
            return target

        def after_writes(*a: Any, **kw: Any) -> Any:
            self.wait()
            return target(*a, **kw)
        return after_writes

    def write(self, batch: Batch) -> Future:
        self._raise_failure()
        touched = frozenset(link.id for link in batch.links).union(batch.drop_links)
        commit: Future = Future()
        # its rows made here, on the engine thread that waits for the mailbox meanwhile
        ready = self._prepare(batch) if self._prepare is not None else batch
        with self._queued:
            self._queue.append((ready, commit))
            self._queued.notify()
        self._writing.append((commit, touched))
        self.last = commit
        return commit

    def _commit_queued(self) -> None:
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    self._queued.wait()
                if not self._queue:
                    return
                group = [self._queue.popleft() for _ in range(min(len(self._queue), GROUP_MOST))]
            self._commit(group)

    def _commit(self, group: list[tuple[Batch, Future]]) -> None:
        """The batches waiting when the committer comes round, in order, in one transaction when
        the journal offers it: when the committer falls behind, one commit (and one fsync) covers
        several chunks instead of each waiting its turn."""
        done = 0
        try:
            if self._failed is not None:  # the engine's later batches assume the earlier ones are in
                raise self._failed
            with gc_paused():  # as on the engine thread: a chunk's rows die by reference counting
                if len(group) > 1 and self._together is not None:
                    self._together([batch for batch, _commit in group])
                else:
                    for batch, commit in group:
                        self._journal.write(batch)
                        done += 1
                        commit.set_result(None)
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the engine through the futures
            self._failed = exc
            for _batch, commit in group[done:]:
                commit.set_exception(exc)
            return
        for _batch, commit in group:
            commit.set_result(None)

    def links_by_id(self, link_ids: Sequence[str]) -> dict[str, Link]:
        self._raise_failure()
        self._writing = [(c, t) for c, t in self._writing if not c.done()]
        if any(not touched.isdisjoint(link_ids) for _c, touched in self._writing):
            self.wait()
        return self._journal.links_by_id(link_ids)

    def committed(self, mark: Future) -> None:
        """Once `mark` is committed; raises if it or any write since has failed. A call waits here
        before it goes out, so nothing is sent after a failed commit that could have been seen."""
        mark.result()
        self._raise_failure()

    def wait(self) -> None:
        """Until every write so far is committed; the first failure is raised."""
        writing, self._writing = self._writing, []
        for commit, _touched in writing:
            commit.exception()
        self._raise_failure()

    def close(self, *, quiet: bool = False) -> None:
        """Every write committed (or failed) and the committer gone; `quiet` when an error is
        already on its way up: the journal's own is then not raised over it."""
        try:
            self.wait()
        except BaseException:
            if not quiet:
                raise
        finally:
            with self._queued:
                self._closing = True
                self._queued.notify()
            self._committer.join()

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed
