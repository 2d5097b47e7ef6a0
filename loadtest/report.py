"""The report of a run: ``DIR/report.json`` with the figures under ``metrics``.

A report says what was run (the command line and options), where (the machine, versions,
the server), how it ended (``status``), and what was measured. Figures that are
distributions are given as ``{count, mean, min, p50, p95, p99, max}``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPORT_NAME = "report.json"
REPORT_FORMAT = 1
_PACKAGES = ("podium", "aiohttp", "msgspec", "uvloop", "rich", "numpy")


@dataclass(slots=True)
class Report:
    """Everything a run leaves behind in ``report.json``."""

    scenario: str
    argv: list[str]
    options: dict[str, Any]
    status: str = "running"
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    duration_s: float = 0.0
    target: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Whether the run held (see loadtest.verdict): {passed, reasons, bottleneck, checks}.
    verdict: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.monotonic)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, text: str, limit: int = 50) -> None:
        if len(self.errors) < limit:
            self.errors.append(text)

    def finish(self, status: str) -> None:
        self.status = status
        self.duration_s = round(time.monotonic() - self._t0, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "scenario": self.scenario,
            "status": self.status,
            "verdict": self.verdict,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "command": self.argv,
            "command_line": shlex.join(self.argv),
            "options": self.options,
            "target": self.target,
            "environment": self.environment,
            "metrics": self.metrics,
            "phases": self.phases,
            "notes": self.notes,
            "errors": self.errors,
            "series": self.series,
        }


def write_report(report: Report, directory: Path) -> Path:
    """Write ``directory/report.json`` (atomically: a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REPORT_NAME
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(_clean(report.to_dict()), indent=2, allow_nan=False) + "\n")
    os.replace(partial, path)
    return path


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def environment() -> dict[str, Any]:
    """The machine and software a run used, so figures can be compared between runs."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_total_mb": _memory_total_mb(),
        "load_average": list(os.getloadavg()),
        # A run started with `nice` gets more (or less) CPU than the machine's other programs.
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "clock": time.get_clock_info("perf_counter").implementation,
        "packages": versions,
        "git": _git_revision(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _git_revision() -> dict[str, Any] | None:
    """The checkout's commit and whether it had local changes, if this is a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}
