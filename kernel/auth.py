"""Who is calling the HTTP API: signed bearer tokens for hotline staff and handling units.

A token names a person, a role and, for a handling unit (承办单位), the unit's code, and it is
signed with HMAC-SHA256 under the hotline's key. The API trusts what a valid token says and
nothing a client merely claims, so a unit cannot widen its view by editing a header: it would
need the key. Tokens are stateless so every backend node checks them without a round trip; they
expire (`auth.token_hours`) rather than being revoked, and rotating the key ends them all.

    v1.<base64url JSON claims>.<base64url HMAC-SHA256 of "v1." + claims>

`hotline token --role unit --unit city-housing --user zhang` issues one. Each API maps the
principal onto its own actor type and checks the role it needs (`require`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kernel.clock import Clock, utc_now
from kernel.errors import ConfigError, InvalidInput, PermissionDenied, Unauthenticated
from kernel.roles import ROLE_NAMES

VERSION = "v1"
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of an API request."""

    user: str
    role: str
    #: The unit code (config/dispatch_catalogue.yaml) of a `unit` principal, else None.
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLE_NAMES:
            raise InvalidInput(f"unknown role {self.role!r}", allowed=sorted(ROLE_NAMES))
        if not self.user or len(self.user) > 64:
            raise InvalidInput("a user name of 1 to 64 characters is needed", user=self.user)
        if (self.role == "unit") != bool(self.unit):
            raise InvalidInput("a unit code is needed for role 'unit' and only for it",
                               role=self.role, unit=self.unit)
        if self.unit is not None and len(self.unit) > 64:
            raise InvalidInput("unit code too long", unit=self.unit)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens under one key."""

    def __init__(self, key: bytes, *, clock: Clock = utc_now) -> None:
        if len(key) < 16:
            raise ConfigError("auth.secret", "the signing key must have at least 16 bytes")
        self._key = key
        self._clock = clock

    def _sign(self, signed_part: str) -> str:
        return _b64(hmac.new(self._key, signed_part.encode("ascii"), hashlib.sha256).digest())

    def issue(self, principal: Principal, *, hours: float) -> str:
        now = int(self._clock().timestamp())
        claims = {"sub": principal.user, "role": principal.role, "unit": principal.unit,
                  "iat": now, "exp": now + int(hours * 3600)}
        body = _b64(json.dumps(claims, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        signed_part = f"{VERSION}.{body}"
        return f"{signed_part}.{self._sign(signed_part)}"

    def verify(self, token: str) -> Principal:
        """The principal a token names; Unauthenticated if it is forged, malformed or expired."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("access token too long")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise Unauthenticated("malformed access token")
        signed_part = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed_part), parts[2]):
            raise Unauthenticated("access token signature does not match")
        try:
            claims: dict[str, Any] = json.loads(_unb64(parts[1]))
            principal = Principal(user=str(claims["sub"]), role=str(claims["role"]),
                                  unit=claims.get("unit"))
            expires = int(claims["exp"])
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidInput) as exc:
            raise Unauthenticated("malformed access token claims") from exc
        if expires <= self._clock().timestamp():
            raise Unauthenticated("access token expired; sign in again", user=principal.user)
        return principal


def load_signing_key(secret: str, secret_file: Path) -> bytes:
    """The configured key, else the one kept in `secret_file` (created on first use)."""
    if secret:
        return secret.encode("utf-8")
    try:
        key = secret_file.read_bytes().strip()
    except FileNotFoundError:
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_hex(32).encode("ascii")
        try:
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return secret_file.read_bytes().strip()
        with os.fdopen(fd, "wb") as out:
            out.write(fresh)
        return fresh
    except OSError as exc:
        raise ConfigError("auth.secret_file", f"cannot read {secret_file}: {exc}") from exc
    return key


# ---- aiohttp edge ----------------------------------------------------------------------------

TOKEN_SIGNER = web.AppKey("token_signer", TokenSigner)
_PRINCIPAL = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer …`, or of `?access_token=` (browsers' websockets
    cannot set headers)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        return token.strip()
    return request.query.get("access_token") or None


def principal_of(request: web.Request) -> Principal:
    """The request's authenticated principal (checked once per request, then remembered)."""
    cached: Principal | None = request.get(_PRINCIPAL)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("sign in first: no access token")
    principal = request.app[TOKEN_SIGNER].verify(token)
    request[_PRINCIPAL] = principal
    return principal


def require(request: web.Request, allowed: Collection[str] | None = None) -> Principal:
    """The principal, if its role is one of `allowed` (any role when None)."""
    principal = principal_of(request)
    if allowed is not None and principal.role not in allowed:
        raise PermissionDenied(f"role {principal.role!r} may not do this",
                               needed=sorted(allowed), user=principal.user)
    return principal

