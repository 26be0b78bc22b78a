"""The labelled intake requests (tests/data/intake_requests.yaml) and how intake is scored on them.

One scoring, used by the regression test (tests/unit/test_intake_quality.py) and by the
benchmark (bench/bench_intake.py), which also scores the previous rules with it. A reader maps
a caller's words to what the desk pre-fills: the request type (or no guess), the district (or
none) and the units the dispatcher is offered, best first. The shipped reader is the path a
ticket takes: the draft read from the transcript (`asr.extract.extract_ticket_draft`), then the
catalogue's suggestions for the draft's type and district on the transcript as the draft reads
it (`read_transcript`), as `GET /api/tickets/{no}/suggested-units` gives them once the form
is filled in from the draft.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asr.extract import Gazetteer, extract_ticket_draft, read_transcript
from asr.place_grammar import SpottedPlace
from tickets.dispatch import DispatchCatalogue, suggest_units
from tickets.model import TicketType

LABELLED_REQUESTS = Path(__file__).resolve().parent / "data" / "intake_requests.yaml"
#: Written after the rules were tuned on LABELLED_REQUESTS: how far the tuning carries over.
HELD_OUT_REQUESTS = Path(__file__).resolve().parent / "data" / "intake_holdout.yaml"
TYPES = frozenset(t.value for t in TicketType)


@dataclass(frozen=True)
class LabelledRequest:
    id: str
    text: str
    type: str
    unit: str
    district: str | None
    noise: tuple[str, ...] = ()
    of: str | None = None  # the request this one is a speech-recognition variant of


def load_requests(path: Path = LABELLED_REQUESTS) -> list[LabelledRequest]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["requests"]
    requests = [LabelledRequest(id=str(r["id"]), text=str(r["text"]), type=str(r["type"]),
                                unit=str(r["unit"]), district=r.get("district"),
                                noise=tuple(r.get("noise") or ()), of=r.get("of"))
                for r in raw]
    ids = [r.id for r in requests]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate request ids in the labelled set")
    for r in requests:
        if r.type not in TYPES:
            raise ValueError(f"{r.id}: unknown type {r.type!r}")
        if r.of is not None and r.of not in ids:
            raise ValueError(f"{r.id}: variant of an unknown request {r.of!r}")
    return requests


@dataclass(frozen=True)
class Reading:
    """What a reader made of a request."""

    type: str | None
    district: str | None
    units: Sequence[str]


Reader = Callable[[str], Reading]


def read_request(gazetteer: Gazetteer, catalogue: DispatchCatalogue, text: str,
                 spotted: Sequence[SpottedPlace] = ()) -> Reading:
    """What the desk pre-fills from a caller's words (and, for a call, the districts the
    place-spotting pass heard in its audio)."""
    draft = extract_ticket_draft(text, gazetteer, spotted=spotted)
    ticket_type = draft.request_type.value if draft.request_type else None
    district = draft.district.value if draft.district else None
    units = [s.unit for s in suggest_units(catalogue, read_transcript(text, gazetteer, spotted).text, ticket_type,
                                             district)]
    return Reading(ticket_type.value if ticket_type else None, district, units)


def shipped_reader(gazetteer: Gazetteer, catalogue: DispatchCatalogue) -> Reader:
    def read(text: str) -> Reading:
        return read_request(gazetteer, catalogue, text)

    return read


@dataclass
class Scores:
    requests: int = 0
    dispatch_top1: int = 0
    dispatch_top3: int = 0
    type_right: int = 0
    type_abstained: int = 0
    district_named: int = 0
    district_right: int = 0
    district_invented: int = 0  # a district given where the caller named none
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (id, what, expected, got)

    def ratio(self, part: int, whole: int | None = None) -> float:
        whole = self.requests if whole is None else whole
        return part / whole if whole else 0.0

    @property
    def dispatch_top1_rate(self) -> float:
        return self.ratio(self.dispatch_top1)

    @property
    def dispatch_top3_rate(self) -> float:
        return self.ratio(self.dispatch_top3)

    @property
    def type_accuracy(self) -> float:
        """Right types among ALL requests: an abstention counts as not right."""
        return self.ratio(self.type_right)

    @property
    def type_abstention_rate(self) -> float:
        return self.ratio(self.type_abstained)

    @property
    def type_accuracy_when_guessed(self) -> float:
        return self.ratio(self.type_right, self.requests - self.type_abstained)

    @property
    def district_accuracy(self) -> float:
        """Right districts among the requests whose caller named a place."""
        return self.ratio(self.district_right, self.district_named)


def evaluate(requests: Sequence[LabelledRequest], read: Reader) -> Scores:
    scores = Scores()
    for request in requests:
        got = read(request.text)
        scores.requests += 1
        units = list(got.units)
        if units[:1] == [request.unit]:
            scores.dispatch_top1 += 1
        else:
            scores.misses.append((request.id, "unit", request.unit, ",".join(units[:3]) or "-"))
        if request.unit in units[:3]:
            scores.dispatch_top3 += 1
        if got.type is None:
            scores.type_abstained += 1
            scores.misses.append((request.id, "type", request.type, "-"))
        elif got.type == request.type:
            scores.type_right += 1
        else:
            scores.misses.append((request.id, "type", request.type, got.type))
        if request.district is not None:
            scores.district_named += 1
            if got.district == request.district:
                scores.district_right += 1
            else:
                scores.misses.append((request.id, "district", request.district, got.district or "-"))
        elif got.district is not None:
            scores.district_invented += 1
            scores.misses.append((request.id, "district", "-", got.district))
    return scores
