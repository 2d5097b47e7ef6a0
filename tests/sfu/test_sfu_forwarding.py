"""End to end through the worker with real aiortc peers over loopback: publishers send
their own solid colour; a subscriber decodes its slots and checks what it sees."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.rtp import RtcpPsfbPacket
from sfu_peers import Publisher, Subscriber, near, unwrap, wait_for

from sfu import RoutingError, UnknownEndpoint, Worker, WorkerConfig
from sfu.adapter import announced_addresses
from sfu.rtp import NTP_EPOCH_OFFSET

pytestmark = pytest.mark.media

RED = (220, 40, 40)
BLUE = (40, 40, 220)
GREEN = (40, 200, 40)


@pytest.fixture
async def room(worker: Worker) -> AsyncIterator[tuple[Publisher, Publisher, Subscriber]]:
    a = Publisher("alice", RED, amplitude=0.3)
    b = Publisher("bob", BLUE, amplitude=0.0)
    s = Subscriber("sam")
    await a.join(worker)
    await b.join(worker)
    await s.join(worker, video_slots=2, audio_slots=2)
    try:
        yield a, b, s
    finally:
        await s.close()
        await a.close()
        await b.close()


def assert_continuous(seqs: list[int], what: str) -> None:
    values = sorted(set(unwrap(seqs)))
    assert values, f"no packets on {what}"
    gaps = [(x, y) for x, y in itertools.pairwise(values) if y != x + 1]
    assert not gaps, f"sequence gaps on {what}: {gaps[:5]}"


async def test_repointing_shows_the_right_colours_without_renegotiation(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    _, _, s = room
    worker.set_routing("sam", {"v0": "alice:video", "v1": "bob:video"})
    await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "alice's red on v0")
    await wait_for(lambda: near(s.slot_colour("v1"), BLUE), 10, "bob's blue on v1")

    # A -> B on v0, and the reverse on v1.
    worker.set_routing("sam", {"v0": "bob:video", "v1": "alice:video"})
    await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 5, "blue on v0 after the switch")
    await wait_for(lambda: near(s.slot_colour("v1"), RED), 5, "red on v1 after the switch")

    # B -> empty: the slot goes quiet at once.
    worker.set_routing("sam", {"v0": None})
    before = s.packets("v0")
    frames = s.slot_frames("v0")
    await asyncio.sleep(0.5)  # observing that nothing arrives takes some time by nature
    assert s.packets("v0") - before <= 2  # at most what was already on the wire
    assert s.slot_frames("v0") - frames <= 2

    # Empty -> A.
    worker.set_routing("sam", {"v0": "alice:video"})
    await wait_for(lambda: near(s.slot_colour("v0"), RED), 5, "red on v0 again")
    await wait_for(lambda: s.slot_frames("v0") > frames + 10, 5, "v0 playing again")

    # One negotiation for the whole session, and one stream per slot the whole time.
    assert s.offers_received == 1
    assert s.pc.signalingState == "stable"
    assert len(s.tracks) == 4
    for slot_id in ("v0", "v1"):
        ssrc = s.slot_ssrc(slot_id)
        assert_continuous(s.seqs[ssrc], slot_id)
        headers = s.headers[ssrc]
        # Timestamps only move forward and picture ids step by one per frame, across
        # every switch.
        ordered = sorted(zip(unwrap([h[0] for h in headers]), headers, strict=True))
        frames_seen: list[tuple[int, int]] = []
        for _, (_seq, ts, pid, _) in ordered:
            if not frames_seen or frames_seen[-1][0] != ts:
                frames_seen.append((ts, pid))
        for (ts1, pid1), (ts2, pid2) in itertools.pairwise(frames_seen):
            assert 0 < (ts2 - ts1) & 0xFFFFFFFF < 0x80000000, f"{slot_id} timestamp went back"
            assert (pid2 - pid1) & 0x7FFF == 1, f"{slot_id} picture id jumped {pid1}->{pid2}"
        print(slot_id, "frames", len(frames_seen), "packets", len(headers))
    stats = worker.stats()["endpoints"]["sam"]["slots"]  # type: ignore[index]
    assert stats["v0"]["switches"] == 3


async def test_audio_follows_the_plan(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    _, _, s = room
    a0 = s.mid_of_slot["a0"]
    worker.set_routing("sam", {"a0": "alice:audio"})
    await wait_for(lambda: s.samples.get(a0, 0.0) > 2000, 10, "alice's tone on a0")
    worker.set_routing("sam", {"a0": "bob:audio"})
    await wait_for(lambda: s.samples.get(a0, 1e9) < 50, 5, "bob's silence on a0")
    assert_continuous(s.seqs[s.slot_ssrc("a0")], "a0")


async def test_unrouted_slots_and_sources_send_nothing(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    _, _, s = room
    worker.set_routing("sam", {"v0": "alice:video"})
    await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red on v0")
    await wait_for(lambda: s.packets("v0") > 30, 5, "a second of v0")
    # Bob publishes all along but nothing routes him to sam: nothing of his arrives.
    assert s.packets("v1") == 0
    assert s.slot_colour("v1") is None
    assert worker.stats()["endpoints"]["bob"]["sources"]["bob:video"]["subscribers"] == 0  # type: ignore[index]


async def test_routing_is_checked_before_anything_changes(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    worker.set_routing("sam", {"v0": "alice:video"})
    with pytest.raises(RoutingError):
        worker.set_routing("sam", {"v0": "bob:video", "v1": "alice:audio"})
    with pytest.raises(RoutingError):
        worker.set_routing("sam", {"v7": "bob:video"})
    with pytest.raises(RoutingError):
        worker.set_routing("sam", {"v1": "nobody:video"})
    assert worker.routing("sam") == {"v0": "alice:video", "v1": None, "a0": None, "a1": None}
    with pytest.raises(UnknownEndpoint):  # one bad plan stops all of them
        worker.set_routings({"sam": {"v1": "bob:video"}, "nobody": {"v0": None}})
    assert worker.routing("sam")["v1"] is None
    worker.set_routings({"sam": {"v1": "bob:video", "a0": "bob:audio"}})
    assert worker.routing("sam")["v1"] == "bob:video"


async def test_removed_source_stops_at_once(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    _, _, s = room
    worker.set_routing("sam", {"v0": "alice:video", "a0": "alice:audio"})
    await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red on v0")
    slots = worker.stats()["endpoints"]["sam"]["slots"]  # type: ignore[index]
    await worker.close_endpoint("alice")
    after = worker.stats()["endpoints"]["sam"]["slots"]  # type: ignore[index]
    assert after["v0"]["source"] is None and after["a0"]["source"] is None
    sent_v0 = after["v0"]["packets"]
    assert slots["v0"]["packets"] <= sent_v0
    received = s.packets("v0") + s.packets("a0")
    await asyncio.sleep(0.3)
    assert worker.stats()["endpoints"]["sam"]["slots"]["v0"]["packets"] == sent_v0  # type: ignore[index]
    assert s.packets("v0") + s.packets("a0") - received <= 2
    with pytest.raises(RoutingError):
        worker.set_routing("sam", {"v0": "alice:video"})


async def test_nack_rtx_repairs_five_percent_loss(worker: Worker) -> None:
    a = Publisher("alice", GREEN)
    s = Subscriber("sam", loss=0.05, seed=3)
    try:
        await a.join(worker)
        await s.join(worker, video_slots=1, audio_slots=0)
        worker.set_routing("sam", {"v0": "alice:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), GREEN), 10, "green on v0")
        ssrc = s.slot_ssrc("v0")
        await wait_for(lambda: len(s.dropped.get(ssrc, ())) >= 6, 15, "six packets lost")
        dropped = set(s.dropped[ssrc])
        await wait_for(
            lambda: dropped <= set(s.recovered.get(ssrc, ())), 5, "every loss retransmitted"
        )
        # With the repairs, the stream the decoder saw has no hole.
        assert_continuous(s.seqs[ssrc] + s.recovered[ssrc], "v0 with retransmissions")
        slot = worker.stats()["endpoints"]["sam"]["slots"]["v0"]  # type: ignore[index]
        print("dropped", sorted(dropped), "received", len(s.seqs[ssrc]), slot)
        assert slot["retransmitted"] >= len(dropped)
        frames = s.slot_frames("v0")
        await wait_for(lambda: s.slot_frames("v0") > frames + 15, 5, "video keeps playing")
        assert near(s.slot_colour("v0"), GREEN)
    finally:
        await s.close()
        await a.close()


async def test_sender_reports_are_mapped_from_the_source(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    _, _, s = room
    worker.set_routing("sam", {"v0": "alice:video"})
    ssrc = s.slot_ssrc("v0")
    await wait_for(lambda: len(s.sender_reports.get(ssrc, ())) >= 2, 10, "two SRs on v0")
    worker.set_routing("sam", {"v0": "bob:video"})
    await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 5, "blue on v0")
    count = len(s.sender_reports[ssrc])
    await wait_for(lambda: len(s.sender_reports[ssrc]) >= count + 2, 10, "two SRs after")
    for ntp, rtp_ts, arrival in s.sender_reports[ssrc][-2:]:
        # The NTP time is the publisher's wall clock (the same machine).
        assert abs(ntp / 2**32 - NTP_EPOCH_OFFSET - arrival) < 0.5
        # And its RTP time is in the slot's timestamp space: the last packet's timestamp
        # moved on by the time elapsed since it arrived.
        last = max(
            (h for h in s.headers[ssrc] if h[3] <= arrival), key=lambda h: h[3], default=None
        )
        assert last is not None
        expected = last[1] + (arrival - last[3]) * 90000
        # (Loose: packet timestamps follow the encoder's clock and the arrivals seen here
        # jitter on a loaded machine; an unmapped report would be off by far more.)
        assert abs(((rtp_ts - int(expected) + 2**31) % 2**32) - 2**31) < 90000 * 0.6


async def test_feedback_reaches_the_publisher(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    a, _, s = room
    video_sender = next(x for x in a.pc.getSenders() if x.track and x.track.kind == "video")
    remb: list[int] = []
    original = video_sender._handle_rtcp_packet

    async def spy(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == 15:
            remb.append(1)
        await original(packet)

    video_sender._handle_rtcp_packet = spy  # type: ignore[method-assign]
    worker.set_routing("sam", {"v0": "alice:video"})

    async def remote_inbound() -> bool:
        report = await video_sender.getStats()
        return any(st.type == "remote-inbound-rtp" for st in report.values())

    deadline = time.monotonic() + 10
    while not await remote_inbound():
        assert time.monotonic() < deadline, "no receiver report reached the publisher"
        await asyncio.sleep(0.1)
    await wait_for(lambda: bool(remb), 10, "a REMB at the publisher")

    # A subscriber's PLI goes upstream as a keyframe request.
    plis = worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["plis_sent"]  # type: ignore[index]
    await asyncio.sleep(0.35)  # past the PLI throttle
    receiver = next(t.receiver for t in s.pc.getTransceivers() if t.mid == s.mid_of_slot["v0"])
    await receiver._send_rtcp_pli(s.slot_ssrc("v0"))
    await wait_for(
        lambda: (
            worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["plis_sent"]  # type: ignore[index]
            > plis
        ),
        5,
        "the PLI forwarded upstream",
    )


async def test_audio_levels_rank_the_speaker(
    worker: Worker, room: tuple[Publisher, Publisher, Subscriber]
) -> None:
    seen: dict[str, int] = {}
    worker.on_audio_levels = seen.update
    await wait_for(lambda: {"alice:audio", "bob:audio"} <= set(seen), 10, "levels of both")
    await wait_for(
        lambda: worker.audio_levels().get("alice:audio", 127) < 30, 5, "alice's tone is loud"
    )
    assert worker.audio_levels()["bob:audio"] == 127  # silence


async def test_events_connected_sources_and_failure(worker: Worker) -> None:
    connected: list[tuple[str, str]] = []
    added: list[tuple[str, str]] = []
    failed: list[str] = []
    worker.on_connected = lambda endpoint, role: connected.append((endpoint, role))
    worker.on_source_added = lambda info: added.append((info.source_id, info.kind))
    worker.on_failed = lambda endpoint, reason: failed.append(endpoint)
    a = Publisher("alice", RED)
    s = Subscriber("sam")
    try:
        await a.join(worker)
        await s.join(worker, video_slots=1, audio_slots=0)
        assert sorted(added) == [("alice:audio", "audio"), ("alice:video", "video")]
        await wait_for(
            lambda: {("alice", "publish"), ("sam", "subscribe")} <= set(connected), 10, "connected"
        )
        worker.set_routing("sam", {"v0": "alice:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red on v0")
        await a.close()  # alice's browser goes away
        await wait_for(lambda: failed == ["alice"], 10, "alice reported failed")
        assert worker.routing("sam") == {"v0": None}
    finally:
        await s.close()
        await a.close()


async def test_h264_is_forwarded_where_negotiated() -> None:
    async with Worker(
        WorkerConfig(host_addresses=("127.0.0.1",), video_codecs=("VP8", "H264"))
    ) as w:
        a = Publisher("alice", BLUE)
        h264 = [
            c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"
        ]
        for t in a.pc.getTransceivers():
            if t.kind == "video":
                t.setCodecPreferences(h264)
        s = Subscriber("sam")
        try:
            await a.join(w)
            await s.join(w, video_slots=1, audio_slots=0)
            w.set_routing("sam", {"v0": "alice:video"})
            await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 15, "blue over H264")
            source = w.stats()["endpoints"]["alice"]["sources"]["alice:video"]  # type: ignore[index]
            assert source["codecs"] == ["H264"]  # the publisher really sends H264
            assert_continuous(s.seqs[s.slot_ssrc("v0")], "v0")
        finally:
            await s.close()
            await a.close()


async def test_upstream_loss_is_repaired_by_the_publisher(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfu.endpoint import Endpoint

    dropped: list[int] = []
    original = Endpoint._on_publish_rtp
    rng = random.Random(11)

    def lossy(self: Endpoint, data: bytes, arrival: float) -> None:
        # 8 % of alice's first transmissions are lost on the way in; RTX gets through.
        source = self.sources.get("alice:video")
        ssrc = int.from_bytes(data[8:12], "big")
        if source is not None and ssrc == source.ssrc and rng.random() < 0.08:
            dropped.append(int.from_bytes(data[2:4], "big"))
            return
        original(self, data, arrival)

    monkeypatch.setattr(Endpoint, "_on_publish_rtp", lossy)
    a = Publisher("alice", GREEN)
    s = Subscriber("sam")
    try:
        await a.join(worker)
        await s.join(worker, video_slots=1, audio_slots=0)
        worker.set_routing("sam", {"v0": "alice:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), GREEN), 10, "green on v0")
        dropped.clear()  # count only losses while the slot is playing
        await wait_for(lambda: len(dropped) >= 3, 15, "three packets lost upstream")
        seen = s.packets("v0")
        await wait_for(lambda: s.packets("v0") > seen + 20, 5, "packets after the losses")
        source = worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]  # type: ignore[index]
        await wait_for(
            lambda: (
                worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["missing"]  # type: ignore[index]
                == 0
            ),
            5,
            "every upstream loss repaired",
        )
        assert source["received"] > 0
        # The subscriber sees a stream without holes, repaired packets included. The newest
        # packets may still be on their way (or being repaired on a busy machine), so only
        # the stream up to shortly before the latest packet is judged.
        ssrc = s.slot_ssrc("v0")

        def holes() -> list[int]:
            values = sorted(set(unwrap(s.seqs[ssrc])))
            settled = [v for v in values if v <= values[-1] - 30]
            return [x for x, b in itertools.pairwise(settled) if b != x + 1]

        await wait_for(lambda: not holes(), 5, "a stream without holes at the subscriber")
    finally:
        await s.close()
        await a.close()


async def test_a_viewer_starts_publishing_later(worker: Worker) -> None:
    s = Subscriber("sam")
    v = Subscriber("vic")
    camera = Publisher("vic", GREEN)
    try:
        await s.join(worker, video_slots=1, audio_slots=0)
        await v.join(worker, video_slots=1, audio_slots=0)  # vic only watches at first
        assert worker.sources("vic") == []
        offer = await camera.pc.createOffer()
        with announced_addresses(("127.0.0.1",)):
            await camera.pc.setLocalDescription(offer)
        result = await worker.add_publisher("vic", camera.pc.localDescription.sdp)
        assert {i.source_id for i in result.sources} == {"vic:video", "vic:audio"}
        await camera.pc.setRemoteDescription(
            RTCSessionDescription(sdp=result.publish_answer_sdp, type="answer")
        )
        worker.set_routing("sam", {"v0": "vic:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), GREEN), 10, "vic's green for sam")
        assert v.offers_received == 1  # vic's subscribe connection was not touched
    finally:
        await s.close()
        await v.close()
        await camera.close()


async def test_concurrent_joins_all_play(worker: Worker) -> None:
    a = Publisher("alice", RED)
    viewers = [Subscriber(f"viewer{i}") for i in range(8)]
    try:
        await a.join(worker)
        await asyncio.gather(*(v.join(worker, video_slots=1, audio_slots=0) for v in viewers))
        worker.set_routings({v.name: {"v0": "alice:video"} for v in viewers})
        for v in viewers:
            await wait_for(lambda v=v: near(v.slot_colour("v0"), RED), 10, f"red for {v.name}")
        assert worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["subscribers"] == 8  # type: ignore[index]
    finally:
        for v in viewers:
            await v.close()
        await a.close()
