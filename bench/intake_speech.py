"""The labelled intake requests as Mandarin phone calls: rendered, decoded, their districts spotted.

For `bench/bench_intake.py --audio`. Each request's text is spoken by the neural Mandarin voice
(`devtools.mandarin_speech.render`: 8 kHz, 300-3400 Hz, cached) and decoded the way a live call
is (`asr.wav_decode.transcribe_pcm` on the installed vosk-model-small-cn-0.22 with the default
`[asr]` settings at 8 kHz, a brand-new recognizer per call so the figures do not depend on the
order), and the place-spotting pass of a hang-up runs on the same audio
(`asr.place_spotting.spot_places`). Decoding ~400 requests takes ~20 minutes of CPU the first
time; the results are cached under `$HOTLINE_CACHE/bench-intake-speech/`, keyed by the audio,
the model and the decode settings, so later runs only read them (`--redecode` to decode again).

The caller's words are read as the draft will read them once transcripts are cleaned (issue 21
item 4): Vosk's "[unk]" removed, utterances joined by a space.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asr.extract import Gazetteer
from asr.gazetteer import load_gazetteer
from asr.model_install import install_model
from asr.models import AsrSettings, model_from_settings
from asr.place_grammar import PlaceGrammar, SpottedPlace
from asr.place_spotting import spotted_words
from asr.wav_decode import read_wav, transcribe_pcm
from devtools.mandarin_speech import DEFAULT_VOICE, render_with_report
from kernel.cache import cache_dir

SAMPLE_RATE = 8000


@dataclass(frozen=True)
class HeardCall:
    """One request as the live pipeline heard it."""

    text: str  # what the caller said (the labelled text)
    heard: str  # the caller's words as decoded, "[unk]" removed
    spotted_words: list[tuple[str, float]]  # what the place-spotting pass wrote, with confidences
    seconds: float  # length of the audio


def clean(segments: list[str]) -> str:
    """Vosk's "[unk]" out, utterances joined by a space (the minimal cleaning of item 4)."""
    return " ".join(" ".join(w for w in s.split() if w != "[unk]") for s in segments).strip()


def _cache_file(*key: object) -> Path:
    digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:24]
    return cache_dir() / "bench-intake-speech" / f"{digest}.json"


def _load(path: Path, redecode: bool) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() and not redecode else {}


def hear(texts: list[str], *, redecode: bool = False) -> list[HeardCall]:
    """Every text as the live pipeline hears it (rendering and decoding what is not cached)."""
    model_dir = install_model()
    settings = AsrSettings(model_path=model_dir, sample_rate=SAMPLE_RATE, reuse_recognizers=False,
                           overlay_dir=cache_dir() / "bench-intake-speech" / "overlay")
    grammar = PlaceGrammar.of(load_gazetteer())
    decodes_file = _cache_file("decode", model_dir.name, settings.decode_chunk_ms, settings.endpoint_silence_seconds,
                               settings.energy_endpoint_seconds, settings.energy_endpoint_level, DEFAULT_VOICE.id)
    spots_file = _cache_file("spot", model_dir.name, grammar.phrases, "words")
    decodes, spots = _load(decodes_file, redecode), _load(spots_file, redecode)
    started = time.monotonic()
    paths, report = render_with_report(texts)
    if report.rendered:
        print(f"rendered {report.rendered} requests as speech in {time.monotonic() - started:.0f} s", file=sys.stderr)
    model = None
    heard: list[HeardCall] = []
    decoded = 0
    for text, path in zip(texts, paths, strict=True):
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        if key not in decodes or key not in spots:
            if model is None:
                model = model_from_settings(settings)
            audio = read_wav(path)
            if key not in decodes:
                results = transcribe_pcm(model, audio.channels[0], audio.sample_rate, settings.decode_chunk_ms)
                decodes[key] = {"segments": [r.text for r in results], "seconds": audio.duration}
                decoded += 1
            spots[key] = spotted_words(model, audio.channels[0], audio.sample_rate, grammar)
            if decoded and decoded % 25 == 0:
                _save(decodes_file, decodes)
                print(f"decoded {decoded} requests ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        heard.append(HeardCall(text, clean(decodes[key]["segments"]), [(w, c) for w, c in spots[key]],
                               decodes[key]["seconds"]))
    _save(decodes_file, decodes)
    _save(spots_file, spots)
    print(f"speech: {decoded} requests decoded, {len(texts) - decoded} from {decodes_file}", file=sys.stderr)
    return heard


def spotted_places(call: HeardCall, gazetteer: Gazetteer) -> list[SpottedPlace]:
    """The districts the spotting pass heard surely in the call (as `spot_places` reads them)."""
    return PlaceGrammar.of(gazetteer).spotted_words(call.spotted_words)


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
