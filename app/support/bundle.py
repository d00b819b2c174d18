"""Collect the support bundle: versions, non-identifying settings, journal counts, run history and
recent log lines. Ids, counts and error texts only; the user reads every file before saving."""
from __future__ import annotations

import io
import json
import platform
import sqlite3
import sys
import zipfile
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from app import __version__
from app import settings as st
from app.atomic_file import write_atomic
from app.paths import ProfilePaths
from app.support.scrub import safe_id, scrub

LOG_LINES = 400
HISTORY_RUNS = 30


def collect(paths: ProfilePaths) -> dict[str, str]:
    """File name → text of each part of the bundle."""
    return {
        "about.txt": _about(),
        "settings.json": _settings(paths),
        "journal.json": _journal(paths),
        "history.json": _history(paths),
        "log.txt": _log(paths),
    }


def default_name(now: datetime | None = None) -> str:
    return f"workbooks-connector-support-{(now or datetime.now()).strftime('%Y%m%d-%H%M')}.zip"


def write_zip(files: dict[str, str], dest: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(f"workbooks-connector-support/{name}", text)
    write_atomic(dest, buffer.getvalue())
    return dest


def _dump(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, default=str) + "\n"


def _version(*distributions: str) -> str:
    # package metadata, not imports: a headless bundle must not load Qt or the EWS client
    from importlib import metadata

    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _about() -> str:
    return (f"workbooks-connector {__version__}\nPython {sys.version.split()[0]} on {platform.system()} "
            f"{platform.release()} ({platform.machine()})\nPySide6 {_version('PySide6-Essentials', 'PySide6')}\n"
            f"exchangelib {_version('exchangelib')}\nhttpx {_version('httpx')}\nmsal {_version('msal')}\n")


def _settings(paths: ProfilePaths) -> str:
    if not paths.config.exists():
        return _dump({"configured": False})
    try:
        s = st.load(paths.config)
    except Exception as exc:  # noqa: BLE001 - a broken config is itself worth reporting
        return _dump({"configured": False, "error": scrub(str(exc))})
    return _dump({
        "configured": s.configured,
        "workbooks": {"auth": s.workbooks.auth, "custom_ca": bool(s.workbooks.ca_bundle),
                      "database_chosen": bool(s.workbooks.database_id)},
        "mailbox": {"backend": s.mailbox.backend, "auth": s.mailbox.auth, "exchange_build": s.mailbox.ews_build,
                    "timezone": s.mailbox.timezone, "custom_ca": bool(s.mailbox.ca_bundle)},
        "sync": {"schedule": s.sync.schedule, "kinds": list(s.sync.kinds), "share_existing": s.sync.share_existing,
                 "share_new": s.sync.share_new, "calendar_days": [s.sync.calendar_days_back, s.sync.calendar_days_ahead]},
        "filters_customised": {k: bool(getattr(s.filters, k)) for k in st.KINDS},
        "safety": {"max_deletes": s.safety.max_deletes, "max_delete_ratio": s.safety.max_delete_ratio,
                   "min_affected": s.safety.min_affected, "leave_filter": s.safety.leave_filter,
                   "crm_delete": s.safety.crm_delete},
        "conflicts": {k: getattr(s.conflicts, k) for k in st.KINDS},
        "email": {"enabled": s.email.enabled, "record_bcc": s.email.record_bcc, "never_record_entries":
                  len(s.email.never_record), "capture_days_back": s.email.capture_days_back,
                  "attachments": s.email.attachments, "max_attachment_mb": s.email.max_attachment_mb,
                  "link_organisation_by_domain": s.email.link_organisation_by_domain},
    })


def _read_only(path: Path) -> sqlite3.Connection:
    # read-only, so a bundle made mid-sync never takes a write lock or migrates the file
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def _journal(paths: ProfilePaths) -> str:
    if not paths.journal.exists():
        return _dump({"exists": False})
    try:
        con = _read_only(paths.journal)
    except sqlite3.Error as exc:
        return _dump({"exists": True, "error": scrub(str(exc))})
    try:
        check = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        links = {f"{kind}/{state}": n for kind, state, n in con.execute(
            "SELECT kind, state, count(*) FROM item_link GROUP BY kind, state")} if "item_link" in tables else {}
        errors = [{"item": safe_id(item), "kind": kind, "op": op, "title": scrub(title or ""),
                   "message": scrub(message or ""), "attempts": attempts}
                  for item, kind, op, title, message, attempts in con.execute(
                      "SELECT coalesce(link_id, remote_id, key), kind, op, title, message, attempts FROM item_error")
                  ] if "item_error" in tables else []
        version = con.execute("PRAGMA user_version").fetchone()[0]
        size = paths.journal.stat().st_size
    except sqlite3.Error as exc:
        return _dump({"exists": True, "error": scrub(str(exc))})
    finally:
        con.close()
    return _dump({"exists": True, "bytes": size, "user_version": version, "quick_check": check,
                  "rows": counts, "links": links, "item_errors": errors})


def _history(paths: ProfilePaths) -> str:
    if not paths.journal.exists():
        return _dump([])
    try:
        con = _read_only(paths.journal)
        try:
            rows = con.execute("SELECT run_id, at, result, summary FROM history WHERE action = 'run' "
                               "ORDER BY id DESC LIMIT ?", (HISTORY_RUNS,)).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return _dump({"error": scrub(str(exc))})
    runs = []
    for run_id, at, result, summary in rows:
        data = json.loads(summary) if summary else {}
        runs.append({"run_id": run_id, "at": at, "result": result,
                     "counts": {k: data.get(k) for k in ("created", "updated", "deleted", "unshared", "email_links",
                                                         "conflicts", "requests", "seconds", "dry_run")},
                     "errors": [{"item": safe_id(e.get("item")), "message": scrub(str(e.get("message", "")))}
                                for e in data.get("errors") or []]})
    return _dump(runs)


def _log(paths: ProfilePaths) -> str:
    log = paths.logs / "connector.log"
    if not log.exists():
        return "(no log yet)\n"
    with open(log, encoding="utf-8", errors="replace") as fh:
        tail = deque(fh, maxlen=LOG_LINES)
    return "".join(scrub(line) for line in tail)
