"""kill -9 of `sync` at random points (issue 8 part 3; design §5.9).

A twin profile on twin sandboxes (same seed) syncs without interruption: its duration is the range
the kill delays are drawn from (seeded), and its final state is what the killed profile must reach.
The killed profile is SIGKILLed again and again during its initial sync, then during incremental
syncs with edits on both sides; after a final clean sync: no duplicates on either side, no lost
edit, a sound journal, only documented exit codes and never a traceback.
"""
from __future__ import annotations

import random

import pytest

from app.sandbox.run import start_both
from tests.fixtures.reliability_env import (
    Cli, assert_clean, assert_journal_sound, assert_no_duplicates, assert_people_in_step, baseline,
    configure_args, contact_by_crm_id, is_shared, my_people_ids, outlook_items, writes,
)

CI = dict(people=300, initial_kills=5, incremental_kills=3, edits=6)
SOAK = dict(people=2000, initial_kills=50, incremental_kills=50, edits=10)


def shared_counts(boxes) -> dict[str, int]:
    return {f: sum(1 for i in outlook_items(boxes, f) if is_shared(i)) for f in ("contacts", "tasks", "calendar")}


def kill_loop(cli: Cli, rng: random.Random, kills: int, span: float, before_each=None) -> list:
    """`kills` runs of `sync`, each SIGKILLed after a delay drawn from [0.3 s, span]."""
    runs = []
    for n in range(kills):
        if before_each is not None:
            before_each(n)
        run = cli.killed_after(rng.uniform(0.3, max(0.6, span)), "sync", "--json", timeout=300)
        assert_clean(run)
        runs.append(run)
    return runs


def scenario(tmp_path, size: dict, seed: int) -> None:
    rng = random.Random(seed)
    ref_boxes = start_both(people=size["people"], seed_value=seed)
    boxes = start_both(people=size["people"], seed_value=seed)
    try:
        # the reference: an uninterrupted initial sync, measured
        ref = Cli.for_boxes(tmp_path / "ref", ref_boxes)
        assert_clean(ref(*configure_args(ref_boxes)))
        code, _ = ref.sync(timeout=600)
        assert code == 0
        span = ref.runs[-1].seconds
        code, _ = ref.sync(timeout=600)
        assert code == 0
        expected = shared_counts(ref_boxes)

        base = baseline(boxes)
        cli = Cli.for_boxes(tmp_path / "killed", boxes)
        assert_clean(cli(*configure_args(boxes)))
        runs = kill_loop(cli, rng, size["initial_kills"], span)
        assert any(r.killed for r in runs), "no run was actually killed: the kill points are meaningless"
        code, _ = cli.sync(timeout=600)
        assert code == 0, cli.runs[-1].stdout
        code, again = cli.sync(timeout=600)
        assert code == 0
        assert_no_duplicates(boxes, base)
        assert shared_counts(boxes) == expected, "the killed profile did not reach the uninterrupted result"
        assert_journal_sound(cli.home, boxes)

        # incremental: edits on both sides before each killed run; disjoint people per side
        people = my_people_ids(boxes)
        rng.shuffle(people)
        contacts = contact_by_crm_id(boxes)
        titles: dict[int, str] = {}
        pool = iter(people)

        def edit_both(n: int) -> None:
            for i in range(size["edits"]):
                pid = next(pool)
                if i % 2:
                    title = f"CRM edit {n}.{i}"
                    boxes.crm.bump_version("people", pid, person_job_title=title)
                else:
                    title = f"Outlook edit {n}.{i}"
                    boxes.ews.edit_item(contacts[str(pid)]["id"], JobTitle=title)
                titles[pid] = title

        inc_span = max(1.0, cli.runs[-1].seconds * 2)
        kill_loop(cli, rng, size["incremental_kills"], inc_span, before_each=edit_both)
        code, summary = cli.sync(timeout=600)
        assert code == 0, summary
        code, summary = cli.sync(timeout=600)
        assert code == 0 and writes(summary) == 0, f"a further clean sync still writes: {summary}"
        assert_no_duplicates(boxes, base)
        assert_journal_sound(cli.home, boxes)
        assert_people_in_step(boxes, titles)
        for run in cli.runs:
            assert_clean(run)
    finally:
        boxes.stop()
        ref_boxes.stop()


def test_kill_during_initial_and_incremental_sync_loses_nothing(tmp_path):
    scenario(tmp_path, CI, seed=21)


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_kill_soak(tmp_path):
    scenario(tmp_path, SOAK, seed=22)
