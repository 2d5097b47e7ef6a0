"""Media workers on another machine: ``podium sfu --connect`` registers with the server.

The "other machine" is a separate process tree on loopback: the server's own worker and a
registered one carry one participant each, meeting through a pipe; when the registered
worker's processes die, its participant comes back on the server's own worker.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.target import free_port
from signaling import protocol as p
from signaling.config import Config

from .conftest import Running, server_config
from .media_bots import started

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parents[2]
RED = (230, 30, 30)
TOKEN = "a-token-for-media-workers"


@pytest.fixture
def listen_port() -> int:
    return free_port()


@pytest.fixture
def config(tmp_path: Path, listen_port: int) -> Config:
    return server_config(
        tmp_path,
        media_workers=1,
        media_listen=f"127.0.0.1:{listen_port}",
        media_token=TOKEN,
    )


@pytest.fixture
def remote_sfu(listen_port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "signaling.cli",
        "sfu",
        "--connect",
        f"127.0.0.1:{listen_port}",
        "--token",
        TOKEN,
        "--workers",
        "1",
        "--announce-addresses",
        "127.0.0.1",
        "--name",
        "far",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_a_registered_worker_carries_participants_and_its_loss_is_survived(
    running: Running, remote_sfu: subprocess.Popen[bytes]
) -> None:
    media = running.hub.media
    assert media is not None
    deadline = time.monotonic() + 20
    while not any(w.remote and w.port.alive for w in media.workers):
        assert remote_sfu.poll() is None, "podium sfu exited"
        assert time.monotonic() < deadline, "the remote worker never registered"
        await asyncio.sleep(0.1)

    speaker = await started(await running.client("Speaker", "speaker"), RED)
    viewer = await started(await running.client("Viewer"), None)
    try:
        for bot in (speaker, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        remote = next(w for w in media.workers if w.remote)
        local = next(w for w in media.workers if not w.remote)
        # One participant on each machine's worker, the speaker piped across.
        assert len(remote.endpoints) == 1 and len(local.endpoints) == 1

        on_remote = speaker if speaker.participant_id in remote.endpoints else viewer
        restarts = on_remote.restarts
        remote_sfu.send_signal(signal.SIGKILL)
        await viewer.wait_until(lambda: on_remote.restarts > restarts, within=10)
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED), within=10)
        # Nobody replaces another machine's worker: both now live on the server's own.
        assert all(not w.remote for w in media.workers if w.port.alive)
        assert len(local.endpoints) == 2
    finally:
        for bot in (speaker, viewer):
            await bot.close()


async def test_a_worker_with_the_wrong_token_is_refused(listen_port: int, running: Running) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "signaling.cli",
            "sfu",
            "--connect",
            f"127.0.0.1:{listen_port}",
            "--token",
            "not-the-token",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "wrong token" in done.stderr
    assert running.hub.media is not None
    assert not any(w.remote for w in running.hub.media.workers)
