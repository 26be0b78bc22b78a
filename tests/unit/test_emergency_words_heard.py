"""Emergency words are heard in what the recogniser wrote (abuse/policy.py `is_emergency`).

The heard strings are what vosk-model-small-cn-0.22 wrote for neural phone-band speech of
callers reporting a gas leak, a fire, an injury or someone fallen: words separated by spaces,
and some emergency words written as other words of the same sound. Before issue 21 the default
configuration flagged 7 of these 16 calls from speech (10 from their written text).
"""

from __future__ import annotations

import pytest

from abuse.policy_file import load_abuse_policy
from kernel.sound_alike import heard_as


@pytest.fixture(scope="module")
def policy():
    return load_abuse_policy()


@pytest.mark.parametrize("heard", [
    "我 家 厨房 燃气 泄漏 名 满 屋子 都是 没 为 怎么 办",  # spaces between the words
    "我 家 煤气 泄漏 人 我 不敢 开灯",
    "闻到 一股 没 气味 好像 是 那里 漏气 了",  # 煤气味 written 没气味
    "楼道 里 古人 气味 好像 燃气 管道 人",  # 燃气味 written 人气味
    "液化气罐 漏气 人 屋里 全 是 为",
    "楼下 蒜片 着火 能 冒 了 好多 黑 烟",
    "工地 上 有 个 公园 受伤了 流 了 很多 血",
    "我们 小区 门口 有 个 老人 摔倒 问 起 不 来 问",  # someone fallen
    "我爸 突然 晕倒 人 叫 不醒",
    "有人 在 路边 晕倒 了 没 人 管",
])
def test_emergencies_are_heard_in_what_the_recogniser_wrote(policy, heard):
    assert policy.is_emergency(heard)


@pytest.mark.parametrize("heard", [
    "小孩 大人 都 来 了",  # 大人 is 打人 but for the tone
    "我们 是 保利 小区 的",  # 保利 ~ 暴力
    "路灯 坏 了 好几 天 了",
    "燃气 表 显示 还有 钱 想 问问 怎么 交费",
])
def test_everyday_words_are_no_emergency(policy, heard):
    assert not policy.is_emergency(heard)


def test_a_long_word_may_be_heard_nearly_a_short_one_only_exactly():
    assert heard_as("没气味", ["煤气味"]) == "煤气味"  # mei2 qi4 wei4: the same sounds
    assert heard_as("人气味", ["燃气味"]) == "燃气味"  # ren ~ ran
    assert heard_as("起和", ["起火"]) is None  # two syllables: the very same only
    assert heard_as("着火", ["着火"]) == "着火"
