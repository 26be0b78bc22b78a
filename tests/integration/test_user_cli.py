"""`hotline user add|disable|enable|reset-password|list` on a real SQLite database, run as an
administrator runs it: the real command line in its own process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from accounts.passwords import Passwords
from accounts.store import AccountStore
from kernel.database import open_database
from kernel.sessions import session_id_of

ROOT = Path(__file__).resolve().parents[2]


def hotline(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "hotline.cli", "user", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def printed_password(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"; password: (\S+)$", result.stdout.strip())
    assert match, result.stdout
    return match.group(1)


async def test_an_administrator_adds_lists_disables_and_resets_people(sqlite_url: str) -> None:
    li_password = printed_password(hotline(sqlite_url, "add", "li", "--role", "senior_agent", "--name", "李娜"))
    assert len(li_password) >= 16
    added = hotline(sqlite_url, "add", "zhang", "--role", "unit", "--name", "张伟", "--unit", "city-housing",
                    "--password-stdin", stdin="a long chosen password\n")
    assert added.returncode == 0 and added.stdout.strip() == "user zhang added (unit, city-housing)"
    for refused, needle in ((hotline(sqlite_url, "add", "li", "--role", "agent", "--name", "又一个"), "exists"),
                            (hotline(sqlite_url, "add", "wu", "--role", "unit", "--name", "吴"), "unit"),
                            (hotline(sqlite_url, "add", "Wu", "--role", "agent", "--name", "吴"), "user name"),
                            (hotline(sqlite_url, "add", "wu", "--role", "agent", "--name", "吴", "--password-stdin",
                                     stdin="short\n"), "password"),
                            (hotline(sqlite_url, "disable", "nobody"), "no user")):
        assert refused.returncode == 2, refused
        assert refused.stderr.startswith("hotline: ") and needle in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

    listed = hotline(sqlite_url, "list", "--json")
    assert [(a["username"], a["role"], a["unit"], a["active"], a["display_name"])
            for a in json.loads(listed.stdout)] == [
        ("li", "senior_agent", None, True, "李娜"), ("zhang", "unit", "city-housing", True, "张伟")]
    table = hotline(sqlite_url, "list").stdout.splitlines()
    assert table[0].split()[:4] == ["li", "senior_agent", "-", "active"]

    engine = await open_database(sqlite_url)
    try:
        store, passwords = AccountStore(engine), Passwords()
        _, stored = await store.credentials("li") or (None, "")
        assert stored.startswith("$argon2id$") and await passwords.verify(stored, li_password)
        secret, _ = await store.create_session("li", remote="127.0.0.1", user_agent=None)

        disabled = hotline(sqlite_url, "disable", "li")
        assert disabled.stdout.strip() == "user li disabled; 1 session(s) ended"
        (session,) = (await store.find_sessions([session_id_of(secret)])).values()
        assert session.revoked_at is not None and not session.user_active
        assert "disabled" in hotline(sqlite_url, "list").stdout.splitlines()[0]
        assert hotline(sqlite_url, "enable", "li").stdout.strip() == "user li enabled"
        assert (await store.get("li")).active

        zhang_secret, _ = await store.create_session("zhang", remote=None, user_agent=None)
        new_password = printed_password(hotline(sqlite_url, "reset-password", "zhang"))
        _, stored = await store.credentials("zhang") or (None, "")
        assert await passwords.verify(stored, new_password)
        assert not await passwords.verify(stored, "a long chosen password")
        (session,) = (await store.find_sessions([session_id_of(zhang_secret)])).values()
        assert session.revoked_at is not None  # a reset ends the old sessions
    finally:
        await engine.dispose()
