"""The risk detector's port (`risk_warning.detector.HotspotOf`), answered with the gazetteer
(where: the street or town named in the ticket's location or words, `asr.extract.find_places`)
and the dispatch catalogue (what: the matter the words are about, `tickets.dispatch.suggest_units`).

A request whose place is not known to the district, or whose words match no matter of the
catalogue, belongs to no hotspot: the detector counts only what it can place and name.
"""

from __future__ import annotations

from asr.extract import find_places
from asr.gazetteer import Gazetteer
from risk_warning.detector import HotspotOf
from risk_warning.policy import Hotspot
from tickets.dispatch import DispatchCatalogue, suggest_units


def hotspot_finder(gazetteer: Gazetteer, catalogue: DispatchCatalogue) -> HotspotOf:
    streets = {p.name: p.district for p in gazetteer.places if p.level == "street"}

    def hotspot_of(district: str | None, location: str, text: str) -> Hotspot | None:
        places = find_places(f"{location}\n{text}", gazetteer)
        found_district = places["district"].value if "district" in places else None
        district = district or found_district
        if not district:
            return None
        street = places["street"].value if "street" in places else None
        if street is not None and streets.get(street) != district:
            street = None  # a street of another district: the place is the district alone
        matter = next((s for s in suggest_units(catalogue, text, district=district) if s.matter), None)
        if matter is None or matter.matter is None:
            return None
        government = catalogue.district_government(district)
        units = tuple(dict.fromkeys([matter.unit, *([government.code] if government else [])]))
        return Hotspot(district, street, matter.matter, units)

    return hotspot_of
