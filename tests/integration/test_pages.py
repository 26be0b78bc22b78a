"""The staff pages are served only to a signed-in person whose role may use them (kernel/pages.py),
and the sign-in answers name each role's pages and the one it lands on, over real Redis and
real SQLite and PostgreSQL. The browser's side is tests/e2e/test_pages_sign_in.py."""

from __future__ import annotations

import pytest

from kernel.auth import SESSION_COOKIE
from tests.auth_tokens import bearer
from tests.integration.test_sign_in import Hotline, MakeHotline, make_hotline  # noqa: F401  (fixture)

#: The pages of this app (the desk, the supervisor's, the live transcripts, the administrator's).
DESK, LIVE, SUPERVISOR, ADMIN = ({"path": "/", "title": "话务台"}, {"path": "/live", "title": "实时转写"},
                                 {"path": "/supervisor", "title": "班长席"}, {"path": "/admin", "title": "账号管理"})
#: role: (the pages it may open, in navigation order; where it lands after signing in)
ROLE_PAGES: dict[str, tuple[list[dict[str, str]], str | None]] = {
    "agent": ([DESK, LIVE], "/"),
    "senior_agent": ([DESK, LIVE], "/"),
    # The live floor is the supervisor's; an agent sees their own calls on it (kernel.access_policy).
    "dispatcher": ([], None),
    "callback_agent": ([], None),
    "supervisor": ([DESK, SUPERVISOR, LIVE], "/supervisor"),
    "kb_admin": ([], None),
    "unit": ([], None),
    "auditor": ([], None),
    "admin": ([ADMIN], "/admin"),
}


async def page_status(hotline: Hotline, path: str, headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    response = await hotline.client.get(path, headers=headers or {}, allow_redirects=False)
    return response.status, response.headers.get("Location")


@pytest.mark.parametrize("role", list(ROLE_PAGES))
async def test_signing_in_names_the_roles_pages_and_where_it_lands(make_hotline: MakeHotline, role: str) -> None:
    hotline = await make_hotline()
    await hotline.add("p1", role, "city-housing" if role == "unit" else None)
    pages, home = ROLE_PAGES[role]
    response = await hotline.sign_in("p1")
    assert response.status == 200
    body = await response.json()
    assert (body["pages"], body["home"]) == (pages, home)
    person = await hotline.person("p1")
    me = await (await hotline.client.get("/api/session", headers=person.cookie)).json()
    assert (me["pages"], me["home"]) == (pages, home)
    # Every page of the role is served to it; every other page sends it to the sign-in page.
    for path in ("/", "/live", "/supervisor", "/admin"):
        status, location = await page_status(hotline, path, person.cookie)
        if any(p["path"] == path for p in pages):
            assert (status, location) == (200, None), path
        else:
            assert (status, location) == (303, f"/signin?denied={path}"), path


async def test_a_page_opened_without_a_session_sends_the_browser_to_sign_in_and_back(
    make_hotline: MakeHotline,
) -> None:
    hotline = await make_hotline()
    for path in ("/", "/live", "/supervisor", "/admin"):
        assert await page_status(hotline, path) == (303, f"/signin?next={path}")
    # A token in the address is refused, and never carried on to the sign-in page.
    token = bearer("agent", "a1").token
    assert await page_status(hotline, f"/live?access_token={token}") == (303, "/signin?next=/live")
    # The sign-in page itself needs nobody.
    assert (await page_status(hotline, "/signin"))[0] == 200


async def test_a_page_opened_with_an_ended_session_drops_the_cookie(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    assert await page_status(hotline, "/", person.cookie) == (200, None)
    await hotline.store.revoke_user_sessions("li", "administrator")
    response = await hotline.client.get("/", headers=person.cookie, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/signin?next=/")
    assert response.cookies[SESSION_COOKIE].value == ""
    assert response.headers["Cache-Control"] == "no-store"


async def test_pages_are_never_cached(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("sup1", "supervisor")
    person = await hotline.person("sup1")
    for path in ("/", "/live", "/supervisor"):
        response = await hotline.client.get(path, headers=person.cookie)
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert "text/html" in response.headers["Content-Type"]
