"""`bench` measures the sync process's own peak memory and CPU, not the benchmark process's
(which holds the seeded sandboxes): Linux carries a process's peak RSS across fork and exec."""
from __future__ import annotations

import os
import sys

from app.bench import _launched


def test_a_child_reports_its_own_peak_not_the_parents():
    ballast = bytearray(200 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):  # touched, so it is resident in this (the parent) process
        ballast[i] = 1
    out, cpu, peak = _launched([sys.executable, "-c", "print('hi')"], dict(os.environ),
                               capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "hi"
    assert 0 < peak < 100, peak  # a bare interpreter, not the 200 MB of ballast here
    assert cpu >= 0
    del ballast


def test_the_childs_exit_code_and_output_pass_through():
    out, _cpu, peak = _launched([sys.executable, "-c", "import sys; print('x'); sys.exit(3)"], dict(os.environ),
                                capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and out.stdout.strip() == "x" and peak > 0


def test_a_timeout_stops_the_sync_as_well_as_the_launcher(tmp_path):
    import subprocess
    import time

    import pytest

    marker = tmp_path / "alive"
    code = f"import time, pathlib\nwhile True:\n    pathlib.Path({str(marker)!r}).write_text(str(time.time()))\n    time.sleep(0.1)\n"
    with pytest.raises(subprocess.TimeoutExpired):
        _launched([sys.executable, "-c", code], dict(os.environ), capture_output=True, text=True, timeout=2)
    time.sleep(0.5)
    before = marker.read_text()
    time.sleep(0.5)
    assert marker.read_text() == before  # nothing writes any more: the grandchild was stopped
