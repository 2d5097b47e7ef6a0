"""Bots on other machines: the agent channel's encoding, its refusals, and a real run whose
bots all run in agent processes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

from loadtest import clock
from loadtest.agent import agent_url, estimate_offset
from loadtest.agenthub import AgentHub
from loadtest.agentwire import (
    CLOSE_PROTOCOL,
    PROTOCOL_VERSION,
    ChannelError,
    FromWorker,
    Hello,
    Welcome,
    decode_from_agent,
    decode_from_coordinator,
    encode,
)
from loadtest.procstat import read_process
from loadtest.workers import WorkerFailed, WorkerPool, fleet_spec

ROOT = Path(__file__).resolve().parents[2]
# No server is needed for commands that do not touch one; nothing listens on port 9.
NO_SERVER = "http://127.0.0.1:9"


# ---------------------------------------------------------------------- the encoding


def test_worker_results_cross_the_channel_unchanged() -> None:
    result = {
        "type": "result",
        "seq": 7,
        "data": {
            "receipt_latency_s": array("d", [0.001, 0.0025, 1e-9]),
            "receipt_index": array("l", [0, 5, -3, 2**40]),
            "joined": {3: "participant-3", 11: "participant-11"},
            "clip": {0: b"\x00\x01\xff", 1: b""},
            "rows": [(1, "a", 2.5, None, True)],
            "empty": array("d"),
        },
    }
    decoded = decode_from_agent(encode(FromWorker(worker=2, message=result)))
    assert isinstance(decoded, FromWorker) and decoded.worker == 2
    data = decoded.message["data"]
    for key in ("receipt_latency_s", "receipt_index", "empty"):
        assert type(data[key]) is array
        assert data[key].typecode == result["data"][key].typecode  # type: ignore[index]
        assert data[key] == result["data"][key]  # type: ignore[index]
    assert data["joined"] == {3: "participant-3", 11: "participant-11"}
    assert data["clip"] == {0: b"\x00\x01\xff", 1: b""}
    # Tuples arrive as lists; the fleets unpack them either way.
    assert data["rows"] == [[1, "a", 2.5, None, True]]


def test_unknown_messages_and_foreign_values_are_refused() -> None:
    with pytest.raises(ChannelError):
        decode_from_agent(msgspec.msgpack.encode({"type": "exec", "code": "print(1)"}))
    with pytest.raises(ChannelError):  # a coordinator's message coming from an agent
        decode_from_agent(encode(Welcome("r", NO_SERVER, fleet_spec(), 0, "")))
    with pytest.raises(ChannelError):  # an extension type that is not an array
        decode_from_coordinator(
            msgspec.msgpack.encode(
                {"type": "to_worker", "worker": 0, "message": {"x": msgspec.msgpack.Ext(9, b"")}}
            )
        )
    with pytest.raises(ChannelError):
        encode(FromWorker(worker=0, message={"x": object()}))


def test_the_clock_estimate_keeps_the_shortest_round_trip() -> None:
    # (sent, coordinator's time, received): the second sample has the shortest round trip.
    estimate = estimate_offset([(0.0, 100.4, 1.0), (2.0, 102.05, 2.1), (3.0, 103.2, 3.5)])
    assert estimate.offset == pytest.approx(102.05 + 0.05 - 2.1)
    assert estimate.uncertainty == pytest.approx(0.05)


def test_agent_addresses() -> None:
    assert agent_url("10.0.0.5") == "ws://10.0.0.5:7870/agent"
    assert agent_url("coord.example.org:9000") == "ws://coord.example.org:9000/agent"
    assert agent_url("http://[::1]:7870") == "ws://[::1]:7870/agent"
    assert agent_url("ws://127.0.0.1:7870/agent") == "ws://127.0.0.1:7870/agent"
    with pytest.raises(ValueError):
        agent_url("ftp://host")


# ---------------------------------------------------------------------- refusals


def _hub(token: str, expected: int = 1) -> AgentHub:
    return AgentHub(
        "127.0.0.1",
        0,
        token,
        expected,
        base_url=NO_SERVER,
        run_id="test",
        fleet=fleet_spec(),
        first_worker=0,
        announce=lambda _text: None,
    )


async def _agent(hub: AgentHub, token: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadtest",
        "agent",
        "--connect",
        hub.url,
        "--token",
        token,
        "--processes",
        "1",
        "--wait",
        "10",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_an_agent_with_the_wrong_token_is_turned_away() -> None:
    hub = _hub("the-right-token")
    await hub.start()
    try:
        agent = await _agent(hub, "a-wrong-token")
        _, stderr = await asyncio.wait_for(agent.communicate(), 30)
        assert agent.returncode != 0
        assert "refused: wrong token" in stderr.decode()
        assert hub.agents == []
    finally:
        await hub.stop()


async def test_a_message_of_unknown_type_ends_the_connection() -> None:
    hub = _hub("token")
    await hub.start()
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(hub.url) as ws:
            hello = Hello("token", PROTOCOL_VERSION, "test", os.getpid(), "elsewhere", 1)
            await ws.send_bytes(encode(hello))
            welcome = decode_from_coordinator((await ws.receive(timeout=10)).data)
            assert isinstance(welcome, Welcome) and welcome.base_url == NO_SERVER
            await ws.send_bytes(msgspec.msgpack.encode({"type": "run", "code": "rm -rf /"}))
            closing = await ws.receive(timeout=10)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.data == CLOSE_PROTOCOL
            assert "protocol error" in str(closing.extra)
    finally:
        await hub.stop()


async def test_remote_workers_refuse_private_names_and_fail_when_their_agent_is_lost() -> None:
    hub = _hub("token")
    # The agent is told the coordinator runs on another machine, so it measures its clock.
    hub.boot_id = "another machine"
    pool = WorkerPool(0, NO_SERVER, "test", agents=hub)
    await hub.start()
    agent = await _agent(hub, "token")
    try:
        await pool.start(timeout=30, agent_wait=30)
        assert pool.count == 1
        status = await pool.call(0, "status")
        assert status["counters"]["joined"] == 0 and status["errors"] == []
        (info,) = [a.describe() for a in hub.agents]
        assert info["same_machine"] is False
        # One CLOCK_MONOTONIC for both ends: the estimate is 0 within its uncertainty.
        assert 0 < info["clock_uncertainty_s"] < 0.5
        assert abs(info["clock_offset_s"]) <= info["clock_uncertainty_s"] + 1e-6

        for name in ("_register", "__init__", "progress", "no_such_command"):
            with pytest.raises(WorkerFailed, match="is not a command"):
                await pool.call(0, name)

        # A command still running when its agent goes fails as for a dead local worker.
        pending = pool.call(0, "chat", schedule=[(0, 0, clock.now() + 60)])
        await asyncio.sleep(0.2)
        agent.send_signal(signal.SIGKILL)
        with pytest.raises(WorkerFailed, match="exited"):
            await asyncio.wait_for(pending, 10)
        with pytest.raises(WorkerFailed):
            await pool.call(0, "status")
        # The orphaned worker sees its pipe close and stops by itself.
        assert await _gone(pool.pids[0], 20.0)
    finally:
        if agent.returncode is None:
            agent.kill()
        await agent.wait()
        await pool.stop()


async def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_process(pid) is None:
            return True
        await asyncio.sleep(0.1)
    return False


# ---------------------------------------------------------------------- a real run


def _free_port() -> int:
    """A free port below the ephemeral range: the port is chosen before the coordinator
    listens, and one the kernel hands out for other connections meanwhile would be taken."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    outside = [*range(max(1024, low - 5000), low), *range(high + 1, min(65536, high + 5001))]
    for port in random.sample(outside, min(50, len(outside))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _signaling(report: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loadtest",
        "signaling",
        "--clients",
        "16",
        "--chat-messages",
        "20",
        "--seconds",
        "3",
        "--hands",
        "2",
        "--spawn",
        "--no-progress",
        "--timeout",
        "90",
        "--report",
        str(report),
        *extra,
    ]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_run_with_its_bots_on_two_agents_reports_as_a_local_one(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    port, token = _free_port(), "a-token-for-this-test"
    coordinator = subprocess.Popen(
        _signaling(
            tmp_path / "agents",
            *("--processes", "0", "--agents", "2"),
            *("--agent-listen", f"127.0.0.1:{port}", "--agent-token", token),
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes.append(coordinator)
    # Agents may start before the coordinator listens: they keep trying.
    agent = [sys.executable, "-m", "loadtest", "agent", "--connect", f"127.0.0.1:{port}"]
    for _ in range(2):
        processes.append(
            subprocess.Popen(
                [*agent, "--token", token, "--processes", "1", "--wait", "30"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    output, _ = coordinator.communicate(timeout=120)
    assert coordinator.returncode == 0, output
    for process in processes[1:]:
        agent_output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, agent_output
        assert "the coordinator says stop" in agent_output

    report_text = (tmp_path / "agents" / "report.json").read_text()
    report = json.loads(report_text)
    metrics = report["metrics"]
    assert report["status"] == "ok", report["errors"]
    assert metrics["clients_joined"] == 16
    assert metrics["chat_messages_sent"] == 20
    assert metrics["chat_delivery_ratio"] == 1.0
    assert metrics["hands"] == 2
    agents = report["target"]["agents"]
    assert len(agents) == 2
    assert sorted(a["first_worker"] for a in agents) == [0, 1]
    for entry in agents:
        assert entry["processes"] == 1 and len(entry["pids"]) == 1
        assert entry["same_machine"] is True and entry["host"] == socket.gethostname()
        assert entry["clock_offset_s"] == 0.0 and entry["clock_uncertainty_s"] == 0.0
    # The agents' bot processes run here: their memory is measured with the bots'.
    assert max(report["series"]["bots"]["rss_mb"], default=0) > 10
    assert token not in report_text

    local = subprocess.run(
        _signaling(tmp_path / "local", "--processes", "2"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    assert local_report["status"] == "ok", local_report["errors"]
    assert set(report) == set(local_report)
    assert set(metrics) == set(local_report["metrics"])
    assert "agents" not in local_report["target"]


def test_no_local_processes_needs_agents(tmp_path: Path) -> None:
    from loadtest.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["signaling", "--spawn", "--processes", "0", "--report", str(tmp_path)])
    assert exit_info.value.code == 2
