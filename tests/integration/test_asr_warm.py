"""Warm recognizers reused across streams: the words of a recognizer with the same history,
on the stream's own clock.

`asr.recognizers` reuses finalized Kaldi recognizers (their first speech costs about twice the
CPU). A reused recognizer is not bit-exact with a brand-new one (its lazily built graph numbers
states in the order earlier audio met them, and pruning follows that order), so the reference
here is a plain `KaldiRecognizer` given the same history as the one under test: the same warm-up,
then the audio. Vosk keeps counting time from a recognizer's creation, which the decoder subtracts.
"""

from __future__ import annotations

import dataclasses
import itertools
import wave

import pytest

from asr.decoder import Decoder, decode_pcm, parse_result
from asr.recognizers import WarmRecognizer, cache_for, warm_up_recognizer
from asr.voice_activity import has_speech
from asr.warm_up_audio import WarmUpAudio, WarmUpAudioError, load_warm_up_audio, warm_up_audio_or_none
from tests.asr_fixtures import read_pcm, vosk_input


def fresh_decode(model, pcm: bytes, rate: int, chunk: int, *, warmed: bool = False,
                 speech: WarmUpAudio | None = None) -> list[tuple[str, float, float]]:
    """Plain Vosk over `pcm` (after our warm-up, with `speech` if given, when `warmed`); times
    from the audio's start."""
    import vosk

    stream, stream_rate = pcm, rate
    pcm, rate, chunk = vosk_input(model, pcm, rate, chunk)
    recognizer = vosk.KaldiRecognizer(model.model, rate)
    recognizer.SetWords(True)
    shift = 0.0
    if warmed:
        warm = WarmRecognizer(recognizer, rate)
        warm_up_recognizer(warm, speech)
        shift = warm.consumed_seconds
    payloads = []
    for i in range(0, len(pcm), chunk):
        if recognizer.AcceptWaveform(pcm[i:i + chunk]):
            payloads.append(recognizer.Result())
    payloads.append(recognizer.FinalResult())
    # Cleaned as every transcript is (asr.decoder.parse_result), times from the audio's start.
    results = (parse_result(payload, -shift) for payload in payloads)
    return [(r.text, r.start, r.end) for r in results
            if r is not None and has_speech(stream, stream_rate, r.start, r.end)]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_reused_recognizers_give_the_words_and_times_of_the_same_history(asr_model, speech_renderer, rate):
    pcm, _ = read_pcm(speech_renderer((0, 1), rate))
    chunk = rate * 2 // 10
    reusing = dataclasses.replace(asr_model, reuse_recognizers=True)
    cache = cache_for(reusing)
    cache.clear()  # other tests' recognizers have other histories; this one's is ours alone
    created, reused = cache.created, cache.reused
    expected = fresh_decode(asr_model, pcm, rate, chunk, warmed=True)
    # The first decode takes a new recognizer (history: the warm-up); the second and third
    # reuse it (history: the warm-up and this audio), which must not change a word or a time.
    for start_pos in (0, 0, rate * 2 * 3):
        got = [(r.text, r.start, r.end) for r in decode_pcm(reusing, pcm, rate, chunk, start_pos=start_pos)]
        shift = start_pos / (rate * 2)
        assert [g[0] for g in got] == [e[0] for e in expected]
        for (_, start, end), (_, e_start, e_end) in zip(got, expected, strict=True):
            assert start == pytest.approx(e_start + shift, abs=1e-3)
            assert end == pytest.approx(e_end + shift, abs=1e-3)
    assert (cache.created - created, cache.reused - reused) == (1, 2)


def test_without_reuse_every_stream_is_a_plain_vosk_run(asr_model, speech_renderer):
    """`reuse_recognizers = false`: a brand-new, unwarmed recognizer per stream, nothing kept."""
    pcm, _ = read_pcm(speech_renderer((0, 1), 8000))
    cache = cache_for(asr_model)
    rate = asr_model.decode_rate(8000)  # what the recognizers of an 8 kHz stream run at
    assert not asr_model.reuse_recognizers and cache.idle(rate) == 0
    expected = fresh_decode(asr_model, pcm, 8000, 1600)
    for _ in range(2):
        got = [(r.text, r.start, r.end) for r in decode_pcm(asr_model, pcm, 8000, 1600)]
        assert [g[0] for g in got] == [e[0] for e in expected]
        assert [t for g in got for t in g[1:]] == pytest.approx([t for e in expected for t in e[1:]], abs=1e-3)
    assert cache.idle(rate) == 0 and cache.reused == 0
    cache.prewarm(rate, 3)  # a no-op without reuse
    assert cache.idle(rate) == 0


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


def test_recognizers_warmed_on_speech_keep_the_words_and_the_stream_clock(asr_model, speech_renderer):
    """`asr.warm_up_audio`: new recognizers decode that speech first (8 kHz file, upsampled for
    the 16 kHz model); a stream decoded after it gives the words and times of a plain Vosk
    recognizer with the same history, on the stream's own clock."""
    speech = load_warm_up_audio(speech_renderer((3,), 8000))
    pcm, _ = read_pcm(speech_renderer((0, 1), 8000))
    reusing = dataclasses.replace(asr_model, reuse_recognizers=True)
    cache = cache_for(reusing)
    cache.clear()
    cache.warm_up_speech = speech
    rate = reusing.decode_rate(8000)
    try:
        # Taken from an empty cache, a stream waits for its recognizer: the cheap warm-up.
        cold = cache.take(rate)
        assert cold.warmed < len(speech.pcm), "a stream never waits for seconds of warm-up speech"
        cache.prewarm(rate, 1)  # what the keeper prepares in the background: warmed on the speech
        expected = fresh_decode(asr_model, pcm, 8000, 1600, warmed=True, speech=speech)
        got = [(r.text, r.start, r.end) for r in decode_pcm(reusing, pcm, 8000, 1600)]
        assert got and [g[0] for g in got] == [e[0] for e in expected]
        assert [t for g in got for t in g[1:]] == pytest.approx([t for e in expected for t in e[1:]], abs=1e-3)
        warm = cache.take(rate)
        assert warm.warmed >= len(speech.pcm) * 2, "the warm-up is the speech (at 16 kHz), not a second of noise"
        cache.give_back(warm)
    finally:
        cache.warm_up_speech = None
        cache.clear()


def test_an_unusable_warm_up_file_is_reported_and_noise_is_used(tmp_path, caplog):
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(3200))
    with pytest.raises(WarmUpAudioError) as raised:
        load_warm_up_audio(stereo)
    assert raised.value.key == "asr.warm_up_audio" and "mono" in str(raised.value)
    with pytest.raises(WarmUpAudioError, match="cannot read it as WAV"):
        load_warm_up_audio(tmp_path / "missing.wav")
    assert warm_up_audio_or_none(stereo) is None
    assert "asr warm-up audio unusable" in caplog.text
