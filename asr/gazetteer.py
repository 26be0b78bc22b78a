"""The city's places as callers name them: districts, streets and towns, communities, roads.

`config/gazetteer.yaml` lists them with the names callers use (aliases) and the forms speech
recognition writes for them (`misheard`); `parse_gazetteer` validates it once at start-up and
refuses a spoken form that names two places (reading it would be a guess). The transcript
readers (`asr.extract`, `asr.place_recovery`) only look places up here. Pure apart from
`load_gazetteer`, which reads the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernel.errors import ConfigError
from tickets.dispatch import DispatchCatalogue

DEFAULT_GAZETTEER = Path(__file__).resolve().parent.parent / "config" / "gazetteer.yaml"


@dataclass(frozen=True, slots=True)
class Place:
    level: str  # "district" | "street" | "community" | "road"
    name: str
    aliases: tuple[str, ...]
    district: str
    street: str | None = None
    misheard: tuple[str, ...] = ()  # what speech recognition writes for the name


#: How sure a place is when the caller says it in this form: its name, a colloquial alias
#: (1 character: a guess), or a form that only speech recognition writes.
NAME_CONFIDENCE = 0.9
ALIAS_CONFIDENCE = 0.75
SHORT_ALIAS_CONFIDENCE = 0.5
MISHEARD_CONFIDENCE = 0.6
#: A level implied by a more specific place (a street implies its district) or by a road.
IMPLIED_CONFIDENCE = 0.7
ROAD_CONFIDENCE = 0.6
#: The county seat's street when the caller says 县城 / 城里 of a county they named.
SEAT_CONFIDENCE = 0.5
SEAT_WORDS = ("县城", "城里", "城区")


@dataclass(frozen=True, slots=True)
class Gazetteer:
    city: str
    places: tuple[Place, ...]
    #: district -> the street of its seat (counties): what 县城 means there
    seats: Mapping[str, str] = field(default_factory=dict)
    # (spoken form, place, confidence), longest first so 禹王城村 wins over 禹王城
    _forms: tuple[tuple[str, Place, float], ...] = field(default=(), repr=False)

    @classmethod
    def build(cls, city: str, places: Sequence[Place], seats: Mapping[str, str] | None = None) -> Gazetteer:
        forms: list[tuple[str, Place, float]] = []
        for p in places:
            confidence = ROAD_CONFIDENCE if p.level == "road" else NAME_CONFIDENCE
            forms.append((p.name, p, confidence))
            forms += [(a, p, ALIAS_CONFIDENCE if len(a) >= 2 else SHORT_ALIAS_CONFIDENCE) for a in p.aliases]
            forms += [(m, p, MISHEARD_CONFIDENCE) for m in p.misheard]
        forms.sort(key=lambda f: -len(f[0]))
        return cls(city, tuple(places), dict(seats or {}), tuple(forms))

    @property
    def districts(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.places if p.level == "district")


def _names(raw: Any, key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in raw.get(key) or ())


def parse_gazetteer(data: Mapping[str, Any]) -> Gazetteer:
    """Validate the parsed YAML; a spoken form naming two places is refused (it would guess)."""
    try:
        places: list[Place] = []
        seats: dict[str, str] = {}
        for d in data["districts"]:
            district = d["name"]
            places.append(Place("district", district, _names(d, "aliases"), district,
                                misheard=_names(d, "misheard")))
            places += [Place("road", road, (), district) for road in _names(d, "roads")]
            streets = [s["name"] for s in d.get("streets") or ()]
            for s in d.get("streets") or ():
                places.append(Place("street", s["name"], _names(s, "aliases"), district,
                                    misheard=_names(s, "misheard")))
                for c in s.get("communities") or ():
                    places.append(Place("community", c["name"], _names(c, "aliases"), district, s["name"],
                                        misheard=_names(c, "misheard")))
            if d.get("seat"):
                if d["seat"] not in streets:
                    raise ConfigError("asr.gazetteer",
                                      f"the seat of {district} ({d['seat']}) is not one of its streets")
                seats[district] = d["seat"]
        gazetteer = Gazetteer.build(data["city"]["name"], places, seats)
    except (KeyError, TypeError) as exc:
        raise ConfigError("asr.gazetteer", f"malformed gazetteer: {exc!r}") from exc
    named: dict[str, Place] = {}
    for form, place, _ in gazetteer._forms:
        other = named.setdefault(form, place)
        if other is not place:
            raise ConfigError("asr.gazetteer", f"{form!r} names both {other.name} ({other.district}) "
                                               f"and {place.name} ({place.district})")
    return gazetteer


def load_gazetteer(path: Path = DEFAULT_GAZETTEER) -> Gazetteer:
    try:
        return parse_gazetteer(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ConfigError("asr.gazetteer", f"file not found: {path}") from exc


def check_gazetteer_matches_catalogue(gazetteer: Gazetteer, catalogue: DispatchCatalogue) -> None:
    """Start-up check: the gazetteer and the dispatch catalogue describe the same city.

    Every district government of the catalogue must be a district of the gazetteer (or a
    district heard on the phone could never select it), every district of the gazetteer must
    have its district government (or its requests have no fallback unit), and every district a
    matter is restricted to must exist. Raises ConfigError naming every entry that disagrees.
    """
    ours = set(gazetteer.districts)
    governments = {u.district for u in catalogue.units.values()
                   if u.kind == "district_government" and u.district}
    restricted = {(u.code, m.name, d) for u in catalogue.units.values() for m in u.matters
                  for d in sorted(m.districts or ())}
    problems: list[str] = []
    if catalogue.city and catalogue.city != gazetteer.city:
        problems.append(f"the catalogue is for {catalogue.city}, the gazetteer for {gazetteer.city}")
    if missing := sorted(governments - ours):
        problems.append("district governments of the catalogue that are no district of the gazetteer: "
                        + "、".join(missing))
    if orphans := sorted(ours - governments):
        problems.append("districts of the gazetteer with no district government in the catalogue: "
                        + "、".join(orphans))
    if unknown := sorted(f"{code} {matter}: {d}" for code, matter, d in restricted if d not in ours):
        problems.append("matters restricted to a district the gazetteer does not have: " + "; ".join(unknown))
    if problems:
        raise ConfigError("asr.gazetteer", "gazetteer and dispatch catalogue disagree: " + " | ".join(problems))
