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
from collections.abc import Mapping
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
# Acts that break a law or a rule somebody else is bound by.
_UNLAWFUL = ("违法|非法|违规|无证|黑车|黑诊所|黑作坊|小作坊|偷排|私自|私搭乱建|违建|违章|传销|赌博|贿选|拉票|"
             "假的|假冒|假酒|勾兑|造假|动了手脚|不要处方|骗保|套取|挪用|贪污|侵占|不公开|白花了|虚报|冒领|"
             "承重墙|盗采|盗伐|乱砍|乱挖|开山|采石|毁林|基本农田|占用耕地|偷倒|私宰|私屠|没有检疫|黑厂|土炼油|"
             "喝了酒给|酒后")
_NUMBER = "[一二两三四五六七八九十几半\\d]+"


@dataclass(frozen=True)
class Cue:
    kind: TicketType
    weight: float
    situation: str  # what the words describe (documentation; the evidence is the words)
    pattern: re.Pattern[str]
    explicit: bool = False  # the caller names the kind of request (我要投诉), or pleads for help


C, H, Q, R, S = (TicketType.COMPLAINT, TicketType.HELP, TicketType.CONSULTATION, TicketType.REPORT,
                 TicketType.SUGGESTION)

_TABLE: tuple[tuple[TicketType, float, str, str], ...] = (
    # ---- complaint: someone wronged the caller; an unfair charge; a nuisance the caller suffers
    (C, _STRONG, "a party that wronged the caller", _near(_PARTY, _WRONG, 12)),
    (C, _STRONG, "indignation", "凭什么|不满意|这不是.{0,10}吗|还讲不讲理|像话吗"),
    (C, _STRONG, "no answer given", "也没个说法|没个说法|不给个说法|也没人告诉|不告诉.{0,4}为什么|不说为什么"),
    (C, _STRONG, "not solved", "一直没解决|也没解决|没有解决|一直不解决"),
    (C, _STRONG, "delayed on purpose", "拖着不|一直拖着|拖了.{0,4}(?:月|年|天)"),
    (C, _STRONG, "an excuse instead of a fix",
     _near(_PARTY, "说.{0,3}(?:过了保修|不归|不是他们|是正常|没办法|没钱)", 8)),
    (C, _STRONG, "no apology", "连个道歉|不道歉|也不道歉"),
    (C, _SITUATION, "denied", "不承认|死不认账|赖着不走|赖着"),
    (C, _SITUATION, "cut off on purpose", "断(?:我们|我家|了我们)的(?:水|电|气)"),
    (C, _SITUATION, "a mistake by the service", "弄错|搞错|给错|算错了"),
    (C, _SITUATION, "a fine the caller disputes", "罚款|说理|冤枉|根本没(?:偷|做|用)"),
    (C, _SITUATION, "public money wasted", "浪费|纯属"),
    (C, _SITUATION, "made to do it", "让(?:家长|我们|大家|每户|每个)|要求(?:家长|我们|每户)"),
    (C, _SITUATION, "noise the caller suffers",
     "噪音|太吵|吵得|吵死|扰民|睡不着|没法睡|音响开得|闹到|划拳|吵闹|吵醒|被吵"),
    (C, _SITUATION, "cheated", "坑人|欺负人|上当|被骗|受骗|一点效果|没效果"),
    (C, _SITUATION, "many are unhappy", "意见都很大|意见很大|都不同意"),
    (C, _SITUATION, "money withheld",
     "一分钱.{0,4}(?:不给|没给|没见)|一分没|一分都没|没工资|没有工资|只给了|就给了|扣.{0,6}(?:工资|钱|押金)"),
    (C, _SITUATION, "entitlement not paid", "还没发|没发下来|一直没发|迟迟不发|还没批|没批下来|批不下来"),
    (C, _SITUATION, "service refused or skipped", "不按点|不靠站|不停站|绕了|拒载|拒收|拒绝"),
    (C, _SITUATION, "treated unequally", "低了一大截|别的村.{0,4}都发了|不公平|不公正|有关系的|走后门|优亲厚友"),
    (C, _SITUATION, "someone must be stopped", "管一管|管管"),
    (C, _SITUATION, "paid and not served",
     _near("交了|花了|充了|收", "钱|块|元|费|千|万", 6) + _GAP % 20 + "(?:还|也|就|才|根本|说)"),
    (C, _SITUATION, "an unfair bill", _near("电费|水费|燃气费|话费", "突然|多了|翻倍|高", 4)
     + "|贵一倍|比别的地方贵|乱开|乱收|多收|抄错|算错|多算|多扣|不给开(?:小票|发票)"),
    (C, _SITUATION, "coerced", "非让|非要|硬让|逼着|强制|强迫|天天让|不换就|不买就|不交就"),
    (C, _SITUATION, "the cost pushed back on the caller", "让我们?自己|自己(?:掏钱|出钱|花钱)"),
    (C, _SITUATION, "a guarantee not kept", "不在三包|不给保修|不保修|不给退|不给修|不给换|说好的"),
    (C, _SITUATION, "short weight", "缺斤少两|短斤缺两|少给|以次充好|少了.{0,2}[两斤]"),
    (C, _SITUATION, "rude or spiteful staff", "给脸色|穿小鞋|跟我们吵|吵起来|骂人|骂我|骂上"),
    (C, _SITUATION, "left waiting", "干等|等了.{0,8}(?:也没|都没|没人)|也没.{0,3}(?:医生|人)来"),
    (C, _SITUATION, "encroached on", "被.{0,6}(?:占了|挡了|堵了|砸了|骗了|压坏|弄坏|推了|挖了)"),
    (C, _SITUATION, "promised and not done", "也没修好|没修好|一直没修|修了好几年|说了好几年|修了.{0,3}[年月]"),
    (C, _SITUATION, "the same failure again", f"(?:停了|停).{{0,2}}{_NUMBER}回|又停|三天两头|老是停|经常停"),
    (C, _SITUATION, "a loss to make good", "损失|赔偿|坏了一批"),
    (C, _MODERATE, "smell, smoke or dust",
     "臭气|臭得|又黑又臭|臭味|味道呛|呛得|[一有]股.{0,4}味|焦糊|熏得|油烟|震得|头疼|灰落|全是灰|落了一层|没法穿|"
     "不敢开窗|开不了窗"),
    (C, _MODERATE, "disbelief", "根本不可能|说不清楚"),
    (C, _MODERATE, "raised before", "反映了好几次|找了好几次|好几次了|多次反映|打了好几次|好几次都没用|几次都没用"),
    (C, _MODERATE, "nobody acts", "没人管|都没人管|也不管|都不管|根本不管|管不了|没人出来管|不来人|谁管"),
    (C, _MODERATE, "poor service",
     "不合理|太差|太贵|服务.{0,2}差|漫天要价|太明显了|太过分|没有.{0,2}医生|根本(?:请不了|做不到|没法)"),
    (C, _MODERATE, "does not match", "不一样|对不上|跟实际"),
    (C, _MODERATE, "attitude", "态度"),
    (C, _MODERATE, "something wrong with it", "有问题"),
    (C, _MODERATE, "the way blocked", "一路撒|撒漏|尘土飞扬|没法走|走不过去|开不出去|出不去|堵死|堵得|乱停|乱摆|乱堆|"
                                      "占满|天天堵|老是堵|经常堵|停在人行道|只能走到"),
    (C, _MODERATE, "overcrowded", "超载|挤得|座位.{0,4}不够|超员"),
    (C, _MODERATE, "not told", "不提前通知|不通知|一点通知也没有|连个通知都没有"),
    (C, _MODERATE, "a fix that did not work", "也没用|都没用|还是冷|还是不热"),
    # ---- help: something broken, out or missing; a person in trouble; a danger; a plea to act
    (H, _SITUATION, "a supply is out",
     "停水|停电|停气|没水|没电|没有天然气|没有暖气|断水|断电|跳闸|(?<![出自])来水|来电|上不去水|"
     "(?:水|电|气)[^，。]{0,6}没来|一滴水|不出水|打不着火|点不着|全.{0,2}黑|信号.{0,4}差|没信号"),
    (H, _SITUATION, "the supply is spoiled",
     "(?:自来水|水质|的水|这水|放出来).{0,8}(?:味|黄|浑|白沫|不能喝|不敢喝|不愿意喝)"),
    (H, _SITUATION, "a person in trouble", "走失|被困|瘫在|生病|困难户|拿不出钱|一个人过|一个人住|一个人在家|失火|"
                                           "烧没了|被.{0,8}欺负|不敢去|动手打人|咬伤|说话都不清楚|摔伤|没地方住|"
                                           "撑不了多久"),
    (H, _SITUATION, "asked to act",
     "帮(?:忙|我|他|她|着|一下)|想想办法|派人|派个|(?<![不没])来人|找人来|赶紧|快找|快来|修一修|修修|处理一下|"
     "来看看|过去看看|协调|联系一下|请政府"),
    (H, _SITUATION, "asked to act for someone", "能不能给(?:他|她|我)"),
    (H, _MODERATE, "something broken",
     "坏了|不亮|漏了|漏水|漏雨|渗水|爆了|堵了|塌了|怕塌|要塌|快塌|歪了|冰凉|还是凉|不热|温乎|倒灌|翘起来|冲塌|掉进|"
     "弄走了|垂到|不走了|水压.{0,4}低|电压.{0,4}(?:低|不稳)|坑坑洼洼|坑一个|积水|冒水|往外冒|往外流|哗哗|"
     "淹了|冻裂|倒在|滴水|掉了|露在外面|露着|丢了|丢在"),
    (H, _MODERATE, "a danger", "危险|不安全|安全隐患|出事|随时要倒|差点|摔了一跤|看不清|容易撞|撞上|砸到|触电|窜|冒火|"
                               "着火|爆炸|吓死|滑坡|塌方|山坡.{0,4}滑"),
    (H, _MODERATE, "asked when it comes back", "什么时候能(?:来|恢复|修)|能恢复"),
    (H, _HINT, "it has lasted", f"好几天|{_NUMBER}天(?:了|没)|一个礼拜|半个月|一个多月|个多小时|到现在也没|到现在还|"
                                "一上午|一晚上"),
    # ---- consultation: a question about a procedure, a rule, a fee, a place
    (Q, _STRONG, "asking", "请问|想问|问一下|问问|问下|打听|了解一下|想知道|想了解"),
    (Q, _STRONG, "what it takes", "要带什么|带什么|需要什么|要准备|准备什么|什么手续|什么材料|什么条件|哪些材料"),
    (Q, _STRONG, "which rule applies", "有什么.{0,4}政策|新政策|有没有(?:补贴|补助|优惠|政策|规定|我们)|合理吗|正常吗|"
                                       "合法吗|有规定吗|按规定|该不该|应不应该|是不是应该|要不要我们"),
    (Q, _SITUATION, "how it is done",
     "怎么办理|如何办理|怎么申请|如何申请|怎么交|怎么领|怎么补办|怎么成立|怎么算|怎么弄|是怎么|"
     "怎么(?:派|收|查|选|签|定|评|报|缴|操作)"),
    (Q, _SITUATION, "where it is done", "在哪里办|去哪里办|到哪里办|哪里能办|在哪办|去哪办|在哪里交|在哪里做|去哪里|"
                                        "找哪个|哪个|哪家|哪儿能|找谁"),
    (Q, _SITUATION, "whether it may be done", "能不能(?:申请|办|报名|报|减免|上门|在|选)|可以申请|是不是免费|是免费|"
                                              "要不要预约|提前预约|能不能约|还能约|需不需要|要不要|能不能补"),
    (Q, _SITUATION, "how much or how long",
     "交多少|退多少|补多少|到底.{0,2}多少|多少钱|能拿多少|能领多少|多长时间|多久|提前几天|要几天|"
     "什么时候(?:开始|交|拆)|(?:出来|涨|发|批|开始|定)了没有|属于哪个"),
    (Q, _HINT, "a question", "怎么办|吗[？?]?$|吗？"),
    (Q, _HINT, "is there", "有没有"),
    (Q, _HINT, "wants to apply", "想申请"),
    # ---- report: somebody else's unlawful act, in the public interest
    (R, _STRONG, "done in secret", "偷偷|半夜.{0,6}排|趁.{0,4}(?:晚上|夜里|没人)|白天.{0,6}看不见|倒完就走"),
    (R, _STRONG, "somebody doing harm",
     _near("有人|有个人|有户人家|有一户|有家|有个", "砍|挖|往.{0,4}倒|倒东西|烧|冒领|占用|开山|采石|盗|卖假", 12)),
    (R, _SITUATION, "an unlawful act", _UNLAWFUL),
    (R, _SITUATION, "no licence", "没有.{0,4}(?:证照|执照|营运证|许可证|资质|证)"),
    (R, _SITUATION, "a discharge", "往.{0,3}河里排|直接排|排到|往外排|直接通到|污水管|排污管|暗管"),
    (R, _SITUATION, "an unlawful structure", "搭棚|搭了个|私搭|乱搭|盖了个|加盖|乱建"),
    (R, _MODERATE, "nobody dares", "谁也不敢管|不敢管|没人敢管"),
    (R, _STRONG, "a rule broken by those who made it", "规定.{0,14}(?:可是|但是|却|结果)"),
    (R, _SITUATION, "a danger made by somebody", _near("有人|有户|有家|有个", "危险|出事|出了事|隐患", 20)),
    (R, _SITUATION, "a discharge from somewhere", "哪里排的|谁排的|排的|小厂子|晚上开工|夜里开工"),
    (R, _MODERATE, "seen with one's own eyes", "亲眼看见|我看见|看见好几回|看到好几次"),
    (R, _HINT, "somebody", "有人|有个|有家|有户|有一户|怀疑"),
    # ---- suggestion: an improvement to a public service
    (S, _STRONG, "an improvement wished for",
     _near("希望|能不能|能否|可不可以|最好|应该|是不是可以", "多|统一|出个", 4) + "|"
     + _near("希望|能不能|能否|可不可以|最好|应该|是不是可以",
             "增加|增设|开通|延长|提前|错开|换成|改成|规划|建个|修个|设个|加个|装个|安装|加装", 10)),
    (S, _STRONG, "if only", "要是能.{0,10}就好了|如果能.{0,10}就好了"),
    (S, _SITUATION, "more of a public service", "多(?:设|建|开|放|种|搞|修|安)几|增加一条|增设|再往前提|往前提几天|"
                                                 "改造一下|拓宽"),
)

# What the caller says the request is ("资讯" and "见意", as speech recognition writes 咨询 and
# 建议, are read as meant by asr/extract.py before this runs).
_SAID: tuple[tuple[TicketType, str], ...] = (
    (C, "投诉"),
    (R, "举报|检举|揭发"),
    (H, "求助|求救|救救|帮帮(?:我|他|她|忙)|求求你们|请政府帮|请你们帮"),
    (Q, "咨询"),
    (S, "建议|提个意见|提点意见|提意见"),
)

CUES: tuple[Cue, ...] = (
    tuple(Cue(kind, _EXPLICIT, "said", re.compile(pattern), explicit=True) for kind, pattern in _SAID)
    + tuple(Cue(kind, weight, situation, re.compile(pattern)) for kind, weight, situation, pattern in _TABLE)
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
    scores: Mapping[TicketType, float]  # every kind's total, for the desk and for tuning


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
