"""Media through the signaling server: real aiortc peers over loopback, solid colours.

One viewer goes through a whole conference day without ever renegotiating: the stage, a
booth, a Q&A promotion and demotion, a discussion round, and back.
"""

from __future__ import annotations

import pytest

from signaling import protocol as p

from .conftest import Running
from .media_bots import MediaBot, started

pytestmark = pytest.mark.media

RED = (230, 30, 30)
GREEN = (30, 200, 60)
BLUE = (40, 60, 230)
YELLOW = (240, 220, 40)


async def _bot(running: Running, name: str, colour, role="attendee") -> MediaBot:  # type: ignore[no-untyped-def]
    return await started(await running.client(name, role), colour)


async def test_a_conference_day_with_one_negotiation(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    speaker = await _bot(running, "Speaker", RED, "speaker")
    asker = await _bot(running, "Asker", GREEN)
    viewer = await _bot(running, "Viewer", None)
    booth_a = await _bot(running, "Booth A", BLUE)
    booth_b = await _bot(running, "Booth B", YELLOW)
    bots = [speaker, asker, viewer, booth_a, booth_b]
    try:
        await moderator.request(p.Join(space_id="main-stage"))
        for bot in (speaker, asker, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        for bot in (booth_a, booth_b):
            await bot.client.request(p.Join(space_id="booth-01"))

        # The stage: the speaker's red reaches the audience; the attendee's green does not.
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        assert asker.participant_id not in viewer.video_slots_showing().values()
        await asker.wait_until(lambda: asker.sees(speaker.participant_id, RED))

        # A booth: everyone sees everyone.
        await viewer.client.request(p.Join(space_id="booth-01"))
        await viewer.wait_until(
            lambda: (
                viewer.sees(booth_a.participant_id, BLUE)
                and viewer.sees(booth_b.participant_id, YELLOW)
            )
        )
        assert speaker.participant_id not in viewer.video_slots_showing().values()
        await booth_a.wait_until(lambda: booth_a.sees(booth_b.participant_id, YELLOW))

        # Back on stage, a raised hand is promoted into a Q&A slot, then demoted.
        await viewer.client.request(p.Join(space_id="main-stage"))
        await asker.client.request(p.RaiseHand())
        await moderator.request(p.Promote(participant_id=asker.participant_id))
        await viewer.wait_until(
            lambda: (
                viewer.sees(asker.participant_id, GREEN)
                and viewer.sees(speaker.participant_id, RED)
            )
        )
        await speaker.wait_until(lambda: speaker.sees(asker.participant_id, GREEN))
        await moderator.request(p.Demote(participant_id=asker.participant_id))
        await viewer.wait_until(
            lambda: asker.participant_id not in viewer.video_slots_showing().values()
        )

        # A round: the viewer and the asker share a room and see each other.
        ack = await moderator.request(p.OpenRound(room_count=2, duration_s=300, mode="manual"))
        assert ack.result is not None
        round_id, room = ack.result["round_id"], ack.result["room_ids"][0]
        for bot in (viewer, asker):
            await moderator.request(
                p.Assign(round_id=round_id, participant_id=bot.participant_id, room_id=room)
            )
        await viewer.wait_until(lambda: viewer.sees(asker.participant_id, GREEN))
        await asker.wait_until(
            lambda: viewer.participant_id not in asker.video_slots_showing().values()
        )
        await moderator.request(p.CloseRound(round_id=round_id))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        assert asker.participant_id not in viewer.video_slots_showing().values()

        # Negotiated exactly once, all day long.
        for bot in bots:
            assert bot.offers == 1
            offers = [m for m in bot.client.inbox if isinstance(m, p.SfuOffer)]
            assert len(offers) == 1
    finally:
        for bot in bots:
            await bot.close()


async def test_removed_participant_media_stops_at_once(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    speaker = await _bot(running, "Speaker", RED, "speaker")
    viewer = await _bot(running, "Viewer", None)
    try:
        for bot in (speaker, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        await moderator.request(p.Remove(participant_id=speaker.participant_id, reason="test"))
        await viewer.wait_until(
            lambda: speaker.participant_id not in viewer.video_slots_showing().values()
        )
        assert running.hub.media is not None
        stats = await running.hub.media.stats()
        assert all(speaker.participant_id not in part["endpoints"] for part in stats.values())
    finally:
        await speaker.close()
        await viewer.close()


async def test_media_answer_without_offer_and_bad_sdp_get_errors(running: Running) -> None:
    client = await running.client("Nobody")
    reply = await client.try_request(p.MediaAnswer(sdp="v=0\r\n", kind="subscribe"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "conflict"
    reply = await client.try_request(p.MediaOffer(sdp="this is not sdp", kind="publish"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "invalid", reply
    await client.request(p.Ping())


async def test_garbage_sdp_is_refused_and_state_is_kept(running: Running) -> None:
    client = await running.client("Prankster")
    await client.request(p.Join(space_id="booth-02"))
    offer = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    )
    reply = await client.try_request(p.MediaOffer(sdp=offer, kind="publish"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "invalid"
    await client.request(p.Sync())
    await client.until(lambda: client.space_id == "booth-02")


async def test_viewer_turns_camera_on_to_come_on_stage(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    viewer = await _bot(running, "Viewer", None)
    late = await _bot(running, "Late publisher", None)
    try:
        for bot in (viewer, late):
            await bot.client.request(p.Join(space_id="main-stage"))
        await late.turn_camera_on(BLUE)
        await late.client.request(p.RaiseHand())
        await moderator.request(p.Promote(participant_id=late.participant_id))
        await viewer.wait_until(lambda: viewer.sees(late.participant_id, BLUE))
        assert late.offers == 1  # the subscribe connection was never renegotiated
        assert len([m for m in late.client.inbox if isinstance(m, p.SfuOffer)]) == 1
    finally:
        await viewer.close()
        await late.close()
