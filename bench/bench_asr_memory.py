"""Memory of warm recognizers: resident memory as N recognizers in use at once decode speech.

Why (issue 14, "memory after 1,000 calls within 10 % of after 10"): the backend's memory grows
after calls, and no per-call structure is left behind (tests/integration/test_node_footprint.py).
What grows is the ASR recognizers: a warm recognizer keeps the part of the decoding graph its
audio made it build (asr/recognizers.py), so memory follows how many recognizers have decoded
speech and how much of the graph that speech reached. This prints the resident memory after
loading the model, after creating N warm recognizers, and after each round in which all N (like
N concurrent streams) decode the speech, each from another point of it. Flat rounds: a plateau.

Usage: python3 bench/bench_asr_memory.py [--recognizers 10] [--rounds 5] [--rate 8000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_asr  # the same model choice and speech as the ASR benchmark

from asr.models import BYTES_PER_SAMPLE, get_model
from asr.recognizers import cache_for
from asr.upsample import upsample


def rss_mb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recognizers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    args = parser.parse_args()
    bench_asr.RATE = args.rate
    model_path = bench_asr.default_model()
    with tempfile.TemporaryDirectory() as tmp:
        speech = bench_asr.render(Path(tmp))
        start = rss_mb()
        model = get_model(model_path, overlay_dir=Path(tmp) / "overlay")
        print(f"model {model.name}: RSS {start} MB before, {rss_mb()} MB loaded; "
              f"speech {len(speech) / (args.rate * BYTES_PER_SAMPLE):.1f} s at {args.rate} Hz")
        cache = cache_for(model)
        chunk = args.rate * BYTES_PER_SAMPLE // 10
        # What the decoder does for phone audio: the recognizers run at the model's own rate.
        decode_rate = model.decode_rate(args.rate)
        if decode_rate != args.rate:
            speech = upsample(speech)
            chunk = chunk * decode_rate // args.rate
        recognizers = [cache.take(decode_rate) for _ in range(args.recognizers)]
        print(f"{args.recognizers} warm recognizers: RSS {rss_mb()} MB")
        first = None
        for round_no in range(1, args.rounds + 1):
            for n, warm in enumerate(recognizers):
                shift = (n * 7919 + round_no * 104729) * BYTES_PER_SAMPLE % len(speech)
                audio = speech[shift:] + speech[:shift]
                for i in range(0, len(audio), chunk):
                    if warm.accept(audio[i:i + chunk]):
                        warm.recognizer.Result()
                warm.final_result()
            now = rss_mb()
            first = first or now
            print(f"round {round_no}: each recognizer decoded the speech once more: RSS {now} MB "
                  f"({now / first:.2f}x round 1)")
        for warm in recognizers:
            cache.give_back(warm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
