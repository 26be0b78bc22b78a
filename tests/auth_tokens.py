"""Signed access tokens for tests: the same `kernel.auth` code path as production.

Tests build their apps with `TEST_SIGNER` under `TOKEN_SIGNER` and send `bearer(...)` headers;
a test that wants a forged or expired token makes one with another signer or clock.
"""

from __future__ import annotations

from aiohttp import web

from kernel.auth import TOKEN_SIGNER, Principal, TokenSigner

TEST_SIGNER_KEY = b"test-signing-key-not-for-production"
TEST_SIGNER = TokenSigner(TEST_SIGNER_KEY)


class AuthHeaders(dict[str, str]):
    """Request headers carrying a token, which remember whom the token names (for assertions)."""

    def __init__(self, token: str, principal: Principal) -> None:
        super().__init__({"Authorization": f"Bearer {token}"})
        self.token = token
        self.role, self.user, self.unit = principal.role, principal.user, principal.unit


def bearer(role: str, user: str, unit: str | None = None, *,
           signer: TokenSigner = TEST_SIGNER, hours: float = 1.0) -> AuthHeaders:
    principal = Principal(user=user, role=role, unit=unit)
    return AuthHeaders(signer.issue(principal, hours=hours), principal)


def with_test_signer(app: web.Application) -> web.Application:
    app[TOKEN_SIGNER] = TEST_SIGNER
    return app
