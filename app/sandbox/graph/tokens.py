"""Opaque, HMAC-protected page and delta tokens ($skiptoken / $deltatoken) of the Graph sandbox.

The payload is bound to the resource path it was issued for: a token replayed on another
collection, or changed in any character, is refused (410 syncStateNotFound on delta, 400 on
plain paging), as Graph refuses foreign or damaged sync state.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any


class TokenError(ValueError):
    pass


class Signer:
    def __init__(self, secret: bytes | None = None):
        self.secret = secret or os.urandom(32)

    def _mac(self, scope: str, payload: str) -> str:
        digest = hmac.new(self.secret, f"{scope.lower()}\n{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def issue(self, scope: str, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(scope, payload)}"

    def read(self, scope: str, token: str) -> dict[str, Any]:
        payload, sep, mac = (token or "").rpartition(".")
        if not sep or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise TokenError("token not valid for this resource")
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError as exc:
            raise TokenError("token not readable") from exc
        if not isinstance(data, dict):
            raise TokenError("token not readable")
        return data
