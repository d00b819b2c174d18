import gc
import threading

import pytest

from app.sync.gc_pause import gc_paused


def test_collection_is_paused_inside_and_resumes_after_an_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("planning failed")
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off():
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_on_two_threads_resume_the_collector_only_after_the_last():
    assert gc.isenabled()
    inside, release, seen = threading.Event(), threading.Event(), []

    def other():
        with gc_paused():  # begins while the first pause holds, outlives it
            inside.set()
            release.wait(5)
            seen.append(gc.isenabled())

    t = threading.Thread(target=other)
    with gc_paused():
        t.start()
        inside.wait(5)
    seen.append(gc.isenabled())
    release.set()
    t.join(5)
    assert seen == [False, False] and gc.isenabled()


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


def test_garbage_from_before_a_frozen_block_is_collected_once_the_block_ends():
    import weakref
    from app.sync.gc_pause import heap_frozen

    node = _Node()
    alive = weakref.ref(node)
    with heap_frozen():
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert alive() is not None  # frozen: the block's collections leave it be
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None


def test_overlapping_frozen_blocks_thaw_only_after_the_last():
    from app.sync.gc_pause import heap_frozen

    with heap_frozen():
        with heap_frozen():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_fewer_young_collections_raises_the_threshold_and_restores_it_after_an_error():
    from app.sync.gc_pause import fewer_young_collections

    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with fewer_young_collections(50_000):
            with fewer_young_collections(50_000):
                assert gc.get_threshold() == (50_000, *before[1:])
            assert gc.get_threshold()[0] == 50_000  # the outer block still holds
            raise RuntimeError("call failed")
    assert gc.get_threshold() == before


def test_cycles_are_still_collected_while_young_collections_are_fewer():
    import weakref
    from app.sync.gc_pause import fewer_young_collections

    with fewer_young_collections(1_000):
        node = _Node()
        alive = weakref.ref(node)
        del node
        kept = [[] for _ in range(5_000)]  # live allocations enough for a young collection
        assert alive() is None and kept
