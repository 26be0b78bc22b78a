"""Intake quality on the labelled colloquial requests: the acceptance thresholds of issue 15.

Deterministic (pure rules over fixed text): a rule change that makes the desk's pre-filled
ticket worse on these requests fails here. bench/bench_intake.py prints the same figures beside
the previous rules' and the held-out requests'.
"""

from __future__ import annotations

from collections import Counter

import pytest

from asr.extract import load_gazetteer
from tests.intake_set import LabelledRequest, Scores, evaluate, load_requests, shipped_reader
from tickets.dispatch import load_catalogue
from tickets.model import TicketType

REQUESTS = load_requests()


@pytest.fixture(scope="module")
def scores() -> Scores:
    return evaluate(REQUESTS, shipped_reader(load_gazetteer(), load_catalogue()))


def misses(scores: Scores, what: str) -> list[tuple[str, str, str, str]]:
    return [m for m in scores.misses if m[1] == what]


def test_the_set_covers_every_unit_type_and_district_with_noisy_variants() -> None:
    assert len(REQUESTS) >= 150
    catalogue, gazetteer = load_catalogue(), load_gazetteer()
    assert {r.unit for r in REQUESTS} == set(catalogue.units)
    assert {r.type for r in REQUESTS} == {t.value for t in TicketType}
    assert {r.district for r in REQUESTS} - {None} == set(gazetteer.districts)
    noise = Counter(kind for r in REQUESTS for kind in r.noise)
    assert {"spaced", "homophone", "digits"} <= set(noise)
    assert sum(1 for r in REQUESTS if r.noise) >= 40


def test_variants_keep_the_labels_of_the_request_they_vary() -> None:
    by_id: dict[str, LabelledRequest] = {r.id: r for r in REQUESTS}
    for r in REQUESTS:
        if r.of is not None:
            base = by_id[r.of]
            assert (r.type, r.unit, r.district) == (base.type, base.unit, base.district), r.id


def test_dispatch_top1_is_at_least_90_percent(scores: Scores) -> None:
    assert scores.dispatch_top1_rate >= 0.90, misses(scores, "unit")


def test_type_accuracy_is_at_least_85_percent_with_at_most_10_percent_abstaining(scores: Scores) -> None:
    assert scores.type_accuracy >= 0.85, misses(scores, "type")
    assert scores.type_abstention_rate <= 0.10, misses(scores, "type")


def test_district_is_right_for_95_percent_of_callers_naming_one(scores: Scores) -> None:
    assert scores.district_accuracy >= 0.95, misses(scores, "district")
    unnamed = scores.requests - scores.district_named
    assert scores.district_invented <= 0.02 * unnamed, misses(scores, "district")  # and few made up
