"""The speech renderer's plumbing, with a stand-in worker: cache keys, one batch per call,
phone-line output. The real neural voice is exercised by tests/integration/test_prompt_speech.py."""

from __future__ import annotations

import json
import sys
import wave
from dataclasses import replace
from pathlib import Path

import pytest

from devtools import mandarin_speech
from devtools.mandarin_speech import DEFAULT_VOICE, SpeechError, cached_path, render_with_report

#: Stands in for devtools/speech/worker.py: same protocol, a tone per text, and a log of calls.
FAKE_WORKER = '''
import json, math, struct, sys, wave
request = json.load(sys.stdin)
with open(sys.argv[0] + ".calls", "a") as log:
    log.write(json.dumps([job["text"] for job in request["jobs"]], ensure_ascii=False) + "\\n")
for job in request["jobs"]:
    with wave.open(job["out"], "wb") as out:
        out.setnchannels(1); out.setsampwidth(2); out.setframerate(24000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(12000)))
print(json.dumps({"load_seconds": 0.1, "render_seconds": 0.2, "texts": len(request["jobs"])}))
'''


@pytest.fixture
def fake_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOTLINE_CACHE", str(tmp_path / "cache"))
    worker = tmp_path / "worker.py"
    worker.write_text(FAKE_WORKER)
    monkeypatch.setattr(mandarin_speech, "WORKER", worker)
    monkeypatch.setattr(mandarin_speech, "ensure_speech_venv", lambda: Path(sys.executable))
    return worker


def _batches(worker: Path) -> list[list[str]]:
    calls = worker.with_name(worker.name + ".calls")
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def test_cache_key_follows_the_text_and_the_voice() -> None:
    assert cached_path("您好") == cached_path("您好")
    assert cached_path("您好") != cached_path("你好")
    assert cached_path("您好") != cached_path("您好", replace(DEFAULT_VOICE, sil_time=0.3))


def test_missing_texts_are_rendered_in_one_batch_and_then_cached(fake_worker: Path) -> None:
    paths, report = render_with_report(["您好", "请稍候", "您好"])
    assert paths[0] == paths[2] and len(set(paths)) == 2
    assert report.rendered == 2 and report.cached == 0
    assert _batches(fake_worker) == [["您好", "请稍候"]]

    again, report = render_with_report(["请稍候", "谢谢"])
    assert again[0] == paths[1]
    assert report.rendered == 1 and report.cached == 1
    assert _batches(fake_worker)[-1] == ["谢谢"]


def test_renderings_are_phone_line_wavs(fake_worker: Path) -> None:
    [path] = render_with_report(["您好"])[0]
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() == 4000  # 0.5 s
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_a_failing_worker_is_a_speech_error_and_caches_nothing(fake_worker: Path) -> None:
    fake_worker.write_text("import sys; sys.exit('FlexRandomUniform failed to prepare')")
    with pytest.raises(SpeechError, match="FlexRandomUniform"):
        render_with_report(["您好"])
    assert not cached_path("您好").exists()
