"""Post-call decoding in a child process (asr/decode_process.py), with the real model.

The child must give exactly the words the backend's own threads give for the same spool (same
model directory, same chunking), leave when idle and come back on the next spool, and die at a
stop with the spool left on disk for the next process.
"""

from __future__ import annotations

import asyncio

import pytest

from asr.batch import PostCallQueue, PostCallStopped
from asr.decode_process import DecodeProcess
from tests.asr_fixtures import read_pcm, reference_decode


async def test_spool_decoded_in_the_child_gives_the_backend_models_words(asr_model, speech_renderer):
    path = speech_renderer((0, 1))
    pcm, rate = read_pcm(path)
    in_child = PostCallQueue(asr_model, chunk_ms=100, process=DecodeProcess(asr_model, chunk_ms=100))
    try:
        child = await in_child.transcribe_spool(path, start_pos=3200, delete=False)
        assert in_child.process is not None and in_child.process.pid is not None
    finally:
        in_child.close()
    # What a fresh recognizer of the backend's own model gives for the same audio and chunking.
    assert [r.text for r in child] == reference_decode(asr_model, pcm, rate, 3200)
    assert child[0].words[0].start >= 3200 / (2 * rate)  # times offset by start_pos
    assert path.exists()
    assert in_child.process.pid is None  # close() killed it


async def test_idle_child_leaves_and_the_next_spool_starts_a_new_one(asr_model, speech_renderer):
    path = speech_renderer((2,))
    process = DecodeProcess(asr_model, chunk_ms=100, idle_seconds=0.5)
    post_call = PostCallQueue(asr_model, chunk_ms=100, process=process)
    try:
        first = await post_call.transcribe_spool(path, delete=False)
        pid = process.pid
        assert pid is not None
        while process.pid is not None:  # gives its memory back when it has nothing to do
            await asyncio.sleep(0.1)
        second = await post_call.transcribe_spool(path, delete=False)
    finally:
        post_call.close()
    assert [r.text for r in first] == [r.text for r in second] and first
    assert process.starts == 2


async def test_stop_kills_the_child_and_leaves_the_spool(asr_model, speech_renderer):
    path = speech_renderer((0, 1, 2, 3))
    process = DecodeProcess(asr_model, chunk_ms=100)
    post_call = PostCallQueue(asr_model, chunk_ms=100, process=process)
    try:
        await post_call.transcribe_spool(path, delete=False)  # the child is up and warm
        running = asyncio.create_task(post_call.transcribe_spool(path, delete=True))
        while post_call.pending == 0:
            await asyncio.sleep(0)
        post_call.stop()
        with pytest.raises(PostCallStopped):
            await running
        with pytest.raises(PostCallStopped):
            await post_call.transcribe_spool(path)
    finally:
        post_call.close()
    assert path.exists()
    assert process.pid is None
