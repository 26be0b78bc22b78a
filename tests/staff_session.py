"""A person's signed-in session against a running backend, for tests that put realistic data
in through the API as the pages would (cookie and CSRF token), before a browser looks at it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.page_sign_in import PASSWORD


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
