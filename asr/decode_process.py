"""Post-call decoding in a child process: spooled streams decoded without sharing the GIL.

Why a process (issue 14): a nice-10 post-call thread in the backend takes the GIL between
Vosk calls; preempted while holding it, it makes the event loop wait for a low-priority thread
(priority inversion). py-spy --gil later showed that thread held only ~2 % of GIL samples at
80 calls, so the loop's lag was mostly CPU contention with the live threads (`worker_nice`);
the process still removes the inversion risk and keeps post-call memory out of the backend.

Cost: the child loads the model itself (seconds, the model's size in memory). So it is started
on the first spool and exits after `idle_seconds` without work; the memory comes back when the
backlog is done. Stopping kills it at once: the work is on disk (`asr.pending`), so a kill
repeats at most one stream's decoding at the next start.

Protocol: one JSON line per request on the child's stdin ({"path", "start_pos"}) and one JSON
line per answer on its stdout ({"results": [...]} or {"error": "..."}); one request at a time.
Run as `python -m asr.decode_process --model-dir DIR [...]` (only the parent does that).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from asr.endpoint import EnergyEndpoint
from asr.models import LoadedModel
from asr.segments import RawResult, Word
from asr.wav_decode import read_wav, transcribe_pcm

log = logging.getLogger(__name__)

#: Exit code of a child that left because it had nothing to do (not a failure).
IDLE_EXIT = 3
#: The child runs this many nice levels below the backend *process* (its main thread), like the
#: post-call threads: not below the thread that happens to start it.
NICE = 10
MAX_NICE = 19


def child_nice() -> int:
    """The child's absolute nice value: NICE below the backend process's own.

    Why absolute: the child is started from a post-call thread, itself already NICE below the
    process (`kernel.thread_priority`), and a new process starts with the nice value of the
    thread that forked it. A relative `os.nice(NICE)` in the child therefore landed at 19 (weight
    15 against 1024 at nice 0): on a busy node, or in a test suite running beside browsers, the
    post-call backlog took minutes instead of seconds.
    """
    return min(MAX_NICE, os.getpriority(os.PRIO_PROCESS, os.getpid()) + NICE)


class DecodeProcessError(Exception):
    """The child could not decode a spool (its message says why); other spools are unaffected."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"post-call decoding of {path} failed: {reason}")
        self.path = path
        self.reason = reason


class DecodeProcessGone(Exception):
    """The child exited (killed at a stop, or crashed) before answering."""


def result_to_json(r: RawResult) -> dict[str, Any]:
    return {"text": r.text, "start": r.start, "end": r.end, "confidence": r.confidence,
            "words": [[w.text, w.start, w.end, w.confidence] for w in r.words]}


def result_from_json(d: dict[str, Any]) -> RawResult:
    return RawResult(str(d["text"]), float(d["start"]), float(d["end"]),
                     None if d.get("confidence") is None else float(d["confidence"]),
                     tuple(Word(str(w[0]), float(w[1]), float(w[2]), float(w[3])) for w in d["words"]))


class DecodeProcess:
    """The parent's handle on the child; used by one thread at a time (the post-call thread).

    `decode` starts the child when needed, sends one spool and blocks (without the GIL, in a
    pipe read) until the answer. `kill` may be called from any thread: a `decode` in progress
    then raises `DecodeProcessGone`.
    """

    def __init__(self, model: LoadedModel, *, chunk_ms: int, idle_seconds: float = 30.0) -> None:
        self.model = model
        self.chunk_ms = chunk_ms
        self.idle_seconds = idle_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # guards _proc between decode() and kill()
        self._busy = threading.Lock()  # one request at a time (several post-call threads queue)
        self._killed = False
        self.starts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _command(self) -> list[str]:
        # The directory Kaldi read in the parent (the overlay with its dither and endpoint
        # settings), so the child decodes exactly as the parent would.
        command = [sys.executable, "-m", "asr.decode_process", "--model-dir", str(self.model.loaded_from),
                   "--chunk-ms", str(self.chunk_ms), "--idle-seconds", str(self.idle_seconds),
                   "--nice", str(child_nice())]
        rule = self.model.energy_endpoint
        if rule is not None:  # the same end-of-utterance rule as live decoding (asr/endpoint.py)
            command += ["--energy-endpoint-seconds", repr(rule.silence_seconds),
                        "--energy-endpoint-level", repr(rule.level),
                        "--energy-endpoint-min-speech", repr(rule.min_speech_seconds)]
        if not self.model.reuse_recognizers:  # and the same recognizer policy
            command.append("--fresh-recognizers")
        return command

    def _running(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._killed:
                raise DecodeProcessGone("post-call decoding is stopped")
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:  # the pipes of the child that left
                    for pipe in (self._proc.stdin, self._proc.stdout):
                        if pipe is not None:
                            pipe.close()
                self._proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=None, close_fds=True)
                self.starts += 1
                log.info("asr post-call decoder process started", extra={"pid": self._proc.pid})
            return self._proc

    def decode(self, path: Path, start_pos: int) -> list[RawResult]:
        """Decode one spooled WAV in the child. A child that left (idle timeout just as the
        request went out, or a crash) is replaced once; after `kill` it raises `DecodeProcessGone`."""
        with self._busy:
            return self._decode(path, start_pos)

    def _decode(self, path: Path, start_pos: int) -> list[RawResult]:
        for attempt in range(2):
            proc = self._running()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps({"path": str(path), "start_pos": start_pos}).encode() + b"\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, ValueError, OSError):
                line = b""
            if line:
                answer = json.loads(line)
                if "error" in answer:
                    raise DecodeProcessError(path, str(answer["error"]))
                return [result_from_json(r) for r in answer["results"]]
            code = proc.wait()
            if self._killed or attempt:
                raise DecodeProcessGone(f"post-call decoder exited with {code}")
            if code != IDLE_EXIT:  # crashed: one more try with a fresh child, then the stream fails
                log.warning("asr post-call decoder process exited; restarting it",
                            extra={"exit_code": code, "spool": str(path)})
        raise AssertionError("unreachable")

    def kill(self) -> None:
        """Stop for good (process stop): the child dies now; its spool stays on disk."""
        with self._lock:
            self._killed = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- the child ----

def _serve(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    from asr.models import _quiet_vosk

    started = time.perf_counter()
    vosk_model = _quiet_vosk().Model(str(args.model_dir))
    rule = (EnergyEndpoint(args.energy_endpoint_seconds, args.energy_endpoint_level,
                           args.energy_endpoint_min_speech)
            if args.energy_endpoint_seconds is not None else None)
    model = LoadedModel(vosk_model, args.model_dir, args.model_dir, True,
                        time.perf_counter() - started, 0.0, rule, reuse_recognizers=not args.fresh_recognizers)
    while True:
        ready, _, _ = select.select([stdin], [], [], args.idle_seconds)
        if not ready:
            return IDLE_EXIT
        line = stdin.readline()
        if not line:
            return 0  # the parent went away
        request = json.loads(line)
        try:
            audio = read_wav(Path(request["path"]))
            results = transcribe_pcm(model, audio.channels[0], audio.sample_rate, args.chunk_ms,
                                     start_pos=int(request["start_pos"]))
            answer: dict[str, Any] = {"results": [result_to_json(r) for r in results]}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, for this spool only
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
        stdout.flush()


def lower_this_process_to(nice: int) -> None:
    """Go down to `nice` if above it; a process started lower stays there (raising needs root)."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        try:
            os.nice(nice - current)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="post-call decoder child (started by the backend)")
    parser.add_argument("--model-dir", type=Path, required=True, help="what Kaldi reads")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--energy-endpoint-seconds", type=float, default=None,
                        help="the parent's end-of-utterance rule (none: Vosk's own endpointing)")
    parser.add_argument("--energy-endpoint-level", type=float, default=300.0)
    parser.add_argument("--energy-endpoint-min-speech", type=float, default=0.1)
    parser.add_argument("--nice", type=int, default=NICE,
                        help="absolute nice value to run at (the parent's `child_nice`); never raised")
    parser.add_argument("--fresh-recognizers", action="store_true",
                        help="a brand-new recognizer per recording (the parent's reuse_recognizers=false)")
    args = parser.parse_args(argv)
    lower_this_process_to(args.nice)
    # The parent decides when this process ends (it kills it at its stop, or this one sees
    # the pipe close): a SIGTERM or Ctrl-C sent to the whole group must not cut a decode short
    # while the parent is still handing calls over.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return _serve(args, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
