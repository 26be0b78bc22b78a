"""The OpenAPI 3.1 document, assembled from what each capability contributes.

A capability's `install` registers its routes and, next to them, an `Operation` for each one
(`contribute`); `GET /api/openapi.json` serves the document built from every contribution of
the running app. `undocumented_routes` lets a test hold the document to the router, so a route
added without its operation fails the suite instead of silently going missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

Method = Literal["get", "post", "put", "delete"]
QueryType = Literal["string", "integer", "boolean"]

#: Everyone, without a token (the public disclosure, the desk page, this document).
ANYONE = "anyone"


@dataclass(frozen=True)
class Operation:
    method: Method
    path: str
    summary: str
    #: Who may call it, as prose for the reader ("agent, supervisor") or `ANYONE`.
    roles: str
    body: type[BaseModel] | None = None
    #: Query parameters as (name, type) pairs.
    query: tuple[tuple[str, QueryType], ...] = ()
    #: 200 for reads and commands, 201 for creations.
    success: int = 200
    #: What the success answer is, when it is not JSON (a page, a file, a websocket upgrade).
    content_type: str = "application/json"


_OPERATIONS = web.AppKey("openapi_operations", list[Operation])
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")

_ERROR_SCHEMA = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_ERRORS = ((400, "invalid input"), (401, "no, forged or expired access token"),
           (403, "role may not do this"), (404, "not found or not visible to this person"),
           (409, "conflict: reload and retry"), (422, "transition not allowed by the regulations"),
           (503, "a service the backend needs is unavailable"))


def contribute(app: web.Application, operations: Iterable[Operation]) -> None:
    """Add a capability's operations to the app's document (called by `install`)."""
    if _OPERATIONS not in app:
        app[_OPERATIONS] = []
    app[_OPERATIONS].extend(operations)


def operations_of(app: web.Application) -> list[Operation]:
    if _OPERATIONS not in app:
        return []
    contributed: list[Operation] = app[_OPERATIONS]
    return list(contributed)


def document_path(route_path: str) -> str:
    """aiohttp's `{name:regex}` as OpenAPI's `{name}`."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route_path)


def _operation_json(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": {"type": kind}}
               for name, kind in op.query]
    success: dict[str, Any] = {"description": "OK"}
    success["content"] = {op.content_type: {"schema": {}}}
    entry: dict[str, Any] = {
        "summary": op.summary,
        "description": f"Roles: {op.roles}.",
        "parameters": params,
        "responses": {
            str(op.success): success,
            **{str(code): {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}} for code, text in _ERRORS},
        },
    }
    if op.roles != ANYONE:
        entry["security"] = [{"bearer": []}]
    if op.body is not None:
        schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[op.body.__name__] = schema
        entry["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}}}
    return entry


def openapi_document(operations: Iterable[Operation], title: str = "12345 hotline") -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(document_path(op.path), {})[op.method] = _operation_json(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "hotline v1 (kernel.auth)"}}},
    }


def _served_routes(app: web.Application) -> set[tuple[str, str]]:
    served: set[tuple[str, str]] = set()
    for route in app.router.routes():
        method = route.method.lower()
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path and "prefix" in info:  # a static directory: one file per name
            path = f"{info['prefix']}/{{filename}}"
        if method == "head" or not path:
            continue  # aiohttp adds HEAD beside every GET
        served.add((method, document_path(path)))
    return served


def _covers(route_path: str, documented_path: str) -> bool:
    """Whether a served path covers a documented one: `{command}` covers `dispatch`."""
    pattern = re.sub(r"\\\{[^/]+?\\\}", r"(?:\\{[^/]+\\}|[^/{}]+)", re.escape(route_path))
    return re.fullmatch(pattern, documented_path) is not None


def undocumented_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves that its document does not list."""
    documented = {(op.method, document_path(op.path)) for op in operations_of(app)}
    return {(method, path) for method, path in _served_routes(app)
            if not any(m == method and _covers(path, p) for m, p in documented)}


def unserved_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every documented operation that no route of the app serves."""
    served = _served_routes(app)
    return {(op.method, document_path(op.path)) for op in operations_of(app)
            if not any(m == op.method and _covers(p, document_path(op.path)) for m, p in served)}


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(operations_of(request.app)))


def install(app: web.Application) -> None:
    """Serve `/api/openapi.json` (documenting itself too)."""
    app.router.add_get("/api/openapi.json", serve_document)
    contribute(app, [Operation("get", "/api/openapi.json", "This document", ANYONE)])
