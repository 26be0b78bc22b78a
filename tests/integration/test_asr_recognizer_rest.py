"""Recognizers are retired so memory follows load back to rest (issue 14).

A reused recognizer keeps the decoding graph its speech made it build (~80 MB after a few
seconds of speech on the Korean model), so the cache drops one that went over its audio budget,
and the keeper replaces one that decoded speech and then rested with a fresh warm one, handing the
freed heap back. The last test measures it in a clean child process: resident memory after speech
and rest is back near where the fresh warm recognizers left it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time

from asr.decoder import decode_pcm
from asr.models import AUDIO_BUDGET_SECONDS
from asr.recognizers import cache_for
from tests.asr_fixtures import read_pcm

#: The rate the recognizers of 8 kHz phone streams run at: the 16 kHz Mandarin model's own
#: (the decoder upsamples, asr/upsample.py).
RATE = 16000


def reusing_cache(asr_model):
    cache = cache_for(dataclasses.replace(asr_model, reuse_recognizers=True))
    cache.clear()
    assert cache.model.decode_rate(8000) == RATE
    return cache


def test_a_recognizer_over_its_audio_budget_is_not_kept(asr_model, speech_renderer):
    pcm, _ = read_pcm(speech_renderer((0,), 8000))
    cache = reusing_cache(asr_model)
    retired = cache.retired
    try:
        cache.audio_budget_seconds = 1.0 + len(pcm) / 16000 + 1.0  # warm-up + this speech fits once
        decode_pcm(cache.model, pcm, 8000, 1600)
        assert cache.idle(RATE) == 1 and cache.idle_used(RATE) == 1
        decode_pcm(cache.model, pcm, 8000, 1600)  # the same recognizer: now over its budget
        assert cache.idle(RATE) == 0 and cache.retired == retired + 1
        assert cache.trim() and not cache.trim()  # the heap is trimmed once per retirement
    finally:
        cache.audio_budget_seconds = AUDIO_BUDGET_SECONDS
        cache.clear()


def test_rested_recognizers_that_decoded_speech_are_retired_and_surplus_ones_too(asr_model, speech_renderer):
    pcm, _ = read_pcm(speech_renderer((0,), 8000))
    cache = reusing_cache(asr_model)
    try:
        cache.prewarm(RATE, 3)
        decode_pcm(cache.model, pcm, 8000, 1600)  # takes the most recently warmed one
        assert (cache.idle(RATE), cache.idle_used(RATE)) == (3, 1)
        now = time.monotonic()
        assert cache.retire_idle(rest_seconds=60, keep=3, now=now) == 0  # nobody rested yet
        assert cache.retire_idle(rest_seconds=60, keep=3, now=now + 61) == 1  # the used one
        assert (cache.idle(RATE), cache.idle_used(RATE)) == (2, 0)
        assert cache.retire_idle(rest_seconds=60, keep=1, now=now + 61) == 1  # one surplus fresh one
        assert cache.idle(RATE) == 1
        assert cache.retire_idle(rest_seconds=60, keep=1, now=now + 61) == 0  # fresh, within keep
    finally:
        cache.clear()


def test_the_keeper_replaces_rested_recognizers_with_fresh_warm_ones(asr_model, speech_renderer):
    pcm, _ = read_pcm(speech_renderer((0,), 8000))
    cache = reusing_cache(asr_model)
    thread, stop = cache.start_keeper(RATE, 2, rest_seconds=0.5)
    try:
        deadline = time.monotonic() + 60
        while cache.idle(RATE) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        decode_pcm(cache.model, pcm, 8000, 1600)
        retired = cache.retired
        assert cache.idle_used(RATE) == 1
        while (cache.idle_used(RATE) or cache.idle(RATE) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (cache.idle(RATE), cache.idle_used(RATE)) == (2, 0)
        assert cache.retired > retired
    finally:
        stop.set()
        thread.join(10)
        cache.clear()
    assert not thread.is_alive()


CHILD = textwrap.dedent("""
    import json, sys, threading, time, wave
    from pathlib import Path
    from asr.models import BYTES_PER_SAMPLE, get_model
    from asr.recognizers import cache_for

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    model_path, overlay, speech = sys.argv[1:4]
    with wave.open(speech, "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    cache = cache_for(get_model(Path(model_path), overlay_dir=Path(overlay)))
    warms = [cache.take(16000) for _ in range(2)]
    for warm in warms:
        cache.give_back(warm)
    rest = rss_mb()
    warms = [cache.take(16000) for _ in range(2)]
    for n, warm in enumerate(warms):
        shift = n * 7919 * BYTES_PER_SAMPLE % len(pcm)
        audio = pcm[shift:] + pcm[:shift]
        for i in range(0, len(audio), 3200):
            if warm.accept(audio[i:i + 3200]):
                warm.recognizer.Result()
        warm.final_result()
        cache.give_back(warm)
    del warms, warm  # the cache holds the only references, as after a call
    busy = rss_mb()
    stop = threading.Event()
    thread = threading.Thread(target=cache.keep, args=(16000, 2, 0.2, stop, 0.1))
    thread.start()
    deadline = time.monotonic() + 60
    while (cache.idle_used(16000) or cache.idle(16000) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join()
    print(json.dumps({"rest": rest, "busy": busy, "after": rss_mb(), "used": cache.idle_used(16000)}))
""")


def test_memory_returns_to_its_resting_size_after_speech(asr_language, speech_renderer, tmp_path):
    """In a clean process: 2 warm recognizers (rest), speech on each (busy), then
    the keeper at rest: resident memory is back within 10 % of the model-plus-fresh-recognizers."""
    speech = speech_renderer((0, 1), 16000)
    out = subprocess.run([sys.executable, "-c", CHILD, str(asr_language.model_path), str(tmp_path / "overlay"),
                          str(speech)], capture_output=True, text=True, timeout=300, check=True)
    memory = json.loads(out.stdout.strip().splitlines()[-1])
    assert memory["used"] == 0
    assert memory["busy"] > memory["rest"] + 60, memory  # the speech did grow the graphs
    assert memory["after"] <= memory["rest"] * 1.10, memory
