"""`hotline user add --machine` and `hotline api-key create|list|revoke` on a real SQLite
database, run as an administrator runs them: the real command line in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from accounts.api_keys import ApiKeyStore
from accounts.store import AccountStore
from kernel.api_keys import key_id_of, refusal
from kernel.database import open_database

ROOT = Path(__file__).resolve().parents[2]


def hotline(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result
    assert result.stderr.startswith("hotline: ") and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


async def test_an_administrator_gives_the_web_intake_a_program_account_and_a_key(sqlite_url: str) -> None:
    refused(hotline(sqlite_url, "user", "add", "web-intake", "--role", "system", "--name", "网站受理"), "--machine")
    added = hotline(sqlite_url, "user", "add", "web-intake", "--role", "system", "--name", "网站受理", "--machine")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("program account web-intake added (system)") and "password" not in added.stdout
    unit = hotline(sqlite_url, "user", "add", "housing-sys", "--role", "unit", "--unit", "city-housing",
                   "--name", "住建局办件系统", "--machine")
    assert unit.returncode == 0, unit.stderr
    listed = json.loads(hotline(sqlite_url, "user", "list", "--json").stdout)
    assert {(a["username"], a["role"], a["machine"]) for a in listed} == {
        ("web-intake", "system", True), ("housing-sys", "unit", True)}
    assert "API keys only" in hotline(sqlite_url, "user", "list").stdout
    refused(hotline(sqlite_url, "user", "reset-password", "web-intake"), "no password")

    made = hotline(sqlite_url, "api-key", "create", "web-intake", "--name", "网站受理表单")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()  # the key alone on stdout, for a script to pipe into a secret store
    key_id = key_id_of(key)
    assert key_id is not None and "shown once" in made.stderr
    refused(hotline(sqlite_url, "api-key", "create", "nobody", "--name", "x"), "no user")
    refused(hotline(sqlite_url, "api-key", "create", "web-intake", "--name", "网站受理表单"), "already")

    keys = json.loads(hotline(sqlite_url, "api-key", "list", "web-intake", "--json").stdout)
    assert [(k["id"], k["name"], k["active"], k["created_by"][:4]) for k in keys] == [
        (key_id, "网站受理表单", True, "cli:")]
    assert key not in hotline(sqlite_url, "api-key", "list").stdout

    engine = await open_database(sqlite_url)
    try:
        store = ApiKeyStore(engine)
        record = await store.find_api_key(key_id)
        assert record is not None and (record.user, record.role) == ("web-intake", "system")
        assert refusal(record, key) is None

        revoked = hotline(sqlite_url, "api-key", "revoke", key_id)
        assert revoked.stdout.strip() == f"API key {key_id} (网站受理表单) of web-intake revoked"
        record = await store.find_api_key(key_id)
        assert record is not None and refusal(record, key) == "this API key was revoked"
        assert "revoked (revoked)" in hotline(sqlite_url, "api-key", "list").stdout
        refused(hotline(sqlite_url, "api-key", "revoke", "0123456789ab"), "no API key")

        # Disabling an account revokes its keys too.
        second = hotline(sqlite_url, "api-key", "create", "housing-sys", "--name", "办件系统").stdout.strip()
        disabled = hotline(sqlite_url, "user", "disable", "housing-sys")
        assert disabled.stdout.strip() == "user housing-sys disabled; 0 session(s) ended; 1 API key(s) revoked"
        record = await store.find_api_key(key_id_of(second) or "")
        assert record is not None and record.revoked_at is not None
        assert not (await AccountStore(engine).get("housing-sys")).active
    finally:
        await engine.dispose()
