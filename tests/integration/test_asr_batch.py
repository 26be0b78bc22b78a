"""Post-call transcription of recordings and bulk re-transcription, with the real model."""

from __future__ import annotations

import json
import subprocess
import wave

import pytest

from asr.batch import PostCallQueue, main, retranscribe_files, transcribe_recording
from asr.segments import Speaker
from asr.wav_decode import read_wav
from kernel.errors import InvalidInput
from tests.asr_fixtures import read_pcm, reference_decode


async def test_8khz_recording_is_transcribed_as_vosk_decodes_it(asr_model, speech_renderer):
    path = speech_renderer((0, 1), rate=8000)
    pcm, rate = read_pcm(path)
    assert rate == 8000
    post_call = PostCallQueue(asr_model, chunk_ms=100)
    try:
        transcript = await post_call.transcribe_recording(path, "C-20")
    finally:
        post_call.close()
    assert [s.text for s in transcript.segments] == reference_decode(asr_model, pcm, 8000, 1600)
    assert all(s.speaker is Speaker.CALLER and not s.live and s.final for s in transcript.segments)


def test_stereo_recording_gives_one_speaker_per_channel(asr_model, speech_renderer, tmp_path):
    left, right = speech_renderer((0,)), speech_renderer((2,))
    stereo = tmp_path / "call.wav"
    subprocess.run(["sox", "-M", str(left), str(right), str(stereo)], check=True)
    transcript = transcribe_recording(asr_model, stereo, "C-21", (Speaker.CALLER, Speaker.AGENT))
    assert transcript.text(Speaker.CALLER) == " ".join(reference_decode(asr_model, read_pcm(left)[0], 16000, 3200))
    assert transcript.text(Speaker.AGENT) == " ".join(reference_decode(asr_model, read_pcm(right)[0], 16000, 3200))


def test_retranscribe_cli_prints_one_json_line_per_file(asr_model, asr_language, speech_renderer, capsys, tmp_path):
    files = [speech_renderer((1,)), speech_renderer((3,), rate=8000)]
    code = main(["--model", str(asr_language.model_path), *map(str, files)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"] for line in lines] == [str(f) for f in files]
    direct = retranscribe_files(files, asr_language.model_path)
    assert [line["text"] for line in lines] == [t.text for t in direct]
    assert all(line["text"] and line["model"] == asr_model.name for line in lines)


def test_retranscribe_cli_reports_a_missing_model(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope"), str(tmp_path / "a.wav")]) == 2
    assert "asr.model_path" in capsys.readouterr().err


def test_non_pcm_input_is_rejected(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(InvalidInput):
        read_wav(bad)
    eight_bit = tmp_path / "u8.wav"
    with wave.open(str(eight_bit), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(1), wav.setframerate(8000)
        wav.writeframes(b"\x80" * 800)
    with pytest.raises(InvalidInput):
        read_wav(eight_bit)
