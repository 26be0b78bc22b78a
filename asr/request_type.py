"""Request type (咨询/求助/投诉/举报/意见建议) from how callers talk: the situation, not only cue words.

The regulations name five kinds of request (临沂条例第二条, 北京条例第二条); intake records one.
Callers rarely say which: they describe a situation. The rules below read the situation the way
the hotline's agents are trained to:

* a question about a procedure, a rule, a fee or a place (怎么办理, 去哪里办, 要带什么, 有没有补贴)
  -> consultation (咨询);
* something broken, out or missing (停水, 路灯不亮, 暖气片冰凉), a person in trouble (老人一个人,
  被欺负, 房子烧没了), a danger, or a plea to act (派人来看看, 帮帮他们) -> help (求助);
* a person, business or office that wronged the caller (物业拖着不修, 老板不给加班费, 司机绕路),
  an unfair charge, or a nuisance the caller suffers (半夜施工吵得睡不着) -> complaint (投诉);
* somebody else's unlawful act, reported in the public interest (无证, 偷排, 黑诊所, 贿选,
  账目不公开) -> report (举报);
* an improvement to public services (建议, 能不能多设几个, 希望延长) -> suggestion (意见建议).

Each cue is a small regular expression with a weight; the words a caller says explicitly
(我要投诉, 举报, 咨询, 建议) weigh most, a situation less, a hint (a question mark, how long
something has lasted) least. The type with the highest total wins; its confidence grows with the
total and shrinks with the runner-up's share, and its evidence is the words that matched. When
the words say too little (nothing above `MIN_SCORE`) or say two kinds equally, there is no
guess: the agent decides, as they always may. Pure functions over text; no model, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tickets.model import TicketType

#: Below this total the words do not say the type: no guess.
MIN_SCORE = 1.0
#: A total at which one kind alone is as certain as an explicit word.
FULL_SCORE = 3.0

_EXPLICIT = 3.0
_STRONG = 2.0
_SITUATION = 1.5
_MODERATE = 1.0
_HINT = 0.5

# A gap of a few characters between two parts of a cue: within one clause of speech.
_GAP = r"[^。！？!?；;]{0,%d}?"


def _near(first: str, then: str, gap: int = 10) -> str:
    return f"(?:{first}){_GAP % gap}(?:{then})"


# Who can wrong a caller, and how: a complaint is a grievance against someone.
_PARTY = ("物业|公司|老板|商家|店家|店里|饭店|超市|商场|开发商|司机|医院|医生|护士|护工|老师|班主任|学校|幼儿园|"
          "机构|厂里|厂子|单位|部门|窗口|工作人员|他们|村里|村委会|镇上|街道|政府|包工头|房东|中介|收费的")
_WRONG = ("不给|不退|不发|没发|没给|不修|不管|不接|不承认|不认|不处理|不解决|没解决|拖着|拖到|一直拖|就是推|"
          "一直推|推来推去|推诿|扣着|克扣|乱收|多收|涨了|坑|骗|态度|吵起来|脸色|刁难|不让|非要|非让|撤了|"
          "必须|跑路|跑了|关门|联系不上|找不到人|找不着|不归他们管|不负责|不算数|爱停不停|不给个说法")
_UNLAWFUL = ("违法|非法|违规|无证|黑车|黑诊所|黑作坊|小作坊|偷排|私自|私搭乱建|违建|违章|传销|赌博|"
             "贿选|拉票|假的|假冒|造假|动了手脚|不要处方|骗保|套取|挪用|贪污|侵占|不公开|白花了|虚报|冒领|"
             "承重墙")


@dataclass(frozen=True)
class Cue:
    kind: TicketType
    weight: float
    pattern: re.Pattern[str]
    explicit: bool = False  # the caller names the kind of request (我要投诉), or pleads for help


def _cues(kind: TicketType, weight: float, *patterns: str) -> list[Cue]:
    return [Cue(kind, weight, re.compile(p)) for p in patterns]


def _said(kind: TicketType, *patterns: str) -> list[Cue]:
    return [Cue(kind, _EXPLICIT, re.compile(p), explicit=True) for p in patterns]


C, H, Q, R, S = (TicketType.COMPLAINT, TicketType.HELP, TicketType.CONSULTATION, TicketType.REPORT,
                 TicketType.SUGGESTION)

CUES: tuple[Cue, ...] = tuple(
    # ---- said explicitly ("资讯" and "见意" are how speech recognition writes 咨询 and 建议)
    _said(C, "投诉")
    + _said(R, "举报|检举|揭发")
    + _said(H, "求助|求救|救救|帮帮(?:我|他|她|忙)|求求你们|请政府帮|请你们帮")
    + _said(Q, "咨询|资讯一下|想资讯")
    + _said(S, "建议|提个意见|提点意见|提意见|^见意")
    # ---- complaint: someone wronged the caller; an unfair charge; a nuisance the caller suffers
    + _cues(C, _STRONG, _near(_PARTY, _WRONG, 12), "凭什么", "不满意", "也没个说法|没个说法|不给个说法",
            "一直没解决|也没解决|没有解决|一直不解决", "拖着不|一直拖着|拖了.{0,4}(?:月|年|天)")
    + _cues(C, _SITUATION, "噪音|太吵|吵得|吵死|扰民|睡不着|没法睡|音响开得|闹到|划拳|吵闹", "坑人|欺负人",
            "意见都很大|意见很大", "一分钱.{0,4}(?:不给|没给)|一分没给|一分都没", "不按点|不靠站|不停站|绕了",
            "低了一大截|别的村.{0,4}都发了", "管一管|管管", _near("交了|花了|充了|收", "钱|块|元|费|千|万", 6)
            + _GAP % 20 + "(?:还|也|就|才|根本|说)", _near("电费|水费|燃气费|话费", "突然|多了|翻倍|高", 4),
            "非让|非要|硬让|逼着|强制|强迫|天天让|不换就|不买就|不交就", "让我们?自己",
            "不在三包|不给保修|不保修|不给退|不给修|不给换", "缺斤少两|短斤缺两|少给|以次充好",
            "给脸色|穿小鞋|跟我们吵|吵起来|骂人|骂我", "干等|等了.{0,8}(?:也没|都没|没人)|也没.{0,3}(?:医生|人)来",
            "被.{0,4}(?:占了|挡了|堵了|砸了|骗了)", "也没人告诉|不告诉.{0,4}为什么|不说为什么",
            "也没修好|没修好|一直没修|修了好几年|说了好几年",
            "(?:停了|停).{0,2}[两三四五六七八九十几\\d]+回|又停|三天两头|老是停|经常停",
            "损失|赔偿|坏了一批")
    + _cues(C, _MODERATE, "臭气|臭得|又黑又臭|臭味|味道呛|呛得|一股.{0,3}味|油烟|震得|头疼", "根本不可能|说不清楚",
            "反映了好几次|找了好几次|好几次了|多次反映|打了好几次|好几次都没用|几次都没用",
            "没人管|都没人管|也不管|都不管|根本不管|没人来|管不了|没人出来管|不来人",
            "不合理|太差|太贵|服务.{0,2}差|漫天要价|太明显了|太过分", "态度", "有问题", "没批下来|批不下来",
            "一路撒|撒漏|尘土飞扬|没法走|走不过去|开不出去|堵死|堵得|乱停|乱摆|乱堆", "超载|挤得",
            "不提前通知|不通知|一点通知也没有|连个通知都没有")
    # ---- help: something broken, out or missing; a person in trouble; a danger; a plea to act
    + _cues(H, _SITUATION, "停水|停电|停气|没水|没电|没有天然气|没有暖气|断水|断电|跳闸|(?<!出)来水|来电|上不去水",
            "走失|被困|瘫在|生病|困难户|拿不出钱|一个人过|一个人住|一个人在家|失火|烧没了|被.{0,8}欺负|"
            "不敢去|动手打人|咬伤|说话都不清楚|摔伤",
            "帮忙|帮我们|帮他|帮着|想想办法|派人|派个|(?<![不没])来人|找人来|赶紧|快找|快来|修一修|修修|处理一下|"
            "来看看|过去看看|协调|联系一下|请政府", "能不能给(?:他|她|我)")
    + _cues(H, _MODERATE, "坏了|不亮|漏了|漏水|漏雨|渗水|爆了|堵了|塌了|怕塌|要塌|快塌|歪了|冰凉|还是凉|不热|温乎|倒灌|"
            "翘起来|冲塌|掉进|弄走了|垂到|不走了|水压.{0,4}低|电压.{0,4}(?:低|不稳)|黄的|浑|坑坑洼洼|坑一个",
            "危险|不安全|安全隐患|出事|随时要倒|差点|摔了一跤", "什么时候能(?:来|恢复|修)|能恢复")
    + _cues(H, _HINT, "好几天|几天了|两天了|一个礼拜|半个月|一个多月|个多小时|到现在也没|到现在还")
    # ---- consultation: a question about a procedure, a rule, a fee, a place
    + _cues(Q, _STRONG, "请问|想问|问一下|问问|问下|打听|了解一下",
            "要带什么|带什么|需要什么|要准备|准备什么|什么手续|什么材料|什么条件|要什么条件|有什么.{0,4}政策|"
            "新政策|有没有(?:补贴|补助|优惠|政策|规定|我们)")
    + _cues(Q, _SITUATION, "怎么办理|如何办理|怎么申请|如何申请|怎么交|怎么领|怎么补办|怎么成立|怎么算|怎么弄",
            "在哪里办|去哪里办|到哪里办|哪里能办|在哪办|去哪办|在哪里交|在哪里做|去哪里|哪个窗口|哪个部门|"
            "找哪个",
            "能不能(?:申请|办|报名|报|减免|上门|在)|可以申请|是不是免费|是免费|交多少|退多少|补多少|到底.{0,2}多少|"
            "多少钱|什么时候(?:开始|交|拆)|出来了没有|属于哪个|要不要预约|提前预约|能不能约|还能约|按规定")
    + _cues(Q, _HINT, "怎么办|吗[？?]?$|吗？", "有没有", "想申请")
    # ---- report: somebody else's unlawful act, in the public interest
    + _cues(R, _STRONG, "偷偷|半夜.{0,6}排|趁.{0,4}(?:晚上|夜里|没人)|白天.{0,6}看不见")
    + _cues(R, _SITUATION, _UNLAWFUL,
            "没有.{0,4}(?:证照|执照|营运证|许可证|资质|证)",
            "往.{0,3}河里排|直接排|排到|往外排|直接通到|污水管|排污管|暗管",
            "搭棚|搭了个|私搭|乱搭|盖了个|加盖|乱建")
    + _cues(R, _HINT, "有人|有个|有家|有户|有一户|怀疑")
    # ---- suggestion: an improvement to a public service
    + _cues(S, _STRONG, _near("希望|能不能|能否|可不可以|最好|应该|是不是可以",
                              "多|增加|增设|开通|延长|提前|错开|换成|改成|统一|规划|建个|修个|设个|加个|装个|"
                              "出个", 4),
            "要是能.{0,10}就好了|如果能.{0,10}就好了")
    + _cues(S, _SITUATION, "多(?:设|建|开|放|种|搞|修|安)几|增加一条|增设|再往前提|往前提几天|改造一下")
)

_NEGATIONS = ("不是", "不想", "不要", "没有", "不", "没")


def _negated(text: str, index: int) -> bool:
    before = text[max(0, index - 2): index]
    return any(before.endswith(n) for n in _NEGATIONS)


@dataclass(frozen=True, slots=True)
class TypeGuess:
    value: TicketType
    confidence: float
    evidence: str  # the caller's words that made the guess, 、-separated
    scores: dict[TicketType, float]  # every kind's total, for the desk and for tuning


def _first_match(cue: Cue, text: str) -> re.Match[str] | None:
    for match in cue.pattern.finditer(text):
        if not (cue.explicit and _negated(text, match.start())):
            return match
    return None


def guess_request_type(text: str) -> TypeGuess | None:
    """The request type the caller's words describe, or None when they do not say.

    What the caller says the request is (我要投诉, 求助, 帮帮我们) comes first; the situation
    decides when they say nothing of the kind, or name two kinds.
    """
    said: dict[TicketType, float] = {}
    scores: dict[TicketType, float] = {}
    evidence: dict[TicketType, list[tuple[int, str]]] = {}
    for cue in CUES:
        if match := _first_match(cue, text):
            scores[cue.kind] = scores.get(cue.kind, 0.0) + cue.weight
            if cue.explicit:
                said[cue.kind] = said.get(cue.kind, 0.0) + cue.weight
            evidence.setdefault(cue.kind, []).append((match.start(), match.group()))
    if not scores:
        return None
    ranked = sorted(scores, key=lambda k: (-said.get(k, 0.0), -scores[k]))
    kind = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    top = scores[kind]
    second = scores[runner_up] if runner_up else 0.0
    if runner_up and (said.get(runner_up, 0.0), second) == (said.get(kind, 0.0), top):
        return None  # the words say two kinds equally
    if kind in said:
        # Named by the caller: certain, unless another kind was named too.
        confidence = 0.9 + (0.05 if top > FULL_SCORE else 0.0) - (0.3 if runner_up in said else 0.0)
    elif top < MIN_SCORE:
        return None
    else:
        confidence = 0.2 + 0.75 * min(1.0, top / FULL_SCORE) * top / (top + second)
    words = "、".join(dict.fromkeys(w for _, w in sorted(evidence[kind])))
    return TypeGuess(kind, round(min(confidence, 0.95), 2), words, scores)
