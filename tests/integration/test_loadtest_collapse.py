"""A run that went wrong says so and exits non-zero, and names the side that failed.

Real parts throughout: a ``podium serve`` process, a ``python -m loadtest stage`` run with
aiortc bots against it, and a fault made from outside while the stage runs: the server
frozen (SIGSTOP) for a few seconds, or one bot process frozen.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtest.procstat import descendants
from loadtest.target import SpawnedServer
from loadtest.verdict import EXIT_VERDICT_FAILED

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.media

PUBLISHERS, AUDIENCE = 1, 4
BOTS = 1 + PUBLISHERS + AUDIENCE


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SpawnedServer]:
    spawned = SpawnedServer(tmp_path / "server.log", env={"PODIUM_MEDIA_ADDRESSES": "127.0.0.1"})
    asyncio.run(spawned.start())
    try:
        yield spawned
    finally:
        if spawned.pid is not None:
            for pid in [spawned.pid, *descendants(spawned.pid)]:
                with _ignore_gone():
                    os.kill(pid, signal.SIGCONT)
        spawned.stop()


class _ignore_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is ProcessLookupError


def _start_run(server: SpawnedServer, report: Path) -> subprocess.Popen[str]:
    assert server._tmp is not None and server.pid is not None
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "stage",
        "--publishers",
        str(PUBLISHERS),
        "--audience",
        str(AUDIENCE),
        "--hand-raisers",
        "0",
        "--seconds",
        "12",
        "--video-size",
        "320x180",
        "--processes",
        "2",
        "--url",
        server.url,
        "--server-pid",
        str(server.pid),
        "--secret-file",
        str(Path(server._tmp.name) / "secret"),
        "--report",
        str(report),
        "--timeout",
        "90",
        "--no-progress",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_stage(server: SpawnedServer, run: subprocess.Popen[str]) -> None:
    """Until every bot is connected, then past the scenario's 2 s pause: the stage runs."""

    async def sessions() -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/healthz") as resp,
        ):
            return int((await resp.json())["sessions"])

    deadline = time.monotonic() + 60
    while asyncio.run(sessions()) < BOTS:
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the bots never all connected"
        time.sleep(0.2)
    time.sleep(4.0)  # media negotiated, the 2 s pause, well into the stage phase


def _finish(run: subprocess.Popen[str], report: Path) -> tuple[int, str, dict[str, Any]]:
    try:
        out, _ = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()
        raise
    return run.returncode, out, json.loads((report / "report.json").read_text())


def test_a_frozen_server_fails_the_run_and_the_bots_are_not_blamed(
    server: SpawnedServer, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    run = _start_run(server, report)
    _wait_for_stage(server, run)
    assert server.pid is not None
    # The server and its media worker processes, all frozen at once.
    frozen = [server.pid, *descendants(server.pid)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    time.sleep(4.0)
    for pid in frozen:
        os.kill(pid, signal.SIGCONT)
    code, out, data = _finish(run, report)

    assert code == EXIT_VERDICT_FAILED, out
    assert data["status"] == "ok"
    verdict = data["verdict"]
    assert verdict["passed"] is False
    failed = {check["name"] for check in verdict["checks"] if not check["ok"]}
    assert "longest frozen tile" in failed
    # The bots are not blamed (on a machine busy with other programs, the machine is).
    assert verdict["bottleneck"] != "load generator"
    assert data["metrics"]["longest_freeze_s"] >= 3.0
    # Every audience bot saw the speaker's tiles freeze.
    assert data["metrics"]["bots_with_frozen_tiles"] >= AUDIENCE
    assert "FAIL" in out and "failed:" in out


def test_a_frozen_bot_process_is_the_load_generators_fault(
    server: SpawnedServer, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    run = _start_run(server, report)
    _wait_for_stage(server, run)
    workers = [
        pid for pid in descendants(run.pid) if "multiprocessing" in _cmdline(pid) and pid != run.pid
    ]
    assert workers, "no bot worker process found"
    os.kill(workers[0], signal.SIGSTOP)
    time.sleep(1.5)
    os.kill(workers[0], signal.SIGCONT)
    code, out, data = _finish(run, report)

    assert code == EXIT_VERDICT_FAILED, out
    verdict = data["verdict"]
    failed = [check for check in verdict["checks"] if not check["ok"]]
    assert "load generator kept up" in {check["name"] for check in failed}
    # A stopped bot process looks like one starved of CPU: when other programs kept the
    # machine busy meanwhile, the verdict names them instead of the bots' own load.
    others = max(
        phase.get("others_cpu_percent") or 0 for phase in data["phases"] if phase["name"] == "stage"
    )
    if others < 50:
        assert verdict["bottleneck"] == "load generator"
        assert any("ran out of CPU" in reason for reason in verdict["reasons"])
    else:
        assert verdict["bottleneck"] == "machine (other programs)"
    stage = next(phase for phase in data["phases"] if phase["name"] == "stage")
    assert stage["bot_loop_lag_ms"]["max"] >= 1000


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
