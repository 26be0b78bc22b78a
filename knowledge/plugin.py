"""Installs the knowledge base (知识库) into an application: its API, and the seed articles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from kernel.openapi import contribute
from knowledge import api
from knowledge.store import KnowledgeStore, load_seed


@dataclass(frozen=True)
class KnowledgeDeps:
    store: KnowledgeStore
    #: Add the shipped seed articles not loaded before, at start-up (the running backend does).
    load_seed: bool = False


def install(app: web.Application, deps: KnowledgeDeps) -> None:
    app[api.KNOWLEDGE_STORE] = deps.store
    app.add_routes(api.routes)
    contribute(app, api.operations())
    if deps.load_seed:
        async def seed(_: web.Application) -> AsyncIterator[None]:
            await load_seed(deps.store)  # adds only seed articles not loaded before
            yield

        app.cleanup_ctx.append(seed)
