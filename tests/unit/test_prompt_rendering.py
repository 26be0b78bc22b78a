"""Which prompt files get rendered, by which voice, and how numbers are spoken. A stand-in voice
writes tiny WAVs: the real voices are exercised by tests/integration/test_prompt_speech.py."""

from __future__ import annotations

import wave
from pathlib import Path

from telephony.prompts import PromptSet, render_prompts, spoken_form


class ToneVoice:
    """A stand-in voice that records what it was asked to say."""

    def __init__(self, directory: Path, name: str = "tone") -> None:
        self.directory, self.name, self.said = directory, name, []  # type: list[str]

    @property
    def id(self) -> str:
        return self.name

    def render(self, texts: list[str]) -> list[Path]:
        self.said += texts
        paths = []
        for i, _ in enumerate(texts):
            path = self.directory / f"{self.name}-{len(self.said)}-{i}.wav"
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(8000)
                wav.writeframes(b"\0\0" * 80)
            paths.append(path)
        return paths


PROMPTS = PromptSet({"greeting": "您好，这里是12345热线。", "hold": "请稍候。"}, "您前面还有{n}位来电。", 2)


def test_numbers_are_written_as_they_are_said_on_the_phone() -> None:
    assert spoken_form("这里是12345热线") == "这里是幺二三四五热线"
    assert spoken_form("请拨打110、119、120。") == "请拨打幺幺零、幺幺九、幺二零。"
    assert spoken_form("满意请按1，不满意请按3。") == "满意请按一，不满意请按三。"
    assert [spoken_form(f"还有{n}位") for n in (1, 2, 10, 12, 20, 22)] == [
        "还有一位", "还有两位", "还有十位", "还有十二位", "还有二十位", "还有二十二位"]


def test_set_up_renders_every_prompt_spoken_and_records_text_and_voice(tmp_path: Path) -> None:
    voice = ToneVoice(tmp_path)
    written = render_prompts(tmp_path / "sounds", PROMPTS, voice)
    assert len(written) == 4
    assert voice.said[0] == "您好，这里是幺二三四五热线。"
    greeting = tmp_path / "sounds/hotline/greeting.wav"
    assert greeting.with_suffix(".wav.text").read_text() == "您好，这里是12345热线。"
    assert greeting.with_suffix(".wav.voice").read_text().strip() == "tone"
    assert render_prompts(tmp_path / "sounds", PROMPTS, voice) == []


def test_a_recording_without_sidecar_is_never_overwritten(tmp_path: Path) -> None:
    recorded = tmp_path / "sounds/hotline/greeting.wav"
    recorded.parent.mkdir(parents=True)
    recorded.write_bytes(b"the operator's own recording")
    render_prompts(tmp_path / "sounds", PROMPTS, ToneVoice(tmp_path, "new-voice"))
    assert recorded.read_bytes() == b"the operator's own recording"
    assert not recorded.with_suffix(".wav.text").exists()


def test_our_rendering_by_an_older_voice_is_rendered_again_at_set_up(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    render_prompts(sounds, PROMPTS, ToneVoice(tmp_path, "old"))
    # The first renderer recorded only the text (before voices were recorded).
    (sounds / "hotline/hold.wav.voice").unlink()
    newer = ToneVoice(tmp_path, "neural")
    assert len(render_prompts(sounds, PROMPTS, newer)) == 4
    assert (sounds / "hotline/hold.wav.voice").read_text().strip() == "neural"


def test_the_sandbox_check_keeps_any_voice_but_follows_the_wording(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    render_prompts(sounds, PROMPTS, ToneVoice(tmp_path, "neural"))
    assert render_prompts(sounds, PROMPTS) == []  # nothing to do: no voice is even created
    reworded = PromptSet({**PROMPTS.texts, "hold": "请您稍候。"}, PROMPTS.position_text, 2)
    assert render_prompts(sounds, reworded) == [sounds / "hotline/hold.wav"]  # espeak-ng fallback
    assert (sounds / "hotline/hold.wav.text").read_text() == "请您稍候。"
    assert (sounds / "hotline/hold.wav.voice").read_text().startswith("espeak-ng cmn-latn-pinyin")
    assert (sounds / "hotline/greeting.wav.voice").read_text().strip() == "neural"
