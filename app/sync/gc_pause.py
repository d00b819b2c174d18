"""The cyclic garbage collector during a sync (issue #8): paused while a kind is planned and
written, and kept off the heap the sync found when it began.

Loading a kind's state, planning it and writing the plan allocate hundreds of thousands of
objects at 10,000 people (staged records, links, outbox payloads) that all stay alive until the
plan is written, and then all go at once. With the collector on, that burst sets off full
collections that walk the whole heap only to find nothing to free, and promotes the plan's
objects to the oldest generation just before they die: about a third of the plan's CPU.

Paused over the whole of it, reference counting frees those objects as usual when the plan is
written and dropped, which also takes them off the collector's books, so nothing is left to
collect afterwards. Only reference cycles made meanwhile wait, and collection resumes as it was
when the block ends, also after an error.

The heap a sync begins with (the interpreter's modules, exchangelib's, SQLAlchemy's and the app's
own, hundreds of thousands of objects) lives through the sync. Each full collection the sync's
allocations set off walked all of it again, about 0.25 s of a 10,000-person first sync: frozen
for the cycle, the collector walks only what the cycle made. It is thawed when the cycle ends, so
garbage among those objects is collected as before.

While the executor pipelines a first sync's chunks, every settle allocates thousands of objects
that live until their chunk is committed: the youngest generation, collected every 700
allocations, was collected about a hundred times for nothing. There it is collected every
YOUNG_WHILE_PIPELINING allocations instead; unlike a pause, cycles (a failed call's exception and
its frames) are still freed on the way, so a long run of failures cannot pile them up.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_pauses = 0  # pauses in progress, on any thread
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector is process-wide: pauses on several threads (the engine's plan or settle and
    the journal's committer, app/sync/commit_behind.py) overlap, and it resumes when the last
    one ends, as it was before the first."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


_freezes = 0  # cycles in progress that froze the heap


@contextmanager
def heap_frozen() -> Iterator[None]:
    """The objects alive now are left out of collections until the block ends (gc.freeze); the
    first of overlapping blocks freezes and the last thaws."""
    global _freezes
    with _lock:
        if _freezes == 0:
            gc.freeze()
        _freezes += 1
    try:
        yield
    finally:
        with _lock:
            _freezes -= 1
            if _freezes == 0:
                gc.unfreeze()


YOUNG_WHILE_PIPELINING = 20_000
_relaxed = 0  # blocks in progress that raised the threshold
_thresholds: tuple[int, int, int] = gc.get_threshold()  # as they were before the first of them


@contextmanager
def fewer_young_collections(young: int = YOUNG_WHILE_PIPELINING) -> Iterator[None]:
    """The youngest generation collected every `young` allocations until the block ends; the
    first of overlapping blocks raises the threshold and the last restores it."""
    global _relaxed, _thresholds
    with _lock:
        if _relaxed == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(max(young, _thresholds[0]), *_thresholds[1:])
        _relaxed += 1
    try:
        yield
    finally:
        with _lock:
            _relaxed -= 1
            if _relaxed == 0:
                gc.set_threshold(*_thresholds)
