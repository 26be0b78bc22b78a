"""Live agent assist: what the caller's words so far suggest, and the words behind each.

While a caller speaks, the desk shows the lead units the dispatch catalogue suggests (建议承办单位),
the request type (诉求类型), the district and street (所属区县/街道) and the knowledge base's
approved wording (答复口径) that matches the request, each with the caller's words it was read
from, so the agent sees *why* and can judge it at a glance (首接负责制: the agent decides; the
assist only suggests). This module decides what to suggest from a text and explains it;
`asr/live_assist.py` feeds it the caller's final results plus the partial being spoken, and
publishes the result to the desk.

Extraction goes through the public functions of `asr/extract.py` (the same reading as the ticket
draft), units through the catalogue's matcher with the type and district read so far, and
knowledge articles are the store's search candidates kept only when the caller's words name
them (`choose_answers`): a keyword of the article, most of a long keyword's characters, or a
topic word of the request in the article's title or keywords.

Evidence is located in the caller's words as the rules read them (`prepare_transcript`) and
returned as snippets: a few characters of context, the matched words marked, and whether those
words are still being spoken (partial). Long digit runs in the context are masked: a snippet
explains a suggestion, it never repeats a phone or ID number.

Pure: no I/O, no asyncio. Partial results are never stored: they only shape these suggestions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asr.extract import Extracted, Gazetteer, RequestType, extract_ticket_draft, prepare_transcript
from tickets.dispatch import PAIR_GAP, PAIR_MARK, UnitSuggestion

#: The catalogue's matcher: (caller text, request type or None, district or None) -> ranked units.
SuggestUnits = Callable[[str, RequestType | None, str | None], Sequence[UnitSuggestion]]

#: How many of each kind the desk shows.
MAX_UNITS = 3
MAX_ANSWERS = 3
#: A request type below this confidence does not narrow the units (a wrong guess would hide
#: the right matter): the catalogue then ranks matters of every type.
TYPE_FILTER_CONFIDENCE = 0.7
#: Characters of context either side of the marked words, within one utterance.
CONTEXT = 8
MAX_SNIPPETS = 2
#: Utterances are joined with this; context never crosses it (nor a sentence end).
SEPARATOR = "。"
_SENTENCE_END = frozenset("。！？!?；;")
#: Digits (Arabic or spoken) in a run this long are a number, masked in the context.
_NUMBER = re.compile(r"[0-9零〇一二三四五六七八九幺两]{4,}")
#: A knowledge keyword of at least this many characters matches when this share of its bigrams
#: is in the caller's words (暖气片不热 in 暖气片一点都不热), as the catalogue's fuzzy match.
FUZZY_MIN_LENGTH = 3
FUZZY_MIN_SHARE = 0.6
#: The knowledge search gets the start of the call (where the matter is usually said) and its
#: latest words, at most this many characters: the store's query is bounded, like its API's.
QUERY_HEAD = 100
QUERY_TAIL = 200


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Snippet:
    """The caller's words around a piece of evidence: `parts` are (text, marked) in order."""

    parts: tuple[tuple[str, bool], ...]
    partial: bool  # a marked word is in the partial result: still being spoken

    def to_dict(self) -> dict[str, Any]:
        return {"parts": [{"text": text, "mark": mark} for text, mark in self.parts],
                "partial": self.partial}


@dataclass(frozen=True, slots=True)
class Suggested:
    """A value read from the caller's words, how sure the rule is, and the words behind it."""

    value: str
    confidence: float
    evidence: tuple[Snippet, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "confidence": self.confidence,
                "evidence": [s.to_dict() for s in self.evidence]}


@dataclass(frozen=True, slots=True)
class UnitAdvice:
    unit: str
    unit_name: str
    matter: str | None
    score: float
    evidence: tuple[Snippet, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "unit_name": self.unit_name, "matter": self.matter,
                "score": self.score, "evidence": [s.to_dict() for s in self.evidence]}


@dataclass(frozen=True, slots=True)
class KnowledgeCandidate:
    """A published, in-force article the knowledge search found (joined at the root)."""

    article_id: str
    title: str
    approved_wording: str
    version: int
    owner_unit: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnswerAdvice:
    """Approved wording the agent may read out, and the caller's words that call for it."""

    article: KnowledgeCandidate
    evidence: tuple[Snippet, ...]

    def to_dict(self) -> dict[str, Any]:
        a = self.article
        return {"article_id": a.article_id, "title": a.title, "approved_wording": a.approved_wording,
                "version": a.version, "owner_unit": a.owner_unit,
                "evidence": [s.to_dict() for s in self.evidence]}


@dataclass(frozen=True, slots=True)
class CallerWords:
    """What the caller has said so far: final results, and the utterance being spoken."""

    finals: tuple[str, ...] = ()
    partial: str = ""

    def text(self) -> tuple[str, int]:
        """The words as the rules read them, and where the partial starts in that text."""
        settled = SEPARATOR.join(t for t in (prepare_transcript(f) for f in self.finals) if t)
        spoken = prepare_transcript(self.partial) if self.partial else ""
        if not spoken:
            return settled, len(settled)
        if not settled:
            return spoken, 0
        return settled + SEPARATOR + spoken, len(settled) + len(SEPARATOR)


@dataclass(frozen=True, slots=True)
class Assist:
    """Everything the assist panel shows for one moment of the call."""

    units: tuple[UnitAdvice, ...] = ()
    request_type: Suggested | None = None
    district: Suggested | None = None
    street: Suggested | None = None
    answers: tuple[AnswerAdvice, ...] = ()
    #: Words still being spoken shaped this (the partial result was not empty).
    partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"units": [u.to_dict() for u in self.units],
                "request_type": self.request_type.to_dict() if self.request_type else None,
                "district": self.district.to_dict() if self.district else None,
                "street": self.street.to_dict() if self.street else None,
                "answers": [a.to_dict() for a in self.answers],
                "partial": self.partial}


# ---------------------------------------------------------------- reading


def read_assist(words: CallerWords, gazetteer: Gazetteer, suggest_units: SuggestUnits | None,
                candidates: Sequence[KnowledgeCandidate] = ()) -> Assist:
    """The suggestions for the caller's words so far; `candidates` come from the knowledge
    search of `knowledge_query` (the caller keeps them between searches)."""
    text, partial_from = words.text()
    if not text:
        return Assist()
    draft = extract_ticket_draft(text, gazetteer)
    request_type = draft.request_type
    district = draft.district
    ranked: Sequence[UnitSuggestion] = ()
    if suggest_units is not None:
        narrowing = request_type.value if request_type and request_type.confidence >= TYPE_FILTER_CONFIDENCE else None
        ranked = suggest_units(text, narrowing, district.value if district else None)[:MAX_UNITS]
    units = tuple(_unit_advice(u, text, partial_from, district) for u in ranked)
    topics = _topics(draft.keywords.value if draft.keywords else (), ranked)
    return Assist(
        units=units,
        request_type=_suggested(request_type, text, partial_from),
        district=_suggested(district, text, partial_from),
        street=_suggested(draft.street, text, partial_from),
        answers=choose_answers(text, partial_from, candidates, topics),
        partial=partial_from < len(text),
    )


def knowledge_query(words: CallerWords) -> str:
    """What the knowledge base is searched with: the caller's final words (the partial only
    until the first final), bounded (the start of the call and the latest words).

    Searching once per utterance rather than per partial keeps the database's work to a few
    searches a call; the partial still counts when the candidates are weighed
    (`choose_answers`)."""
    text, _ = (CallerWords(words.finals) if any(f.strip() for f in words.finals) else words).text()
    if len(text) <= QUERY_HEAD + QUERY_TAIL:
        return text
    return text[:QUERY_HEAD] + SEPARATOR + text[-QUERY_TAIL:]


def choose_answers(text: str, partial_from: int, candidates: Iterable[KnowledgeCandidate],
                   topics: Sequence[str] = ()) -> tuple[AnswerAdvice, ...]:
    """The candidates the caller's words name, best first (then in the search's order).

    An article is named by one of its keywords said as is (the keywords are the words callers
    use: 暖气费, 孩子上户口), else by most of a long keyword's characters, else by a topic word
    of the request (噪音, from the extraction or the catalogue) in its title or keywords. Other
    candidates share only incidental characters with the call and are left out.
    """
    grams = _bigrams(text)
    ranked: list[tuple[float, int, AnswerAdvice]] = []
    for order, article in enumerate(candidates):
        if not article.approved_wording:
            continue
        said = [k for k in article.keywords if k and k in text]
        if said:
            score = 2.0 + sum(len(k) for k in said)
            needles = said
        else:
            fuzzy = [k for k in article.keywords if len(k) >= FUZZY_MIN_LENGTH
                     and _share(k, grams) >= FUZZY_MIN_SHARE]
            if fuzzy:
                score = 1.0 + max(_share(k, grams) for k in fuzzy)
                needles = [f"~{k}" for k in fuzzy]
            else:
                about = article.title + SEPARATOR + SEPARATOR.join(article.keywords)
                named = [t for t in topics if t in about and t in text]
                if not named:
                    continue
                score = 0.5 + 0.01 * sum(len(t) for t in named)
                needles = named
        ranked.append((score, order, AnswerAdvice(article, locate(text, partial_from, needles))))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return tuple(advice for _, _, advice in ranked[:MAX_ANSWERS])


def _topics(keywords: Iterable[str], units: Iterable[UnitSuggestion]) -> tuple[str, ...]:
    """Words that name what the request is about: the extraction's topic words and the
    keywords the catalogue matched for the suggested units (said as is; both halves of a pair)."""
    words: dict[str, None] = dict.fromkeys(keywords)
    for unit in units:
        for keyword in unit.matched_keywords:
            if not keyword.startswith("~"):
                words.update(dict.fromkeys(w for w in keyword.split(PAIR_MARK) if len(w) >= 2))
    return tuple(words)


def _unit_advice(suggestion: UnitSuggestion, text: str, partial_from: int,
                 district: Extracted[str] | None) -> UnitAdvice:
    needles = list(suggestion.matched_keywords)
    if not needles and district is not None:
        # The district government with no matter matched: the district is the reason
        # (北京条例第十二条: 能够确定诉求所属行政区域的，派单至区人民政府).
        needles = _words_of(district.evidence)
    return UnitAdvice(suggestion.unit, suggestion.unit_name, suggestion.matter, suggestion.score,
                      locate(text, partial_from, needles))


def _suggested(extracted: Extracted[Any] | None, text: str, partial_from: int) -> Suggested | None:
    if extracted is None:
        return None
    value = extracted.value.value if isinstance(extracted.value, RequestType) else str(extracted.value)
    return Suggested(value, extracted.confidence, locate(text, partial_from, _words_of(extracted.evidence)))


def _words_of(evidence: str) -> list[str]:
    """The words of an extraction's evidence (several are 、-separated; punctuation dropped)."""
    return [w for w in (part.strip(" 。，,") for part in evidence.split("、")) if w]


# ---------------------------------------------------------------- evidence snippets


def locate(text: str, partial_from: int, needles: Sequence[str]) -> tuple[Snippet, ...]:
    """Snippets of `text` marking each needle's first occurrence.

    A needle is a word, `A…B` (both halves, close together, as the catalogue's pair keywords),
    or `~word` (the bigrams of a word only partly said). Needles not found in the text (a word
    the rules read differently) are shown on their own, marked.
    """
    spans: list[tuple[int, int]] = []
    missing: list[str] = []
    for needle in needles:
        found = _spans(text, needle)
        if found:
            spans.extend(found)
        else:
            missing.append(needle.lstrip("~").replace(PAIR_MARK, "…"))
    snippets = [_snippet(text, group, partial_from) for group in _groups(_merge(spans), text)]
    snippets += [Snippet(((word, True),), False) for word in dict.fromkeys(missing) if word]
    return tuple(snippets[:MAX_SNIPPETS])


def _spans(text: str, needle: str) -> list[tuple[int, int]]:
    if needle.startswith("~"):
        word = needle[1:]
        found = [(i, i + 2) for gram in dict.fromkeys(word[j:j + 2] for j in range(len(word) - 1))
                 if (i := text.find(gram)) != -1]
        return found
    if PAIR_MARK in needle:
        first, then = needle.split(PAIR_MARK, 1)
        start = 0
        while (index := text.find(first, start)) != -1:
            after = index + len(first)
            at = text.find(then, after, after + PAIR_GAP + len(then))
            if at != -1:
                return [(index, after), (at, at + len(then))]
            start = index + 1
        return []
    index = text.find(needle) if needle else -1
    return [(index, index + len(needle))] if index != -1 else []


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans become one; adjacent ones stay apart (投诉 and 噪音 are two words)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _sentence(text: str, index: int) -> tuple[int, int]:
    """Start and end of the utterance (or sentence) holding `index`."""
    start = index
    while start > 0 and text[start - 1] not in _SENTENCE_END:
        start -= 1
    end = index
    while end < len(text) and text[end] not in _SENTENCE_END:
        end += 1
    return start, end


def _groups(spans: list[tuple[int, int]], text: str) -> list[list[tuple[int, int]]]:
    """Spans close together in one utterance share a snippet."""
    groups: list[list[tuple[int, int]]] = []
    for span in spans:
        if groups:
            last = groups[-1][-1]
            same_sentence = _sentence(text, last[0]) == _sentence(text, span[0])
            if same_sentence and span[0] - last[1] <= 2 * CONTEXT:
                groups[-1].append(span)
                continue
        groups.append([span])
    return groups


def _snippet(text: str, spans: list[tuple[int, int]], partial_from: int) -> Snippet:
    sentence_start, sentence_end = _sentence(text, spans[0][0])  # one utterance per group
    left = max(sentence_start, spans[0][0] - CONTEXT)
    right = min(sentence_end, spans[-1][1] + CONTEXT)
    parts: list[tuple[str, bool]] = []
    cursor = left
    for start, end in spans:
        if start > cursor:
            parts.append((_masked(text[cursor:start]), False))
        parts.append((text[start:end], True))
        cursor = end
    if right > cursor:
        parts.append((_masked(text[cursor:right]), False))
    if left > sentence_start:
        parts.insert(0, ("…", False))
    if right < sentence_end:
        parts.append(("…", False))
    return Snippet(tuple(_joined(parts)), any(end > partial_from for _, end in spans))


def _joined(parts: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Adjacent context joined; marked words kept one per part."""
    out: list[tuple[str, bool]] = []
    for text, marked in parts:
        if out and not marked and not out[-1][1]:
            out[-1] = (out[-1][0] + text, marked)
        elif text:
            out.append((text, marked))
    return out


def _masked(context: str) -> str:
    return _NUMBER.sub(lambda m: "＊" * len(m.group()), context)


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def _share(word: str, grams: frozenset[str]) -> float:
    own = _bigrams(word)
    return len(own & grams) / len(own) if own else 0.0
