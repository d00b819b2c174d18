"""Rotating file log with a redaction filter.

Secrets (passwords, API keys, cookies, tokens, Authorization headers) are masked and email
addresses shortened to `j***@example.com` before anything reaches a handler. The HTTP and EWS
libraries stay at WARNING even in debug mode, because their wire traces carry content.
"""
from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path
from typing import Any

LOGGER_NAME = "workbooks_connector"
NOISY = ("httpx", "httpcore", "exchangelib", "requests_ntlm", "spnego", "urllib3")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)(authorization:\s*)(\w+\s+)?[^\s,;]+"), r"\1\2***"),
    (re.compile(r"(?i)(cookie:\s*)[^\r\n]+"), r"\1***"),
    (re.compile(r"(?i)(Workbooks-Session=)[0-9a-f]+"), r"\1***"),
    (re.compile(r"(?i)\b(api_key|password|passwd|secret|token|_authenticity_token|session_id|access_token|refresh_token)"
                r"(\"?\s*[=:]\s*\"?)[^\s&\"',;]+"), r"\1\2***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1***"),
    (re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"), r"\1***@\2"),
]

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears (secrets read at run time)."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        text = text.replace(secret, "***")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def configure(args: Any) -> None:
    """Set up logging for a command: file log in the profile (when it exists or can be made)."""
    level = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}.get(
        getattr(args, "log_level", "info") or "info", logging.INFO
    )
    root = get_logger()
    root.setLevel(level)
    root.propagate = False
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if getattr(args, "command", None) in ("sandbox", "bench"):
        return  # these run outside any profile
    try:
        from app import paths

        logs_dir = paths.profile(getattr(args, "profile", None)).logs
        attach_file(logs_dir, level)
    except OSError:  # an unwritable profile is reported by the command itself
        if not logging.getLogger().handlers:
            logging.getLogger().addHandler(logging.NullHandler())  # and stderr stays the command's


def attach_file(logs_dir: Path, level: int = logging.INFO) -> None:
    """The file log, for the app's records and the libraries' warnings. Without a handler of
    its own up their chain, a library's warning (exchangelib's "Server requested back off ...")
    went to Python's last-resort handler, on stderr, ahead of the command's own message."""
    root, everything = get_logger(), logging.getLogger()
    for logger in (root, everything):
        for handler in list(logger.handlers):
            if getattr(handler, "_wbc_file", False):
                logger.removeHandler(handler)
                handler.close()
    logs_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        logs_dir / "connector.log", maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler._wbc_file = True  # type: ignore[attr-defined]
    handler.setLevel(level)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # the root logger keeps its own level (WARNING): only the libraries' warnings and errors
    everything.addHandler(handler)
