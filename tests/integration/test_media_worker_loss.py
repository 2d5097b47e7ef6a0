"""A media worker process killed mid-event: its participants are back with media quickly.

Real worker processes (``python -m sfu.process``) behind the real server, real aiortc peers
over loopback. SIGKILL leaves the worker no chance to say goodbye.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from signaling import protocol as p
from signaling.config import Config

from .conftest import Running, server_config
from .media_bots import MediaBot, started

pytestmark = pytest.mark.media

RED = (230, 30, 30)
BACK_WITHIN_S = 5.0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return server_config(tmp_path, media_workers=2)


def _worker_pid(running: Running, bot: MediaBot) -> int:
    media = running.hub.media
    assert media is not None
    worker = next(w for w in media.workers if bot.participant_id in w.endpoints)
    assert worker.port.pid is not None and worker.port.pid != os.getpid()
    return worker.port.pid


async def _kill_and_wait(
    running: Running, victim: MediaBot, viewer: MediaBot, speaker: str
) -> None:
    pid = _worker_pid(running, victim)
    restarts = victim.restarts
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    await viewer.wait_until(lambda: victim.restarts > restarts, within=BACK_WITHIN_S)
    await viewer.wait_until(lambda: viewer.sees(speaker, RED), within=BACK_WITHIN_S)
    assert time.monotonic() - killed < BACK_WITHIN_S
    # Nobody lost their place in the event, and a worker took the dead one's place.
    assert running.hub.media is not None
    await viewer.wait_until(
        lambda: (
            running.hub.media is not None
            and sum(1 for w in running.hub.media.workers if w.port.alive) == 2
        )
    )
    assert all(w.port.pid != pid for w in running.hub.media.workers)


async def test_the_participants_of_a_killed_worker_come_back_with_media(running: Running) -> None:
    speaker = await started(await running.client("Speaker", "speaker"), RED)
    viewer = await started(await running.client("Viewer"), None)
    try:
        for bot in (speaker, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        assert _worker_pid(running, speaker) != _worker_pid(running, viewer)

        # The viewer's worker dies: the viewer negotiates again and sees the speaker.
        await _kill_and_wait(running, viewer, viewer, speaker.participant_id)
        # The speaker's worker dies: the speaker publishes again and reaches the viewer.
        await _kill_and_wait(running, speaker, viewer, speaker.participant_id)

        event = running.hub.event
        assert event is not None
        for bot in (speaker, viewer):
            assert event.participants[bot.participant_id].space_id == "main-stage"
        assert speaker.participant_id in event.slots["main-stage"].speakers
    finally:
        for bot in (speaker, viewer):
            await bot.close()
