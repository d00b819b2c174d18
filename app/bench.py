"""`workbooks-connector bench`: initial, no-change and one-change sync against in-process
sandboxes with injected latency.

The sandboxes run in this process; each sync runs as a real `workbooks-connector sync --json`
child process, so request counts come from the sandboxes' own counters and peak memory and CPU
time are the sync process's alone.

Each sync is started through a small launcher process that reports its child's resource usage.
Linux carries a process's peak RSS across fork and exec, so a sync forked straight from this
process (which holds the seeded sandboxes, ~280 MB at 10,000 people) reported this process's
peak as its own; the launcher is small, so what it reports is the sync's.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app import settings as st
from app.domain.filters import everything
from app.errors import AppError
from app.sandbox import seed
from app.sandbox.demo import KEY_ENV, PASSWORD_ENV
from app.sandbox.run import Sandboxes, start_both

TARGETS = {
    "initial_requests_ratio": 1.2,  # requests <= 1.2 x floor, per side
    "initial_seconds_ratio": 2.0,  # seconds <= 2 x (floor requests x latency)
    "no_change_requests": 6,  # in total
    "one_change_requests": 8,  # in total
    "peak_rss_mb": 200,
}


# Runs argv[2:], passes its output and exit code through, and writes the child's CPU seconds and
# peak RSS (MiB on Linux) as JSON to the file argv[1].
LAUNCHER = ("import json, resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[2:]).returncode\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "open(sys.argv[1], 'w').write(json.dumps([u.ru_utime + u.ru_stime, u.ru_maxrss / 1024.0]))\n"
            "sys.exit(code)\n")


def _launched(argv: list[str], env: dict[str, str], **kw: Any) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run argv through the launcher: (completed process, CPU seconds, peak RSS MiB) of argv alone."""
    fd, report = tempfile.mkstemp(prefix="bench-usage-")
    os.close(fd)
    try:
        # its own process group, so a timeout stops the sync too, not only the launcher
        out = _run_group([sys.executable, "-c", LAUNCHER, report, *argv], env=env, **kw)
        text = Path(report).read_text()
        cpu, peak = json.loads(text) if text else (0.0, 0.0)
    finally:
        os.unlink(report)
    return out, float(cpu), float(peak)


def _run_group(argv: list[str], *, env: dict[str, str], timeout: float, capture_output: bool = False,
               text: bool = False) -> subprocess.CompletedProcess:
    pipe = subprocess.PIPE if capture_output else None
    with subprocess.Popen(argv, env=env, stdout=pipe, stderr=pipe, text=text, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:  # a timeout or Ctrl-C: the sync must not run on without us
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _stats(boxes: Sandboxes) -> dict[str, int]:
    return {
        "workbooks": boxes.crm_server.stats.snapshot()["requests"]["total"],
        "ews": boxes.ews_server.stats.snapshot()["requests"]["total"],
    }


def _by_op(boxes: Sandboxes) -> dict[str, Any]:
    return {
        "workbooks": boxes.crm_server.stats.snapshot()["requests"]["by_operation"],
        "ews": boxes.ews_server.stats.snapshot()["requests"]["by_operation"],
    }


def _reset(boxes: Sandboxes) -> None:
    boxes.crm_server.stats.reset()
    boxes.ews_server.stats.reset()


def _sync(profile: Path, env: dict[str, str]) -> tuple[dict[str, Any], float, float, float]:
    """One sync: (summary, wall seconds, CPU seconds, peak RSS MiB) of the sync process."""
    started = time.monotonic()
    out, cpu, peak = _launched([sys.executable, "-m", "app", "--profile", str(profile), "sync", "--json"], env,
                               capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    if out.returncode not in (0, 1):
        raise AppError(f"the benchmark's sync failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return summary, wall, cpu, peak


IMPORTS = ("import app.cli, app.wiring, app.sync.engine, app.journal.repo, app.connectors.ews.mailbox, "
           "app.connectors.ews.lease, app.connectors.crm.store")


def _startup_cpu(env: dict[str, str]) -> float:
    """CPU seconds a child spends importing the app (the fixed start-up part of every sync run)."""
    _out, cpu, _peak = _launched([sys.executable, "-c", IMPORTS], env, capture_output=True, timeout=600)
    return cpu


def measure(people: int, latency_ms: float) -> dict[str, Any]:
    data = seed.build(people, seed=7)
    boxes = start_both(dataset=data)
    root = Path(tempfile.mkdtemp(prefix="workbooks-connector-bench-"))
    try:
        env = dict(os.environ)
        env[KEY_ENV] = boxes.crm.api_key
        env[PASSWORD_ENV] = boxes.ews.password
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        settings = st.Settings(
            workbooks=st.WorkbooksAccount(url=boxes.workbooks_url, auth="api_key", api_key_env=KEY_ENV),
            mailbox=st.MailboxAccount(ews_url=boxes.ews_url, address=boxes.ews.mailbox, username=boxes.ews.username,
                                      auth="basic", password_env=PASSWORD_ENV, timezone="Europe/London",
                                      ews_build="15.1.2507.6"),
            # related items off too: the figures stay those of the People sync alone
            sync=st.SyncOptions(schedule="manual", kinds=("person",), share_existing="matching", related_items=False),
            filters=st.Filters(person=everything().to_json()),
            email=st.EmailOptions(enabled=False),
        )
        st.save(settings, root / "config.toml")
        live = [r for r in boxes.crm.rows("people")]
        n = len(live)
        pages = math.ceil(n / 100) if n else 1
        floor = {"workbooks": 2 * pages, "ews": 2 * pages}  # reads + writes per side
        for faults in (boxes.crm_server.faults, boxes.ews_server.faults):
            faults.configure({"latency_ms": latency_ms})

        results: dict[str, Any] = {"people": n, "latency_ms": latency_ms, "floor": floor, "targets": TARGETS}
        startup = _startup_cpu(env)
        _reset(boxes)
        # the sandboxes answer in this process's threads (this thread only waits for the sync):
        # this process's CPU meanwhile is theirs, and shares the cores with the sync
        sandbox_started = time.process_time()
        summary, wall, cpu, peak_initial = _sync(root, env)
        sandbox_cpu = time.process_time() - sandbox_started
        got = _stats(boxes)
        floor_seconds = max(floor.values()) * latency_ms / 1000.0
        results["initial"] = {
            "seconds": summary["seconds"], "wall_seconds": round(wall, 3),
            "requests": got, "by_operation": _by_op(boxes),
            "ratio_to_floor": {side: round(got[side] / floor[side], 3) for side in got},
            "seconds_ratio": round(summary["seconds"] / floor_seconds, 3) if floor_seconds else None,
            "created": summary["created"], "errors": len(summary["errors"]),
            "cpu_seconds": round(cpu, 3), "cpu_ms_per_item": round(1000 * cpu / max(1, n), 3),
            # the same without the child's start-up (importing the app), i.e. the sync's own CPU
            "startup_cpu_seconds": round(startup, 3),
            "engine_cpu_ms_per_item": round(1000 * max(0.0, cpu - startup) / max(1, n), 3),
            "sandbox_cpu_seconds": round(sandbox_cpu, 3),
        }
        _reset(boxes)
        summary, wall, cpu, peak_no_change = _sync(root, env)
        got = _stats(boxes)
        results["no_change"] = {"seconds": summary["seconds"], "requests": got, "total": sum(got.values()),
                                "by_operation": _by_op(boxes), "writes": _writes(summary)}
        person_id = int(live[0]["id"])
        boxes.crm.bump_version("people", person_id, person_job_title="Benchmark Editor")
        _reset(boxes)
        summary, wall, cpu, peak_one_change = _sync(root, env)
        got = _stats(boxes)
        results["one_change"] = {"seconds": summary["seconds"], "requests": got, "total": sum(got.values()),
                                 "by_operation": _by_op(boxes), "updated": summary["updated"]}
        peaks = {"initial": peak_initial, "no_change": peak_no_change, "one_change": peak_one_change}
        results["peak_rss_mb_by_sync"] = {k: round(v, 1) for k, v in peaks.items()}
        results["peak_rss_mb"] = round(max(peaks.values()), 1)
        results["verdict"] = _verdict(results)
        return results
    finally:
        boxes.stop()
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def _writes(summary: dict[str, Any]) -> int:
    return sum(n for key in ("created", "updated", "deleted") for side in summary[key].values() for n in side.values())


def _verdict(r: dict[str, Any]) -> dict[str, bool]:
    init = r["initial"]
    return {
        "initial_requests": all(v <= TARGETS["initial_requests_ratio"] for v in init["ratio_to_floor"].values()),
        "initial_seconds": init["seconds_ratio"] is None or init["seconds_ratio"] <= TARGETS["initial_seconds_ratio"],
        "no_change_requests": r["no_change"]["total"] <= TARGETS["no_change_requests"],
        "one_change_requests": r["one_change"]["total"] <= TARGETS["one_change_requests"],
        "peak_rss": r["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
    }


def run(args: Any) -> int:
    if args.people < 1:
        raise AppError("--people must be at least 1")
    results = measure(args.people, max(0.0, args.latency_ms))
    if args.json:
        print(json.dumps(results))
        return 0
    i, nc, oc = results["initial"], results["no_change"], results["one_change"]
    print(f"{results['people']} people, {results['latency_ms']} ms latency; floor {results['floor']} requests")
    print(f"initial sync:   {i['seconds']:.2f} s, requests {i['requests']} (x{i['ratio_to_floor']} of floor), "
          f"{i['cpu_ms_per_item']} ms CPU per item ({i['engine_cpu_ms_per_item']} without start-up); "
          f"the sandboxes' CPU meanwhile {i['sandbox_cpu_seconds']:.1f} s")
    print(f"no-change sync: {nc['seconds']:.2f} s, {nc['total']} requests {nc['requests']}")
    print(f"one change:     {oc['seconds']:.2f} s, {oc['total']} requests {oc['requests']}")
    print(f"peak RSS of the sync process: {results['peak_rss_mb']} MB")
    print("targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in results["verdict"].items()))
    return 0
