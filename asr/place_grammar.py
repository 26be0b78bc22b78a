"""What the place-spotting pass listens for, and how to read what it heard (pure).

Why a second pass: the small Mandarin model has none of the city's district names as words, so
its free decode writes other words (兰山区 -> 莱山区, 沂南县 -> 云南县, 平邑县 -> 便与县) and the
recovery by sound (asr/place_recovery.py) finds about four in five of them. Vosk's grammar mode
restricts a decode to given phrases and "[unk]": listening to the caller's audio for the
districts' names alone, it writes "沂 南 县 城 [unk] …" where the free decode wrote "明白县城".
Measured on neural phone-band speech of the labelled intake requests (262 callers naming a
place, 139 naming none): a district name of three characters or more was spotted for 216, a
wrong one for 3 (2 of whom named none); with Vosk's confidence in each character at least 0.6,
212 right and 1 wrong, none where no place was named. Two-character names (费县, 兰山) were
spotted wrongly too often to count. The pass can still invent a district from words that sound
like part of a name: "音响开得" (the speakers are loud) is 蒙阴县 to it, heard unsurely in the
labelled request but surely in a shorter sentence of the same words; the desk shows the agent
the evidence, and a district the caller's words name as written always wins.

The small model lacks some characters of the names (it logs "Ignoring word missing in
vocabulary" for 邑, 莒, 沭): a character of the same sound stands in for each (`STAND_INS`), and
the spotted text is read back through them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from asr.gazetteer import Gazetteer, Place

#: Characters of the city's names missing from vosk-model-small-cn-0.22's vocabulary, and a
#: character of the same sound that it has (measured: 邑 yì, 莒 jǔ, 沭 shù).
STAND_INS = {"邑": "义", "莒": "举", "沭": "术"}
#: A spotted name counts from this many characters (its core and its level word: 罗庄区).
MIN_SPOTTED_CHARS = 3
#: ...and when Vosk's confidence in each of its characters is at least this. Measured on the
#: labelled requests: from 0.6 on, the wrong names (3 of 219 spotted: 蒙阴县 in 音响开得…) are
#: gone, and 4 of 216 right ones with them.
MIN_SPOTTED_CONFIDENCE = 0.6


@dataclass(frozen=True, slots=True)
class SpottedPlace:
    """A district name the place-spotting pass heard in the caller's audio."""

    place: Place
    form: str  # the name or alias, as the gazetteer writes it


def _as_heard(form: str) -> str:
    return "".join(STAND_INS.get(ch, ch) for ch in form)


@dataclass(frozen=True, slots=True)
class PlaceGrammar:
    """The districts' names (and aliases) as a Vosk grammar, and their spoken forms."""

    phrases: tuple[str, ...]  # space-separated characters, as Vosk grammar phrases
    forms: tuple[tuple[str, str, Place], ...]  # (as the pass writes it, as the gazetteer does, place)

    @classmethod
    def of(cls, gazetteer: Gazetteer) -> PlaceGrammar:
        forms: dict[str, tuple[str, Place]] = {}
        for place in gazetteer.places:
            if place.level == "district":
                for form in (place.name, *place.aliases):
                    forms.setdefault(_as_heard(form), (form, place))
        ordered = sorted(forms.items(), key=lambda f: -len(f[0]))  # 苍山县 before 苍山
        return cls(tuple(" ".join(heard) for heard, _ in ordered),
                   tuple((heard, form, place) for heard, (form, place) in ordered))

    def as_json(self) -> str:
        """The grammar argument of `vosk.KaldiRecognizer(model, rate, grammar)`."""
        return json.dumps([*self.phrases, "[unk]"], ensure_ascii=False)

    def spotted_words(self, words: Sequence[tuple[str, float]]) -> list[SpottedPlace]:
        """`spotted` over the pass's words with Vosk's confidence in each: a character heard
        with less than MIN_SPOTTED_CONFIDENCE breaks the name it is in."""
        return self.spotted(" ".join(w if conf >= MIN_SPOTTED_CONFIDENCE else "[unk]" for w, conf in words))

    def spotted(self, decoded: str) -> list[SpottedPlace]:
        """The districts whose whole name (at least MIN_SPOTTED_CHARS characters) the pass
        wrote, in the order heard; single characters and "[unk]" between them break names."""
        text = decoded.replace("[unk]", "|").replace(" ", "")
        found: list[tuple[int, SpottedPlace]] = []
        taken = [False] * len(text)
        for heard, form, place in self.forms:
            if len(heard) < MIN_SPOTTED_CHARS:
                continue
            start = 0
            while (index := text.find(heard, start)) != -1:
                start = index + len(heard)
                if not any(taken[index:start]):
                    taken[index:start] = [True] * len(heard)
                    found.append((index, SpottedPlace(place, form)))
        return [spotted for _, spotted in sorted(found, key=lambda f: f[0])]
