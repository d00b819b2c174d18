"""Both sandboxes on loopback, and a helper that runs the real command line as a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.sandbox.run import Sandboxes, start_both


@dataclass
class Cli:
    home: Path
    env: dict

    def __call__(self, *args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = {**self.env, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "app", "--profile", str(self.home), *args],
            capture_output=True, text=True, timeout=timeout, env=full_env,
        )

    def json(self, *args: str, **kw) -> tuple[int, dict]:
        out = self(*args, **kw)
        assert "Traceback" not in out.stderr, out.stderr
        try:
            return out.returncode, json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AssertionError(f"no JSON on stdout (exit {out.returncode}): {out.stdout!r} {out.stderr!r}")


def configure_args(boxes: Sandboxes, *extra: str, auth: str = "basic") -> list[str]:
    return [
        "configure",
        "--workbooks-url", boxes.workbooks_url, "--workbooks-api-key-env", "WBC_TEST_KEY",
        "--ews-url", boxes.ews_url, "--mailbox", boxes.ews.mailbox,
        "--ews-username", boxes.ews.username, "--ews-password-env", "WBC_TEST_EWS_PW", "--ews-auth", auth,
        *extra,
    ]


@pytest.fixture
def sandboxes():
    boxes = start_both(people=60, seed_value=3)
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture
def cli(tmp_path, sandboxes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WBC_TEST_")}
    env.update(
        WBC_TEST_KEY=sandboxes.crm.api_key,
        WBC_TEST_EWS_PW=sandboxes.ews.password,
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # CI has no keyring: the env-var path
    )
    return Cli(tmp_path / "profile", env)


@pytest.fixture
def synced(cli, sandboxes):
    """A configured profile after one clean sync; its summary."""
    out = cli(*configure_args(sandboxes))
    assert out.returncode == 0, out.stderr
    code, first = cli.json("sync", "--json")
    assert code == 0, first
    return first
