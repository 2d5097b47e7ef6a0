"""The one clock of a load-test run.

Every time a bot notes (a send, a receipt, a keyframe) and every time the coordinator plans
(when to send a chat message, when to promote) is a reading of this clock, so times taken
in different processes can be subtracted. It is ``time.perf_counter()`` (CLOCK_MONOTONIC on
Linux, shared by every process of a machine) plus an offset: zero on the coordinator's
machine, and for a bot process on another machine the difference to the coordinator's
clock, estimated when its agent connects (see :mod:`loadtest.agent`).
"""

from __future__ import annotations

import time

_offset_ns = 0


def set_offset(seconds: float) -> None:
    """Make this process's readings the coordinator's: ``seconds`` is added to each."""
    global _offset_ns
    _offset_ns = round(seconds * 1e9)


def offset() -> float:
    return _offset_ns / 1e9


def now() -> float:
    """Seconds on the run's clock."""
    return (time.perf_counter_ns() + _offset_ns) / 1e9


def now_ns() -> int:
    """Nanoseconds on the run's clock."""
    return time.perf_counter_ns() + _offset_ns
