"""HTTP API of the knowledge base (知识库 / 答复口径), an aiohttp route table.

    GET  /api/kb/search?q=...&district=...&unit=...&limit=20   published, in-force articles, best first
    GET  /api/kb/articles?unit=&status=&limit=&offset=          every status, by unit (editors; a unit: its own)
    GET  /api/kb/articles/{id}                                  the article and its version history
    POST /api/kb/articles                                       create a draft
    PUT  /api/kb/articles/{id}                                  edit: {"expected_version": n, ...}
    POST /api/kb/articles/{id}/publish                          {"expected_version": n}   (optional)
    POST /api/kb/articles/{id}/retire                           {"change_note": "...", "expected_version": n}
    GET  /api/kb/stale                                          supervision flags, most overdue first

The `KnowledgeStore` comes from the application under `KNOWLEDGE_STORE`; the composition root
sets it, e.g. `app[KNOWLEDGE_STORE] = KnowledgeStore(app[ENGINE])`.

Authentication: a signed bearer token (`kernel.auth`). Every hotline role (agent, dispatcher,
callback agent, supervisor) acts as an agent here: agents search and read published articles; a
unit writes only its own articles and sees only its own stale ones; a knowledge
admin does anything.

Errors from the one hierarchy (`kernel.errors`) become JSON `{"error": code, "message": ...}`
with `http_status_for`; invalid bodies are `InvalidInput` (400).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from kernel import auth
from kernel.errors import InvalidInput, PermissionDenied
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.openapi import Operation
from kernel.roles import Actor, Role
from knowledge.model import (
    MAX_TEXT,
    MAX_TITLE,
    Article,
    ArticleContent,
    ArticleStatus,
    ArticleVersion,
    SearchHit,
    StaleFlag,
    can_read,
)
from knowledge.store import KnowledgeStore

KNOWLEDGE_STORE = web.AppKey("knowledge_store", KnowledgeStore)
EVERYONE = (Role.AGENT, Role.UNIT, Role.KB_ADMIN)
EDITORS = (Role.UNIT, Role.KB_ADMIN)

routes = web.RouteTableDef()

_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_Body = RequestBody


class ArticleBody(_Body):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field(min_length=1, max_length=MAX_TEXT)
    approved_wording: str | None = Field(default=None, max_length=MAX_TEXT)
    #: Defaults to the acting unit on create and to the current owner on edit.
    owner_unit: str | None = Field(default=None, min_length=1, max_length=64)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    districts: list[str] = Field(default_factory=list, max_length=50)
    valid_from: date | None = None
    review_by: date
    change_note: str | None = Field(default=None, max_length=500)


class EditBody(ArticleBody):
    expected_version: int = Field(ge=1)
    change_note: str = Field(min_length=1, max_length=500)


class PublishBody(_Body):
    expected_version: int | None = Field(default=None, ge=1)
    change_note: str = Field(default="发布", min_length=1, max_length=500)


class RetireBody(_Body):
    expected_version: int | None = Field(default=None, ge=1)
    change_note: str = Field(min_length=1, max_length=500)



#: Token roles as knowledge-base roles: all hotline staff read the knowledge base as agents.
_KB_ROLES = {"agent": Role.AGENT, "senior_agent": Role.AGENT, "dispatcher": Role.AGENT,
             "callback_agent": Role.AGENT, "supervisor": Role.AGENT, "unit": Role.UNIT,
             "kb_admin": Role.KB_ADMIN}


def _callers(*allowed: Role) -> frozenset[str]:
    """The roles that get past `_actor(request, *allowed)`: the route's gate, as declared."""
    return frozenset(role for role, kb_role in _KB_ROLES.items() if kb_role in allowed)


READERS = _callers(*EVERYONE)
WRITERS = _callers(*EDITORS)


def _actor(request: web.Request, *allowed: Role) -> Actor:
    """The token's principal as a knowledge-base actor, if its role may do this."""
    principal = auth.principal_of(request)
    role = _KB_ROLES.get(principal.role)
    if role not in allowed:
        raise PermissionDenied(f"role {principal.role!r} may not do this",
                               needed=[r.value for r in allowed], user=principal.user)
    return Actor(principal.user, role, principal.unit)


_body = read_body


def _content(body: ArticleBody, owner_unit: str) -> ArticleContent:
    return ArticleContent(
        title=body.title, body=body.body, owner_unit=body.owner_unit or owner_unit,
        review_by=body.review_by, approved_wording=body.approved_wording,
        keywords=tuple(body.keywords), districts=tuple(body.districts), valid_from=body.valid_from,
    )


def _store(request: web.Request) -> KnowledgeStore:
    return request.app[KNOWLEDGE_STORE]


def _article_id(request: web.Request) -> str:
    article_id = request.match_info["article_id"]
    if len(article_id) > 36:
        raise InvalidInput("article id too long", field="article_id")
    return article_id


# ---- JSON shapes ---------------------------------------------------------------------------


def content_json(content: ArticleContent) -> dict[str, Any]:
    return {
        "title": content.title,
        "body": content.body,
        "approved_wording": content.approved_wording,
        "owner_unit": content.owner_unit,
        "keywords": list(content.keywords),
        "districts": list(content.districts),
        "valid_from": content.valid_from.isoformat() if content.valid_from else None,
        "review_by": content.review_by.isoformat(),
    }


def article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        **content_json(article.content),
        "status": article.status.value,
        "version": article.version,
        "created_at": article.created_at.isoformat(),
        "updated_at": article.updated_at.isoformat(),
    }


def version_json(version: ArticleVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "status": version.status.value,
        **content_json(version.content),
        "editor": version.editor,
        "editor_role": version.editor_role.value,
        "edited_at": version.edited_at.isoformat(),
        "change_note": version.change_note,
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    article = hit.article
    return {
        "id": article.id,
        "title": article.title,
        "approved_wording": article.content.approved_wording,
        "owner_unit": article.owner_unit,
        "districts": list(article.content.districts),
        "review_by": article.review_by.isoformat(),
        "version": article.version,
        "score": hit.score,
        "matched": list(hit.matched),
    }


def flag_json(flag: StaleFlag) -> dict[str, Any]:
    return {
        "article_id": flag.article_id,
        "title": flag.title,
        "owner_unit": flag.owner_unit,
        "review_by": flag.review_by.isoformat(),
        "days_overdue": flag.days_overdue,
    }


# ---- handlers ------------------------------------------------------------------------------


@routes.get("/api/kb/search")
async def search(request: web.Request) -> web.Response:
    _actor(request, *EVERYONE)
    query = request.query.get("q", "").strip()
    if not query or len(query) > 200:
        raise InvalidInput("q must be 1..200 characters", field="q")
    hits = await _store(request).search(
        query,
        unit=request.query.get("unit") or None,
        district=request.query.get("district") or None,
        in_force_on=_store(request).today(),
        limit=int_query(request, "limit", 20, 1, 100),
    )
    return web.json_response({"query": query, "hits": [hit_json(h) for h in hits]})


@routes.get("/api/kb/articles")
async def list_articles(request: web.Request) -> web.Response:
    """The knowledge admin's list: drafts and retired articles too, which search never shows."""
    actor = _actor(request, *EDITORS)
    unit = actor.unit if actor.role is Role.UNIT else (request.query.get("unit") or None)
    status = request.query.get("status") or None
    if status is not None and status not in {s.value for s in ArticleStatus}:
        raise InvalidInput("unknown status", field="status", allowed=[s.value for s in ArticleStatus])
    limit = int_query(request, "limit", 100, 1, 500)
    offset = int_query(request, "offset", 0, 0, 1_000_000)
    articles = await _store(request).list_articles(
        unit=unit, status=ArticleStatus(status) if status else None, limit=limit, offset=offset)
    return web.json_response({"articles": [article_json(a) for a in articles], "limit": limit, "offset": offset})


@routes.get("/api/kb/articles/{article_id}")
async def get_article(request: web.Request) -> web.Response:
    actor = _actor(request, *EVERYONE)
    store = _store(request)
    article = await store.get(_article_id(request))
    if not can_read(actor, article):
        raise PermissionDenied(f"article {article.id} is {article.status.value}; only its unit may read it",
                               article_id=article.id)
    versions = await store.versions(article.id)
    return web.json_response({
        "article": article_json(article),
        "versions": [version_json(v) for v in reversed(versions)],
    })


@routes.post("/api/kb/articles")
async def create_article(request: web.Request) -> web.Response:
    actor = _actor(request, *EDITORS)
    body = await _body(request, ArticleBody)
    if body.owner_unit is None and actor.unit is None:
        raise InvalidInput("owner_unit is required", field="owner_unit")
    article = await _store(request).create(
        _content(body, actor.unit or ""), actor, note=body.change_note or "新建"
    )
    return web.json_response({"article": article_json(article)}, status=201)


@routes.put("/api/kb/articles/{article_id}")
async def edit_article(request: web.Request) -> web.Response:
    actor = _actor(request, *EDITORS)
    body = await _body(request, EditBody)
    store = _store(request)
    current = await store.get(_article_id(request))
    article = await store.edit(
        current.id, _content(body, current.owner_unit), actor,
        expected_version=body.expected_version, note=body.change_note,
    )
    return web.json_response({"article": article_json(article)})


@routes.post("/api/kb/articles/{article_id}/publish")
async def publish_article(request: web.Request) -> web.Response:
    actor = _actor(request, *EDITORS)
    body = await _body(request, PublishBody) if request.can_read_body else PublishBody()
    article = await _store(request).publish(
        _article_id(request), actor, expected_version=body.expected_version, note=body.change_note
    )
    return web.json_response({"article": article_json(article)})


@routes.post("/api/kb/articles/{article_id}/retire")
async def retire_article(request: web.Request) -> web.Response:
    actor = _actor(request, *EDITORS)
    body = await _body(request, RetireBody)
    article = await _store(request).retire(
        _article_id(request), actor, note=body.change_note, expected_version=body.expected_version
    )
    return web.json_response({"article": article_json(article)})


@routes.get("/api/kb/stale")
async def stale(request: web.Request) -> web.Response:
    actor = _actor(request, *EDITORS)
    unit = actor.unit if actor.role is Role.UNIT else (request.query.get("unit") or None)
    store = _store(request)
    flags = await store.stale(store.today(), unit=unit)
    return web.json_response({"stale": [flag_json(f) for f in flags]})


def operations() -> list[Operation]:
    everyone = READERS
    editors = WRITERS
    own = "a unit: its own articles"
    return [
        Operation("get", "/api/kb/search", "Search published approved wording (答复口径)", everyone,
                  query=(("q", "string"), ("unit", "string"), ("district", "string"),
                         ("limit", "integer"))),
        Operation("get", "/api/kb/articles", "Articles of every status, by unit", editors,
                  query=(("unit", "string"), ("status", "string"), ("limit", "integer"), ("offset", "integer")),
                  note=own),
        Operation("get", "/api/kb/articles/{article_id}", "An article with its versions", everyone,
                  note="a draft: its own unit and kb_admin"),
        Operation("post", "/api/kb/articles", "Write a draft article", editors, ArticleBody,
                  success=201, note=own),
        Operation("put", "/api/kb/articles/{article_id}", "Edit an article (a new version)",
                  editors, EditBody, note=own),
        Operation("post", "/api/kb/articles/{article_id}/publish", "Publish an article", editors,
                  PublishBody, note=own),
        Operation("post", "/api/kb/articles/{article_id}/retire", "Retire an article", editors,
                  RetireBody, note=own),
        Operation("get", "/api/kb/stale", "Articles past their review date", editors,
                  query=(("unit", "string"),), note=own),
    ]
