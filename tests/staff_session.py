"""A person's signed-in session against a running backend, for tests that put realistic data
in through the API as the pages would (cookie and CSRF token), before a browser looks at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from hotline.settings import Settings
from kernel.database import create_engine
from tests.page_sign_in import PASSWORD, add_person
from tests.whole_app import whole_app, whole_app_settings


@dataclass
class StaffSession:
    base: str
    http: aiohttp.ClientSession
    csrf: str

    @classmethod
    async def open(cls, base: str, username: str) -> StaffSession:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with http.post(f"{base}/api/session", json={"username": username, "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
            csrf = (await response.json())["csrf_token"]
        return cls(base, http, csrf)

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.request(method, f"{self.base}{path}", json=body,
                                     headers={"X-CSRF-Token": self.csrf}) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def command(self, ticket: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
        answer = await self.call("POST", f"/api/tickets/{ticket['ticket_no']}/commands/{name}",
                                 {"expected_version": ticket["version"], **body})
        return dict(answer["ticket"])

    async def close(self) -> None:
        await self.http.close()


#: (username, role, unit, display name) of a person who may sign in.
Person = tuple[str, str, str | None, str]


@asynccontextmanager
async def staff_site(tmp_path: Path, database_url: str, redis_prefix: str,
                     people: Iterable[Person]) -> AsyncIterator[tuple[str, Settings]]:
    """The whole backend (`hotline run`'s app) started, with these people's accounts: its base
    address and its settings."""
    settings = whole_app_settings(tmp_path, database_url, redis_prefix)
    async with whole_app(settings) as client:
        engine = create_engine(settings.database.url)
        try:
            for username, role, unit, name in people:
                await add_person(engine, username, role, unit, display_name=name)
        finally:
            await engine.dispose()
        yield str(client.make_url("")).rstrip("/"), settings
