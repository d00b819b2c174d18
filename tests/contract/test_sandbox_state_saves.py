"""Saving a sandbox's state from several threads at once (a request's save beside the stop's):
each save writes a file of its own and they take turns, so none fails and the state reloads."""
from __future__ import annotations

import threading

import pytest

from app.sandbox.ews import start_ews_sandbox
from app.sandbox.graph.sandbox import start_graph_sandbox


def _save_at_once(save, threads=8, rounds=15):
    errors, go = [], threading.Barrier(threads)

    def run():
        go.wait()
        for _ in range(rounds):
            try:
                save()
            except Exception as exc:  # noqa: BLE001 - collected and reported by the test
                errors.append(exc)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    return errors


@pytest.mark.parametrize("start", [start_ews_sandbox, start_graph_sandbox], ids=["ews", "graph"])
def test_saves_at_once_all_succeed_and_the_state_reloads(tmp_path, start):
    server, sandbox = start(people=5, state_dir=tmp_path)
    try:
        assert _save_at_once(sandbox.save) == []
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        server.stop()
    server, _again = start(dataset=False, state_dir=tmp_path)  # loads what was saved
    server.stop()
