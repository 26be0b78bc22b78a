"""The public self-service knowledge search (临沂条例第二十一条; 北京条例第三十条): citizens
find the hotline's answers themselves, without a call and without signing in.

What the public sees of an article is its **approved wording** (答复口径), the text the owning
unit approved for telling citizens, and its title, districts and the owning unit's name.
The body is the agents' working note (who to call, internal steps) and never leaves the staff
API. An article without approved wording, a draft, a retired one or one not yet in force is
not public. One client may search a bounded number of times a minute (`RequestRate`, per
address), so the search cannot be mirrored by the second; Redis down refuses (503).

    GET /api/public/kb/search?q=...&district=...   anyone, rate-limited: public answers, best first
    GET /kb                                        the public search page (zh-CN), no sign-in
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from kernel.audit import client_address
from kernel.errors import InvalidInput
from kernel.http_edge import int_query
from kernel.openapi import ANYONE, Operation, contribute
from kernel.request_rate import RequestRate
from knowledge.model import SearchHit
from knowledge.store import KnowledgeStore

PUBLIC_STORE = web.AppKey("public_knowledge_store", KnowledgeStore)
PUBLIC_RATE = web.AppKey("public_knowledge_rate", RequestRate)
UNIT_NAMES = web.AppKey("public_knowledge_unit_names", dict)
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_QUERY = 100
#: Candidates ranked per public search: enough for a citizen's question, cheap per request.
CANDIDATES = 40

routes = web.RouteTableDef()


def public_hit(hit: SearchHit, unit_names: Mapping[str, str]) -> dict[str, Any] | None:
    """What the public may see of a hit, or None when the article has no approved wording."""
    article = hit.article
    wording = article.content.approved_wording
    if not wording:
        return None
    return {"id": article.id, "title": article.title, "answer": wording,
            "unit_name": unit_names.get(article.owner_unit, ""), "districts": list(article.content.districts),
            "updated_at": article.updated_at.date().isoformat()}


@routes.get("/api/public/kb/search")
async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    if not query or len(query) > MAX_QUERY:
        raise InvalidInput(f"请输入 1 至 {MAX_QUERY} 个字的问题", field="q")
    await request.app[PUBLIC_RATE].hit(client_address(request) or "unknown")
    store = request.app[PUBLIC_STORE]
    hits = await store.search(query, district=request.query.get("district") or None,
                              in_force_on=store.today(), limit=int_query(request, "limit", 10, 1, 20),
                              candidates=CANDIDATES)
    names = request.app[UNIT_NAMES]
    shown = [view for view in (public_hit(hit, names) for hit in hits) if view is not None]
    return web.json_response({"query": query, "answers": shown},
                             headers={"Cache-Control": "public, max-age=60"})


async def page(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "kb.html")


def install_public(app: web.Application, store: KnowledgeStore, rate: RequestRate,
                   unit_names: Mapping[str, str]) -> None:
    app[PUBLIC_STORE] = store
    app[PUBLIC_RATE] = rate
    app[UNIT_NAMES] = dict(unit_names)
    app.add_routes(routes)
    app.router.add_get("/kb", page)
    app.router.add_static("/public-kb/", STATIC_DIR, name="public-kb-static")
    contribute(app, operations())


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/public/kb/search", "The public knowledge search: approved answers "
                  "(答复口径) of published, in-force articles, best first; rate-limited per client", ANYONE,
                  query=(("q", "string"), ("district", "string"), ("limit", "integer"))),
        Operation("get", "/kb", "The public knowledge search page (zh-CN), no sign-in", ANYONE,
                  content_type="text/html"),
        Operation("get", "/public-kb/{filename}", "The public knowledge page's script", ANYONE,
                  content_type="application/javascript"),
    ]
