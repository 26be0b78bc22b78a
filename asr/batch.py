"""Post-call transcription: spooled streams, call recordings, and bulk re-transcription.

Used for streams that could not be served live (the pool was full or fell behind), for calls
recorded without live ASR, and to re-run a set of recordings with another model
(`python -m asr.batch --model DIR FILE...`, one JSON line per file).

Post-call decoding runs on its own threads, lowered to nice 10: the kernel then gives the
CPU to live recognizers first, so a backlog of recordings never makes live calls lag. Spooled
streams of live calls are by default decoded in a child process instead (`asr.decode_process`):
a nice-10 thread preempted while it holds the GIL stalls the event loop (issue 14).
Recordings at 8 kHz are decoded at 8 kHz (Vosk resamples inside its feature pipeline via the
KaldiRecognizer sample-rate argument); stereo recordings are split with numpy, one speaker per
channel. Decoding uses the same chunking as live streams, so a stream transcribed after the
call gives the text it would have given live.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from asr.decode_process import DecodeProcess, DecodeProcessGone
from asr.decoder import DecodeInterrupted
from asr.models import LoadedModel, get_model
from asr.segments import CallTranscript, RawResult, Segment, Speaker, to_segment
from asr.wav_decode import read_wav, transcribe_pcm
from kernel.errors import InvalidInput
from kernel.thread_priority import lower_this_thread


def transcribe_recording(model: LoadedModel, path: Path, call_id: str,
                         speakers: Sequence[Speaker] = (Speaker.CALLER,), *, chunk_ms: int = 100,
                         ) -> CallTranscript:
    """Transcribe a call recording: channel i is speakers[i] (a mono file is one speaker)."""
    audio = read_wav(path)
    if len(speakers) < len(audio.channels):
        raise InvalidInput(f"{path} has {len(audio.channels)} channels but {len(speakers)} speakers",
                           path=str(path))
    segments: list[Segment] = []
    for pcm, speaker in zip(audio.channels, speakers, strict=True):
        for raw in transcribe_pcm(model, pcm, audio.sample_rate, chunk_ms):
            segments.append(to_segment(raw, call_id, speaker, 0.0, live=False))
    segments.sort(key=lambda s: (s.start, s.speaker.value))
    return CallTranscript(call_id, tuple(segments))


def _lower_priority() -> None:
    """Thread initializer: re-transcription yields the CPU to live work."""
    lower_this_thread(10)


class PostCallStopped(Exception):
    """Post-call work was stopped because the process is closing; its spool stays on disk."""


class PostCallQueue:
    """Low-priority threads that transcribe spooled streams once their call has ended.

    `stop()` (at process stop) makes running decodes give up within one chunk and queued
    ones never start: they raise `PostCallStopped`, and their spools and records stay on
    disk for the next start (`asr.pending`).

    With `process` (the service's default), spooled streams are decoded in a child process
    (`asr.decode_process`: no GIL shared with the event loop) and the thread only waits for
    it; `stop()` kills the child. Recordings (`transcribe_recording`) stay on the threads.
    """

    def __init__(self, model: LoadedModel, *, workers: int = 1, chunk_ms: int = 100,
                 process: DecodeProcess | None = None) -> None:
        self.model = model
        self.chunk_ms = chunk_ms
        self.process = process
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-post",
                                            initializer=_lower_priority)
        self._stop = threading.Event()
        self.pending = 0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self.process is not None:
            self.process.kill()

    async def transcribe_spool(self, path: Path, *, start_pos: int = 0,
                               delete: bool = True) -> list[RawResult]:
        """Decode a spooled stream (mono WAV written by the live path) and optionally delete it."""
        if self._stop.is_set():
            raise PostCallStopped(str(path))
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._decode_spool, path, start_pos, delete)
        except DecodeInterrupted as exc:
            raise PostCallStopped(str(path)) from exc
        except asyncio.CancelledError:
            if self._stop.is_set():  # the executor dropped queued work at shutdown
                raise PostCallStopped(str(path)) from None
            raise
        finally:
            self.pending -= 1

    def _decode_spool(self, path: Path, start_pos: int, delete: bool) -> list[RawResult]:
        if self._stop.is_set():
            raise DecodeInterrupted(str(path))
        if self.process is not None:
            try:
                results = self.process.decode(path, start_pos)
            except DecodeProcessGone as exc:
                if self._stop.is_set():
                    raise DecodeInterrupted(str(path)) from exc
                raise
        else:
            audio = read_wav(path)
            results = transcribe_pcm(self.model, audio.channels[0], audio.sample_rate, self.chunk_ms,
                                     start_pos=start_pos, stop=self._stop)
        if delete:
            path.unlink(missing_ok=True)
        return results

    async def transcribe_recording(self, path: Path, call_id: str,
                                   speakers: Sequence[Speaker] = (Speaker.CALLER,)) -> CallTranscript:
        """Post-call transcription of a recorded call that had no live ASR."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            lambda: transcribe_recording(self.model, path, call_id, speakers, chunk_ms=self.chunk_ms))

    def close(self) -> None:
        """Stop (see `stop`) and wait for the threads: returns within about one chunk's decode."""
        self.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class FileTranscript:
    path: Path
    model: str
    duration: float
    segments: tuple[RawResult, ...]

    @property
    def text(self) -> str:
        return " ".join(r.text for r in self.segments)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "model": self.model,
            "duration": round(self.duration, 3),
            "text": self.text,
            "segments": [{"text": r.text, "start": round(r.start, 3), "end": round(r.end, 3),
                          "confidence": None if r.confidence is None else round(r.confidence, 3)}
                         for r in self.segments],
        }


def retranscribe_files(paths: Sequence[Path], model_path: Path, *, chunk_ms: int = 100,
                       deterministic: bool = True, workers: int = 1,
                       overlay_dir: Path = Path("var/asr/model-overlay"),
                       reuse_recognizers: bool = False) -> list[FileTranscript]:
    """Re-transcribe recordings with `model_path` (e.g. the large server model), in input order.

    Multi-channel files are transcribed channel by channel and merged in time order. By default
    every channel gets a brand-new recognizer, so the same file always gives the same words
    (a reused recognizer's can depend on what it decoded before: asr/recognizers.py).
    """
    model = get_model(model_path, deterministic=deterministic, overlay_dir=overlay_dir,
                      reuse_recognizers=reuse_recognizers)

    def one(path: Path) -> FileTranscript:
        audio = read_wav(path)
        results = [r for pcm in audio.channels for r in transcribe_pcm(model, pcm, audio.sample_rate, chunk_ms)]
        results.sort(key=lambda r: r.start)
        return FileTranscript(path, model.name, audio.duration, tuple(results))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-retranscribe") as pool:
        return list(pool.map(one, paths))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: `python -m asr.batch --model DIR a.wav b.wav` -> JSON lines on stdout."""
    parser = argparse.ArgumentParser(prog="asr.batch", description="Re-transcribe WAV recordings with a Vosk model.")
    parser.add_argument("--model", required=True, type=Path, help="Vosk model directory")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep-dither", action="store_true", help="do not load through the dither=0 overlay")
    parser.add_argument("--reuse-recognizers", action="store_true",
                        help="faster, but a file's words may then depend on the files before it")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    from kernel.errors import HotlineError

    try:
        transcripts = retranscribe_files(args.files, args.model, chunk_ms=args.chunk_ms,
                                         deterministic=not args.keep_dither, workers=args.workers,
                                         reuse_recognizers=args.reuse_recognizers)
    except HotlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for transcript in transcripts:
        print(json.dumps(transcript.to_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
