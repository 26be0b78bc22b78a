"""An address is an address: a road, compound or building a unit can go to (asr/address.py).

The negative cases are what the Mandarin recogniser wrote for neural phone-band speech of the
intake requests (bench/bench_intake.py --audio), which the previous rule offered as addresses.
"""

from __future__ import annotations

import pytest

from asr.address import find_address
from asr.extract import normalize_transcript


@pytest.mark.parametrize(("said", "address"), [
    ("我住在解放路十二号锦绣家园三号楼二单元", "解放路12号锦绣家园3号楼2单元"),
    ("我 住在 解放路 十二号 锦绣 加盐 三号 楼 二 单元", "解放路12号"),  # as decoded: 家园 -> 加盐
    ("我家在通达路上楼下烧烤店太吵了", "通达路"),
    ("住在人民大街那个井盖没了", "人民大街"),
    ("我们家住在兰山区金雀山路八号院二号楼", "金雀山路8号"),  # the district is not part of the road
    ("我住在八一路三号", "八一路3号"),  # a road's name keeps its words
    ("建设一路五号", "建设一路5号"),
    ("我们小区三号楼电梯坏了", "3号楼"),  # a building, even without the compound's name
    ("我要投诉阳光小区噪音", "阳光小区"),  # the request's verb is no part of the name
    ("我住在兰山区银雀山街道幸福路八号", "幸福路8号"),
])
def test_roads_compounds_and_buildings_are_addresses(said, address):
    found = find_address(normalize_transcript(said))
    assert found is not None and found.value == address


@pytest.mark.parametrize("said", [
    "刚才 一辆 大货车 从 路上 开 过去 吧 我 家 窗户 见得 想",  # a lorry went by: no road named
    "俩 渣土车 刚 从 我们村 路上 过去 三 的 一 路途",
    "却 一 路 开 过去 路边 的 手 都 捧 撰文",  # 一路: all the way
    "我们 小区 门口 天天 有 大车 过去 尘土 飞扬",  # 我们小区 names no compound
    "我 从 零售 做 长途 汽车 寝室 里 刺激 半路 又 那个 好多 人",  # 半路: halfway
    "建议 在 和 东西 凤凰 令 接到 增加 一条 公交 线路",  # a bus line
    "能不能 请 政府 帮着 找找 销路",  # a market for the peaches
    "文明 县城 往 车站 去 的 那段 公路 修 了 快 一年 了",
    "现在 老 小区 加装 电梯",
    "想 问一下 在 小区 自己 的 车位 上 个 充电桩",
    "合同 上 写 的 二零二四年 十二月 三十一号 交房",  # a date
    "渣土车 晚上 挖土 一 三 第二天 路上 全是 泥",
    "裸妆 那边 的 十字路口 的 红绿灯 坏 了",
    "你好 我 要 投诉 小区 噪音",  # 投诉小区: a verb and a word, no compound named
    "我 住在 兰山区 银雀山 街道",  # 街道 is a subdistrict, not a street
])
def test_words_that_only_end_like_an_address_are_not_one(said):
    assert find_address(normalize_transcript(said)) is None
