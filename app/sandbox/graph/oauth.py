"""Fake Microsoft identity platform for the Graph sandbox: OIDC discovery, the device-code flow
and the refresh-token grant, shaped so msal (PublicClientApplication) can drive it.

    GET  /{tenant}/v2.0/.well-known/openid-configuration
    POST /{tenant}/oauth2/v2.0/devicecode      client_id, scope
    POST /{tenant}/oauth2/v2.0/token           grant_type=device_code | refresh_token
    GET/POST /devicelogin                       "enter the code" page (approves a user code)

Errors follow the v2.0 endpoint: HTTP 400 {"error", "error_description", "error_codes", ...}
(`authorization_pending`, `authorization_declined`, `expired_token`, `bad_verification_code`,
`invalid_grant`, `unauthorized_client`, `unsupported_grant_type`). Tokens are random opaque
strings; the id_token is an unsigned JWT carrying the claims msal reads, and client_info the
uid/utid pair msal keys its account cache on.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

RESERVED = {"openid", "profile", "offline_access"}
GRAPH_PREFIX = "https://graph.microsoft.com/"


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    polls: int = 0
    approved: bool = False
    declined: bool = False


@dataclass
class Grant:
    client_id: str
    scopes: list[str]
    expires_at: float = 0.0
    revoked: bool = False


@dataclass
class Identity:
    client_id: str
    tenant: str
    tenant_id: str
    user_oid: str
    username: str
    display_name: str
    device_interval: int = 5
    auto_approve_polls: int | None = 1  # approve after this many pending polls (None: wait for approve())
    access_lifetime: int = 3600
    lock: threading.Lock = field(default_factory=threading.Lock)
    devices: dict[str, DeviceCode] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)

    # --- helpers for tests and the sandbox ------------------------------------------------------
    def mint(self, scopes: list[str] | None = None, lifetime: int | None = None) -> str:
        token = "sbx-at-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access[token] = Grant(self.client_id, scopes or ["*"],
                                       time.time() + (self.access_lifetime if lifetime is None else lifetime))
        return token

    def check(self, token: str) -> tuple[str, Grant | None]:
        """("ok"|"expired"|"invalid", grant)."""
        with self.lock:
            grant = self.access.get(token)
        if grant is None or grant.revoked:
            return "invalid", None
        if grant.expires_at < time.time():
            return "expired", grant
        return "ok", grant

    def approve(self, user_code: str | None = None, *, decline: bool = False) -> bool:
        with self.lock:
            for dc in self.devices.values():
                if user_code is None or dc.user_code == user_code.strip().upper():
                    dc.approved, dc.declined = not decline, decline
                    return True
        return False

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            for grant in self.refresh.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            for grant in self.access.values():
                grant.expires_at = 0.0

    # --- endpoints -----------------------------------------------------------------------------
    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        root = f"{base}/{tenant}"
        return {
            "issuer": f"{base}/{self.tenant_id}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "tenant_region_scope": "EU",
        }

    def devicecode(self, base: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, _err("unauthorized_client", 700016,
                             f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found "
                             f"in the directory '{self.tenant}'.")
        scopes = (form.get("scope") or "").split()
        dc = DeviceCode("sbx-dc-" + secrets.token_urlsafe(24), _user_code(), self.client_id, scopes,
                        time.time() + 900)
        with self.lock:
            self.devices[dc.device_code] = dc
        uri = f"{base}/devicelogin"
        return 200, {
            "user_code": dc.user_code, "device_code": dc.device_code, "verification_uri": uri,
            "expires_in": 900, "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {dc.user_code} "
                       f"to authenticate.",
        }

    def token(self, base: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type", "")
        if form.get("client_id") != self.client_id:
            return 400, _err("unauthorized_client", 700016,
                             f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found.")
        if grant_type == "urn:ietf:params:oauth:grant-type:device_code":
            with self.lock:
                dc = self.devices.get(form.get("device_code", ""))
                if dc is None:
                    return 400, _err("bad_verification_code", 70019, "AADSTS70019: Verification code expired or "
                                     "not recognised.")
                if dc.expires_at < time.time():
                    return 400, _err("expired_token", 70020, "AADSTS70020: The provided value for the input "
                                     "parameter 'device_code' is not valid. This device code has expired.")
                if dc.declined:
                    del self.devices[dc.device_code]
                    return 400, _err("authorization_declined", 70000, "AADSTS70000: The user declined.")
                dc.polls += 1
                if not dc.approved and self.auto_approve_polls is not None and dc.polls > self.auto_approve_polls:
                    dc.approved = True
                if not dc.approved:
                    return 400, _err("authorization_pending", 70016, "AADSTS70016: OAuth 2.0 device flow error. "
                                     "Authorization is pending. Continue polling.")
                del self.devices[dc.device_code]
            return 200, self._issue(base, dc.scopes, form.get("client_info") == "1")
        if grant_type == "refresh_token":
            with self.lock:
                grant = self.refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return 400, _err("invalid_grant", 700082, "AADSTS700082: The refresh token has expired due to "
                                 "inactivity or was revoked.", suberror="bad_token")
            scopes = (form.get("scope") or "").split() or grant.scopes
            return 200, self._issue(base, scopes, form.get("client_info") == "1")
        return 400, _err("unsupported_grant_type", 70003, f"AADSTS70003: The app requested an unsupported grant "
                         f"type '{grant_type}'.")

    def _issue(self, base: str, scopes: list[str], client_info: bool) -> dict[str, Any]:
        granted = [s for s in scopes if s.lower() not in RESERVED]
        plain = [s[len(GRAPH_PREFIX):] if s.startswith(GRAPH_PREFIX) else s for s in granted]
        access = self.mint(plain)
        refresh = "sbx-rt-" + secrets.token_urlsafe(32)
        with self.lock:
            self.refresh[refresh] = Grant(self.client_id, scopes)
        now = int(time.time())
        claims = {
            "aud": self.client_id, "iss": f"{base}/{self.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + self.access_lifetime, "name": self.display_name, "oid": self.user_oid,
            "preferred_username": self.username, "sub": "sbx-" + self.user_oid[:8], "tid": self.tenant_id,
            "ver": "2.0",
        }
        body = {
            "token_type": "Bearer", "scope": " ".join(granted), "expires_in": self.access_lifetime,
            "ext_expires_in": self.access_lifetime, "access_token": access, "refresh_token": refresh,
            "id_token": _jwt(claims),
        }
        if client_info:
            body["client_info"] = _b64(json.dumps({"uid": self.user_oid, "utid": self.tenant_id}).encode())
        return body


def parse_form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def scope_allows(grant: Grant, needed: str) -> bool:
    """`needed` like "Contacts.ReadWrite"; a ReadWrite grant covers Read; "*" covers all."""
    have = {s.lower() for s in grant.scopes}
    if "*" in have:
        return True
    family, _, level = needed.partition(".")
    candidates = {needed.lower(), f"{family}.readwrite".lower()}
    if level.lower() == "read":
        candidates.add(f"{family}.read".lower())
    return bool(have & candidates)


def _err(code: str, number: int, description: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, "error_codes": [number],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": secrets.token_hex(8), "correlation_id": secrets.token_hex(8), **extra}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _jwt(claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "none"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.sandbox"


def _user_code() -> str:
    alphabet = "BCDFGHJKLMNPQRSTVWXZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(9))
