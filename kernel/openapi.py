"""The OpenAPI 3.1 document, assembled from what each capability contributes, and who may call
each route.

A capability's `install` registers its routes and, next to them, an `Operation` for each one
(`contribute`); `GET /api/openapi.json` serves the document built from every contribution of
the running app. `undocumented_routes` lets a test hold the document to the router, so a route
added without its operation fails the suite instead of silently going missing.

An operation also declares its route's gate (`Operation.roles`): `ANYONE`, `SIGNED_IN`, or the
roles that may call it, the same constant its handler passes to `kernel.auth.require`. The
handler enforces it; the declaration makes it inspectable, and `access_table` lays it out per
route for the role x route test (tests/integration/test_access_matrix.py), which holds every
handler to its declaration. What a role may then see of one object (its own calls, its unit's
tickets) is decided by the handler, past the gate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from kernel.roles import ROLE_NAMES

Method = Literal["get", "post", "put", "delete"]
QueryType = Literal["string", "integer", "boolean"]

#: Everyone, without any credential (the public disclosure, the pages, this document).
ANYONE = "anyone"
#: Any signed-in person or program, whatever the role (the handler decides the rest).
SIGNED_IN = "any signed-in person or program"


@dataclass(frozen=True)
class Access:
    """A route's gate: who gets past it (a refusal is 401 without credentials, 403 otherwise)."""

    #: Callers without any credential too.
    anyone: bool = False
    #: The roles that may call it; None: every role (any signed-in caller).
    roles: frozenset[str] | None = None
    #: A path parameter naming a user: that user may call it too, whatever their role.
    owner: str | None = None
    #: Whether a program may call it with an API key (no websocket takes one: `kernel.auth`).
    api_keys: bool = True

    def allows(self, role: str | None, *, owner: bool = False, api_key: bool = False) -> bool:
        """Whether a caller in `role` (None: no credential) gets past; `owner`: the caller is
        the user the `owner` path parameter names; `api_key`: the caller sent an API key."""
        if self.anyone:
            return True
        if role is None or (api_key and not self.api_keys):
            return False
        return self.roles is None or role in self.roles or (owner and self.owner is not None)

    def describe(self) -> str:
        if self.anyone:
            return ANYONE
        named = SIGNED_IN if self.roles is None else ", ".join(sorted(self.roles))
        named = f"{named}; or the user named by {{{self.owner}}}" if self.owner else named
        return named if self.api_keys else f"{named}; not with an API key"


@dataclass(frozen=True)
class Operation:
    method: Method
    path: str
    summary: str
    #: Who may call it: `ANYONE`, `SIGNED_IN`, or the role names that may (the set the handler
    #: passes to `kernel.auth.require`); any other text is prose that declares nothing, which the
    #: role x route test refuses.
    roles: str | Set[str]
    body: type[BaseModel] | None = None
    #: Query parameters as (name, type) pairs.
    query: tuple[tuple[str, QueryType], ...] = ()
    #: 200 for reads and commands, 201 for creations.
    success: int = 200
    #: What the success answer is, when it is not JSON (a page, a file, a websocket upgrade).
    content_type: str = "application/json"
    #: A path parameter naming a user, who may call it whatever their role (their own keys).
    owner: str | None = None
    #: Whether a program may call it with an API key; never on a websocket (`kernel.auth`).
    api_keys: bool = True
    #: What decides past the gate, for the reader ("an agent: the calls they took part in").
    note: str = ""
    #: Takes an `Idempotency-Key` header (kernel/idempotency.py): a retry answers the first time.
    idempotent: bool = False
    access: Access | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        access: Access | None = None
        keys = self.api_keys and self.content_type != "websocket"
        if self.roles == ANYONE:
            access = Access(anyone=True)
        elif self.roles == SIGNED_IN:
            access = Access(owner=self.owner, api_keys=keys)
        elif not isinstance(self.roles, str):
            names = frozenset(str(role) for role in self.roles)
            if not names or not names <= ROLE_NAMES:
                raise ValueError(f"{self.method} {self.path}: unknown roles {sorted(names - ROLE_NAMES)}")
            access = Access(roles=names, owner=self.owner, api_keys=keys)
        object.__setattr__(self, "access", access)

    @property
    def who(self) -> str:
        """Who may call it, as the document says."""
        said = self.access.describe() if self.access is not None else str(self.roles)
        return f"{said} ({self.note})" if self.note else said


_OPERATIONS = web.AppKey("openapi_operations", list[Operation])
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")

_ERROR_SCHEMA = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_ERRORS = ((400, "invalid input"), (401, "no valid credential: sign in, or send a live API key"),
           (403, "role may not do this"), (404, "not found or not visible to this person"),
           (409, "conflict: reload and retry"),
           (422, "transition not allowed by the regulations, or an Idempotency-Key reused for another request"),
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
    if op.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "A retry with the same key and body gets the first answer and changes "
                                      "nothing; the same key with another body is 422 idempotency_key_reused",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 128,
                                  "pattern": "^[!-~]+$"}})
    success: dict[str, Any] = {"description": "OK"}
    success["content"] = {op.content_type: {"schema": {}}}
    entry: dict[str, Any] = {
        "summary": op.summary,
        "description": f"Roles: {op.who}.",
        "parameters": params,
        "responses": {
            str(op.success): success,
            **{str(code): {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}} for code, text in _ERRORS},
        },
    }
    if op.roles != ANYONE:
        entry["security"] = [{"session": []}, {"bearer": []}]
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
        "components": {"schemas": schemas, "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "hotline_session",
                        "description": "A person's session (POST /api/session); writes also send X-CSRF-Token"},
            "bearer": {"type": "http", "scheme": "bearer",
                       "bearerFormat": "a program's API key, hk_<id>_<secret> (kernel.api_keys)"}}},
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


@dataclass(frozen=True)
class RouteAccess:
    """One row of the role x route table: a served route (a workflow command spelled out) and
    the gate its operation declares."""

    method: str
    #: The documented path: the route's own, or the one of its operations it covers.
    path: str
    access: Access
    websocket: bool


def access_table(app: web.Application) -> tuple[list[RouteAccess], set[tuple[str, str]]]:
    """Every route the app serves with the gate its operations declare, and the (method, path)
    of the routes that declare none: no operation, or one that gives its roles only in prose."""
    rows: list[RouteAccess] = []
    undeclared: set[tuple[str, str]] = set()
    operations = operations_of(app)
    for method, path in sorted(_served_routes(app)):
        covered = [op for op in operations if op.method == method and _covers(path, document_path(op.path))]
        if not covered or any(op.access is None for op in covered):
            undeclared.add((method, path))
            continue
        for op in covered:
            assert op.access is not None
            rows.append(RouteAccess(method, document_path(op.path), op.access, op.content_type == "websocket"))
    return rows, undeclared


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(operations_of(request.app)))


def install(app: web.Application) -> None:
    """Serve `/api/openapi.json` (documenting itself too)."""
    app.router.add_get("/api/openapi.json", serve_document)
    contribute(app, [Operation("get", "/api/openapi.json", "This document", ANYONE)])
