"""The signed bearer tokens of `hotline token` are for tests only: the app `hotline run` builds
refuses them unless `auth.test_tokens` is on (the test harness, the development stack), the
command issues none without it, and a token made to live past `auth.token_hours` is refused when
used, not only when issued. Real Redis and SQLite; no Asterisk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hotline.composition import signing_key
from kernel.auth import Principal, TokenSigner
from tests.whole_app import whole_app, whole_app_settings

ROOT = Path(__file__).resolve().parents[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_production_app_refuses_signed_tokens(tmp_path: Path, sqlite_url: str, redis_key_prefix: str,
                                                        redis_client: object) -> None:
    settings = whole_app_settings(tmp_path, sqlite_url, redis_key_prefix)
    assert not settings.auth.test_tokens  # the shipped default
    token = TokenSigner(signing_key(settings)).issue(Principal("sup1", "supervisor"), hours=1)
    async with whole_app(settings) as client:
        for path in ("/api/session", "/api/abuse/restricted", "/api/audit"):
            response = await client.get(path, headers=bearer(token))
            assert response.status == 401, path
            assert "API key" in (await response.json())["message"]


async def test_with_test_tokens_on_a_token_past_the_lifetime_cap_is_refused(
    tmp_path: Path, sqlite_url: str, redis_key_prefix: str, redis_client: object,
) -> None:
    settings = whole_app_settings(tmp_path, sqlite_url, redis_key_prefix, auth_test_tokens="true",
                                  auth_token_hours="12")
    key = signing_key(settings)
    fair = TokenSigner(key, max_hours=12).issue(Principal("sup1", "supervisor"), hours=12)
    ten_years = TokenSigner(key, max_hours=87600).issue(Principal("sup1", "supervisor"), hours=87600)
    async with whole_app(settings) as client:
        assert (await client.get("/api/abuse/restricted", headers=bearer(fair))).status == 200
        refused = await client.get("/api/abuse/restricted", headers=bearer(ten_years))
        assert refused.status == 401 and "longer than 12 hours" in (await refused.json())["message"]


def hotline_token(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environ.update(HOTLINE_AUTH_SECRET_FILE=str(tmp_path / "auth-secret"), **env)
    return subprocess.run([sys.executable, "-m", "hotline.cli", "token", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)


def test_hotline_token_issues_nothing_in_production_and_never_past_the_cap(tmp_path: Path) -> None:
    refused = hotline_token(tmp_path, "--role", "supervisor", "--user", "sup1")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "auth.test_tokens" in refused.stderr and "Traceback" not in refused.stderr
    too_long = hotline_token(tmp_path, "--role", "supervisor", "--user", "sup1", "--hours", "87600",
                             HOTLINE_AUTH_TEST_TOKENS="true")
    assert too_long.returncode == 2 and too_long.stdout == ""
    assert "at most 12 hours" in too_long.stderr
    issued = hotline_token(tmp_path, "--role", "supervisor", "--user", "sup1", HOTLINE_AUTH_TEST_TOKENS="true")
    assert issued.returncode == 0 and issued.stdout.startswith("v1.")
