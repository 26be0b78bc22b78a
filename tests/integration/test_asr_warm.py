"""Warm recognizers reused across streams give exactly what a fresh recognizer gives.

`asr.recognizers` reuses finalized Kaldi recognizers (their first decode costs ~1 s of CPU);
Vosk keeps counting time from a recognizer's creation, which the decoder subtracts. The
reference here is a fresh `KaldiRecognizer` with words, no code of ours.
"""

from __future__ import annotations

import itertools
import json

import pytest

from asr.decoder import Decoder, decode_pcm
from asr.recognizers import cache_for
from tests.asr_fixtures import read_pcm


def fresh_decode(model, pcm: bytes, rate: int, chunk: int) -> list[tuple[str, float, float]]:
    import vosk

    recognizer = vosk.KaldiRecognizer(model.model, rate)
    recognizer.SetWords(True)
    payloads = []
    for i in range(0, len(pcm), chunk):
        if recognizer.AcceptWaveform(pcm[i:i + chunk]):
            payloads.append(recognizer.Result())
    payloads.append(recognizer.FinalResult())
    out = []
    for payload in payloads:
        data = json.loads(payload)
        if data.get("text", "").strip():
            out.append((data["text"], data["result"][0]["start"], data["result"][-1]["end"]))
    return out


@pytest.mark.parametrize("rate", [8000, 16000])
def test_reused_recognizers_give_the_words_and_times_of_a_fresh_one(asr_model, speech_renderer, rate):
    pcm, _ = read_pcm(speech_renderer((0, 1), rate))
    chunk = rate * 2 // 10
    expected = fresh_decode(asr_model, pcm, rate, chunk)
    cache = cache_for(asr_model)
    for start_pos in (0, 0, rate * 2 * 3):  # the second and third decodes reuse a recognizer
        got = [(r.text, r.start, r.end) for r in decode_pcm(asr_model, pcm, rate, chunk, start_pos=start_pos)]
        shift = start_pos / (rate * 2)
        assert [g[0] for g in got] == [e[0] for e in expected]
        for (_, start, end), (_, e_start, e_end) in zip(got, expected, strict=True):
            assert start == pytest.approx(e_start + shift, abs=1e-3)
            assert end == pytest.approx(e_end + shift, abs=1e-3)
    assert cache.reused >= 2


def test_recycled_round_keeps_the_time_line(asr_model, speech_renderer):
    """A round restarted at an utterance end continues the stream's clock."""
    pcm, _ = read_pcm(speech_renderer((0, 1), 16000))
    chunk = 3200
    decoder = Decoder(asr_model, 16000)
    results = []
    for i in range(0, len(pcm), chunk):
        result = decoder.accept(pcm[i:i + chunk])
        if result is not False:
            if result is not None:
                results.append(result)
            decoder.recycle()
    final = decoder.finish()
    decoder.release()
    if final is not None:
        results.append(final)
    expected = fresh_decode(asr_model, pcm, 16000, chunk)
    assert len(results) == len(expected)
    assert results[0].start == pytest.approx(expected[0][1], abs=1e-3)
    assert all(a.end <= b.start for a, b in itertools.pairwise(results))
