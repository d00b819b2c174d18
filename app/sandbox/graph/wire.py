"""Request/response values shared by the Graph sandbox's routes and its HTTP handler."""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # after /v1.0/, no query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any = None
    base: str = ""  # scheme://host:port

    @property
    def prefer(self) -> dict[str, str]:
        out = {}
        for part in re.split(r",", self.headers.get("prefer", "")):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
        return out

    @property
    def immutable(self) -> bool:
        return self.prefer.get("idtype", "").lower() == "immutableid"

    @property
    def tz(self) -> str:
        return self.prefer.get("outlook.timezone") or "UTC"


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message, "innerError": {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": secrets.token_hex(16), "client-request-id": secrets.token_hex(16)}}})




def normalise_path(path: str) -> str:
    path = re.sub(r"\('([^']*)'\)", r"/\1", path)
    return path.strip("/")
