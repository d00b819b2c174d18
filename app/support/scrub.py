"""Make text fit for a support bundle: no secrets and no contact details.

The log already masks secrets and shortens addresses (app/logs.py); a bundle leaves the user's
machine, so it goes further and drops addresses, host names of the servers and URLs entirely.
"""
from __future__ import annotations

import re

from app.logs import redact

_ADDRESS = re.compile(r"\b[A-Za-z0-9._%+*-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_URL = re.compile(r"(?i)\bhttps?://[^\s\"'<>]+")
_OBJECT_REF = re.compile(r"^[A-Z]{2,8}-\d+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_NUMBER = re.compile(r"^\d+$")


def scrub(text: str) -> str:
    text = redact(text)
    text = _URL.sub("<address of a server>", text)
    return _ADDRESS.sub("<email address>", text)


def safe_id(value: object) -> str:
    """Ids, object refs and link ids pass; anything else (a name, a subject) becomes a placeholder."""
    text = str(value or "")
    if _OBJECT_REF.match(text) or _UUID.match(text) or _NUMBER.match(text):
        return text
    return "<item>" if text else ""
