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
    ["demo", "sandbox", "configure", "sync", "status", "conflicts", "resolve", "explain", "history", "share", "unshare", "bench", "undo"],
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


BASE = ["configure", "--workbooks-url", "https://wb.example", "--workbooks-api-key-env", "K", "--mailbox", "me@x.example"]


def usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 64 and "Traceback" not in err
    return err


def test_configure_ews_is_the_default_and_names_what_it_misses(capsys):
    err = usage_error(BASE, capsys)
    assert "--ews-url" in err and "--ews-username" in err and "--ews-password-env" in err
    err = usage_error([*BASE, "--ews-url", "https://mail/EWS/Exchange.asmx"], capsys)
    assert "--ews-url," not in err and "--ews-username" in err
    args = build_parser().parse_args([*BASE, "--ews-url", "u", "--ews-username", "me", "--ews-password-env", "PW"])
    assert args.mailbox_api == "ews"


def test_configure_graph_needs_no_ews_options(capsys):
    args = build_parser().parse_args([*BASE, "--mailbox-api", "graph", "--graph-client-id", "app-id"])
    assert args.mailbox_api == "graph" and args.graph_client_id == "app-id" and args.ews_url is None
    args = build_parser().parse_args([*BASE, "--mailbox-api", "graph", "--graph-token-env", "TOKEN",
                                      "--graph-tenant", "contoso.example", "--graph-url", "https://g/v1.0",
                                      "--graph-authority-host", "https://login.example"])
    assert args.graph_token_env == "TOKEN" and args.graph_tenant == "contoso.example"


def test_configure_graph_names_what_it_misses_or_does_not_take(capsys):
    err = usage_error([*BASE, "--mailbox-api", "graph"], capsys)
    assert "--graph-client-id" in err and "--graph-token-env" in err
    err = usage_error([*BASE, "--mailbox-api", "graph", "--graph-client-id", "a", "--ews-url", "u"], capsys)
    assert "--ews-url" in err and "--mailbox-api ews" in err
    err = usage_error([*BASE, "--ews-url", "u", "--ews-username", "me", "--ews-password-env", "PW",
                       "--graph-client-id", "a"], capsys)
    assert "--graph-client-id" in err and "--mailbox-api graph" in err
    err = usage_error([*BASE, "--mailbox-api", "imap"], capsys)
    assert "--mailbox-api" in err


def test_configure_and_sandbox_help_document_the_graph_route(capsys):
    with pytest.raises(SystemExit):
        main(["configure", "--help"])
    text = capsys.readouterr().out
    for flag in ("--mailbox-api", "--graph-client-id", "--graph-tenant", "--graph-authority-host", "--graph-url",
                 "--graph-token-env", "--graph-sign-in-timeout", "Exchange Online", "keyring", "automation"):
        assert flag in text, flag
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    text = capsys.readouterr().out
    assert "--mailbox-api" in text and "graph_url" in text and "--graph-port" in text


def test_configure_usage_error_through_main_exits_64():
    out = run(*BASE, "--mailbox-api", "graph")
    assert out.returncode == 64 and "--graph-client-id" in out.stderr and "Traceback" not in out.stderr


def test_bench_needs_at_least_one_person(capsys):
    err = usage_error(["bench", "--people", "0"], capsys)
    assert "--people" in err and "at least 1" in err
