"""The intake rules as they were before issue 15, frozen for `bench_intake.py` to compare against.

A verbatim copy of the old request-type cue tables and `classify_request`, of the old place
finder (district level only) over the old gazetteer (a fictional city, 青川市), and of the old
keyword matcher (`_matter_score` / `suggest_units`) over the old dispatch catalogue. The data
files are in `bench/baseline_rules/`, copied from the commit before the change. Nothing here
imports the shipped rules, so improving them can never move the baseline. Not shipped code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kernel.text_match import containment, ngrams, normalize

RULES = Path(__file__).resolve().parent / "baseline_rules"

# ---------------------------------------------------------------- request type (old asr/extract.py)

_EXPLICIT: dict[str, tuple[str, ...]] = {
    "complaint": ("投诉",),
    "report": ("举报", "检举"),
    "help": ("求助", "求救"),
    "consultation": ("咨询",),
    "suggestion": ("建议", "提个意见", "提意见", "提点意见"),
}
_IMPLICIT: dict[str, tuple[str, ...]] = {
    "complaint": ("扰民", "噪音", "乱收费", "不作为", "态度差", "态度很差", "不满意", "拖欠", "推诿",
                  "没人管", "一直没解决", "太吵"),
    "report": ("违法", "非法", "偷排", "违规", "传销", "无证经营", "私搭乱建", "违章建筑", "假冒"),
    "help": ("帮帮", "帮忙", "被困", "救助", "停水", "停电", "没有暖气", "生活困难", "走失"),
    "consultation": ("请问", "想问", "问一下", "怎么办理", "如何办理", "需要什么材料", "去哪里办",
                     "政策", "多久能"),
    "suggestion": ("希望", "应该增加", "能否增加", "能不能增加", "最好"),
}
_NEGATIONS = ("不是", "不想", "不要", "没有", "不", "没")


def _negated(text: str, index: int) -> bool:
    before = text[max(0, index - 2): index]
    return any(before.endswith(n) for n in _NEGATIONS)


def _find(text: str, cue: str) -> int:
    start = 0
    while (index := text.find(cue, start)) != -1:
        if not _negated(text, index):
            return index
        start = index + 1
    return -1


def classify_request(text: str) -> tuple[str, float] | None:
    """Old rule: explicit words beat implicit cues; (type, confidence) or None."""
    for table, confidence in ((_EXPLICIT, 0.9), (_IMPLICIT, 0.55)):
        hits: dict[str, tuple[int, str, int]] = {}
        for kind, cues in table.items():
            for cue in cues:
                index = _find(text, cue)
                if index >= 0:
                    first, first_cue, count = hits.get(kind, (index, cue, 0))
                    hits[kind] = (min(first, index), cue if index <= first else first_cue, count + 1)
        if not hits:
            continue
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1][2], kv[1][0]))
        kind, (_, _cue, count) = ranked[0]
        ambiguous = len(ranked) > 1 and ranked[1][1][2] == count
        value = confidence - (0.3 if ambiguous else 0.0) + (0.05 if count > 1 and not ambiguous else 0.0)
        return kind, round(min(value, 0.95), 2)
    return None


# ---------------------------------------------------------------- district (old gazetteer + find_places)

def _load_forms() -> list[tuple[str, str, str]]:
    """(spoken form, level, district), longest first, as the old Gazetteer.build sorted them."""
    doc = yaml.safe_load((RULES / "gazetteer.yaml").read_text(encoding="utf-8"))
    forms: list[tuple[str, str, str]] = []
    for d in doc["districts"]:
        district = d["name"]
        forms += [(f, "district", district) for f in (district, *(d.get("aliases") or ()))]
        for s in d.get("streets") or ():
            forms += [(f, "street", district) for f in (s["name"], *(s.get("aliases") or ()))]
            for c in s.get("communities") or ():
                forms += [(f, "community", district) for f in (c["name"], *(c.get("aliases") or ()))]
    forms.sort(key=lambda f: -len(f[0]))
    return forms


_FORMS = _load_forms()


def find_district(text: str) -> str | None:
    """Old rule: the first (longest) district form found, else the district of a street/community."""
    taken = [False] * len(text)
    found: dict[str, str] = {}
    for form, level, district in _FORMS:
        start = 0
        while (index := text.find(form, start)) != -1:
            start = index + len(form)
            if any(taken[index:index + len(form)]):
                continue
            taken[index:index + len(form)] = [True] * len(form)
            found.setdefault(level, district)
    return found.get("district") or found.get("street") or found.get("community")


# ---------------------------------------------------------------- dispatch (old tickets/dispatch.py)

@dataclass(frozen=True)
class _Matter:
    keywords: tuple[str, ...]
    context_keywords: tuple[str, ...]
    types: frozenset[str] | None
    districts: frozenset[str] | None


@dataclass(frozen=True)
class _Unit:
    code: str
    kind: str
    district: str | None
    matters: tuple[_Matter, ...]


def _load_units() -> list[_Unit]:
    doc: dict[str, Any] = yaml.safe_load((RULES / "dispatch_catalogue.yaml").read_text(encoding="utf-8"))
    units = []
    for raw in doc["units"]:
        matters = tuple(
            _Matter(
                keywords=tuple(normalize(str(k)) for k in m.get("keywords") or ()),
                context_keywords=tuple(normalize(str(k)) for k in m.get("context_keywords") or ()),
                types=frozenset(m["types"]) if m.get("types") else None,
                districts=frozenset(m["districts"]) if m.get("districts") else None,
            )
            for m in raw.get("matters") or ()
        )
        units.append(_Unit(raw["code"], raw["kind"], raw.get("district"), matters))
    return units


_UNITS = _load_units()


def _matter_score(matter: _Matter, text: str, grams: frozenset[str]) -> float:
    score = 0.0
    for keyword in matter.keywords:
        if keyword in text:
            score += len(keyword)
        elif len(keyword) >= 3:
            share = containment(ngrams(keyword), grams)
            if share >= 0.5:
                score += 0.5 * share * len(keyword)
    for keyword in matter.context_keywords:
        if keyword in text:
            score += 0.5 * len(keyword)
    if score > 0 and matter.districts is not None:
        score += 1.0
    return score


def suggest_units(text: str, ticket_type: str | None = None, district: str | None = None,
                  limit: int = 5) -> list[str]:
    """Old rule: unit codes ranked by keyword lengths; the district government as fallback."""
    normalized = normalize(text)
    grams = ngrams(text)
    ranked: list[tuple[float, str]] = []
    for unit in _UNITS:
        if unit.district is not None and unit.district != district:
            continue
        best = 0.0
        for matter in unit.matters:
            if ticket_type is not None and matter.types is not None and ticket_type not in matter.types:
                continue
            if matter.districts is not None and district not in matter.districts:
                continue
            best = max(best, _matter_score(matter, normalized, grams))
        if unit.kind == "district_government" and unit.district == district:
            best = max(best, 1.0)
        if best > 0:
            ranked.append((best, unit.code))
    ranked.sort(key=lambda s: (-s[0], s[1]))
    return [code for _, code in ranked[:limit]]


# ---------------------------------------------------------------- the old draft, end to end

_CJK = r"\u3400-\u9fff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


def read(text: str) -> tuple[str | None, str | None, list[str]]:
    """(type, district, unit codes) as the old draft gave them, units ranked with that type and
    district as the ticket API does once the form is filled in."""
    text = _SPACE_BETWEEN_CJK.sub("", text.strip())
    kind = classify_request(text)
    ticket_type = kind[0] if kind else None
    district = find_district(text)
    return ticket_type, district, suggest_units(text, ticket_type, district)
