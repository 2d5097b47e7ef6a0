"""Several media workers behind the control plane: placement, pipes, watched tracks.

Real aiortc peers over loopback through the real server. The workers here run inside the
test's process behind the same media port the worker processes use (the processes have
their own tests), so a viewer on one worker and a publisher on another meet through a real
pipe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sfu.port import LocalPort, MediaPort
from signaling import media as media_module
from signaling import protocol as p
from signaling.config import Config

from .conftest import Running, server_config
from .media_bots import MediaBot, close_to, started

pytestmark = pytest.mark.media

RED = (230, 30, 30)
GREEN = (30, 200, 60)
BLUE = (40, 60, 230)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    def in_process(config: Config) -> media_module.PortFactory:
        def port(name: str) -> MediaPort:
            return LocalPort(media_module.worker_config(config), name=name)

        return port

    monkeypatch.setattr(media_module, "process_ports", in_process)
    return server_config(tmp_path, media_workers=2)


def _watched(bot: MediaBot) -> list[tuple[bool, bool]]:
    return [(m.video, m.audio) for m in bot.client.inbox if isinstance(m, p.MediaWatched)]


async def test_a_viewer_on_another_worker_sees_the_speaker_through_a_pipe(
    running: Running,
) -> None:
    media = running.hub.media
    assert media is not None and len(media.workers) == 2
    speaker = await started(await running.client("Speaker", "speaker"), RED)
    viewers = [await started(await running.client(f"V{i}"), None) for i in range(3)]
    try:
        for bot in (speaker, *viewers):
            await bot.client.request(p.Join(space_id="main-stage"))
        for viewer in viewers:
            await viewer.wait_until(lambda v=viewer: v.sees(speaker.participant_id, RED))
        summary = {w["name"]: w for w in media.summary()}
        # Placed by load: two endpoints on each worker.
        assert sorted(w["endpoints"] for w in summary.values()) == [2, 2]
        # The speaker's video and audio went once to the other worker, whoever watches there.
        speaker_worker = next(w for w in media.workers if speaker.participant_id in w.endpoints)
        other = next(w for w in media.workers if w is not speaker_worker)
        assert len(other.imports) == 2
        assert sorted(other.imports) == sorted(
            f"{speaker.participant_id}:{kind}" for kind in ("audio", "video")
        )
    finally:
        for bot in (speaker, *viewers):
            await bot.close()


async def test_publishers_are_told_whether_anyone_receives_them(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    speaker = await started(await running.client("Speaker", "speaker"), RED)
    asker = await started(await running.client("Asker"), GREEN)
    viewer = await started(await running.client("Viewer"), BLUE)
    bots = [speaker, asker, viewer]
    try:
        await moderator.request(p.Join(space_id="main-stage"))
        for bot in bots:
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        # The audience's cameras are received by nobody; the speaker's by everyone.
        await asker.wait_until(lambda: _watched(asker)[-1:] == [(False, False)])
        await speaker.wait_until(lambda: _watched(speaker)[-1:] == [(True, True)])

        await asker.client.request(p.RaiseHand())
        await moderator.request(p.Promote(participant_id=asker.participant_id))
        await asker.wait_until(lambda: _watched(asker)[-1:] == [(True, True)])
        await viewer.wait_until(lambda: viewer.sees(asker.participant_id, GREEN))

        await moderator.request(p.Demote(participant_id=asker.participant_id))
        await asker.wait_until(lambda: _watched(asker)[-1:] == [(False, False)])
        # Only changes are sent: on, off, on, off at most.
        assert len(_watched(asker)) <= 4
        assert len(_watched(viewer)) <= 2
    finally:
        for bot in bots:
            await bot.close()


async def test_a_speaker_whose_connection_died_leaves_an_empty_slot_not_a_dark_stage(
    running: Running,
) -> None:
    first = await started(await running.client("First", "speaker"), RED)
    second = await started(await running.client("Second", "speaker"), GREEN)
    viewer = await started(await running.client("Viewer"), None)
    late: MediaBot | None = None
    try:
        for bot in (first, second, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(
            lambda: (
                viewer.sees(first.participant_id, RED) and viewer.sees(second.participant_id, GREEN)
            )
        )
        # The first speaker's media connection dies; their seat is kept for the grace period.
        assert first.publish_pc is not None
        await first.publish_pc.close()
        await viewer.wait_until(
            lambda: first.participant_id not in viewer.video_slots_showing().values()
        )
        assert viewer.sees(second.participant_id, GREEN)
        # Someone joining now gets the live speaker, not a refused plan and a dark stage.
        late = await started(await running.client("Late"), None)
        await late.client.request(p.Join(space_id="main-stage"))
        await late.wait_until(lambda: late is not None and late.sees(second.participant_id, GREEN))
        frames = dict(viewer.frames_by_mid)
        await viewer.wait_until(
            lambda: any(viewer.frames_by_mid.get(mid, 0) > n + 10 for mid, n in frames.items())
        )
    finally:
        for bot in (first, second, viewer, *([late] if late else [])):
            await bot.close()


def test_close_to_tolerates_codec_noise() -> None:
    assert close_to((228, 33, 29), RED)
    assert not close_to((30, 200, 60), RED)
