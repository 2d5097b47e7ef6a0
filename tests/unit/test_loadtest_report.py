"""report.json: what a run leaves behind."""

from __future__ import annotations

import json
import math
from pathlib import Path

from loadtest.report import REPORT_NAME, Report, environment, write_report


def _report() -> Report:
    return Report(
        scenario="signaling",
        argv=["python", "-m", "loadtest", "signaling", "--clients", "20", "--spawn"],
        options={"clients": 20},
    )


def test_report_is_written_with_metrics_command_and_environment(tmp_path: Path) -> None:
    report = _report()
    report.environment = environment()
    report.metrics["join_latency_ms"] = {"p50": 1.5, "p95": 2.0, "p99": 2.5, "max": 3.0}
    report.metrics["chat_delivery_ratio"] = 1.0
    report.note("a note")
    report.finish("ok")
    path = write_report(report, tmp_path / "run")
    assert path == tmp_path / "run" / REPORT_NAME
    data = json.loads(path.read_text())
    assert data["status"] == "ok"
    assert data["scenario"] == "signaling"
    assert data["metrics"]["join_latency_ms"]["p99"] == 2.5
    assert data["metrics"]["chat_delivery_ratio"] == 1.0
    assert data["command"][3:] == ["signaling", "--clients", "20", "--spawn"]
    assert data["command_line"] == "python -m loadtest signaling --clients 20 --spawn"
    assert data["environment"]["cpu_count"] >= 1
    assert data["environment"]["python"].startswith("3.")
    assert data["notes"] == ["a note"]
    assert data["duration_s"] >= 0
    assert list((tmp_path / "run").iterdir()) == [path]  # no partial file left


def test_figures_json_cannot_hold_become_null(tmp_path: Path) -> None:
    report = _report()
    report.metrics["cpu"] = {"ramp": math.nan, "chat": math.inf, "hands": 3.0}
    report.metrics["series"] = [1.0, math.nan]
    data = json.loads(write_report(report, tmp_path).read_text())
    assert data["metrics"]["cpu"] == {"ramp": None, "chat": None, "hands": 3.0}
    assert data["metrics"]["series"] == [1.0, None]


def test_a_second_write_replaces_the_first(tmp_path: Path) -> None:
    report = _report()
    write_report(report, tmp_path)
    report.finish("timeout")
    report.error("the run was stopped by --timeout 5 s")
    data = json.loads(write_report(report, tmp_path).read_text())
    assert data["status"] == "timeout"
    assert data["errors"] == ["the run was stopped by --timeout 5 s"]


def test_notes_are_not_repeated_and_errors_are_bounded() -> None:
    report = _report()
    report.note("same")
    report.note("same")
    for i in range(100):
        report.error(f"error {i}")
    assert report.notes == ["same"]
    assert len(report.errors) == 50
