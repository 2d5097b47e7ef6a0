"""The SFU benchmarks, ``forwarding`` and ``switching``, run as ``python -m sfu.bench``.

forwarding: one publisher of a pre-encoded VP8 clip, N subscribers counting packets without
decoding; forwarded packets per CPU-second of the SFU process, loss, and a MediaRelay
baseline measured in the same run. switching: slot switch latency (re-point -> first packet
of the new source's keyframe) with a fresh join for comparison.

The benchmark runs in a process of its own (load tests drive the SFU only from outside);
its ``report.json`` is copied into ``DIR/report.json`` with the command line added, and its
output goes to ``DIR/bench.log``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtest.console import summary_table

EXIT_OK = 0
EXIT_FAILED = 1

_SUMMARY = {
    "forwarding": (
        "forwarded_packets_per_cpu_second",
        "baseline_packets_per_cpu_second",
        "loss_ratio",
    ),
    "switching": ("switch_latency_ms",),
}


def bench_command(kind: str, extra: list[str], report_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sfu.bench", kind, *extra, "--report", str(report_dir)]


def run_bench(kind: str, extra: list[str], report_dir: Path, timeout: float) -> int:
    """Run one benchmark to completion (or ``timeout``); write ``report_dir/report.json``."""
    console = Console()
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"podium-{kind}-") as tmp:
        command = bench_command(kind, extra, Path(tmp))
        console.print(f"running {shlex.join(command)}")
        status = "ok"
        try:
            with (report_dir / "bench.log").open("wb") as log:
                done = subprocess.run(
                    command, timeout=timeout, check=False, stdout=log, stderr=subprocess.STDOUT
                )
            if done.returncode != 0:
                status = f"failed (exit status {done.returncode})"
        except subprocess.TimeoutExpired:
            status = "timeout"
        source = Path(tmp) / "report.json"
        report: dict[str, Any] = {}
        if source.exists():
            report = json.loads(source.read_text())
    report.setdefault("metrics", {})
    report["scenario"] = kind
    report["loadtest"] = {
        "status": status,
        "command_line": shlex.join(["python", "-m", "loadtest", kind, *extra]),
        "bench_command": shlex.join(command),
        "duration_s": round(time.monotonic() - started, 2),
    }
    path = report_dir / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    rows = [(key, _show(report["metrics"].get(key))) for key in _SUMMARY[kind]]
    console.print(summary_table(f"{kind}: {status}", rows))
    console.print(f"report: {path}")
    return EXIT_OK if status == "ok" and source_ok(report) else EXIT_FAILED


def source_ok(report: dict[str, Any]) -> bool:
    return bool(report.get("metrics"))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"{k} {v:.1f}" for k, v in value.items() if isinstance(v, int | float)]
        return ", ".join(parts[:6])
    if isinstance(value, float):
        return f"{value:,.4f}" if value < 1 else f"{value:,.0f}"
    return "-" if value is None else str(value)
