"""Caller transcript (Chinese) -> ticket draft with a confidence per field; merge into the form.

Pure functions over text and a gazetteer: no I/O apart from `load_gazetteer`. The draft only
*suggests*: `merge_draft` fills fields the agent left empty and never overwrites what the
agent typed (首接负责制: the agent owns the ticket). Rules are deliberately simple and
explainable: each field carries the words that produced it (`evidence`) so the desk can show
why it was suggested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from asr import address, callback_number
from asr.gazetteer import (
    DEFAULT_GAZETTEER,
    IMPLIED_CONFIDENCE,
    ROAD_CONFIDENCE,
    SEAT_CONFIDENCE,
    SEAT_WORDS,
    Gazetteer,
    check_gazetteer_matches_catalogue,
    load_gazetteer,
    parse_gazetteer,
)
from asr.place_grammar import SpottedPlace
from asr.place_recovery import HeardPlace, recover_places, rewrite
from asr.request_type import guess_request_type
from kernel.sound_alike import syllables
from tickets.model import TicketType

# The gazetteer's names (DEFAULT_GAZETTEER, Gazetteer, load_gazetteer...) are re-exported: they
# lived here before asr/gazetteer.py.
__all__ = [
    "DEFAULT_GAZETTEER",
    "Extracted",
    "Gazetteer",
    "MergeResult",
    "RequestType",
    "TicketDraft",
    "check_gazetteer_matches_catalogue",
    "classify_request",
    "extract_ticket_draft",
    "find_address",
    "find_callback_number",
    "find_keywords",
    "find_places",
    "load_gazetteer",
    "merge_draft",
    "normalize_transcript",
    "parse_gazetteer",
    "prepare_transcript",
    "read_transcript",
]

T = TypeVar("T")


# The request types are the ticket domain's own (one name per regulatory term).
RequestType = TicketType


@dataclass(frozen=True, slots=True)
class Extracted(Generic[T]):
    value: T
    confidence: float  # 0..1, how sure the rule is; the desk greys out low ones
    evidence: str  # the words of the transcript the value came from


@dataclass(frozen=True, slots=True)
class TicketDraft:
    request_type: Extracted[RequestType] | None = None
    district: Extracted[str] | None = None
    street: Extracted[str] | None = None
    community: Extracted[str] | None = None
    address: Extracted[str] | None = None
    callback_number: Extracted[str] | None = None
    keywords: Extracted[tuple[str, ...]] | None = None
    suggested_units: tuple[Any, ...] = ()
    #: The caller's open ticket this request repeats (重复件), when intake found one.
    possible_duplicate_of: str | None = None

    FIELDS = ("request_type", "district", "street", "community", "address", "callback_number", "keywords")


# ---------------------------------------------------------------- text helpers

_CJK = r"\u3400-\u9fff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


def normalize_transcript(text: str) -> str:
    """Vosk's Chinese models separate words by spaces; Chinese text has none."""
    return _SPACE_BETWEEN_CJK.sub("", text.strip())


#: Words speech recognition writes for what callers say (same sound, another word), read as
#: meant before anything is looked for. Only forms that are no word of their own belong here
#: ("然气" is not one: 虽然气温); place names go to the gazetteer's `misheard`, which counts less.
MISHEARD_WORDS: Mapping[str, str] = {
    "暖器": "暖气", "公暖": "供暖", "务业": "物业", "扎土车": "渣土车", "梅气": "煤气", "电线干": "电线杆",
    "墙体开列": "墙体开裂", "资讯一下": "咨询一下", "想资讯": "想咨询", "见意": "建议", "燥音": "噪音",
    "头诉": "投诉", "然气灶": "燃气灶", "然气表": "燃气表", "然气公司": "燃气公司",
}
_MISHEARD = re.compile("|".join(sorted(map(re.escape, MISHEARD_WORDS), key=len, reverse=True)))


def prepare_transcript(text: str) -> str:
    """The caller's words as the rules read them: no spaces between words, misheard words fixed."""
    return _MISHEARD.sub(lambda m: MISHEARD_WORDS[m.group()], normalize_transcript(text))


# ---------------------------------------------------------------- request type

def classify_request(text: str) -> Extracted[RequestType] | None:
    """The request type from the situation the caller describes (asr/request_type.py)."""
    guess = guess_request_type(text)
    return Extracted(guess.value, guess.confidence, guess.evidence) if guess else None


# ---------------------------------------------------------------- places and address

#: A district the place-spotting pass heard: less sure than a name written in the transcript,
#: surer than one recovered from the transcript by sound.
SPOTTED_CONFIDENCE = 0.7

@dataclass(frozen=True, slots=True)
class ReadTranscript:
    """The caller's words as the draft reads them."""

    text: str  # prepared, places heard by sound rewritten to their names: what readers read
    prepared: str  # `prepare_transcript` of the caller's words, what `heard` points into
    heard: tuple[HeardPlace, ...] = ()  # the places recovered by sound (asr/place_recovery.py)


#: 区 in these words is not a district's suffix (小区 a housing estate, 社区 a community, 园区,
#: 景区, 城区, 片区, 校区, 厂区, 营区, 辖区): `corroborated` does not count it.
_NOT_A_DISTRICT_SUFFIX = re.compile(r"[小社园景城片校厂营辖]区")


def corroborated(spotted: Sequence[SpottedPlace], prepared_text: str) -> list[SpottedPlace]:
    """The spotted districts whose suffix (县, 区, 市) the free decode also heard.

    The spotting pass exists because the free decode writes a district's proper name as other
    words (明白县城 for 沂南县城, 洛江区 for 罗庄区, 般呈现 for 郯城县), but it keeps the common
    suffix, as written or as a homophone (现 for 县). A grammar of place names alone, on the
    other hand, hears a name in any words that sound close enough: 蒙阴县 (méng yīn xiàn) in
    音响开得 (yīn xiǎng), confidently, on some renderings of a request that names no place. A
    name whose suffix's sound the free decode never wrote (not counting 小区 and the like) was
    not said."""
    heard = {s for s in syllables(_NOT_A_DISTRICT_SUFFIX.sub("", prepared_text)) if s is not None}
    kept = []
    for place in spotted:
        suffix = syllables(place.place.name)[-1]
        if suffix is not None and any(suffix.sounds_as(s) for s in heard):
            kept.append(place)
    return kept


def read_transcript(caller_text: str, gazetteer: Gazetteer, spotted: Sequence[SpottedPlace] = ()) -> ReadTranscript:
    """Prepare the words and recover the places the recogniser wrote as other words, so that
    every reader (type, places, dispatch) reads 河东区 where the recogniser wrote 和东西. Places
    recovered by sound keep to the district the place-spotting pass heard, if it heard one."""
    text = prepare_transcript(caller_text)
    heard = tuple(recover_places(text, gazetteer, {s.place.district for s in spotted[:1]}))
    return ReadTranscript(rewrite(text, heard), text, heard)


def find_places(text: str, gazetteer: Gazetteer, heard: Sequence[HeardPlace] = (),
                spotted: Sequence[SpottedPlace] = ()) -> dict[str, Extracted[str]]:
    """District, street and community named in the text; a lower level implies its parents.

    Names written in the text come first; then the district the place-spotting pass heard in
    the caller's audio (`spotted`, asr/place_grammar.py); then places recovered by sound
    (`heard`, spans of `text`) fill the levels still empty, with their lower confidence, unless
    they contradict the district found before. A road lying in one district places the request
    there with less certainty; 县城 / 城里 of a county the caller named is its seat's street.
    """
    taken = [False] * len(text)
    for h in heard:  # matched below as heard, not as written
        taken[h.start:h.end] = [True] * (h.end - h.start)
    found: dict[str, tuple[int, Extracted[str]]] = {}
    for form, place, confidence in gazetteer._forms:
        start = 0
        while (index := text.find(form, start)) != -1:
            start = index + len(form)
            if any(taken[index:index + len(form)]):
                continue  # part of a longer name already matched
            taken[index:index + len(form)] = [True] * len(form)
            if place.level not in found:
                found[place.level] = (index, Extracted(place.name, confidence, form))
    if "district" not in found and spotted:
        place = spotted[0].place
        found["district"] = (-1, Extracted(place.name, SPOTTED_CONFIDENCE, spotted[0].form))
    named_district = found["district"][1].value if "district" in found else None
    for h in heard:  # best first
        if h.place.level in found or (named_district and h.place.district != named_district):
            continue
        found[h.place.level] = (h.start, Extracted(h.place.name, h.confidence, h.heard))
    result = {level: ex for level, (_, ex) in found.items()}
    # Parents implied by a more specific match, if the caller did not name them.
    by_name = {p.name: p for p in gazetteer.places}
    for level in ("community", "street", "road"):
        if level in result:
            place = by_name[result[level].value]
            if place.street and "street" not in result:
                result["street"] = Extracted(place.street, IMPLIED_CONFIDENCE, result[level].evidence)
            if "district" not in result:
                implied = ROAD_CONFIDENCE if level == "road" else IMPLIED_CONFIDENCE
                result["district"] = Extracted(place.district, implied, result[level].evidence)
            elif result["district"].value != place.district and level != "road":
                # contradicting names: trust neither much
                result["district"] = Extracted(result["district"].value, 0.4, result["district"].evidence)
    result.pop("road", None)
    district = result.get("district")
    if district and "street" not in result and (seat := gazetteer.seats.get(district.value)):
        if word := next((w for w in SEAT_WORDS if w in text), None):
            result["street"] = Extracted(seat, SEAT_CONFIDENCE, word)
    return result


def find_address(text: str) -> Extracted[str] | None:
    """The most specific road/compound/building mention (asr/address.py: a name, not "…从路")."""
    found = address.find_address(text)
    return Extracted(found.value, found.confidence, found.evidence) if found else None


# ---------------------------------------------------------------- callback number

def find_callback_number(text: str, caller_id: str | None = None) -> Extracted[str] | None:
    """A number read out digit by digit that may be offered as the callback number: complete,
    or a local number when the call has no usable caller id (asr/callback_number.py)."""
    found = callback_number.find_callback_number(text, caller_id)
    return Extracted(found.digits, found.confidence, found.evidence) if found else None


# ---------------------------------------------------------------- keywords

TOPICS: tuple[str, ...] = (
    "噪音", "油烟", "垃圾", "污水", "异味", "停水", "停电", "供暖", "暖气", "燃气", "路灯", "井盖",
    "占道经营", "违章建筑", "私搭乱建", "违停", "物业", "电梯", "拖欠工资", "欠薪", "房租", "学区",
    "社保", "医保", "公积金", "户口", "退休", "低保", "养老", "施工", "渣土", "扰民", "乱收费",
    "消费纠纷", "退款", "食品安全", "交通", "公交", "出租车", "信号灯", "道路", "积水", "绿化",
    "树木", "宠物", "流浪狗", "广场舞", "装修",
)


def find_keywords(text: str, topics: Sequence[str] = TOPICS) -> Extracted[tuple[str, ...]] | None:
    hits = sorted((text.find(t), t) for t in topics if t in text)
    words = tuple(dict.fromkeys(t for _, t in hits))
    if not words:
        return None
    return Extracted(words, round(min(0.9, 0.55 + 0.1 * len(words)), 2), "、".join(words))


# ---------------------------------------------------------------- the draft and the merge

def extract_ticket_draft(caller_text: str, gazetteer: Gazetteer,
                         suggest_units: Callable[[str], list[Any]] | None = None, *,
                         caller_id: str | None = None, spotted: Sequence[SpottedPlace] = ()) -> TicketDraft:
    """Everything we can read from the caller's final transcript.

    `caller_id` is the number the network gave for the call ("" when withheld; None when the
    reader does not know it): a number heard in the call never takes its place unless it is
    complete (asr/callback_number.py). `spotted`: the districts the place-spotting pass heard
    in the caller's audio (asr/place_spotting.py), when it ran.

    `suggest_units` is the dispatch catalogue's matcher (tickets/dispatch.py); it receives the
    transcript as the draft reads it (`read_transcript`) and returns candidate units, passed
    through untouched.
    """
    spotted = corroborated(spotted, prepare_transcript(caller_text))
    transcript = read_transcript(caller_text, gazetteer, spotted)
    text = transcript.text
    places = find_places(transcript.prepared, gazetteer, transcript.heard, spotted)
    return TicketDraft(
        request_type=classify_request(text),
        district=places.get("district"),
        street=places.get("street"),
        community=places.get("community"),
        address=find_address(text),
        callback_number=find_callback_number(text, caller_id),
        keywords=find_keywords(text),
        suggested_units=tuple(suggest_units(text)) if suggest_units and text else (),
    )


@dataclass(frozen=True, slots=True)
class MergeResult:
    fields: dict[str, Any]  # the form after the merge
    filled: frozenset[str]  # fields that came from the transcript (the desk highlights them)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, set, frozenset, dict)) and len(value) == 0)


def merge_draft(agent_fields: Mapping[str, Any], draft: TicketDraft, *,
                min_confidence: float = 0.5) -> MergeResult:
    """Fill only the fields the agent left empty, with values at least `min_confidence` sure.

    Anything the agent typed, even a value we think is wrong, is kept as is.
    """
    merged = dict(agent_fields)
    filled: set[str] = set()
    for name in TicketDraft.FIELDS:
        extracted: Extracted[Any] | None = getattr(draft, name)
        if extracted is None or extracted.confidence < min_confidence:
            continue
        if not _is_empty(merged.get(name)):
            continue
        value = extracted.value
        merged[name] = value.value if isinstance(value, RequestType) else (
            list(value) if isinstance(value, tuple) else value)
        filled.add(name)
    if _is_empty(merged.get("suggested_units")) and draft.suggested_units:
        merged["suggested_units"] = list(draft.suggested_units)
        filled.add("suggested_units")
    return MergeResult(merged, frozenset(filled))
