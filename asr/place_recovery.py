"""The city's places recovered from what the Mandarin recogniser wrote for them.

Why: the small Mandarin model knows none of the city's place names as words, so it writes
words that sound alike. Measured on neural phone-band speech of the labelled intake requests
(bench/bench_intake.py --audio), a district's name was written right in 19 of 190 mentions
(蒙阴县 and 临沭县 only): 兰山区 became 莱山区 / 岚山区 / 文山区, 河东区 和东西 / 可东西, 罗庄区
着争取 / 裸妆欺, 沂水县 雨水县, 兰陵县 南陵县, 郯城县 谈呈现, 沂南县 云南县, 莒南县 济南现, and
街道 接到 almost always.
This module finds such spans by sound (kernel/sound_alike.py) and says which place they name.

What keeps it from inventing places: a span must sound like a *whole* name of the gazetteer,
syllable for syllable; a name with its level word (兰山区, 盛庄街道, 探沂镇) may be heard
approximately, core and level word each alike enough; a bare two-syllable name (兰山, 罗庄) only
when every syllable is the same sound (岚山, 裸妆), because two syllables alike by chance are
everywhere (合同 ~ 河东, 早晚 ~ 枣园). The thresholds below were set on the labelled requests
(none of the requests naming no place may get one) and checked on the held-out requests.

Pure: no I/O. The spans found are rewritten to the place names (`rewrite`), so every later
reader (request type, dispatch, the desk) reads 平邑县 where the recogniser wrote 评议县.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from asr.gazetteer import Gazetteer, Place
from kernel.sound_alike import Syllable, syllable_similarity, syllables


@dataclass(frozen=True, slots=True)
class Rule:
    """How alike a name ending in one level word must sound to count as heard."""

    level_word: float  # the level word (区, 街道, 镇...), mean syllable similarity
    core: float  # the rest of the name (兰山 of 兰山区), mean syllable similarity
    whole: float = 0.8  # the name, mean syllable similarity


#: By level word, longest first (社区 before 区). The recogniser writes 区 as 区/取/期/西 and 县
#: as 县/现/限/线, so a district's level word may be heard loosely; 镇 comes back as 正, 阵 or
#: 这, and the towns' cores are everyday words (车辋 ~ 车晚, 上冶 ~ 上有), so a town, village
#: or road must sound nearly exactly like itself. A county heard with 见 for 县 is rarer than
#: 没意见 ("no objection") is common: the whole name must be more alike.
RULES: dict[str, Rule] = {
    "社区": Rule(0.85, 0.95), "街道": Rule(0.85, 0.85), "大道": Rule(0.85, 0.9), "大街": Rule(0.85, 0.9),
    "区": Rule(0.7, 0.8), "县": Rule(0.85, 0.8, whole=0.84), "镇": Rule(0.85, 0.95), "乡": Rule(0.85, 0.95),
    "村": Rule(0.85, 0.95), "路": Rule(0.85, 0.9), "街": Rule(0.85, 0.9),
}
#: Words that sound like a place but are words of their own in every county: 县城 (the county
#: town) is not 向城镇.
NOT_PLACES = ("县城",)
#: No syllable of a name heard less alike than this (one wholly different syllable is a
#: different name).
MIN_SYLLABLE = 0.55
#: A bare district name (兰山 for 兰山区) of three syllables or more: this alike. Of two
#: syllables: the very same sounds, and said as a place ("罗庄这边", "我是河东的"), because two
#: syllables alike by chance are everywhere (合同 ~ 河东, 评议 ~ 平邑).
MIN_BARE = 0.9
#: A bare two-syllable name counts less than a name heard with its level word ("和东西" is
#: 河东区 rather than "和东" followed by 西).
BARE_DISCOUNT = 0.9
PLACE_CUES_BEFORE = ("在", "是", "住", "到", "去", "回", "从", "们", "家")
PLACE_CUES_AFTER = ("这边", "那边", "这里", "那里", "这块", "那块", "县城", "城里", "城区", "的", "人", "农村",
                    "街道", "接到", "镇", "乡", "村", "区", "县")

#: A one-syllable core (费 of 费县) counts only heard as itself, its level word this alike.
MIN_SHORT_LEVEL_WORD = 0.9


@dataclass(frozen=True, slots=True)
class Slot:
    """Words around which callers say a place: there the caller named *some* place, so the
    one that sounds most alike wins if it is this alike and this much more alike than the
    next district's (a district's own name, a street's or village's only if nearly exact)."""

    pattern: re.Pattern[str]  # the place is its group "place", at the group's end
    min_score: float
    margin: float = 0.05
    local: bool = True  # a street or village may be said here, not only a district
    county: bool = False  # only a county (…县) may be said here


#: Where callers say where they are ("我是文山区的", "裸妆那边", "评议县城"). Before 县城 a
#: county is named for sure, so a looser likeness picks it among the nine counties. (Not before
#: 县里: "建议县里…" is "I suggest the county…".)
SLOTS = (
    Slot(re.compile(r"(?:^|我是|我在|住在|我家在|我们是|我们在|家住)(?P<place>[\u3400-\u9fff]{1,4}?)"
                    r"(?=县城|县里|这边|那边|这块|那块|那里|这里|的)"), 0.73),
    Slot(re.compile(r"(?P<place>[\u3400-\u9fff]{1,3})(?=县城)"), 0.55, local=False, county=True),
)
#: A street or village in a slot: the same sounds ("盛装这边" is 盛庄), this alike with tones.
MIN_SLOT_LOCAL = 0.9
#: A place found in a slot counts less than a name heard whole.
SLOT_DISCOUNT = 0.9

#: How sure a recovered place is: its sound similarity, scaled into this range.
CONFIDENCE_LOW, CONFIDENCE_HIGH = 0.5, 0.7


@dataclass(frozen=True, slots=True)
class HeardPlace:
    """A span of the transcript that sounds like a place's name."""

    place: Place
    form: str  # the gazetteer's name, alias or misheard form it sounds like
    start: int
    end: int
    heard: str  # what the recogniser wrote
    score: float  # sound similarity, 0..1
    with_level_word: bool = True  # the span holds the level word too (兰山区, not 兰山)

    @property
    def written(self) -> str:
        """What the span means, as the rewritten transcript reads it."""
        return self.place.name if self.with_level_word else _split_level(self.place.name)[0]

    @property
    def confidence(self) -> float:
        return round(CONFIDENCE_LOW + (CONFIDENCE_HIGH - CONFIDENCE_LOW) * self.score, 2)


@dataclass(frozen=True, slots=True)
class _Pattern:
    form: str
    place: Place
    core: tuple[Syllable, ...]
    level_word: str
    level: tuple[Syllable, ...]


def _split_level(form: str) -> tuple[str, str]:
    for word in RULES:
        if form.endswith(word) and len(form) > len(word):
            return form[: -len(word)], word
    return form, ""


@lru_cache(maxsize=8)
def _patterns(forms: tuple[tuple[str, Place, float], ...]) -> tuple[_Pattern, ...]:
    """Every spoken form of every place (name, aliases, the forms the recogniser was seen to
    write: what sounds like 必县 is 费县 too), split into core and level word."""
    patterns: list[_Pattern] = []
    seen: set[tuple[str, str]] = set()
    for form, place, _ in forms:
        if (form, place.name) in seen:
            continue
        seen.add((form, place.name))
        core, level = _split_level(form)
        if not level and (place.level != "district" or len(core) < 2):
            continue  # a bare street or village name (梅埠, 车辋) is an everyday word by sound
        if len(core) == 1 and form not in place.misheard:
            continue  # 费县 sounds like 水费现在; callers say bì xiàn, its misheard 必县 is matched
        if (pattern := _pattern(form, place, core, level)) is not None:
            patterns.append(pattern)
    return tuple(patterns)


def _pattern(form: str, place: Place, core: str, level: str) -> _Pattern | None:
    """The form by its syllables; None when a character has no reading."""
    core_syllables, level_syllables = syllables(core), syllables(level)
    if None in core_syllables or None in level_syllables:
        return None
    return _Pattern(form, place, tuple(s for s in core_syllables if s), level,
                    tuple(s for s in level_syllables if s))


def _score(pattern: _Pattern, text: str, start: int, heard: Sequence[Syllable | None],
           level: Sequence[float] = ()) -> float | None:
    """The pattern's sound similarity to `heard` (the syllables of `text` from `start`, as many
    as the pattern's), or None when they do not sound alike enough to name it. `level`: the
    level word's syllable scores, when the caller has them already."""
    if any(h is None for h in heard):
        return None
    core: list[float] = []
    for said, h in zip(pattern.core, heard, strict=False):
        score = syllable_similarity(said, h) if h is not None else 0.0
        if score < MIN_SYLLABLE:
            return None
        core.append(score)
    core_mean = sum(core) / len(core)
    if pattern.level_word:
        rule = RULES[pattern.level_word]
        if not level:
            level = _level_scores(pattern.level, heard[len(pattern.core):])
        if not level or sum(level) / len(level) < rule.level_word or core_mean < rule.core:
            return None
        if (sum(core) + sum(level)) / (len(core) + len(level)) < rule.whole:
            return None
        same_core = all(w.sounds_as(h) for w, h in zip(pattern.core, heard, strict=False) if h is not None)
        if len(core) == 1 and not (same_core and min(level) >= MIN_SHORT_LEVEL_WORD):
            return None  # 费县: one syllable and its level word, both heard right
        return (sum(core) + sum(level)) / (len(core) + len(level))
    if len(core) > 2:
        return core_mean if core_mean >= MIN_BARE else None
    same_core = all(w.sounds_as(h) for w, h in zip(pattern.core, heard, strict=True) if h is not None)
    return core_mean if same_core and _said_as_place(text, start, start + len(core)) else None


def _level_scores(level: Sequence[Syllable], heard: Sequence[Syllable | None]) -> list[float]:
    """Each syllable's likeness of a level word, or [] if one is too unlike."""
    scores = [syllable_similarity(w, h) if h is not None else 0.0 for w, h in zip(level, heard, strict=True)]
    return scores if min(scores) >= MIN_SYLLABLE else []


def _said_as_place(text: str, start: int, end: int) -> bool:
    before, after = text[:start], text[end:]
    return start == 0 or before.endswith(PLACE_CUES_BEFORE) or after.startswith(PLACE_CUES_AFTER)


def written_names(text: str, gazetteer: Gazetteer) -> tuple[list[bool], set[str]]:
    """Which characters of `text` belong to a place name written as the gazetteer spells it
    (or as it lists the recogniser writing it), which need no recovery; and the districts
    those names lie in."""
    taken = [False] * len(text)
    districts: set[str] = set()
    for form, place, _ in gazetteer._forms:
        start = 0
        while (index := text.find(form, start)) != -1:
            taken[index:index + len(form)] = [True] * len(form)
            districts.add(place.district)
            start = index + len(form)
    return taken, districts


def _sounding_alike(text: str, gazetteer: Gazetteer) -> list[HeardPlace]:
    heard = syllables(text)
    found: list[HeardPlace] = []
    by_level: dict[tuple[Syllable, ...], list[_Pattern]] = {}
    for pattern in _patterns(gazetteer._forms):
        by_level.setdefault(pattern.level, []).append(pattern)
    for level, patterns in by_level.items():
        # where the level word is heard (a few places per call), then the names ending there
        ends: list[tuple[int, list[float]]] = []
        for end in range(len(level), len(heard) + 1):
            scores = _level_scores(level, heard[end - len(level):end]) if level else [1.0]
            if scores:
                ends.append((end, scores if level else []))
        for pattern in patterns:
            size = len(pattern.core) + len(level)
            if not level and size == 2:
                sound = tuple((s.initial, s.final) for s in pattern.core)
                if sound not in _sounds(text):  # a bare short name counts only as the same sounds
                    continue
            for end, level_scores in ends:
                start = end - size
                if start < 0:
                    continue
                score = _score(pattern, text, start, heard[start:end], level_scores)
                if score is not None and not any(w in text[start:end] for w in NOT_PLACES):
                    if not level and size == 2:
                        score *= BARE_DISCOUNT
                    found.append(HeardPlace(pattern.place, pattern.form, start, end, text[start:end],
                                            round(score, 3), with_level_word=bool(level)))
    return found


@lru_cache(maxsize=64)
def _sounds(text: str) -> frozenset[tuple[tuple[str, str], ...]]:
    """Every pair of neighbouring syllables of `text`, without tones."""
    heard = syllables(text)
    return frozenset(((a.initial, a.final), (b.initial, b.final))
                     for a, b in itertools.pairwise(heard) if a is not None and b is not None)


def _in_slots(text: str, gazetteer: Gazetteer) -> list[HeardPlace]:
    """Places said where callers say a place (`SLOTS`): the most alike, clearly."""
    heard = syllables(text)
    found: list[HeardPlace] = []
    for slot in SLOTS:
        for match in slot.pattern.finditer(text):
            end = match.end("place")
            best: dict[str, tuple[float, int, _Pattern, bool]] = {}
            for pattern in _slot_patterns(gazetteer._forms):
                if pattern.place.level != "district" and not slot.local:
                    continue
                if slot.county and not pattern.place.district.endswith("县"):
                    continue
                for said in (pattern.core, pattern.core + pattern.level):
                    start = end - len(said)
                    if start < match.start("place") or len(said) < 2:
                        continue  # one syllable is anything
                    if pattern.place.level != "district" and not all(
                            w.sounds_as(h) for w, h in zip(said, heard[start:end], strict=True) if h):
                        continue
                    scores = [0.0 if h is None else syllable_similarity(w, h)
                              for w, h in zip(said, heard[start:end], strict=True)]
                    score = sum(scores) / len(scores)
                    key = pattern.place.name
                    if score > best.get(key, (0.0,))[0]:
                        best[key] = (score, start, pattern, len(said) > len(pattern.core))
            districts = sorted((b for b in best.values() if b[2].place.level == "district"), key=lambda b: -b[0])
            locals_ = sorted((b for b in best.values() if b[2].place.level != "district"), key=lambda b: -b[0])
            runner_up = districts[1][0] if len(districts) > 1 else 0.0
            if districts and districts[0][0] >= slot.min_score and districts[0][0] - runner_up >= slot.margin:
                chosen = districts[0]
            elif locals_ and locals_[0][0] >= MIN_SLOT_LOCAL:
                chosen = locals_[0]
            else:
                continue
            score, start, pattern, with_level_word = chosen
            found.append(HeardPlace(pattern.place, pattern.form, start, end, text[start:end],
                                    round(score * SLOT_DISCOUNT, 3), with_level_word))
    return found


@lru_cache(maxsize=8)
def _slot_patterns(forms: tuple[tuple[str, Place, float], ...]) -> tuple[_Pattern, ...]:
    """Every form of every place, bare street names included: in a slot they are places."""
    patterns: list[_Pattern] = []
    for form, place, _ in forms:
        if place.level == "road" or len(form) < 2:
            continue
        if (pattern := _pattern(form, place, *_split_level(form))) is not None:
            patterns.append(pattern)
    return tuple(patterns)


def recover_places(text: str, gazetteer: Gazetteer, heard_elsewhere: set[str] | None = None) -> list[HeardPlace]:
    """Spans of `text` that sound like places of the gazetteer, best first, at most one per
    level and all in one district, overlapping neither each other nor a name written right
    (`written_names`). The district is one the written names lie in, else one of
    `heard_elsewhere` (the place-spotting pass's), else the best heard place's."""
    candidates = _sounding_alike(text, gazetteer) + _in_slots(text, gazetteer)
    candidates.sort(key=lambda c: (-c.score, -(c.end - c.start), c.start))
    used, named = written_names(text, gazetteer)
    chosen: list[HeardPlace] = []
    for candidate in candidates:
        if any(used[candidate.start:candidate.end]):
            continue
        used[candidate.start:candidate.end] = [True] * (candidate.end - candidate.start)
        chosen.append(candidate)
    return _one_district(chosen, named or (heard_elsewhere or set()))


def _one_district(heard: list[HeardPlace], named: set[str]) -> list[HeardPlace]:
    """At most one place per level, all in one district: the best heard place's, among the
    districts the caller's written words name if they name any (sounds are weaker evidence
    than written names)."""
    district: str | None = None
    kept: list[HeardPlace] = []
    for h in heard:  # best first
        if named and h.place.district not in named:
            continue
        district = district or h.place.district
        if h.place.district == district and all(k.place.level != h.place.level for k in kept):
            kept.append(h)
    return kept


def rewrite(text: str, heard: Sequence[HeardPlace]) -> str:
    """`text` with each recovered span replaced by the name of the place it sounds like."""
    for place in sorted(heard, key=lambda h: -h.start):
        text = text[:place.start] + place.written + text[place.end:]
    return text
