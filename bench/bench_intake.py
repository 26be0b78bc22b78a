"""Benchmark: what the ticket draft reads from callers' words, against the previous rules.

On the labelled colloquial requests of tests/data/intake_requests.yaml (written for the purpose,
with speech-recognition noise variants), prints for the shipped rules and for the previous
rules (frozen in bench/intake_baseline.py), measured in the same run on the same requests:

  dispatch top-1 / top-3   the lead unit is the first / among the first three suggestions
                           (suggestions for the draft's type and district, as the ticket API
                           gives them once the form is filled in from the draft)
  type accuracy            right request type among ALL requests (no guess counts as wrong),
                           the abstention rate, and the accuracy of the guesses made
  district accuracy        right district among requests whose caller names a place, and how
                           often a district is given where the caller named none

then the same figures for the clean requests, for the noisy variants, and for the held-out
requests of tests/data/intake_holdout.yaml (written after the rules were tuned on the first
set, so they show how much of the tuning carries over), and with --misses every request of
--data the shipped rules get wrong. The acceptance thresholds of issue 15 are asserted
by tests/unit/test_intake_quality.py, not here. Pure computation: no services needed.

    .venv/bin/python bench/bench_intake.py [--misses] [--data tests/data/intake_requests.yaml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # intake_baseline

import intake_baseline

from asr.extract import load_gazetteer
from tests.intake_set import (
    HELD_OUT_REQUESTS,
    LABELLED_REQUESTS,
    LabelledRequest,
    Reader,
    Reading,
    Scores,
    evaluate,
    load_requests,
    shipped_reader,
)
from tickets.dispatch import load_catalogue

ROOT = Path(__file__).resolve().parent.parent


def baseline_reader(text: str) -> Reading:
    ticket_type, district, units = intake_baseline.read(text)
    return Reading(ticket_type, district, units)


def row(name: str, new: float, old: float, unit: str = "%") -> str:
    if unit == "%":
        return f"  {name:<34} {100 * new:7.1f}% {100 * old:8.1f}%"
    return f"  {name:<34} {new:8.0f} {old:9.0f}"


def table(title: str, new: Scores, old: Scores) -> None:
    print(f"{title} ({new.requests} requests, {new.district_named} naming a place)")
    print(f"  {'':<34} {'shipped':>8} {'previous':>9}")
    print(row("dispatch top-1", new.dispatch_top1_rate, old.dispatch_top1_rate))
    print(row("dispatch top-3", new.dispatch_top3_rate, old.dispatch_top3_rate))
    print(row("type accuracy (of all requests)", new.type_accuracy, old.type_accuracy))
    print(row("type abstention", new.type_abstention_rate, old.type_abstention_rate))
    print(row("type accuracy when guessed", new.type_accuracy_when_guessed, old.type_accuracy_when_guessed))
    print(row("district accuracy (where named)", new.district_accuracy, old.district_accuracy))
    print(row("district given where none named", new.district_invented, old.district_invented, unit="n"))


def timed(requests: list[LabelledRequest], read: Reader) -> tuple[Scores, float]:
    start = time.perf_counter()
    scores = evaluate(requests, read)
    return scores, (time.perf_counter() - start) / max(1, len(requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=LABELLED_REQUESTS)
    parser.add_argument("--misses", action="store_true", help="list what the shipped rules get wrong")
    args = parser.parse_args()

    requests = load_requests(args.data)
    shipped = shipped_reader(load_gazetteer(), load_catalogue())
    new, new_time = timed(requests, shipped)
    old, old_time = timed(requests, baseline_reader)
    print(f"intake benchmark on {args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data}")
    table("all", new, old)
    clean = [r for r in requests if not r.noise]
    noisy = [r for r in requests if r.noise]
    table("clean", evaluate(clean, shipped), evaluate(clean, baseline_reader))
    table("speech-recognition variants", evaluate(noisy, shipped), evaluate(noisy, baseline_reader))
    if args.data == LABELLED_REQUESTS and HELD_OUT_REQUESTS.exists():
        held_out = load_requests(HELD_OUT_REQUESTS)
        table("held out (written after the rules were tuned)", evaluate(held_out, shipped),
              evaluate(held_out, baseline_reader))
    print(f"time per request: shipped {1000 * new_time:.2f} ms, previous {1000 * old_time:.2f} ms")
    if args.misses:
        print("misses of the shipped rules (id, field, expected, got):")
        for miss in new.misses:
            print("  " + "  ".join(miss))


if __name__ == "__main__":
    main()
