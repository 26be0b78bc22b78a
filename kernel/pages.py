"""The staff pages: which page is for whom, and the one rule for opening one.

Each capability that has a page (the desk, the supervisor's live calls, the live transcripts,
recordings, account administration) installs it here with the roles that may use it, the same
role groups its API checks. A page holds no data and is served only to a signed-in person:

- without a session (or with one that has ended) the browser is sent to the sign-in page,
  `/signin?next=<page>`, and comes back to the page after signing in;
- a person whose role may not use the page is sent to the sign-in page too, with
  `?denied=<page>`: it says so and lists the pages they may open.

The sign-in answer (`accounts/`) lists the pages of the person's role (`pages_for`) and the one
their work starts on (`home_for`): an agent lands on the desk, a supervisor on the live calls.
A page never takes a token in its address: the session cookie is the only credential a page
uses (`kernel.auth`), and its scripts sign in with `/signin/session.js`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from kernel.auth import principal_of
from kernel.errors import Unauthenticated
from kernel.openapi import ANYONE, Operation, contribute

#: Where a person signs in (`accounts/api.py` serves it).
SIGN_IN_PATH = "/signin"


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    #: As the pages' navigation names it (zh-CN).
    title: str
    #: Roles that may use it: the roles its API serves, never more.
    roles: frozenset[str]
    #: Roles whose work starts here: they land on this page after signing in.
    home_of: frozenset[str] = frozenset()
    #: Where it sits in the navigation (smaller first).
    rank: int = 50

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "title": self.title}


def page(path: str, title: str, roles: Collection[str], *, home_of: Collection[str] = (),
         rank: int = 50) -> Page:
    """A page for `roles` (role names or `kernel.roles.Role` members, which are strings)."""
    return Page(path, title, frozenset(str(r) for r in roles), frozenset(str(r) for r in home_of), rank)


_PAGES = web.AppKey("staff_pages", list[Page])


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def install_page(app: web.Application, staff_page: Page, html: Path) -> None:
    """Serve `html` at the page's path to the people it is for (see the module's rule)."""
    if _PAGES not in app:
        app[_PAGES] = []
    if any(known.path == staff_page.path for known in app[_PAGES]):
        raise ValueError(f"two pages at {staff_page.path}")
    app[_PAGES].append(staff_page)

    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            principal = principal_of(request)
        except Unauthenticated:
            # Only the path comes back: whatever else the address held stays behind.
            return _see_other(f"{SIGN_IN_PATH}?next={quote(staff_page.path, safe='/')}")
        if principal.role not in staff_page.roles:
            return _see_other(f"{SIGN_IN_PATH}?denied={quote(staff_page.path, safe='/')}")
        return web.FileResponse(html, headers={"Cache-Control": "no-store"})

    app.router.add_get(staff_page.path, serve)
    contribute(app, [Operation("get", staff_page.path, f"{staff_page.title} (page, zh-CN): served to "
                               f"{', '.join(sorted(staff_page.roles))}; anyone else is sent to the "
                               "sign-in page (303)", ANYONE, content_type="text/html")])


def pages_for(app: web.Application, role: str) -> list[Page]:
    """The pages `role` may open, in navigation order."""
    return sorted((p for p in app.get(_PAGES, []) if role in p.roles), key=lambda p: (p.rank, p.path))


def home_for(app: web.Application, role: str) -> Page | None:
    """The page `role` lands on after signing in; None when their work has no page of its own."""
    return next((p for p in pages_for(app, role) if role in p.home_of), None)
