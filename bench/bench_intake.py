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

With --audio (issue 21), the same requests as Mandarin phone calls (bench/intake_speech.py:
neural voice at 8 kHz, decoded by the live decode path on vosk-model-small-cn-0.22, the
place-spotting pass of a hang-up on the same audio): the character error rate, and the figures
above from the written text beside the same from speech, read three ways, measured in the same
run: the words as heard with nothing recovered (as the draft read them before issue 21), with
places and the catalogue's key terms recovered by sound (the desk's draft while the call goes
on), and with the spotting pass too (the draft stored at hang-up). Goal from speech: district
>= 90 %, dispatch top-1 >= 90 %, type >= 80 %. The first run renders and decodes ~400 requests
(~30 minutes of CPU); later runs read the cache.

    .venv/bin/python bench/bench_intake.py [--misses] [--data tests/data/intake_requests.yaml]
    .venv/bin/python bench/bench_intake.py --audio [--misses] [--redecode]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from unittest import mock

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
    read_request,
    shipped_reader,
)
from tests.speech_metrics import character_errors
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


def speech_table(title: str, requests: Sequence[LabelledRequest], readers: Sequence[tuple[str, Reader]],
                 cer: float) -> list[Scores]:
    scores = [evaluate(requests, read) for _, read in readers]
    first = scores[0]
    print(f"{title} ({first.requests} requests, {first.district_named} naming a place; "
          f"character error rate of the speech {100 * cer:.1f}%)")
    print(f"  {'':<34}" + "".join(f"{name:>16}" for name, _ in readers))
    rows: list[tuple[str, Callable[[Scores], float], str]] = [
        ("dispatch top-1", lambda s: s.dispatch_top1_rate, "%"),
        ("dispatch top-3", lambda s: s.dispatch_top3_rate, "%"),
        ("type accuracy (of all requests)", lambda s: s.type_accuracy, "%"),
        ("type abstention", lambda s: s.type_abstention_rate, "%"),
        ("district accuracy (where named)", lambda s: s.district_accuracy, "%"),
        ("district given where none named", lambda s: s.district_invented, "n"),
    ]
    for name, value, unit in rows:
        cells = (f"{100 * value(s):15.1f}%" if unit == "%" else f"{value(s):16.0f}" for s in scores)
        print(f"  {name:<34}" + "".join(cells))
    return scores


def audio(args: argparse.Namespace) -> None:
    """--audio: the requests as phone calls, read from speech beside the written text."""
    import intake_speech

    gazetteer, catalogue = load_gazetteer(), load_catalogue()
    labelled, held_out = load_requests(LABELLED_REQUESTS), load_requests(HELD_OUT_REQUESTS)
    texts = list(dict.fromkeys(r.text for r in labelled + held_out))
    calls = {c.text: c for c in intake_speech.hear(texts, redecode=args.redecode)}
    spotted = {text: intake_speech.spotted_places(call, gazetteer) for text, call in calls.items()}

    def written(text: str) -> Reading:
        return read_request(gazetteer, catalogue, text)

    def heard_only(text: str) -> Reading:
        # the draft as it read speech before issue 21: no place nor key term recovered by sound
        with mock.patch("asr.extract.recover_places", lambda *_args, **_kw: []), \
                mock.patch("tickets.dispatch.heard_among", lambda *_args, **_kw: frozenset()):
            return read_request(gazetteer, catalogue, calls[text].heard)

    def by_sound(text: str) -> Reading:
        return read_request(gazetteer, catalogue, calls[text].heard)

    def with_spotting(text: str) -> Reading:
        return read_request(gazetteer, catalogue, calls[text].heard, spotted[text])

    readers = [("written text", written), ("speech before", heard_only), ("+ by sound", by_sound),
               ("+ spotting pass", with_spotting)]

    def cer(requests: Sequence[LabelledRequest]) -> float:
        pairs = [character_errors(r.text, calls[r.text].heard) for r in requests]
        return sum(e for e, _ in pairs) / max(1, sum(n for _, n in pairs))

    seconds = sum(c.seconds for c in calls.values())
    print(f"intake benchmark from speech: {len(calls)} requests, {seconds / 60:.0f} minutes of 8 kHz Mandarin "
          "(neural voice, vosk-model-small-cn-0.22, live decode path)")
    everything = labelled + held_out
    speech_table("all", everything, readers, cer(everything))
    clean = [r for r in labelled if not r.noise]
    speech_table("clean", clean, readers, cer(clean))
    noisy = [r for r in labelled if r.noise]
    speech_table("speech-recognition variants (spoken as written)", noisy, readers, cer(noisy))
    speech_table("held out (written after the rules were tuned)", held_out, readers, cer(held_out))
    print("goal from speech (stored draft, all requests): district >= 90 %, dispatch top-1 >= 90 %, type >= 80 %")
    if args.misses:
        print("misses from speech with the spotting pass (id, field, expected, got | heard):")
        final = evaluate(everything, with_spotting)
        for miss in final.misses:
            request = next(r for r in everything if r.id == miss[0])
            print("  " + "  ".join(miss) + "  | " + calls[request.text].heard)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=LABELLED_REQUESTS)
    parser.add_argument("--misses", action="store_true", help="list what the shipped rules get wrong")
    parser.add_argument("--audio", action="store_true", help="read the requests from Mandarin speech too")
    parser.add_argument("--redecode", action="store_true", help="with --audio: decode again, ignoring the cache")
    args = parser.parse_args()
    if args.audio:
        audio(args)
        return

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
