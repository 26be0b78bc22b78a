"""People with accounts, signing in to the pages in a real browser as anyone would: the page
sends them to the sign-in page, they type their name and password, and they are back on the page.

Accounts are made straight in the accounts table with a cheap argon2id hash (a production
server verifies it and rehashes once, at the first sign-in). `AddressLog` keeps every address a
page used (pages, requests, websockets, media) so a test can show that no token was in any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.passwords import Passwords
from accounts.store import AccountStore
from kernel.roles import Role
from tests.browser_harness import wait_for

PASSWORD = "correct-horse-battery"
CHEAP = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
WAIT_MS = 20_000


async def add_person(engine: AsyncEngine, username: str, role: str | Role, unit: str | None = None, *,
                     display_name: str | None = None, password: str = PASSWORD) -> str:
    """An account that may sign in now; its password."""
    await AccountStore(engine).add(username, display_name or f"测试{username}", Role(role), unit,
                                   await CHEAP.hash(password))
    return password


async def sign_in(page: Any, base: str, path: str, username: str, password: str = PASSWORD, *,
                  lands: str | None = None) -> None:
    """Open `path` signed out: the sign-in page comes up; sign in with the keyboard and land on
    `lands` (default: back on `path`)."""
    await page.goto(base + path)
    await page.wait_for_url(f"{base}/signin?next={quote(path, safe='/')}", timeout=WAIT_MS)
    await wait_for(page, "document.activeElement && document.activeElement.id === 'username'",
                                 timeout=WAIT_MS)
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(base + (lands or path), timeout=WAIT_MS)


@dataclass
class AddressLog:
    """Every address a page used: documents, requests (fetch, scripts, <audio>), websockets."""

    addresses: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> AddressLog:
        page.on("request", lambda request: self.addresses.append(request.url))
        page.on("websocket", lambda ws: self.addresses.append(ws.url))
        page.on("framenavigated", lambda frame: self.addresses.append(frame.url))
        return self

    def with_tokens(self) -> list[str]:
        """The addresses that carried a token (none should)."""
        return [a for a in self.addresses if "access_token" in a or "token=" in a.lower()]


async def refused_the_page(page: Any, base: str, home: str, username: str, path: str, title: str) -> None:
    """`username` signs in on their own page `home`: the navigation does not offer `title`, and
    opening `path` anyway is refused with the sign-in page saying so."""
    await sign_in(page, base, home, username)
    assert title not in await page.inner_text("#session-bar")
    await page.goto(f"{base}{path}")
    await page.wait_for_url(f"{base}/signin?denied={path}", timeout=WAIT_MS)
    await page.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
    assert f"不能使用页面 {path}" in (await page.text_content("#denied") or "")
