"""The background-thread priority helper lowers relative to the starting thread, never raises."""

from __future__ import annotations

import os
import threading

from kernel.thread_priority import lower_this_thread


def _nice_of_new_thread(levels: int) -> tuple[int, int]:
    seen: list[int] = []

    def run() -> None:
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        lower_this_thread(levels)
        seen.extend([before, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())])

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_a_thread_goes_the_given_levels_below_the_thread_that_started_it() -> None:
    before, after = _nice_of_new_thread(3)
    assert after == min(before + 3, 19)


def test_the_calling_thread_alone_is_lowered() -> None:
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    _nice_of_new_thread(5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main


def test_zero_levels_change_nothing() -> None:
    before, after = _nice_of_new_thread(0)
    assert after == before
