"""Authentication: none, Basic (every request), NTLM (per connection, via pyspnego) and Bearer.

pyspnego's NTLM acceptor reads its users from the file named by the process-wide environment
variable NTLM_USER_FILE, so each sandbox writes its own file and every acceptor step runs under
one module lock with the variable pointing at that file.
"""
from __future__ import annotations

import base64
import binascii
import os
import tempfile
import threading
from dataclasses import dataclass

_NTLM_LOCK = threading.Lock()
NTLM_SIGNATURE = b"NTLMSSP\x00"


@dataclass(frozen=True)
class User:
    domain: str
    name: str
    password: str

    def matches(self, login: str) -> bool:
        login = login.strip()
        if "\\" in login:
            dom, _, user = login.partition("\\")
            if not dom:  # "\user@example.com", as exchangelib sends e-mail style NTLM names
                return self.name.casefold() == user.casefold() and not self.domain
            return self.domain.casefold() == dom.casefold() and self.name.casefold() == user.casefold()
        if self.domain:
            return self.name.casefold() == login.casefold() or f"{self.name}@{self.domain}".casefold() == login.casefold()
        return self.name.casefold() == login.casefold()


def parse_users(lines) -> list[User]:
    users = []
    for line in lines or ():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"user entry must be DOMAIN:USER:PASSWORD, got {line!r}")
        users.append(User(*parts))
    return users


class Authenticator:
    def __init__(self, schemes, users: list[User], bearer_token: str | None = None, realm: str = "127.0.0.1"):
        self.schemes = tuple(s.lower() for s in schemes or ())
        self.users = users
        self.bearer_token = bearer_token
        self.realm = realm
        self._user_file: str | None = None
        if "ntlm" in self.schemes:
            fd, path = tempfile.mkstemp(prefix="ews-sandbox-ntlm-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for u in users:
                    fh.write(f"{u.domain}:{u.name}:{u.password}\n")
            self._user_file = path

    @property
    def open(self) -> bool:
        return not self.schemes or "none" in self.schemes

    def challenge_headers(self) -> list[tuple[str, str]]:
        out = []
        if "ntlm" in self.schemes:
            out += [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
        if "bearer" in self.schemes:
            out.append(("WWW-Authenticate", 'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                                            'trusted_issuers="00000001-0000-0000-c000-000000000000@*"'))
        if "basic" in self.schemes:
            out.append(("WWW-Authenticate", f'Basic realm="{self.realm}"'))
        return out

    def check_basic(self, value: str) -> str | None:
        if "basic" not in self.schemes:
            return None
        try:
            login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        for u in self.users:
            if u.matches(login) and u.password == password:
                return login
        return None

    def check_bearer(self, value: str) -> str | None:
        if "bearer" in self.schemes and self.bearer_token and value.strip() == self.bearer_token:
            return "bearer"
        return None

    def ntlm_step(self, conn_state: dict, token_b64: str) -> tuple[str, bytes | None, str | None]:
        """One NTLM step on a connection: ("challenge", token, None) | ("done", None, user) | ("fail", None, None)."""
        if "ntlm" not in self.schemes or self._user_file is None:
            return "fail", None, None
        try:
            token = base64.b64decode(token_b64.strip())
        except (binascii.Error, ValueError):
            return "fail", None, None
        if not token.startswith(NTLM_SIGNATURE) or len(token) < 12:
            return "fail", None, None
        msg_type = token[8]
        import spnego  # local: only NTLM configurations pay for it

        with _NTLM_LOCK:
            previous = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = self._user_file
            try:
                if msg_type == 1:
                    ctx = spnego.server(protocol="ntlm")
                    out = ctx.step(token)
                    conn_state["ntlm"] = ctx
                    return "challenge", out, None
                ctx = conn_state.get("ntlm")
                if msg_type != 3 or ctx is None:
                    return "fail", None, None
                ctx.step(token)
                conn_state.pop("ntlm", None)
                if not ctx.complete:
                    return "fail", None, None
                return "done", None, str(ctx.client_principal or "")
            except Exception:
                conn_state.pop("ntlm", None)
                return "fail", None, None
            finally:
                if previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = previous

    def close(self) -> None:
        if self._user_file:
            try:
                os.unlink(self._user_file)
            except OSError:
                pass
            self._user_file = None
