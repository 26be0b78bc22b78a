"""`/metrics` of a running backend after a real SIP call: the call, its answer delay, its
ticket, the ARI events and the HTTP requests are all counted, next to the wallboard's figures.

A real `hotline run` (real Asterisk, SIPp, Redis, SQLite): the figures are read from its
Prometheus text exactly as a scraper would read them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.sandbox import AsteriskSandbox
from tests.integration.test_call_to_ticket import _wait_for_tickets, place_call

pytestmark = pytest.mark.asterisk

HOLD_MS = 3000


async def scrape(port: int) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    series: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name].append((sample.labels, sample.value))
    return text, series


def value(series: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in series.get(name, []) if all(got.get(k) == w for k, w in labels.items()))


async def test_a_real_call_is_counted_timed_and_its_ticket_transition_seen(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory
) -> None:
    bridge = await bridge_factory(asterisk, sqlite_url)
    async with aiohttp.ClientSession() as session:  # one refused API request, by its template
        async with session.get(f"http://127.0.0.1:{bridge.http_port}/api/tickets/20261130-N01-000001") as r:
            assert r.status == 401
    code, out = await place_call(asterisk, "13812345678", hold_ms=HOLD_MS)
    assert code == 0, out[-2000:]
    _, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
    assert len(ticket_rows) == 1, bridge.log_tail()

    # The ticket is visible once committed; the call is forgotten a moment later (after the
    # transcript and the screen are told): scrape until the call path has settled.
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        text, series = await scrape(bridge.http_port)
        settled = (value(series, "hotline_calls_active") == 0
                   and value(series, "hotline_ticket_transitions_total") >= 1)
        if settled or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert value(series, "hotline_calls_started_total") == 1, bridge.log_tail()
    ended = {labels["reason"]: v for labels, v in series["hotline_calls_ended_total"]}
    assert sum(ended.values()) == 1, ended
    assert value(series, "hotline_call_answer_delay_seconds_count") == 1
    delay = value(series, "hotline_call_answer_delay_seconds_sum")
    assert 0 < delay < HOLD_MS / 1000, f"answer delay {delay:.3f}s"
    inf_bucket = value(series, "hotline_call_answer_delay_seconds_bucket", le="+Inf")
    assert inf_bucket == 1
    assert value(series, "hotline_calls_active") == 0, "the call is over"
    assert value(series, "hotline_ticket_transitions_total", event="TicketRegistered", status="draft") == 1
    assert value(series, "hotline_screen_decisions_total", level="allow") == 1
    events = value(series, "hotline_ari_event_lag_seconds_count")
    assert events >= 2, "StasisStart and StasisEnd at least"
    assert 0 <= value(series, "hotline_ari_event_lag_seconds_sum") / events < 1.0
    assert value(series, "hotline_ari_reconnects_total") == 0
    assert value(series, "hotline_outbox_depth") == 0 and value(series, "hotline_message_spool_waiting") == 0
    assert ("hotline_asr_live_streams" in series and "hotline_asr_live_lag_seconds" in series)
    # Admission: nothing held, the configured limit, no overflow, taking calls.
    assert value(series, "hotline_node_calls") == 0
    assert value(series, "hotline_node_call_limit") == 250
    assert value(series, "hotline_node_overflowed_calls_total") == 0
    assert value(series, "hotline_node_accepting_calls") == 1
    assert value(series, "hotline_event_loop_lag_ms", quantile="0.99") >= 0

    # HTTP latency by route template, never by raw path (a ticket number is not a label).
    assert value(series, "hotline_http_request_duration_seconds_count", route="/health", method="GET") >= 1
    assert value(series, "hotline_http_request_duration_seconds_count",
                 route="/api/tickets/{no}", status="401") == 1
    assert "20261130-N01-000001" not in text
    # The wallboard's figures, under their own names, in the same exposition.
    assert "hotline_calls_waiting 0\n" in text and "# TYPE hotline_service_level gauge" in text
