"""Where the server spends its CPU: sampling with py-spy while a phase runs.

py-spy reads the server's stacks from outside (no change to the server, no restart) and
writes "collapsed" stacks, one line per distinct stack with its sample count. From those,
:func:`top_frames` ranks functions by the share of samples in which they were running
(self) or on the stack (total).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ProfilerUnavailable(Exception):
    """py-spy is not installed."""


def find_py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found:
        return found
    raise ProfilerUnavailable("profiling the server needs py-spy: .venv/bin/pip install py-spy")


class SamplingProfiler:
    """A ``py-spy record`` of one process, from :meth:`start` until :meth:`stop`."""

    def __init__(self, pid: int, output: Path, *, rate: int = 100) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        command = [
            find_py_spy(),
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--output",
            str(self.output),
            # Sample without pausing the server, so profiling barely changes its timing.
            "--nonblocking",
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop recording (py-spy writes its file on SIGINT); True when a profile was written."""
        process = self.process
        if process is None:
            return False
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5.0)
        if process.stderr is not None:
            process.stderr.close()
        return self.output.exists() and self.output.stat().st_size > 0


@dataclass(frozen=True, slots=True)
class FrameShare:
    frame: str
    self_percent: float
    total_percent: float


def top_frames(
    collapsed: str, limit: int = 15, *, by_total: bool = False
) -> tuple[int, list[FrameShare]]:
    """(samples, the ``limit`` functions with the most self time) of collapsed stacks.

    Each line is ``frame;frame;...;frame COUNT`` with the innermost frame last. With
    ``by_total`` functions are ranked by the samples in which they were anywhere on the stack.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if samples == 0:
        return 0, []
    shares = [
        FrameShare(
            frame=frame,
            self_percent=round(100.0 * own[frame] / samples, 1),
            total_percent=round(100.0 * total[frame] / samples, 1),
        )
        for frame, _ in (total if by_total else own).most_common(limit)
    ]
    return samples, shares


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``: lines differ, functions not."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{name} ({short})"


def profile_summary(path: Path, limit: int = 15) -> dict[str, Any]:
    """The report entry of a recorded profile."""
    text = path.read_text(errors="replace")
    samples, by_self = top_frames(text, limit)
    _, by_total = top_frames(text, limit, by_total=True)

    def rows(shares: list[FrameShare]) -> list[dict[str, Any]]:
        return [
            {"frame": s.frame, "self_percent": s.self_percent, "total_percent": s.total_percent}
            for s in shares
        ]

    return {
        "file": str(path),
        "samples": samples,
        "top_self": rows(by_self),
        "top_total": rows(by_total),
    }
