"""The whole backend keeps nothing per call once its calls are over.

`hotline run`'s application (build_app: call flow, distributor, supervisor monitor, live
transcription with a real Vosk model, screen) against real Asterisk, Redis and SQLite; SIPp
places calls that carry speech. Afterwards every per-call registry is back to its size at rest
and so is the number of asyncio tasks: a dict keyed by call id that is never popped, a media
reader or a recognizer task left behind would show here, after a few dozen calls, long before
it shows in the process's memory (the node-capacity benchmark prints that).
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from asr.live_calls import LiveCallTranscriber
from devtools.sandbox import AsteriskSandbox, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from hotline.composition import CALL_FLOW, build_app, preflight
from hotline.settings import load_settings
from tests.asr_fixtures import AsrLanguage
from tests.asterisk_harness import bridge_env
from tests.integration.test_call_to_ticket import _wait_for_tickets

pytestmark = pytest.mark.asterisk

CALLS = 24
#: At most this many calls at once: with the default ASR pool (2 workers x 4 streams) every
#: stream of every call is decoded live, so the check does not wait for post-call decoding of
#: deferred streams (minutes on a shared 2-core machine; that backlog is asr's own concern).
AT_ONCE = 4


async def _settled(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def test_per_call_registries_and_tasks_return_to_rest_after_calls_with_speech(
    asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str, redis_client,
    asr_language: AsrLanguage, tmp_path,
) -> None:
    env = bridge_env(asterisk, sqlite_url, redis_key_prefix, free_tcp_port())
    env.update({"HOTLINE_ASR_MODEL_PATH": str(asr_language.model_path),
                "HOTLINE_ASR_SPOOL_DIR": str(tmp_path / "asr-spool"),
                "HOTLINE_ASR_OVERLAY_DIR": str(tmp_path / "asr-overlay"),
                "HOTLINE_CALL_FLOW_OUTBOX_DIR": str(tmp_path / "outbox"),
                # Every stream stays live however busy the machine (AT_ONCE keeps them within
                # the pool; a stream behind by more than the default 3 s would go to post-call
                # decoding, and one full run then waited 250 s here for that backlog, which is
                # asr's own concern: tests/integration/test_asr_overload.py).
                "HOTLINE_ASR_MAX_LAG_SECONDS": "600"})
    settings = load_settings(environ=env)
    await preflight(settings)
    app = build_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        flow = app[CALL_FLOW]
        assert await _settled(lambda: flow.footprint()["tasks"] == 0 and flow.rest is not None)
        await asyncio.sleep(1.0)  # the reconcile after the ARI connection
        await flow.drain()
        at_rest = flow.footprint()
        assert set(at_rest.values()) == {0}, at_rest
        tasks_at_rest = asyncio.all_tasks()

        wav = asterisk.write_sipp_file("footprint-speech.wav", caller_audio_wav(seconds=2.0))
        scenario = asterisk.write_sipp_file(
            "node-footprint.xml", speech_call_scenario(wav, hold_ms=3000, loops=-1))
        code, out = await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", str(CALLS),
                                            "-r", "4", "-l", str(AT_ONCE), "-set", "caller",
                                            "13700000000", timeout=180)
        assert code == 0, out[-1500:]
        call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, CALLS, timeout=60)
        assert len(call_rows) == CALLS and len(ticket_rows) == CALLS

        transcriber = flow.audio_consumer
        assert isinstance(transcriber, LiveCallTranscriber)
        assert await _settled(lambda: set(flow.footprint().values()) == {0}), {
            name: size for name, size in flow.footprint().items() if size}
        assert await _settled(lambda: not transcriber.calls), "transcriptions left"
        # No task started for a call outlives it (media readers, recognizers, handlers).
        assert await _settled(lambda: not asyncio.all_tasks() - tasks_at_rest, timeout=300), [
            f"{task.get_name()}:{getattr(task.get_coro(), '__qualname__', '?')}"
            for task in asyncio.all_tasks() - tasks_at_rest]
        assert await redis_client.hlen(f"{redis_key_prefix}calls:active:N01") == 0
        assert (await client.get("/health")).status == 200
