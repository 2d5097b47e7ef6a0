"""A small real media run: a spawned server, aiortc bots publishing the replayed clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_stage_run_receives_packets_and_reports_the_figures(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "stage",
        "--publishers",
        "1",
        "--audience",
        "2",
        "--hand-raisers",
        "1",
        "--seconds",
        "5",
        "--promote-every",
        "2",
        "--hold",
        "1",
        "--video-size",
        "320x180",
        "--processes",
        "1",
        "--spawn",
        "--report",
        str(report_dir),
        "--timeout",
        "60",
        "--no-progress",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    metrics = report["metrics"]
    assert report["status"] == "ok", report["errors"]
    assert metrics["bots_joined"] == 4
    assert metrics["packets_received"] > 0
    assert metrics["packets_expected"] >= metrics["packets_received"] * 0.9
    for key in ("join_latency_ms", "media_first_packet_ms", "promotion_first_packet_ms"):
        assert set(metrics[key]) >= {"p50", "p95", "p99", "max"}
    for key in ("loss_ratio", "forwarded_packets_per_s", "server_rss_mb", "server_cpu_percent"):
        assert metrics[key] is not None
    assert (report_dir / "cpu.png").exists()
