"""The workers' shared job queue: oldest job first, but never two threads on one stream."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from asr.workers import JobQueue, WorkerKilled, _Audio, _Drop


def audio(key: int, n: int) -> _Audio:
    return _Audio(SimpleNamespace(key=key), 1, bytes([n]), n)  # type: ignore[arg-type]


def worker(name: str = "w") -> SimpleNamespace:
    return SimpleNamespace(name=name, kill_requested=False)


def test_oldest_job_of_a_stream_nobody_decodes() -> None:
    jobs = JobQueue()
    for job in (audio(1, 1), audio(1, 2), audio(2, 3), audio(1, 4)):
        jobs.put(job)
    a, b = worker("a"), worker("b")
    first = jobs.take(a)  # type: ignore[arg-type]
    assert isinstance(first, _Audio) and first.end_pos == 1
    # Stream 1 is being decoded by a: b takes stream 2's job, though it is younger.
    second = jobs.take(b)  # type: ignore[arg-type]
    assert isinstance(second, _Audio) and second.end_pos == 3
    jobs.done(first)
    third = jobs.take(a)  # type: ignore[arg-type]
    assert isinstance(third, _Audio) and third.end_pos == 2  # stream 1 stays in order
    jobs.done(second)
    jobs.done(third)
    jobs.put(_Drop(2))
    fourth = jobs.take(b)  # type: ignore[arg-type]
    assert isinstance(fourth, _Audio) and fourth.end_pos == 4
    assert isinstance(jobs.take(a), _Drop)  # type: ignore[arg-type]


def test_a_waiting_worker_wakes_for_work_for_death_and_for_the_stop() -> None:
    jobs = JobQueue()
    busy = audio(1, 1)
    jobs.put(busy)
    a, b = worker("a"), worker("b")
    assert jobs.take(a) is busy  # type: ignore[arg-type]
    jobs.put(audio(1, 2))  # only stream 1's, which a holds: b must wait until a is done
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(jobs.take(b)))  # type: ignore[arg-type]
    waiter.start()
    jobs.done(busy)
    waiter.join(10)
    assert len(got) == 1 and isinstance(got[0], _Audio) and got[0].end_pos == 2

    b.kill_requested = True
    jobs.wake()
    with pytest.raises(WorkerKilled):
        jobs.take(b)  # type: ignore[arg-type]
    jobs.stop()
    assert jobs.take(a) is None  # type: ignore[arg-type]
