"""The whole HTTP API fuzzed against its own OpenAPI document (schemathesis), on the whole app as
`hotline run` builds it, with real Asterisk, Redis and SQLite: no input may cause a server error,
and every answer must match what the document says of it.

Cases are generated from each operation's parameters and body schemas, valid and invalid alike,
and sent as a supervisor (most routes' gate) and anonymously; generation is derandomised, so the
same cases run every time (a failure reproduces, and the run never turns flaky). Websocket routes
are left out: they answer upgrades, not requests (their own tests cover them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from devtools.sandbox import AsteriskSandbox
from tests.asterisk_harness import whole_app_on

#: CPU work (generation, validation) whose assertions never depend on time (tests/scheduling.py).
pytestmark = [pytest.mark.asterisk, pytest.mark.cpu_bound]

#: Cases per operation and credential, at most (hypothesis stops early on small input spaces):
#: 2,006 cases in all over 2 credentials on 2026-12-07, ~50 s on 2 busy cores.
CASES_PER_OPERATION = 12


@dataclass
class Run:
    cases: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz(document: dict[str, Any], base_url: str, credentials: dict[str, dict[str, str]]) -> Run:
    """Every documented operation, `CASES_PER_OPERATION` cases per credential (in a worker
    thread: schemathesis sends with `requests` while the app serves on the test's loop)."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_dict(document)
    run = Run()
    checks = [not_a_server_error, response_schema_conformance]

    def sender(operation: Any, who: str, headers: dict[str, str]) -> Any:
        @given(case=operation.as_strategy())
        @settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def send(case: Any) -> None:
            run.cases += 1
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            try:
                case.validate_response(response, checks=checks)
            except Exception as failure:
                run.failures.append(f"{operation.method.upper()} {operation.path} as {who}: "
                                    f"{response.status_code} {str(failure)[:300]}\n  {case.as_curl_command()}")
        return send

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/ws/", "/sip")):
            continue
        for who, headers in credentials.items():
            sender(operation, who, headers)()
    return run


async def test_no_input_causes_a_server_error_and_answers_match_the_document(
        asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str) -> None:
    async with whole_app_on(asterisk, sqlite_url, redis_key_prefix) as (client, bearer):
        document = await (await client.get("/api/openapi.json")).json()
        base_url = str(client.make_url("")).rstrip("/")
        credentials = {"supervisor": bearer("supervisor", "fuzz-sup"), "anyone": {}}
        run = await asyncio.to_thread(fuzz, document, base_url, credentials)
    print(f"schemathesis: {run.cases} cases, {len(run.failures)} failures")
    assert run.cases >= 2000, run.cases
    assert run.failures == [], f"{len(run.failures)} of {run.cases} cases failed:\n" + "\n".join(run.failures[:20])
