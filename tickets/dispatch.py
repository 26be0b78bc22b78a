"""The dispatch catalogue (派单目录) and unit suggestions for a ticket.

The catalogue (`config/dispatch_catalogue.yaml`) lists, per unit, the matters it handles:
ticket types x keywords x districts, with deadlines in working days by ticket type. From it:

* `suggest_units` ranks units for a ticket's text by keyword and character-bigram matching
  (Chinese has no spaces and we ship no segmenter or model); the dispatcher decides;
* `terms_for` gives the handling and signing periods a dispatch to a unit carries, and
  `dispatch_deadlines` turns them into the absolute deadlines a `Dispatch` command needs.

Pure, except `load_catalogue` which reads the YAML file once at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from kernel.errors import ConfigError, NotFound
from kernel.sound_alike import heard_among
from kernel.text_match import containment, ngrams, normalize
from tickets.deadlines import Term, WorkingCalendar, due
from tickets.model import Ticket, TicketType, Urgency

DEFAULT_CATALOGUE_PATH = (
    Path(__file__).resolve().parent.parent / "config" / "dispatch_catalogue.yaml"
)

UNIT_KINDS = frozenset({"department", "public_utility", "district_government"})

#: Score of the district government when nothing more specific matches (北京条例第十二条
#: 第二项: 能够确定诉求所属行政区域的，派单至区人民政府协调办理). Below any keyword hit.
DISTRICT_FALLBACK_SCORE = 1.0
#: Weight of a context keyword, and bonus for a matter restricted to the caller's district
#: (属地管理: the local unit is the more specific one when the words tie).
CONTEXT_WEIGHT = 0.5
LOCAL_MATTER_BONUS = 1.0
#: Weight of a keyword only partly present in the text (e.g. 暖气不热 vs 暖气一点也不热).
FUZZY_WEIGHT = 0.5
FUZZY_MIN_CONTAINMENT = 0.6  # half of a 3-character keyword is a 2-character word: anything
#: A keyword `A…B` matches A followed by B within PAIR_GAP characters: callers put words
#: between the halves of what they mean (晚上…打桩 matches 晚上十二点多了旁边工地还在打桩).
#: It weighs as its two halves together.
PAIR_MARK = "…"
PAIR_GAP = 12
#: Weight of a keyword heard as other words of the same sound (the Mandarin recogniser writes
#: 石材厂 as 是财产, 煤气味 as 没气味): 3+ syllables nearly alike, 2 the very same syllables and
#: tones (kernel/sound_alike.py). One-character keywords are not looked for by sound.
SOUND_WEIGHT = 0.75
SPOKEN_KEYWORD_CHARS = 2


@dataclass(frozen=True)
class Matter:
    """One row of the catalogue: 事项."""

    name: str
    keywords: tuple[str, ...]
    #: Words that place a request (小区, 学校) rather than name its problem: they count less.
    context_keywords: tuple[str, ...]
    types: frozenset[TicketType]
    districts: frozenset[str] | None  # None: the whole city
    deadline_working_days: Mapping[TicketType, int]


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str
    district: str | None
    matters: tuple[Matter, ...]
    deadline_working_days: Mapping[TicketType, int]
    urgent: Term | None


@dataclass(frozen=True)
class DispatchCatalogue:
    version: str
    units: Mapping[str, Unit]
    deadline_working_days: Mapping[TicketType, int]
    urgent: Term
    sign_within: Term
    urgent_sign_within: Term
    city: str = ""  # the city the catalogue is for (its `city:`), checked against the gazetteer

    def unit(self, code: str) -> Unit:
        try:
            return self.units[code]
        except KeyError:
            raise NotFound("unit not in the dispatch catalogue", unit=code) from None

    @cached_property
    def spoken_keywords(self) -> tuple[str, ...]:
        """The keywords a recogniser may write as other words of the same sound, which count
        too (`SOUND_WEIGHT`)."""
        return tuple(sorted({k for unit in self.units.values() for m in unit.matters for k in m.keywords
                             if len(k) >= SPOKEN_KEYWORD_CHARS and PAIR_MARK not in k}))

    def district_government(self, district: str) -> Unit | None:
        for unit in self.units.values():
            if unit.kind == "district_government" and unit.district == district:
                return unit
        return None


@dataclass(frozen=True)
class UnitSuggestion:
    unit: str
    unit_name: str
    score: float
    matter: str | None
    matched_keywords: tuple[str, ...]
    term: Term


@dataclass(frozen=True)
class DispatchTerms:
    handling: Term
    signing: Term


# --------------------------------------------------------------------------------------------
# Deadlines


def terms_for(
    catalogue: DispatchCatalogue,
    unit_code: str,
    ticket_type: TicketType,
    urgency: Urgency = Urgency.NORMAL,
    matter: str | None = None,
) -> DispatchTerms:
    """Handling and signing periods: matter, then unit, then catalogue defaults."""
    unit = catalogue.unit(unit_code)
    if urgency is Urgency.URGENT:
        return DispatchTerms(unit.urgent or catalogue.urgent, catalogue.urgent_sign_within)
    days = catalogue.deadline_working_days[ticket_type]
    days = unit.deadline_working_days.get(ticket_type, days)
    for m in unit.matters:
        if m.name == matter:
            days = m.deadline_working_days.get(ticket_type, days)
    return DispatchTerms(Term(working_days=days), catalogue.sign_within)


def reopen_deadline(catalogue: DispatchCatalogue, ticket: Ticket, now: datetime,
                    calendar: WorkingCalendar) -> datetime | None:
    """A re-opened ticket's new deadline (临沂条例第二十条 再次办理): its lead unit's handling
    term counted afresh from `now`; None when the ticket lacks a known unit or a type."""
    if ticket.lead_unit is None or ticket.lead_unit not in catalogue.units or ticket.ticket_type is None:
        return None
    terms = terms_for(catalogue, ticket.lead_unit, ticket.ticket_type, ticket.urgency)
    return dispatch_deadlines(terms, now, calendar)[0]


def dispatch_deadlines(
    terms: DispatchTerms, now: datetime, calendar: WorkingCalendar
) -> tuple[datetime, datetime]:
    """(deadline, sign_deadline) for a dispatch at `now`; signing never ends after handling."""
    deadline = due(now, terms.handling, calendar)
    return deadline, min(deadline, due(now, terms.signing, calendar))


# --------------------------------------------------------------------------------------------
# Suggestions


def _pair_in(keyword: str, text: str) -> bool:
    """A `first…then` keyword: both parts, in order, at most PAIR_GAP characters apart."""
    first, then = keyword.split(PAIR_MARK)
    start = 0
    while (index := text.find(first, start)) != -1:
        after = index + len(first)
        if text.find(then, after, after + PAIR_GAP + len(then)) != -1:
            return True
        start = index + 1
    return False


@lru_cache(maxsize=8192)
def _keyword_grams(keyword: str) -> frozenset[str]:
    """A catalogue keyword's bigrams, computed once: the catalogue is read for every suggestion
    (the live assist asks a few times a second per call), its keywords never change."""
    return ngrams(keyword)


def _matter_score(matter: Matter, text: str, grams: frozenset[str],
                  heard: frozenset[str] = frozenset()) -> tuple[float, list[str]]:
    score = 0.0
    matched: list[str] = []
    for keyword in matter.keywords:
        if PAIR_MARK in keyword:
            if _pair_in(keyword, text):
                score += len(keyword) - 1
                matched.append(keyword)
        elif keyword in text:
            score += len(keyword)
            matched.append(keyword)
        elif keyword in heard:
            score += SOUND_WEIGHT * len(keyword)
            matched.append(f"≈{keyword}")
        elif len(keyword) >= 3:
            share = containment(_keyword_grams(keyword), grams)
            if share >= FUZZY_MIN_CONTAINMENT:
                score += FUZZY_WEIGHT * share * len(keyword)
                matched.append(f"~{keyword}")
    if score == 0:
        return 0.0, []  # words that only place a request (小区, 学校) do not name its matter
    for keyword in matter.context_keywords:
        if keyword in text:
            score += CONTEXT_WEIGHT * len(keyword)
            matched.append(keyword)
    if matter.districts is not None:
        score += LOCAL_MATTER_BONUS
    return score, matched


def suggest_units(
    catalogue: DispatchCatalogue,
    text: str,
    ticket_type: TicketType | None = None,
    district: str | None = None,
    urgency: Urgency = Urgency.NORMAL,
    limit: int = 5,
) -> list[UnitSuggestion]:
    """Units ranked for a request, best first; the district government closes the list.

    Scores add keyword lengths (longer keywords are more specific) for each keyword found in
    the text (both halves of an `A…B` keyword, close together), a share for a keyword heard
    as words of the same sound (`SOUND_WEIGHT`), a share for keywords of 3+ characters whose
    bigrams mostly appear, half weight for context keywords once a keyword
    matched (alone they only place the request), and a bonus for a matter local to the
    caller's district.
    """
    normalized = normalize(text)
    grams = ngrams(text)
    heard = heard_among(normalized, catalogue.spoken_keywords)
    effective_type = ticket_type or TicketType.CONSULTATION
    ranked: list[UnitSuggestion] = []
    for unit in catalogue.units.values():
        if unit.district is not None and unit.district != district:
            continue
        best: tuple[float, Matter | None, list[str]] = (0.0, None, [])
        for candidate in unit.matters:
            if ticket_type is not None and ticket_type not in candidate.types:
                continue
            if candidate.districts is not None and district not in candidate.districts:
                continue
            score, matched = _matter_score(candidate, normalized, grams, heard)
            if score > best[0]:
                best = (score, candidate, matched)
        score, matter, matched = best
        if unit.kind == "district_government" and unit.district == district:
            score = max(score, DISTRICT_FALLBACK_SCORE)
        if score <= 0:
            continue
        terms = terms_for(
            catalogue, unit.code, effective_type, urgency, matter.name if matter else None
        )
        ranked.append(UnitSuggestion(
            unit=unit.code, unit_name=unit.name, score=round(score, 3),
            matter=matter.name if matter else None, matched_keywords=tuple(matched),
            term=terms.handling,
        ))
    ranked.sort(key=lambda s: (-s.score, s.unit))
    return ranked[:limit]


# --------------------------------------------------------------------------------------------
# Loading and validation


def _term(raw: Any, where: str) -> Term:
    if not isinstance(raw, Mapping) or set(raw) - {"working_days", "hours"}:
        raise ConfigError(where, f"expected {{working_days: N}} or {{hours: N}}, got {raw!r}")
    try:
        return Term(working_days=raw.get("working_days"), hours=raw.get("hours"))
    except Exception as exc:  # InvalidInput from Term: a config problem here
        raise ConfigError(where, str(exc)) from exc


def _days_by_type(raw: Any, where: str, complete: bool = False) -> dict[TicketType, int]:
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "expected a mapping of ticket type to working days")
    result: dict[TicketType, int] = {}
    for key, value in raw.items():
        try:
            ticket_type = TicketType(key)
        except ValueError:
            raise ConfigError(where, f"unknown ticket type {key!r}") from None
        if not isinstance(value, int) or not 1 <= value <= 60:
            raise ConfigError(f"{where}.{key}", f"working days must be 1..60, got {value!r}")
        result[ticket_type] = value
    if complete and set(result) != set(TicketType):
        missing = sorted(t.value for t in set(TicketType) - set(result))
        raise ConfigError(where, f"missing ticket types {missing}")
    return result


def _keyword(raw: Any) -> str:
    """Normalised like the text it is looked for in; the halves of `A…B` separately."""
    parts = [normalize(part) for part in str(raw).split(PAIR_MARK)]
    if len(parts) > 2 or any(not p or " " in p for p in parts):
        return ""  # refused by the caller: empty
    return PAIR_MARK.join(parts)


def _matter(raw: Mapping[str, Any], where: str) -> Matter:
    keywords = tuple(_keyword(k) for k in raw.get("keywords") or ())
    context = tuple(normalize(str(k)) for k in raw.get("context_keywords") or ())
    if not raw.get("name") or not keywords or any(not k for k in keywords + context):
        raise ConfigError(where, "a matter needs a name and non-empty keywords")
    try:
        types = frozenset(TicketType(t) for t in raw.get("types") or [t.value for t in TicketType])
    except ValueError as exc:
        raise ConfigError(f"{where}.types", str(exc)) from None
    districts = raw.get("districts")
    return Matter(
        name=str(raw["name"]), keywords=keywords, context_keywords=context, types=types,
        districts=frozenset(districts) if districts else None,
        deadline_working_days=_days_by_type(
            raw.get("deadline_working_days"), f"{where}.deadline_working_days"
        ),
    )


def catalogue_from_document(doc: Mapping[str, Any]) -> DispatchCatalogue:
    """Validate the parsed YAML; every problem is a ConfigError naming where it is."""
    defaults = doc.get("defaults") or {}
    units: dict[str, Unit] = {}
    for i, raw in enumerate(doc.get("units") or ()):
        where = f"dispatch_catalogue.units[{i}]"
        code, name, kind = raw.get("code"), raw.get("name"), raw.get("kind")
        if not code or not name:
            raise ConfigError(where, "a unit needs a code and a name")
        if code in units:
            raise ConfigError(where, f"duplicate unit code {code!r}")
        if kind not in UNIT_KINDS:
            raise ConfigError(f"{where}.kind", f"must be one of {sorted(UNIT_KINDS)}")
        district = raw.get("district")
        if kind == "district_government" and not district:
            raise ConfigError(where, "a district government needs its district")
        units[code] = Unit(
            code=code, name=name, kind=kind, district=district,
            matters=tuple(
                _matter(m, f"{where}.matters[{j}]") for j, m in enumerate(raw.get("matters") or ())
            ),
            deadline_working_days=_days_by_type(
                raw.get("deadline_working_days"), f"{where}.deadline_working_days"
            ),
            urgent=_term(raw["urgent"], f"{where}.urgent") if raw.get("urgent") else None,
        )
    if not units:
        raise ConfigError("dispatch_catalogue.units", "no units")
    return DispatchCatalogue(
        version=str(doc.get("version", "")),
        units=units,
        deadline_working_days=_days_by_type(
            defaults.get("deadline_working_days"), "dispatch_catalogue.defaults", complete=True
        ),
        urgent=_term(defaults.get("urgent"), "dispatch_catalogue.defaults.urgent"),
        sign_within=_term(defaults.get("sign_within"), "dispatch_catalogue.defaults.sign_within"),
        urgent_sign_within=_term(
            defaults.get("urgent_sign_within"), "dispatch_catalogue.defaults.urgent_sign_within"
        ),
        city=str(doc.get("city") or ""),
    )


def load_catalogue(path: Path = DEFAULT_CATALOGUE_PATH) -> DispatchCatalogue:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, Mapping):
        raise ConfigError(str(path), "not a YAML mapping")
    return catalogue_from_document(doc)
