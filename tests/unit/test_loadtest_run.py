"""The load-test command end to end: a spawned server, real websocket bots, a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.__main__ import main
from loadtest.procstat import read_process

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_signaling_run_delivers_every_chat_message(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "signaling",
        "--clients",
        "20",
        "--chat-messages",
        "10",
        "--seconds",
        "1",
        "--hands",
        "4",
        "--processes",
        "2",
        "--spawn",
        "--report",
        str(report_dir),
        "--timeout",
        "90",
        "--no-progress",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    metrics = report["metrics"]
    assert report["status"] == "ok", report["errors"]
    assert metrics["clients_joined"] == 20
    assert metrics["server_sessions_after_ramp"] == 20
    assert metrics["chat_messages_sent"] == 10
    assert metrics["chat_receipts"] == metrics["chat_receipts_expected"] == 10 * 19
    assert metrics["chat_delivery_ratio"] == 1.0
    assert metrics["chat_refused"] == 0
    assert metrics["hands"] == 4
    for key in ("join_latency_ms", "join_snapshot_latency_ms", "chat_fanout_latency_ms"):
        assert set(metrics[key]) >= {"p50", "p95", "p99", "max"}
    assert metrics["join_latency_ms"]["count"] == 20
    assert metrics["chat_fanout_latency_ms"]["count"] == 190
    assert metrics["hand_raise_position_ms"]["count"] == 4
    assert metrics["server_rss_mb"]["peak"] > 0
    assert [phase["name"] for phase in report["phases"]] == ["ramp", "chat", "hands"]
    # The spawned server was stopped, and the bots' processes too.
    assert report["target"]["exit_status"] is not None
    for pid in report["target"]["bot_pids"]:
        assert read_process(pid) is None or not _is_ours(pid)
    assert "signaling: ok" in done.stdout


def _is_ours(pid: int) -> bool:
    """A pid may be reused by the time we look: only a child of this test counts."""
    sample = read_process(pid)
    return sample is not None and sample.ppid == os.getpid()


def test_a_malformed_url_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["signaling", "--url", "podium:8080", "--report", str(tmp_path)])
    assert exit_info.value.code == 2
    assert not (tmp_path / "report.json").exists()


def test_the_media_scenarios_and_benchmarks_are_available() -> None:
    from loadtest.__main__ import build_parser

    parser = build_parser()
    for name in ("conference", "stage", "breakouts"):
        assert parser.parse_args([name, "--spawn"]).build is not None
    for name in ("forwarding", "switching"):
        assert parser.parse_args([name]).bench is not None


def test_a_target_is_required(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["signaling", "--report", str(tmp_path)])
    assert exit_info.value.code == 2
