"""Lowering the priority of the calling thread, relative to the thread that started it.

Why relative: background work (live recognizers, post-call decoding, recognizer preparation)
must yield the CPU to the event loop, Asterisk and SIPp. An absolute nice value would do the
opposite of its purpose in a backend that an operator (or a test runner) started niced: as root
it would *raise* those threads above their process. `os.nice` on Linux changes the calling
thread only, and a thread starts with the nice value of the thread that created it, so
"N levels below the process" is what this gives.
"""

from __future__ import annotations

import os


def lower_this_thread(levels: int) -> None:
    """Nice the calling thread `levels` steps further; not permitted or not supported means
    the work still runs correctly, only less politely."""
    if levels <= 0:
        return
    try:
        os.nice(levels)
    except (AttributeError, OSError):
        pass
