"""Call set-up through the ARI bridge vs a dialplan-only call, on the same real Asterisk.

Baseline: extension 12399 answers in the dialplan (`Answer()`), no bridge process involved.
Measured: extension 12345 is answered and recorded in the dialplan ([hotline-answer], issue 26)
and goes to Stasis; our bridge bridges, screens and greets. SIPp measures INVITE -> 200 OK
(its response time 1) over N calls of each, run
sequentially in one session, and this prints both and their ratio. GB/T 33358 asks for answer
within 15 s; this shows how much of that our bridge uses.

Run: .venv/bin/python bench/bench_call_setup.py [--calls 20]
Only 127.0.0.1 is used; the run is bounded by --calls and SIPp's own timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from tests.asterisk_harness import BridgeProcess, bridge_env

RESPONSE_TIME = re.compile(r"Response Time 1\s*\|[^|]*\|\s*(\d+):(\d+):(\d+):(\d+)")


def parse_average_ms(output: str) -> float:
    matches = RESPONSE_TIME.findall(output)
    if not matches:
        raise RuntimeError(f"no response time in SIPp output: {output[-800:]}")
    hours, minutes, seconds, micros = (int(x) for x in matches[-1])
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + micros / 1000


async def measure(sandbox: AsteriskSandbox, service: str, calls: int) -> float:
    wav = sandbox.write_sipp_file("bench-audio.wav", caller_audio_wav(seconds=1.0))
    scenario = sandbox.write_sipp_file(f"bench-{uuid.uuid4().hex[:6]}.xml",
                                       speech_call_scenario(wav, hold_ms=300, loops=-1))
    code, out = await sandbox.run_sipp("-sf", scenario, "-s", service, "-m", str(calls),
                                       "-l", "1", "-set", "caller", "13800000000",
                                       timeout=60 + calls * 5)
    if code != 0 and service == "12345":
        raise RuntimeError(f"SIPp failed ({code}): {out[-800:]}")
    return parse_average_ms(out)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    sandbox = AsteriskSandbox(ensure_rootfs())
    sandbox.start()
    bridge: BridgeProcess | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            port = free_tcp_port()
            bridge = BridgeProcess(env=bridge_env(sandbox, url, f"hotline-bench-{uuid.uuid4().hex[:8]}:", port),
                                   http_port=port, log_path=Path(tmp) / "bridge.log")
            await bridge.start()
            baseline = await measure(sandbox, "12399", args.calls)
            ours = await measure(sandbox, "12345", args.calls)
    finally:
        if bridge is not None:
            bridge.stop()
        sandbox.remove()
    print(f"calls per path: {args.calls} (sequential)")
    print(f"dialplan-only answer (12399):      INVITE -> 200 OK avg {baseline:7.2f} ms")
    print(f"ARI bridge answer (12345):         INVITE -> 200 OK avg {ours:7.2f} ms")
    print(f"ratio bridge / dialplan: {ours / baseline if baseline else float('inf'):.2f}x "
          f"(GB/T 33358 budget: 15000 ms)")


if __name__ == "__main__":
    asyncio.run(main())
