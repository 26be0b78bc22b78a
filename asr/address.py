"""The caller's address (road, house number, compound, building) in what the caller said.

Why a module of its own: an address is a *name* followed by what it names (解放路, 锦绣家园,
3号楼), and callers' words, as the recogniser writes them, end the same way without naming
anything. Measured on the decoded intake requests (bench/bench_intake.py --audio), the old
rule offered "一辆大货车从路" (a lorry went by on the road), "汽车寝室里刺激半路", "公交线路",
"找找销路", "老旧小区" and a date ("三十一号") as addresses. So here:

* a road or compound name is 2-4 characters, cut at words that are no part of names
  (从, 了, 的, 我们...), and is not an everyday word that happens to end like one (线路, 半路,
  马路, 公路, 十字路, 老旧小区);
* a bare number with 号 is a date or a ticket number, not an address; with 号楼, 单元, 室 it
  is a building;
* what is left must name something: a road, a compound or a building.

Pure text functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asr.chinese_numbers import numbers_to_arabic

_CJK = r"\u3400-\u9fff"
_NUM = "0-9零〇一二三四五六七八九十百幺两"
# Bare 道 is left out on purpose: 知道, 一道, 街道 (a town-level unit, the gazetteer's) end so.
# 街 before 道 is 街道, a subdistrict (the gazetteer's), not a street: 银雀山街道 names no road.
_ROAD_SUFFIX = "(?:大道|大街|路|街(?!道)|巷|胡同)"
_COMPOUND_SUFFIX = "(?:小区|花园|家园|公寓|大厦|新村|广场|市场|学校|医院)"
_NAME = rf"[{_CJK}{_NUM}]{{2,4}}?"
_ADDRESS = re.compile(
    rf"(?P<road>{_NAME}{_ROAD_SUFFIX}(?:[{_NUM}]+号(?!楼))?)?"
    rf"(?P<compound>{_NAME}{_COMPOUND_SUFFIX})?"
    rf"(?P<building>(?:[{_NUM}]+(?:号楼|栋|幢|号院))?(?:[{_NUM}]+单元)?(?:[{_NUM}]+(?:室|层|楼))?)"
)
_ADDRESS_CUES = ("住在", "位于", "地址是", "地址在", "在")
#: Characters that end a name when read backwards from its suffix: what stands before them is
#: the sentence, not the name. Only characters that (almost) never occur inside a road or
#: compound name of the city belong here (和 does: 和平路; 开 does: 开元路).
NOT_IN_NAMES = frozenset("从了的着把被们辆这那个说过就都也还很太没不要去到是有往向我你他她它咱俺条趟边问该整在住第"
                         "区县市镇乡")  # a road after its district: 兰山区金雀山路
#: Words of the request itself, which a name never contains: what stands before them is the
#: sentence ("我要投诉小区噪音": 投诉 is no part of a compound's name).
NOT_IN_NAME_WORDS = ("投诉", "举报", "反映", "反应", "咨询", "求助", "建议", "关于", "附近", "旁边",
                     "对面", "门口",
                     "街道", "社区")  # a road after its subdistrict: 银雀山街道幸福路
#: Everyday words that end like a road or a compound (a road is 线路 only on a bus map).
NOT_ADDRESSES = (
    "线路", "半路", "销路", "公路", "道路", "马路", "修路", "开路", "走路", "出路", "思路", "电路", "网路",
    "门路", "岔路", "小路", "大路", "土路", "水泥路", "上路", "让路", "带路", "问路", "迷路", "赶路", "铁路",
    "十字路", "丁字路", "老旧小区", "新小区", "菜市场", "农贸市场",
)
#: Numbers of houses, buildings, units and rooms are written as digits; a road's name keeps its
#: words (八一路, not 81路).
_UNIT_NUMBER = re.compile(rf"[{_NUM}]+(?=号|栋|幢|单元|室|层|楼)")
_SCORED = ("号", "单元", "室", "栋", "路", "街", "小区", "花园", "家园")


@dataclass(frozen=True, slots=True)
class Address:
    value: str  # as the ticket shows it: numbers in digits
    confidence: float
    evidence: str  # the caller's words


def _name(part: str, suffix_pattern: str) -> str:
    """`part` (a name and its suffix) from its real name on, or "" when it names nothing."""
    match = re.fullmatch(rf"(?P<name>.*?)(?P<rest>{suffix_pattern}.*)", part)
    if match is None:
        return ""
    name = match.group("name")
    cut = max((i for i, ch in enumerate(name) if ch in NOT_IN_NAMES), default=-1)
    cut = max([cut] + [name.rfind(word) + len(word) - 1 for word in NOT_IN_NAME_WORDS if word in name])
    name = name[cut + 1:]
    if len(name) < 2 or (name == name[0] + "一" and not _is_numeral(name[0])):
        return ""  # 村路, 车一路 ("一路开过去": all the way); 八一路 and 建设一路 are roads
    if _is_numeral(name[0]) and not all(_is_numeral(ch) for ch in name):
        return ""  # "一三第二天路": numbers, then words; 八一路 is all numerals
    named = name + match.group("rest")
    bare = re.sub(f"[{_NUM}]+号$", "", named)
    if any(bare.endswith(word) for word in NOT_ADDRESSES):
        return ""
    return named


def _is_numeral(ch: str) -> bool:
    return re.match(f"[{_NUM}]", ch) is not None


def find_address(text: str) -> Address | None:
    """The most specific road/compound/building mention (e.g. 解放路12号锦绣家园3号楼), or None."""
    best: tuple[int, str] | None = None
    for match in _ADDRESS.finditer(text):
        parts = [_name(match.group("road") or "", _ROAD_SUFFIX),
                 _name(match.group("compound") or "", _COMPOUND_SUFFIX), match.group("building")]
        span = "".join(parts)
        if not span or len(span) < 3:
            continue
        for cue in _ADDRESS_CUES:  # "住在解放路" -> "解放路"
            if cue in span:
                span = span.split(cue)[-1]
        score = sum(span.count(k) for k in _SCORED)
        if score and (best is None or score > best[0]):
            best = (score, span)
    if best is None:
        return None
    score, span = best
    return Address(_UNIT_NUMBER.sub(lambda m: numbers_to_arabic(m.group()), span), 0.8 if score >= 2 else 0.55, span)
