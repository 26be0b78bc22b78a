"""Injection payloads in every text field of every JSON body the app accepts (issue 25): SQL,
HTML and script, path traversal, dial-string metacharacters, control characters, Chinese and
emoji, very long strings.

The fields are read from the OpenAPI document the app serves (like tests/integration/test_api_fuzz.py),
not listed by hand, so a new route or field is covered the day it ships. Each operation gets a
plain body built from its schema; then each text field of it, one at a time, carries each payload,
sent by a role the operation lets in. The answer is never a server error; a refusal is a 4xx with
a typed error (`{"error", "message"}`); an accepted value comes back verbatim wherever the answer
shows it (never escaped, trimmed or executed), and the database still has its tables. Runs on
SQLite and on real PostgreSQL (which refuses NUL in text where SQLite keeps it).

The pages never put data in HTML on the server: they are static files whose scripts write what
they fetch as text; `test_page_scripts_write_data_as_text_only` holds that.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import Phase, find, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hotline.composition import token_signer
from kernel.auth import Principal
from kernel.database import create_engine
from tests.number_payloads import NUMBER_INJECTIONS
from tests.whole_app import whole_app, whole_app_settings

ROOT = Path(__file__).resolve().parents[2]

PAYLOADS = [
    "' OR 1=1 --", "\"; DROP TABLE tickets; --", "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "PJSIP/evil@trunk", "110&PJSIP/x,,g", "第一行\n第二行",
    "a\x00b", "\ud800", "市民反映：路灯不亮🙂👨‍👩‍👧", "长" * 5_000,
]
#: What turns a number into another dial string (tests/number_payloads.py).
DIAL_METACHARACTERS = re.compile(r"[/@&,()$\n;]")
#: Fields that carry a phone number also get the dial-string payloads every number edge refuses.
NUMBER_FIELD = re.compile(r"number|phone|contact")
UNIT = "city-housing"
#: Path parameters: a real ticket for `{no}`; elsewhere objects that may not exist.
PATH_VALUES = {"username": "nobody-here", "key_id": "0" * 12, "call_id": "no-such-call", "number": "13900000000",
               "article_id": "no-such-article", "id": "0" * 12, "code": UNIT}
#: Plain values of fields whose text must name something real (the rest are free text).
NAMED_VALUES = {"unit": UNIT, "lead_unit": UNIT, "owner_unit": UNIT, "district": "兰山区", "username": "inj-new-user",
                "dial": "05398100003", "backup_dial": "05398100004", "service_hours": "08:00-18:00",
                "url": "https://example.org/hook", "webhook_url": "https://example.org/hook", "role": "agent",
                # Blank: no one (a named staff member takes the ticket to the quality team, and
                # only a complaint may name one: the plain classify must still reach storage).
                "about_staff": ""}
#: Who sends each operation: the first of these roles it lets in.
SENDERS = ("supervisor", "agent", "dispatcher", "unit", "kb_admin", "callback_agent", "admin", "system")
TABLES = ("tickets", "ticket_events")


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # the first choice that is not null
            choices = [c for c in schema[key] if resolve(c, document).get("type") != "null"]
            return resolve(choices[0] if choices else schema[key][0], document)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return resolve(schema["allOf"][0], document)
    return schema


def plain(schema: dict[str, Any], document: dict[str, Any], name: str = "") -> Any:
    """An ordinary value for `schema`: every field, the first choice of each enum."""
    schema = resolve(schema, document)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None and schema.get("type") != "object":
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {key: plain(sub, document, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [plain(schema.get("items", {}), document, name)] * schema.get("minItems", 0)
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1.0, float(schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-12-07T10:00:00+08:00"
    if schema.get("format") == "date":
        return "2026-12-07"
    if "pattern" in schema:
        return find(st.from_regex(schema["pattern"], fullmatch=True), lambda _: True,
                    settings=settings(database=None, derandomize=True, phases=[Phase.generate]))
    if name in NAMED_VALUES:
        return NAMED_VALUES[name]
    if NUMBER_FIELD.search(name):
        return "13900000000"
    return "普通文字"[: max(schema.get("maxLength", 4), 1)].ljust(schema.get("minLength", 0), "字")


@dataclass
class Op:
    """One documented operation with a JSON body, and who sends it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    def jobs(self) -> list[tuple[Any, str]]:
        """(body, payload): each payload in each text field of the plain body."""
        jobs = []
        for field in text_fields(self.body):
            if field and field[-1] in ("ticket_no",):
                continue
            name = str(next((p for p in reversed(field) if isinstance(p, str)), ""))
            payloads = PAYLOADS + (NUMBER_INJECTIONS if NUMBER_FIELD.search(name) else [])
            jobs += [(replaced(self.body, field, payload), payload) for payload in payloads]
        return jobs


async def new_ticket(client: Any, headers: dict[str, str]) -> str:
    made = await client.post("/api/tickets", headers=headers, json={
        "channel": "phone", "caller": {"number": "13900000000", "name": "注入测试"}, "summary": "路灯不亮"})
    assert made.status == 201, await made.text()
    return str((await made.json())["ticket"]["ticket_no"])


def text_fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where the strings of `value` are: key and index paths."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from text_fields(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from text_fields(sub, (*path, index))


def replaced(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for sub in value.values():
            yield from strings_in(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from strings_in(sub)


def altered_forms(payload: str) -> list[str]:
    """What the payload would look like had the server escaped or mangled it on the way in."""
    forms = [payload.replace("<", "&lt;").replace(">", "&gt;"), payload.replace("'", "''"),
             payload.replace("\n", "\\n"), payload.replace("\x00", "")]
    return [form for form in forms if form != payload and len(form) > 6]


@asynccontextmanager
async def ari_recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """Where the app's ARI client is pointed: every request it makes is kept (method, path,
    query and body, unquoted) and refused, so a dial string that got through would be seen."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(unquote(f"{request.method} {request.path_qs} {await request.text()}"))
        return web.json_response({"message": "recorder"}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


async def test_injection_payloads_in_every_text_field_are_refused_or_kept_verbatim(
        tmp_path: Path, database_url: str, redis_key_prefix: str, redis_client: object) -> None:
    async with ari_recorder() as (ari_url, ari_requests):
        await attack_every_text_field(tmp_path, database_url, redis_key_prefix, ari_url)
    # Dial-string metacharacters never reach Asterisk: no originate (nor any ARI request) carries one.
    dial_payloads = [p for p in {*PAYLOADS, *NUMBER_INJECTIONS} if DIAL_METACHARACTERS.search(p)]
    assert any("/ari/events" in r for r in ari_requests), ari_requests  # the recorder was the app's ARI
    reached = [r[:160] for r in ari_requests if any(p in r for p in dial_payloads)]
    assert reached == []


async def attack_every_text_field(tmp_path: Path, database_url: str, redis_key_prefix: str, ari_url: str) -> None:
    settings = whole_app_settings(tmp_path, database_url, redis_key_prefix, auth_test_tokens="true",
                                  ari_url=ari_url)
    signer = token_signer(settings)

    def headers_for(role: str) -> dict[str, str]:
        principal = Principal(f"inj-{role}".replace("_", "-"), role, UNIT if role == "unit" else None)
        return {"Authorization": f"Bearer {signer.issue(principal, hours=1)}"}

    async with whole_app(settings) as client:
        document = await (await client.get("/api/openapi.json")).json()
        ops: list[Op] = []
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json")
                if body_schema is None:
                    continue
                roles = re.search(r"Roles: ([^.(;]*)", operation["description"])
                named = {r.strip() for r in roles.group(1).split(",")} if roles else set()
                role = next((r for r in SENDERS if r in named), "supervisor")
                ops.append(Op(method, path, headers_for(role), plain(body_schema["schema"], document)))
        jobs = sum(len(op.jobs()) for op in ops)
        assert len(ops) >= 40 and jobs >= 1_000, (len(ops), jobs)

        failures: list[str] = []
        verbatim = 0
        plain_accepted: list[str] = []
        slots = asyncio.Semaphore(6)

        async def send(op: Op, url: str, body: Any, payload: str | None) -> Any:
            """Send one body; judge the answer; the answer when it was accepted."""
            nonlocal verbatim
            async with slots:
                response = await client.request(op.method, url, headers=op.headers, json=body)
                raw = await response.text()
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = raw  # not JSON: judged below (an untyped refusal, or a server error's page)
            where = f"{op.method.upper()} {url} {(payload or '(plain)')[:30]!r}"
            if response.status >= 500:
                failures.append(f"{where}: {response.status} {str(answer)[:200]}")
            elif response.status >= 400:
                if not (isinstance(answer, dict) and isinstance(answer.get("error"), str)
                        and isinstance(answer.get("message"), str)):
                    failures.append(f"{where}: {response.status} untyped {str(answer)[:200]}")
            elif payload is None:
                plain_accepted.append(f"{op.method} {op.path}")
                return answer
            else:
                shown = list(strings_in(answer))
                verbatim += any(payload in s for s in shown)
                for form in altered_forms(payload):
                    if any(form in s and payload not in s for s in shown):
                        failures.append(f"{where}: stored altered as {form[:40]!r}")
                return answer
            return None

        async def attack(op: Op) -> None:
            values = dict(PATH_VALUES)
            if "{no}" in op.path:  # a ticket of its own, changed one request at a time
                values["no"] = await new_ticket(client, headers_for("agent"))
            url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), op.path)
            version = 1
            for body, payload in [(op.body, None), *op.jobs()]:
                if isinstance(body, dict):
                    body = {**body, **({"expected_version": version} if "expected_version" in body else {}),
                            **({"ticket_no": values["no"]} if "ticket_no" in body and "no" in values else {})}
                answer = await send(op, url, body, payload)
                if isinstance(answer, dict) and isinstance(answer.get("ticket"), dict):
                    version = int(answer["ticket"].get("version", version))

        await asyncio.gather(*(attack(op) for op in ops))
        assert failures == [], f"{len(failures)} of {jobs}:\n" + "\n".join(failures[:30])
        # The plain bodies are good enough to reach storage on the routes that matter most.
        assert {"post /api/tickets", "post /api/tickets/{no}/commands/progress-note",
                "post /api/tickets/{no}/commands/classify"} <= set(plain_accepted), plain_accepted
        assert verbatim >= 100, verbatim  # accepted text comes back as sent

        # A body nested past the parser's recursion limit is refused like any bad JSON.
        deep = await client.post("/api/tickets", data="[" * 100_000 + "]" * 100_000,
                                 headers={**headers_for("agent"), "Content-Type": "application/json"})
        assert (deep.status, (await deep.json())["error"]) == (400, "invalid_input")

        # One ticket carrying the payloads, read back as sent; the tables are all still there.
        caller = {"number": "13900000001", "name": "\"><img src=x onerror=alert(1)>"}
        made = await client.post("/api/tickets", headers=headers_for("agent"), json={
            "channel": "phone", "caller": caller, "summary": "<script>alert(1)</script>",
            "content": "\"; DROP TABLE tickets; -- ' OR 1=1 -- ../../etc/passwd 🙂"})
        assert made.status == 201, await made.text()
        no = (await made.json())["ticket"]["ticket_no"]
        read = (await (await client.get(f"/api/tickets/{no}", headers=headers_for("supervisor"))).json())["ticket"]
        assert (read["summary"], read["content"], read["caller"]["name"]) == (
            "<script>alert(1)</script>", "\"; DROP TABLE tickets; -- ' OR 1=1 -- ../../etc/passwd 🙂",
            caller["name"])
    engine = create_engine(settings.database.url)
    try:
        async with engine.connect() as connection:
            for table in TABLES:
                assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() >= 2
    finally:
        await engine.dispose()


#: Writing markup from data: the one way a page could run a payload it shows.
_HTML_SINK = re.compile(r"\.(innerHTML|outerHTML)\s*\+?=\s*(?P<value>[^;\n]*)|insertAdjacentHTML|document\.write")


def test_page_scripts_write_data_as_text_only() -> None:
    """The pages are static (kernel/pages.py serves files, never data in HTML), and the
    Content-Security-Policy runs no inline script; so a payload stays text as long as no page
    script writes markup built from data. Markup from a constant string literal is fine."""
    scripts = [p for p in ROOT.glob("*/static/**/*.js") if ".venv" not in p.parts and "vendor" not in p.name
               and "bundle" not in p.name and p.stat().st_size < 500_000]
    assert len(scripts) >= 8, scripts
    sinks = []
    for script in scripts:
        for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
            match = _HTML_SINK.search(line)
            if match is None:
                continue
            value = (match.group("value") or "").strip()
            if not re.fullmatch(r"\"[^\"$]*\"|'[^'$]*'", value):
                sinks.append(f"{script.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert sinks == []
