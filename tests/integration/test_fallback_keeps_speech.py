"""A caller who talks over the fallback's greeting is heard: the message holds every word.

Issue 21: while the backend was away, the dialplan's fallback recorded only after its prompts,
and a caller who spoke during the greeting left a ticket with no recording and no words. The
fallback now records from the answer. Here a caller speaks Mandarin (the neural voice,
`devtools/mandarin_speech.py`) from the first second of a real SIP call into real Asterisk while
no backend runs; a backend that comes back adopts the message; the stored recording is decoded
by a plain Vosk recogniser on the real Mandarin model. Its words are the words Vosk hears in the
caller's own audio, and they sit in the recording where the greeting was playing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest

from asr.model_install import install_model
from devtools.mandarin_speech import render
from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import speech_call_scenario
from telephony.recording_length import wav_seconds
from tests.integration.test_backend_away import (
    GREETING,
    _wait_for_entry,
    assert_message_recorded,
    prompt_seconds,
)
from tests.integration.test_call_to_ticket import _wait_for_tickets
from tests.recording_files import plain_recording
from tests.speech_metrics import character_errors, normalise

# A real call whose audio is decoded: in the live lane, so the decoding never runs beside the
# live ASR calls nor the CPU-bound decoders (tests/scheduling.py).
pytestmark = [pytest.mark.asterisk, pytest.mark.live_asr_call]

#: What the caller says, from the first second: longer than the greeting, into the prompt.
CALLER_SAYS = ("您好，我要反映一个问题，我们小区门口的路灯坏了一个多星期了。",
               "晚上出门特别黑，老人和孩子都不安全，希望尽快派人来修一下。")
#: Before the first word: a caller does not speak at the very instant of the answer.
LEAD_IN_SECONDS = 0.5
#: The call: the greeting, the prompt, the beep and a few seconds of message.
HOLD_MS = 20000
#: A plain decode of the recording against one of the caller's own audio (the same samples,
#: through G.711 and Asterisk): at most this share of characters may differ.
MAX_CER = 0.10
#: After the first sentence's last sample: its words have ended, the next sentence's have not.
PAUSE_MARGIN = 0.1


@dataclass(frozen=True)
class Heard:
    text: str
    words: list[tuple[str, float, float]]  # (word, start, end), seconds from the file's start

    def said_by(self, seconds: float) -> str:
        """The words that ended by `seconds`."""
        return "".join(word for word, _, end in self.words if end <= seconds)


def mandarin_model_path() -> Path:
    configured = os.environ.get("HOTLINE_TEST_MANDARIN_MODEL")
    return Path(configured) if configured else install_model()


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


def caller_audio(tmp_path: Path) -> tuple[Path, Path, float]:
    """(the caller's 8 kHz mu-law WAV for SIPp, the same audio as 16-bit PCM for a reference
    decode, when the first sentence ends): a low-noise lead-in, the sentences, then quiet line
    noise past the hang-up (a real phone sends audio for the whole call)."""
    speech = render(list(CALLER_SAYS))
    first = wav_seconds(speech[0])
    assert first is not None
    lead_in = tmp_path / "lead-in.wav"
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(lead_in), "synth", str(LEAD_IN_SECONDS),
        "whitenoise", "vol", "0.01")
    tail = tmp_path / "tail.wav"
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(tail), "synth", str(HOLD_MS / 1000),
        "whitenoise", "vol", "0.01")
    ulaw = tmp_path / "caller-ulaw.wav"
    sox(str(lead_in), *map(str, speech), str(tail), "-e", "mu-law", str(ulaw))
    pcm = tmp_path / "caller-pcm.wav"
    sox(str(ulaw), "-e", "signed-integer", "-b", "16", str(pcm))
    return ulaw, pcm, LEAD_IN_SECONDS + first


def plain_decode(model: object, path: Path) -> Heard:
    """What Vosk alone hears in the file: a brand-new recogniser, 100 ms chunks, word times."""
    import vosk

    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2), path
        pcm = wav.readframes(wav.getnframes())
    recognizer = vosk.KaldiRecognizer(model, 8000)
    recognizer.SetWords(True)
    results = []
    for i in range(0, len(pcm), 1600):
        if recognizer.AcceptWaveform(pcm[i:i + 1600]):
            results.append(json.loads(recognizer.Result()))
    results.append(json.loads(recognizer.FinalResult()))
    words = [(w["word"], float(w["start"]), float(w["end"]))
             for result in results for w in result.get("result", []) if w["word"] != "[unk]"]
    return Heard(text=" ".join(r["text"] for r in results if r.get("text", "").strip()), words=words)


async def test_a_caller_speaking_over_the_fallback_greeting_is_in_the_message_recording(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, tmp_path: Path
) -> None:
    import vosk

    ulaw, reference_pcm, first_sentence_ends = await asyncio.to_thread(caller_audio, tmp_path)
    greeting = prompt_seconds(asterisk, GREETING)
    assert first_sentence_ends < greeting, "the caller's first sentence must fall in the greeting"
    wav = asterisk.write_sipp_file(f"caller-{uuid.uuid4().hex[:6]}.wav", ulaw.read_bytes())
    scenario = asterisk.write_sipp_file(f"call-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=HOLD_MS, loops=1))
    code, out = await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                        "-set", "caller", "13800002222", timeout=60 + HOLD_MS / 1000)
    assert code == 0, f"the call was not answered: {out[-2000:]}"
    await _wait_for_entry(asterisk.message_spool_dir, "new")

    bridge = await bridge_factory(asterisk, sqlite_url)
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
    assert len(call_rows) == 1 and len(ticket_rows) == 1, bridge.log_tail()
    call = call_rows[0]
    assert ticket_rows[0]["origin"] == "message" and call["caller_number"] == "13800002222"
    assert_message_recorded(call, asterisk)

    vosk.SetLogLevel(-1)
    model = await asyncio.to_thread(vosk.Model, str(mandarin_model_path()))
    expected = await asyncio.to_thread(plain_decode, model, reference_pcm)
    with plain_recording(Path(call["recording_path"]), call["recording_sha256"]) as recording:  # sealed at rest
        heard = await asyncio.to_thread(plain_decode, model, recording)
    print(f"\ncaller's audio: {expected.text}\nrecording:      {heard.text}")
    errors, length = character_errors(expected.text, heard.text)
    assert length > 20, f"the caller's own audio decodes to too little: {expected.text!r}"
    assert errors / length <= MAX_CER, f"{errors}/{length} characters differ: {heard.text!r}"
    assert "路灯" in normalise(heard.text), heard.text

    # Said while the greeting played: the recording starts at the answer, so the caller's first
    # sentence is at its start (where a recording from the beep had nothing), in the same place
    # as in the caller's own audio. The cut falls in the pause between the two sentences (the
    # call's audio and the file start within a few hundredths of a second of each other).
    cut = first_sentence_ends + PAUSE_MARGIN
    over_greeting = heard.said_by(cut)
    print(f"by {cut:.2f} s, over the greeting ({greeting:.2f} s): {over_greeting}")
    errors, length = character_errors(expected.said_by(cut), over_greeting)
    assert length > 10, f"the caller's first sentence decodes to too little: {expected.words!r}"
    assert errors / length <= MAX_CER, f"over the greeting: {over_greeting!r}"

