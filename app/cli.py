"""The `workbooks-connector` command line (shared/docs/interfaces.md section 1).

Headless commands never import Qt; the tray starts through a function-level import of app.ui.
Every expected failure ends as a message on stderr and an exit code, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Callable, Sequence

from app import __version__
from app.errors import EXIT_USAGE, AppError, NotAvailableYet

EXIT_INTERNAL = 70  # a bug of ours: reported in one line, the traceback goes to the log only

SCHEDULES = ("manual", "hourly", "twice-daily", "daily", "weekly")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, after_parse: Callable[["_Parser", argparse.Namespace], None] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.after_parse = after_parse  # checks that depend on other options (exit 64 through error())

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, rest = super().parse_known_args(args, namespace)
        if self.after_parse is not None:
            self.after_parse(self, parsed)
        return parsed, rest

    def error(self, message: str) -> None:  # usage errors exit 64, not argparse's 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


MAILBOX_APIS = ("ews", "graph")
EWS_ONLY = ("ews_url", "ews_username", "ews_password_env")
GRAPH_ONLY = ("graph_client_id", "graph_tenant", "graph_authority_host", "graph_url", "graph_token_env")

CONFIGURE_EPILOG = """mailbox backends (--mailbox-api):
  ews    Exchange Server (on-premises): --ews-url, --ews-username and --ews-password-env are required.
  graph  Exchange Online (Microsoft 365) over Microsoft Graph: give --graph-client-id (the application
         id of an Entra app registration that allows the device-code flow). configure prints
         "go to URL and enter CODE" on stderr, waits for you to sign in (--graph-sign-in-timeout) and
         keeps the sign-in in the OS keyring; later runs refresh it silently. Without a keyring
         configure stops with exit 2.
         For scripts and CI only: --graph-token-env VAR names a variable holding a Microsoft Graph
         access token; it is read at every run instead of the sign-in and never stored or logged.

secrets are read from the named environment variables, never from the command line.
"""


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_configure(parser: "_Parser", args: argparse.Namespace) -> None:
    """Which options are required depends on --mailbox-api; name what is missing (exit 64)."""
    api = getattr(args, "mailbox_api", "ews")
    if api == "graph":
        stray = [_option(d) for d in EWS_ONLY if getattr(args, d, None)]
        if stray:
            parser.error(f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} for --mailbox-api ews; "
                         "leave them out with --mailbox-api graph")
        if not (args.graph_client_id or args.graph_token_env):
            parser.error("--mailbox-api graph needs --graph-client-id ID (the Entra app registration that signs "
                         "in), or --graph-token-env VAR for automation")
        if args.graph_sign_in_timeout <= 0:
            parser.error("--graph-sign-in-timeout must be a positive number of seconds")
        return
    stray = [_option(d) for d in GRAPH_ONLY if getattr(args, d, None)]
    if stray:
        parser.error(f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} for --mailbox-api graph")
    missing = [_option(d) for d in EWS_ONLY if not getattr(args, d, None)]
    if missing:
        parser.error(f"--mailbox-api ews (the default) needs {', '.join(missing)}; for Exchange Online "
                     "use --mailbox-api graph")


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more (a wrong one is a usage error, exit 64)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbooks-connector",
        description="Keep an Exchange mailbox and a Workbooks CRM database in sync. "
        "With no command, start the tray app (the first-run wizard opens when nothing is set up).",
    )
    p.add_argument("--profile", metavar="DIR", help="profile directory (config, journal, logs); "
                   "default: $WORKBOOKS_CONNECTOR_HOME or the per-user data directory")
    p.add_argument("--log-level", choices=("debug", "info", "warning"), default="info",
                   help="log detail (default: info)")
    p.add_argument("--version", action="version", version=f"workbooks-connector {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the app on seeded local sandboxes")
    demo.add_argument("--people", type=int, default=200, metavar="N", help="people to seed (default 200)")
    demo.add_argument("--headless", action="store_true",
                      help="no GUI: run one sync, print the sync --json summary, exit")

    sb = sub.add_parser("sandbox", help="run the Workbooks and EWS (or Graph) sandboxes until interrupted",
                        description="Run the Workbooks sandbox and a mailbox sandbox (EWS, or Microsoft Graph with "
                        "--mailbox-api graph) on loopback until SIGINT/SIGTERM; print their connection facts as "
                        "one JSON line on stdout when ready.")
    sb.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sb.add_argument("--workbooks-port", type=int, default=0, metavar="PORT", help="0 picks a free port")
    sb.add_argument("--ews-port", type=int, default=0, metavar="PORT", help="0 picks a free port")
    sb.add_argument("--people", type=int, default=50, metavar="N", help="people to seed (default 50)")
    sb.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the generated data")
    sb.add_argument("--latency-ms", type=float, default=0.0, metavar="MS", help="added latency per request")
    sb.add_argument("--fail-rate", type=float, default=0.0, metavar="F", help="share of requests that fail (0..1)")
    sb.add_argument("--state", metavar="DIR", help="persist sandbox data here so a restart keeps it")
    sb.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    sb.add_argument("--mailbox-api", choices=MAILBOX_APIS, default="ews",
                    help="mailbox sandbox: ews (default) or graph (a Microsoft Graph and sign-in sandbox, always "
                    "HTTPS; device codes are approved automatically; the JSON line adds graph_url, "
                    "graph_authority_host, graph_tenant, graph_client_id and ca_bundle)")
    sb.add_argument("--graph-port", type=int, default=0, metavar="PORT",
                    help="port of the Graph sandbox with --mailbox-api graph; 0 picks a free port")

    cf = sub.add_parser("configure", help="non-interactive setup (same result as the wizard)",
                        description="Non-interactive setup: verify the Workbooks and mailbox connections, then\n"
                        "save the profile (nothing is saved when a check fails; exit 2 names the cause).",
                        epilog=CONFIGURE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                        after_parse=check_configure)
    cf.add_argument("--workbooks-url", required=True, metavar="URL")
    cf.add_argument("--workbooks-api-key-env", metavar="VAR", help="environment variable holding the API key")
    cf.add_argument("--workbooks-username", metavar="U")
    cf.add_argument("--workbooks-password-env", metavar="VAR", help="environment variable holding the password")
    cf.add_argument("--workbooks-database", metavar="ID", help="database id when the login reaches several")
    cf.add_argument("--mailbox", required=True, metavar="ADDRESS", help="the mailbox's primary email address")
    cf.add_argument("--mailbox-api", choices=MAILBOX_APIS, default="ews",
                    help="ews: Exchange Server over EWS (default); graph: Exchange Online (Microsoft 365) over "
                    "Microsoft Graph")
    cf.add_argument("--ews-url", metavar="URL", help="EWS address, e.g. https://mail.example.com/EWS/Exchange.asmx "
                    "(required with --mailbox-api ews)")
    cf.add_argument("--ews-username", metavar="U", help="mailbox sign-in name (required with --mailbox-api ews)")
    cf.add_argument("--ews-password-env", metavar="VAR",
                    help="environment variable holding the mailbox password (required with --mailbox-api ews)")
    cf.add_argument("--ews-auth", choices=("basic", "ntlm"), default="ntlm")
    cf.add_argument("--graph-client-id", metavar="ID",
                    help="application (client) id of the Entra app registration used to sign in with a device code "
                    "(--mailbox-api graph)")
    cf.add_argument("--graph-tenant", metavar="TENANT",
                    help="Microsoft 365 tenant id or domain (default: organizations)")
    cf.add_argument("--graph-authority-host", metavar="URL",
                    help="sign-in service (default: https://login.microsoftonline.com)")
    cf.add_argument("--graph-url", metavar="URL", help="Microsoft Graph address (default: https://graph.microsoft.com/v1.0)")
    cf.add_argument("--graph-token-env", metavar="VAR",
                    help="for automation/CI: environment variable holding a Microsoft Graph access token, read at "
                    "every run instead of the interactive sign-in (never stored, never logged)")
    cf.add_argument("--graph-sign-in-timeout", type=float, default=600.0, metavar="SECONDS",
                    help="how long configure waits for the device-code sign-in (default 600)")
    cf.add_argument("--filter", default="my-people", metavar="FILTER",
                    help="my-people (default), all, or a filter JSON of Workbooks fields and operators")
    cf.add_argument("--share-existing", choices=("all", "none", "matching"), default="matching")
    cf.add_argument("--share-new", choices=("yes", "no"), default="no")
    cf.add_argument("--schedule", choices=SCHEDULES, default="hourly")
    cf.add_argument("--conflict-policy", action="append", default=[], metavar="[KIND=]POLICY",
                    help="what a field edited differently on both sides does: ask (default; it waits in "
                         "`conflicts`), crm_wins, outlook_wins or newest_wins; KIND person, task or meeting "
                         "limits it to one type (repeatable)")
    cf.add_argument("--direction", action="append", default=[], metavar="[KIND=]DIRECTION",
                    help="which way changes flow: both (default), to_outlook (Workbooks → Outlook only), "
                         "to_workbooks (Outlook → Workbooks only) or off; KIND person, task or meeting limits it "
                         "to one type (repeatable)")
    cf.add_argument("--ca-bundle", metavar="FILE",
                    help="extra CA certificates to trust (PEM), for Workbooks and the mailbox (and its sign-in service)")
    cf.add_argument("--email-capture-days", type=int, default=0, metavar="N",
                    help="also record sent mail from up to N (at most 90) days before setup (default 0)")
    cf.add_argument("--never-record", action="append", default=[], metavar="ADDRESS|DOMAIN",
                    help="an address or domain whose mail is never recorded (repeatable; your own domain always is)")
    cf.add_argument("--email-attachments", choices=["yes", "no"], default="no",
                    help="record sent mail with its attachments (its full MIME source) up to the size cap "
                         "(default no: text only)")
    cf.add_argument("--email-max-attachment-mb", type=int, default=None, metavar="MB",
                    help="the size cap per email (1-100, default 16, the Workbooks Dropbox limit); a larger "
                         "email is recorded without attachments, with a note saying so")

    sy = sub.add_parser("sync", help="run one full sync cycle now")
    sy.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sy.add_argument("--dry-run", action="store_true", help="plan only; change nothing anywhere")
    sy.add_argument("--allow-mass-delete", action="store_true",
                    help="apply deletions even above the mass-deletion brake")
    sy.add_argument("--take-over", action="store_true",
                    help="move syncing of this mailbox to this computer (the other one stops at its next run)")

    st = sub.add_parser("status", help="last and next sync, linked items, conflicts, errors, lease")
    st.add_argument("--json", action="store_true")

    co = sub.add_parser("conflicts", help="list pending conflicts")
    co.add_argument("--json", action="store_true")

    rs = sub.add_parser("resolve", help="settle one conflict (applied at the next sync)")
    rs.add_argument("id", metavar="ID")
    rs.add_argument("--keep", required=True, choices=("crm", "outlook", "both"))

    ex = sub.add_parser("explain", help="why an item does or does not sync")
    ex.add_argument("query", metavar="QUERY", help="email address, CRM object_ref or id, or Outlook subject/name")
    ex.add_argument("--json", action="store_true")

    hi = sub.add_parser("history", help="past sync runs")
    hi.add_argument("--json", action="store_true")
    hi.add_argument("--limit", type=int, default=20, metavar="N")

    sh = sub.add_parser("share", help="share an Outlook item with Workbooks")
    sh.add_argument("query", metavar="QUERY")
    un = sub.add_parser("unshare", help="stop syncing an Outlook item (nothing is deleted)")
    un.add_argument("query", metavar="QUERY")

    em = sub.add_parser("emails", help="recorded sent emails with their links and why",
                        description="List recorded sent emails, newest first, with each link to a Workbooks "
                        "record and why it exists (also links you removed). REF is what link-email and "
                        "unlink-email take.")
    em.add_argument("--json", action="store_true", help="print the list as one JSON object")
    em.add_argument("--since", metavar="DATE", help="only emails sent on or after DATE (e.g. 2026-11-01)")
    em.add_argument("--limit", type=int, default=50, metavar="N", help="at most N emails (default 50)")
    target_help = ("a Workbooks record: its reference (CASE-12), TYPE:ID (person, sales_lead, organisation, case "
                   "or opportunity, e.g. case:500001), its id, or a synced person's email address")
    le = sub.add_parser("link-email", help="link a recorded email to a Workbooks record (applied at the next sync)")
    le.add_argument("message_ref", metavar="MESSAGE_REF", help="the email's Message-ID or the REF `emails` shows")
    le.add_argument("target", metavar="TARGET", help=target_help)
    le.add_argument("--json", action="store_true")
    ue = sub.add_parser("unlink-email", help="remove a link of a recorded email (applied at the next sync; "
                        "it is not linked again automatically)")
    ue.add_argument("message_ref", metavar="MESSAGE_REF", help="the email's Message-ID or the REF `emails` shows")
    ue.add_argument("target", metavar="TARGET", help=target_help)
    ue.add_argument("--json", action="store_true")

    ud = sub.add_parser("undo", help="undo the last sync (within seven days); items changed since are skipped")
    ud.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ud.add_argument("--dry-run", action="store_true", help="list what would be restored and skipped; change nothing")

    be = sub.add_parser("bench", help="benchmark against in-process sandboxes")
    be.add_argument("--people", type=_at_least_one, default=1000, metavar="N")
    be.add_argument("--latency-ms", type=float, default=0.0, metavar="MS")
    be.add_argument("--json", action="store_true")

    sp = sub.add_parser("support-bundle", help="write a support bundle (ids, counts and error texts only)")
    sp.add_argument("--output", metavar="FILE", help="zip file to write (default: workbooks-connector-support-"
                                                     "<date>.zip in the current directory)")
    sp.add_argument("--print", action="store_true", dest="print_only",
                    help="show what the bundle would hold, write nothing")
    return p


# command -> "module:function" run with the parsed arguments; each returns an exit code.
COMMANDS: dict[str | None, str] = {
    None: "app.commands.tray:run",
    "demo": "app.sandbox.demo:run",
    "sandbox": "app.sandbox.run:run",
    "configure": "app.commands.configure:run",
    "sync": "app.commands.sync:run",
    "status": "app.commands.inspect:status",
    "conflicts": "app.commands.inspect:conflicts",
    "resolve": "app.commands.inspect:resolve",
    "explain": "app.commands.inspect:explain",
    "history": "app.commands.inspect:history",
    "share": "app.commands.inspect:share",
    "unshare": "app.commands.inspect:unshare",
    "bench": "app.bench:run",
    "support-bundle": "app.commands.support:run",
    "undo": "app.commands.undo:run",
    "emails": "app.commands.email_links:emails",
    "link-email": "app.commands.email_links:link_email",
    "unlink-email": "app.commands.email_links:unlink_email",
}


def _load(target: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, func_name)
    except (ModuleNotFoundError, AttributeError) as exc:
        missing = getattr(exc, "name", None) or ""
        if isinstance(exc, AttributeError) or missing.startswith("app"):
            raise NotAvailableYet("this command is not available yet in this build") from None
        raise


def print_error(err: AppError) -> None:
    print(f"workbooks-connector: {err.title}: {err.message}", file=sys.stderr)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=None, default=str))
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from app import logs

        logs.configure(args)
    except ModuleNotFoundError:
        pass
    try:
        handler = _load(COMMANDS[args.command])
        return int(handler(args) or 0)
    except AppError as err:
        print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        print("workbooks-connector: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    import logging

    logging.getLogger("workbooks_connector").critical("unexpected error", exc_info=exc)
    print(
        f"workbooks-connector: unexpected internal error ({type(exc).__name__}). Nothing was lost: the "
        "journal resumes at the next run. Details are in the log file of the profile.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
