"""ASR test fixtures: the real Mandarin Vosk model (loaded once per session) and real Mandarin
speech from the neural voice (devtools/mandarin_speech.py).

The model is the one the project installs (`asr.model_install`, vosk-model-small-cn-0.22):
`scripts/test` installs it and exports its path as HOTLINE_TEST_MANDARIN_MODEL; without that
variable the fixture installs it itself (cached in ~/.cache/hotline/models).
Speech: each sentence rendered once by the neural voice as an 8 kHz phone-line WAV (cached
in ~/.cache/hotline/speech), converted to the rate a test asks for, with 0.3 s of silence
before and 1.2 s after it so Vosk ends the utterance there.
Registered for every test through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest

from asr.decoder import parse_result
from asr.live_calls import LiveCallTranscriber
from asr.models import LoadedModel, get_model
from asr.segments import CallTranscript
from asr.upsample import upsample
from asr.voice_activity import has_speech
from devtools.mandarin_speech import render as render_mandarin

__all__ = [
    "MANDARIN_SENTENCES",
    "AsrLanguage",
    "asr_language",
    "asr_model",
    "mandarin_model_path",
    "read_pcm",
    "reference_decode",
    "render_speech",
    "speech_renderer",
    "vosk_input",
]


@dataclass(frozen=True)
class AsrLanguage:
    model_path: Path
    sentences: tuple[str, ...]


#: What the tests' callers and agents say (indexes are used by the tests): a complaint, an
#: address, a phone number spoken digit by digit, a closing.
MANDARIN_SENTENCES = (
    "你好我要投诉小区噪音",
    "我住在兰山区银雀山街道",
    "我的电话是一三八一二三四五六七八",
    "请尽快处理谢谢",
)


def mandarin_model_path() -> Path:
    """The installed Mandarin model: scripts/test's, else installed (cached) right here."""
    explicit = os.environ.get("HOTLINE_TEST_MANDARIN_MODEL")
    if explicit:
        return Path(explicit)
    from asr.model_install import install_model

    return install_model()


def pick_language() -> AsrLanguage:
    return AsrLanguage(mandarin_model_path(), MANDARIN_SENTENCES)


@pytest.fixture(scope="session")
def asr_language() -> AsrLanguage:
    if shutil.which("sox") is None:
        pytest.fail("sox is required for the ASR tests (apt-get install sox)")
    return pick_language()


@pytest.fixture(scope="session")
def asr_model(asr_language: AsrLanguage, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The real model, loaded once for the whole session (3 s, ~500 MB).

    Without recognizer reuse: every stream decodes with a brand-new recognizer, so what our code
    gives is comparable word for word with `reference_decode` whatever ran before in the session
    (a reused recognizer can differ in a borderline word: asr/recognizers.py). Reuse itself is
    tested in test_asr_warm.py with `dataclasses.replace(asr_model, reuse_recognizers=True)`.
    """
    return get_model(asr_language.model_path, deterministic=True,
                     overlay_dir=tmp_path_factory.mktemp("asr-overlay"), reuse_recognizers=False)


def render_speech(directory: Path, sentences: tuple[str, ...] | list[str], *,
                  rate: int = 16000, name: str = "speech") -> Path:
    """Mandarin speech of `sentences`, one after the other, as 16-bit mono `rate` Hz WAV.

    Each sentence is the neural voice's phone-line rendering (8 kHz), padded with 0.3 s of
    silence before and 1.2 s after, converted to `rate` by sox.
    """
    directory.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    for i, source in enumerate(render_mandarin(list(sentences))):
        part = directory / f"{name}-{i}.wav"
        subprocess.run(["sox", str(source), "-r", str(rate), "-c", "1", "-b", "16", str(part),
                        "pad", "0.3", "1.2"], check=True)
        parts.append(str(part))
    out = directory / f"{name}.wav"
    subprocess.run(["sox", *parts, str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def speech_renderer(tmp_path_factory: pytest.TempPathFactory, asr_language: AsrLanguage):
    """render(sentence indexes, rate) -> WAV path; results are cached for the session."""
    base = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[tuple[int, ...], int], Path] = {}

    def render(indexes: tuple[int, ...], rate: int = 16000) -> Path:
        key = (indexes, rate)
        if key not in cache:
            name = "s" + "_".join(map(str, indexes)) + f"-{rate}"
            cache[key] = render_speech(base / name, [asr_language.sentences[i] for i in indexes],
                                       rate=rate, name=name)
        return cache[key]

    return render


def read_pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def vosk_input(model: LoadedModel, pcm: bytes, rate: int, chunk_bytes: int) -> tuple[bytes, int, int]:
    """The audio, rate and chunk size the recognizer is given for a stream of `pcm` at `rate`:
    phone audio for a 16 kHz model is upsampled first (asr/upsample.py), as the decoder does."""
    decode_rate = model.decode_rate(rate)
    if decode_rate == rate:
        return pcm, rate, chunk_bytes
    factor = decode_rate // rate
    return upsample(pcm), decode_rate, chunk_bytes * factor


def reference_decode(model: LoadedModel, pcm: bytes, rate: int, chunk_bytes: int) -> list[str]:
    """What Vosk itself gives for the audio: a plain KaldiRecognizer loop, none of our decoding.

    Each result is cleaned as every transcript is (`asr.decoder.parse_result`: no `[unk]`, no
    noise-only segment, no spaces between Chinese words; `asr.voice_activity`: no segment over
    silent audio), so it compares with our texts.
    """
    import vosk

    stream, stream_rate = pcm, rate
    pcm, rate, chunk_bytes = vosk_input(model, pcm, rate, chunk_bytes)
    recognizer = vosk.KaldiRecognizer(model.model, rate)
    recognizer.SetWords(True)
    payloads: list[str] = []
    for i in range(0, len(pcm), chunk_bytes):
        if recognizer.AcceptWaveform(pcm[i:i + chunk_bytes]):
            payloads.append(recognizer.Result())
    payloads.append(recognizer.FinalResult())
    results = (parse_result(payload, 0.0) for payload in payloads)
    return [result.text for result in results if result is not None
            and (not result.words or has_speech(stream, stream_rate, result.start, result.end))]


class Listening(LiveCallTranscriber):
    """The real consumer, telling the test when a call's complete transcript is stored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.completed: asyncio.Queue[CallTranscript] = asyncio.Queue()
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def transcript_complete(self, transcript: CallTranscript) -> None:
        self.completed.put_nowait(transcript)
