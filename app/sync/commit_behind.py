"""The executor's journal while chunks of writes are pipelined: commits run behind the engine.

Settling a first sync's creates spends most of its journal time inside SQLite, executing the
chunk's statements and waiting for the commit's fsync, with the interpreter free. Here each write
the engine thread decides is committed on one committer thread, in the order written, so the
engine settles the next chunk meanwhile. What the design asks of the journal still holds:

* one writer: the committer writes the engine's batches one at a time, in order, each in its own
  transaction, exactly as the engine would have; after a failed write nothing more is written,
  and the failure is raised to the engine at its next write or read, or when it waits;
* in flight before sent: `last` is the write that marked the latest chunk in flight, and the call
  thread waits for it before the call goes out (Executor._send);
* reads see every write before them: a read waits for the writes still committing, except the
  links of a chunk no write in progress touches (the next chunk's), which read the same either way.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

from app.sync.gc_pause import gc_paused
from app.sync.state import Batch, Link


class CommitBehind:
    def __init__(self, journal: Any):
        self._journal = journal
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-commit")
        self._writing: list[tuple[Future, frozenset[str]]] = []  # (commit, link ids it writes)
        self._failed: BaseException | None = None
        self.last: Future | None = None

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
        commit = self._committer.submit(self._commit, batch)
        self._writing.append((commit, touched))
        self.last = commit
        return commit

    def _commit(self, batch: Batch) -> None:
        if self._failed is not None:  # the engine's later batches assume the earlier ones are in
            raise self._failed
        try:
            with gc_paused():  # as on the engine thread: a chunk's rows die by reference counting
                self._journal.write(batch)
        except BaseException as exc:
            self._failed = exc
            raise

    def links_by_id(self, link_ids: Sequence[str]) -> dict[str, Link]:
        self._raise_failure()
        self._writing = [(c, t) for c, t in self._writing if not c.done()]
        if any(not touched.isdisjoint(link_ids) for _c, touched in self._writing):
            self.wait()
        return self._journal.links_by_id(link_ids)

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
            self._committer.shutdown(wait=True)

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed
