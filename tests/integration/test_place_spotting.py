"""The place-spotting pass hears districts that the free decode writes as other words.

Each request is rendered by the neural Mandarin voice (devtools/mandarin_speech.py, cached),
decoded once as a live call is (asr.wav_decode) and once by the spotting pass
(asr.place_spotting) on the installed vosk-model-small-cn-0.22 at 8 kHz. The requests are
labelled intake requests (tests/data/intake_requests.yaml: urban-11, market-06, health-05)
whose district the free decode garbles (明白县城 for 沂南县城, 便与县城 for 平邑县城, 下锅去 for
罗庄区), and one naming no place (urban-07) in which the pass hears 蒙阴县 in 音响, unsurely.
"""

from __future__ import annotations

import pytest

from asr.extract import extract_ticket_draft, load_gazetteer
from asr.model_install import install_model
from asr.models import get_model
from asr.place_grammar import PlaceGrammar
from asr.place_spotting import spot_places
from asr.wav_decode import read_wav, transcribe_pcm
from devtools.mandarin_speech import render

REQUESTS = [
    ("沂南县城有人在人行道上搭了个棚子卖东西，已经好几个月了，占了大半个人行道。", "沂南县"),
    ("平邑县城农贸市场那个卖肉的秤有问题，我买了二斤肉回家一称才一斤六两，缺斤少两也太明显了。", "平邑县"),
    ("我想问下罗庄区哪里能办出生医学证明，孩子是在外地生的。", "罗庄区"),
    ("小区旁边广场上每天晚上跳广场舞，音响开得特别大，一直跳到十点多，孩子作业都写不了。", None),
]


@pytest.mark.cpu_bound  # decoding speech: CPU, never timed (tests/scheduling.py)
@pytest.mark.decodes_speech
@pytest.mark.timeout(1800)  # the first run may build the speech environment
def test_the_spotting_pass_gives_the_draft_the_district_the_words_lost(tmp_path) -> None:
    gazetteer = load_gazetteer()
    grammar = PlaceGrammar.of(gazetteer)
    model = get_model(install_model(), overlay_dir=tmp_path / "overlay")
    for (text, district), path in zip(REQUESTS, render([t for t, _ in REQUESTS]), strict=True):
        audio = read_wav(path)
        heard = " ".join(r.text for r in transcribe_pcm(model, audio.channels[0], audio.sample_rate, 100))
        spotted = spot_places(model, audio.channels[0], audio.sample_rate, grammar)
        draft = extract_ticket_draft(heard, gazetteer, spotted=spotted)
        print(f"\n{text}\n  heard: {heard}\n  spotted: {[s.form for s in spotted]}")
        assert (draft.district.value if draft.district else None) == district, heard
