"""Installs transcription's HTTP API (the ticket draft of a caller's words) into an app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from asr import api
from asr.gazetteer import Gazetteer
from kernel.openapi import contribute


def install(app: web.Application, gazetteer: Gazetteer,
            suggest_units: Callable[[str], list[Any]] | None = None) -> None:
    app[api.DRAFT_READER] = api.DraftReader(gazetteer, suggest_units)
    app.add_routes(api.routes)
    contribute(app, api.operations())
