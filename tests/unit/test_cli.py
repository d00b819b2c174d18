"""The command-line contract of interfaces.md section 1: options, exit codes, no tracebacks."""
from __future__ import annotations

import subprocess
import sys

import pytest

from app import __version__
from app.cli import COMMANDS, build_parser, main


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120, env=env)


def test_version():
    out = run("--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_help_lists_every_command():
    text = build_parser().format_help()
    for command in [c for c in COMMANDS if c]:
        assert command in text


@pytest.mark.parametrize(
    "command",
    ["demo", "sandbox", "configure", "sync", "status", "conflicts", "resolve", "explain", "history", "share", "unshare", "bench"],
)
def test_every_command_documents_its_options(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_usage_error_exits_64_without_traceback():
    out = run("no-such-command")
    assert out.returncode == 64
    assert "Traceback" not in out.stderr


def test_sync_options_parse():
    args = build_parser().parse_args(["sync", "--json", "--dry-run", "--allow-mass-delete"])
    assert args.json and args.dry_run and args.allow_mass_delete


def test_resolve_requires_keep_choice():
    out = run("resolve", "12", "--keep", "sometimes")
    assert out.returncode == 64 and "Traceback" not in out.stderr
