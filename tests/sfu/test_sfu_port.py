"""The media port: one contract for a worker in this process (LocalPort) and one in a
process of its own (ProcessPort), with real aiortc peers on 127.0.0.1; then what only a
worker elsewhere can do (die, connect over TCP, be refused)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sfu_peers import Publisher, Subscriber, near, wait_for

from sfu import RoutingError, SdpError, SfuError, SourceInfo, UnknownEndpoint, WorkerConfig
from sfu.channel import MAX_FRAME, Channel, ChannelError, encode_frame
from sfu.port import (
    Connected,
    Failed,
    LocalPort,
    MediaPort,
    RoutingRefused,
    SourceAdded,
    SourceRemoved,
    WorkerEvent,
    WorkerLost,
)
from sfu.process import ProcessPort
from sfu.registry import WorkerRegistry

pytestmark = pytest.mark.media

RED = (220, 40, 40)
BLUE = (40, 40, 220)
CONFIG = WorkerConfig(host_addresses=["127.0.0.1"])
ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Driven:
    """A port and every event it reported."""

    port: MediaPort
    events: list[WorkerEvent] = field(default_factory=list)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


MakePort = Callable[[str], Awaitable[Driven]]


@pytest.fixture(params=["local", "process"])
async def make_port(request: pytest.FixtureRequest) -> AsyncIterator[MakePort]:
    made: list[Driven] = []

    async def make(name: str) -> Driven:
        port: MediaPort
        if request.param == "local":
            port = LocalPort(CONFIG, name=name)
        else:
            port = ProcessPort(CONFIG, name=name)
        driven = Driven(port)
        port.on_event = driven.events.append
        await port.start()
        made.append(driven)
        return driven

    try:
        yield make
    finally:
        for driven in made:
            await driven.port.close()
            assert not driven.port.alive
            assert not driven.of(WorkerLost)  # closing is not losing


def _source_ids(events: list[Any]) -> set[str]:
    return {e.source.source_id for e in events}


async def test_viewers_watch_and_switch_through_the_port(make_port: MakePort) -> None:
    w = await make_port("w0")
    port = w.port
    assert port.alive and port.pid is not None
    a = Publisher("alice", RED, amplitude=0.3)
    b = Publisher("bob", BLUE)
    s = Subscriber("sam")
    try:
        joined = await a.join(port)  # type: ignore[arg-type]
        assert [i.source_id for i in joined.sources] == ["alice:video", "alice:audio"]
        await b.join(port)  # type: ignore[arg-type]
        result = await s.join(port, video_slots=1, audio_slots=1)  # type: ignore[arg-type]
        assert [(i.slot_id, i.kind) for i in result.slots] == [("v0", "video"), ("a0", "audio")]
        assert _source_ids(w.of(SourceAdded)) == {
            "alice:video",
            "alice:audio",
            "bob:video",
            "bob:audio",
        }
        await wait_for(
            lambda: (
                {("sam", "subscribe"), ("alice", "publish")}
                <= {(e.endpoint_id, e.role) for e in w.of(Connected)}
            ),
            10,
            "connected events",
        )

        port.set_routings({"sam": {"v0": "alice:video", "a0": "alice:audio"}})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "alice's red")
        a0 = s.mid_of_slot["a0"]
        await wait_for(lambda: s.samples.get(a0, 0.0) > 2000, 10, "alice's tone")

        port.set_routings({"sam": {"v0": "bob:video"}})
        await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 10, "bob's blue")

        # A plan naming a source that is not there is refused as a whole, and says so.
        port.set_routings({"sam": {"v0": "alice:video", "a0": "nobody:audio"}})
        await wait_for(lambda: bool(w.of(RoutingRefused)), 5, "the refusal")
        refused = w.of(RoutingRefused)[0]
        assert refused.endpoint_id == "sam" and "nobody:audio" in refused.reason
        frames = s.slot_frames("v0")
        await wait_for(lambda: s.slot_frames("v0") > frames + 10, 5, "bob still on v0")
        assert near(s.slot_colour("v0"), BLUE)

        stats = await port.stats()
        assert stats["endpoints"]["sam"]["slots"]["v0"]["source"] == "bob:video"
        assert stats["endpoints"]["sam"]["slots"]["v0"]["packets"] > 0
        assert stats["endpoints"]["bob"]["sources"]["bob:video"]["subscribers"] == 1
        assert stats["endpoints"]["alice"]["sources"]["alice:video"]["subscribers"] == 0

        # Misuse and SDP the worker cannot use come back as errors to show; the worker
        # carries on.
        with pytest.raises(SdpError, match="cannot use the offer"):
            await port.create_endpoint("carl", "v=0\r\nthis is not SDP\r\n")
        with pytest.raises(SfuError, match="exists"):
            await port.create_endpoint("alice", None)
        with pytest.raises(UnknownEndpoint) as unknown:
            await port.set_subscribe_answer("nobody", "v=0\r\n")
        assert unknown.value.args == ("nobody",)
        with pytest.raises(RoutingError):
            await port.export_source("no-such-pipe", "nobody:video")
        port.request_keyframe("nobody:video")  # posted: dropped quietly
        assert port.alive

        # Alice's connection dies: her sources go at once, plans naming them are refused,
        # plans without them apply, and sam keeps bob.
        await a.close()
        await wait_for(lambda: "alice" in {e.endpoint_id for e in w.of(Failed)}, 10, "failed")
        assert _source_ids(w.of(SourceRemoved)) == {"alice:video", "alice:audio"}
        refusals = len(w.of(RoutingRefused))
        port.set_routings({"sam": {"a0": "alice:audio"}})
        await wait_for(lambda: len(w.of(RoutingRefused)) > refusals, 5, "a refusal")
        assert "alice:audio" in w.of(RoutingRefused)[-1].reason
        port.set_routings({"sam": {"a0": "bob:audio"}})
        frames = s.slot_frames("v0")
        await wait_for(lambda: s.slot_frames("v0") > frames + 10, 5, "bob still on v0")
        slots = (await port.stats())["endpoints"]["sam"]["slots"]
        assert "bob:audio" in (slots["a0"]["source"], slots["a0"]["pending"])
        assert len(w.of(RoutingRefused)) == refusals + 1

        await port.close_endpoint("alice")
        assert "alice" not in (await port.stats())["endpoints"]
        assert len(w.of(SourceRemoved)) == 2  # told once
    finally:
        await s.close()
        await a.close()
        await b.close()


async def test_a_viewer_on_one_port_watches_a_publisher_on_another(make_port: MakePort) -> None:
    here, there = await make_port("a"), await make_port("b")
    a = Publisher("alice", RED)
    s = Subscriber("sam")
    try:
        await a.join(here.port)  # type: ignore[arg-type]
        await s.join(there.port, video_slots=1, audio_slots=0)  # type: ignore[arg-type]
        address_a = await here.port.open_pipe("a-b")
        address_b = await there.port.open_pipe("a-b")
        await here.port.connect_pipe("a-b", address_b)
        await there.port.connect_pipe("a-b", address_a)
        description = await here.port.export_source("a-b", "alice:video")
        info = await there.port.import_source("a-b", description)
        assert info == SourceInfo("alice:video", "alice", "video", None)
        assert "alice:video" in _source_ids(there.of(SourceAdded))

        there.port.set_routings({"sam": {"v0": "alice:video"}})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red across the pipe")
        stats = await here.port.stats()
        assert stats["pipes"]["a-b"]["exports"] == ["alice:video"]
        assert stats["pipes"]["a-b"]["sent"] > 0

        await there.port.unimport_source("a-b", "alice:video")
        await wait_for(
            lambda: "alice:video" in _source_ids(there.of(SourceRemoved)), 5, "import removed"
        )
        assert (await there.port.stats())["endpoints"]["sam"]["slots"]["v0"]["source"] is None
        await here.port.close_pipe("a-b")
        await there.port.close_pipe("a-b")
    finally:
        await s.close()
        await a.close()


async def test_a_killed_worker_process_is_lost_within_two_seconds() -> None:
    port = ProcessPort(CONFIG, name="doomed")
    events: list[WorkerEvent] = []
    port.on_event = events.append
    await port.start()
    try:
        pending = asyncio.create_task(port.create_endpoint("x", None, video_slots=1))
        await asyncio.sleep(0)  # the request is on its way
        assert port.pid is not None
        os.kill(port.pid, signal.SIGKILL)
        with pytest.raises(SfuError, match="worker doomed lost"):
            await pending
        await wait_for(lambda: any(isinstance(e, WorkerLost) for e in events), 2.0, "lost")
        lost = [e for e in events if isinstance(e, WorkerLost)]
        assert "SIGKILL" in lost[0].reason
        assert not port.alive
        port.set_routings({"x": {"v0": None}})  # posted to a lost worker: dropped
        port.request_keyframe("x:video")
        assert port.posts_dropped == 2
        with pytest.raises(SfuError, match="lost"):
            await port.stats()
    finally:
        await port.close()
    assert len([e for e in events if isinstance(e, WorkerLost)]) == 1


async def test_a_worker_that_cannot_start_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = ProcessPort(WorkerConfig(tick_interval="soon"), name="confused")  # type: ignore[arg-type]
    with pytest.raises(SfuError, match="bad worker configuration"):
        await port.start()
    await port.close()
    assert not port.alive

    # A child that dies before it serves: its exit status and its stderr explain.
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ERROR no worker today' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    port = ProcessPort(CONFIG, name="broken")
    port.on_event = lambda event: pytest.fail(f"an event from a worker never started: {event}")
    with pytest.raises(SfuError, match=r"(?s)exited with status 3.*no worker today"):
        await port.start()
    await port.close()


async def test_a_malformed_frame_closes_the_channel(caplog: pytest.LogCaptureFixture) -> None:
    for bad in (b"\x00\x00\x00\x03\xc1\xc1\xc1", (MAX_FRAME + 1).to_bytes(4, "big")):
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        channel = Channel(reader, writer, name="t")
        got: list[dict[str, Any]] = []
        _, peer = await asyncio.open_unix_connection(sock=theirs)
        peer.write(encode_frame({"event": "fine"}) + bad)
        reason = await asyncio.wait_for(channel.run(got.append), 5)
        assert reason.startswith("malformed frame")
        assert got == [{"event": "fine"}]
        with pytest.raises(ChannelError):
            channel.send({"id": 1, "result": None})
        peer.close()
    assert "closing it" in caplog.text


# -- workers on another machine -----------------------------------------------------------


async def _remote_workers(
    address: tuple[str, int], token: str, log: Path, workers: int = 1
) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=ROOT)
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sfu.process",
            "--connect",
            f"{address[0]}:{address[1]}",
            "--token",
            token,
            "--workers",
            str(workers),
            "--announce-addresses",
            "127.0.0.1",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=out,
            env=env,
        )


async def test_remote_workers_serve_a_registry_end_to_end(tmp_path: Path) -> None:
    arrived: list[MediaPort] = []
    registry = WorkerRegistry("127.0.0.1", 0, "s3cret", arrived.append)
    address = await registry.start()
    process = await _remote_workers(address, "s3cret", tmp_path / "workers.log", workers=2)
    a = Publisher("alice", RED)
    s = Subscriber("sam")
    events: dict[str, list[WorkerEvent]] = {}
    try:
        await wait_for(lambda: len(arrived) == 2, 30, "two workers connecting")
        for port in arrived:
            events[port.name] = []
            port.on_event = events[port.name].append
            await port.start()
            assert port.alive and port.pid is not None and port.pid != os.getpid()
        here, there = arrived
        assert here.name != there.name

        # A publisher on one, a viewer on the other, a pipe between them.
        await a.join(here)  # type: ignore[arg-type]
        await s.join(there, video_slots=1, audio_slots=0)  # type: ignore[arg-type]
        address_a = await here.open_pipe("a-b")
        address_b = await there.open_pipe("a-b")
        await here.connect_pipe("a-b", address_b)
        await there.connect_pipe("a-b", address_a)
        await there.import_source("a-b", await here.export_source("a-b", "alice:video"))
        there.set_routings({"sam": {"v0": "alice:video"}})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red from a remote worker")
        await s.close()
        await a.close()

        # A worker that stops answering is lost once its heartbeats stop for 2 s.
        assert there.pid is not None
        os.kill(there.pid, signal.SIGSTOP)
        try:
            await wait_for(lambda: bool(events[there.name]) and not there.alive, 4, "lost")
        finally:
            os.kill(there.pid, signal.SIGCONT)
        lost = [e for e in events[there.name] if isinstance(e, WorkerLost)]
        assert len(lost) == 1 and "heartbeat" in lost[0].reason

        # Closing the other one ends its process; the lost one exits on its own.
        await here.close()
        status = await asyncio.wait_for(process.wait(), 15)
        assert status == 2  # one worker lost its control plane
        assert not [e for e in events[here.name] if isinstance(e, WorkerLost)]
    finally:
        await s.close()
        await a.close()
        for port in arrived:
            await port.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await registry.close()


async def test_a_worker_with_a_wrong_token_is_refused(tmp_path: Path) -> None:
    arrived: list[MediaPort] = []
    registry = WorkerRegistry("127.0.0.1", 0, "s3cret", arrived.append)
    address = await registry.start()
    log = tmp_path / "worker.log"
    try:
        process = await _remote_workers(address, "guess", log)
        assert await asyncio.wait_for(process.wait(), 30) == 1
        assert "refused this worker: wrong token" in log.read_text()
        assert arrived == [] and registry.refused == 1
    finally:
        await registry.close()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has stopped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
async def test_a_worker_process_stops_with_its_parent() -> None:
    # A control plane killed without a chance to clean up leaves no worker behind.
    script = (
        "import asyncio, sys\n"
        "from sfu import WorkerConfig\n"
        "from sfu.process import ProcessPort\n"
        "async def main():\n"
        "    port = ProcessPort(WorkerConfig(host_addresses=['127.0.0.1']))\n"
        "    await port.start()\n"
        "    print(port.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 30)
        child = int(line)
        assert _running(child)
    finally:
        parent.kill()
        await parent.wait()
    await wait_for(lambda: not _running(child), 5, "the worker stopping with its parent")
