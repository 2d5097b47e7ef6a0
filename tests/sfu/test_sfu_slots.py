"""Slots and sources without the network: keyframe-gated switching, continuity, NACK
answers from the ring, upstream feedback and sender report mapping."""

from __future__ import annotations

import itertools
import struct

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu import rtcp, sdp
from sfu.forwarding import Slot, Source
from sfu.rtp import ExtensionLayout, InPacket, parse, parse_vp8

ABS = b"\x00\x00\x01"
EXT_MAP = HeaderExtensionsMap()
EXT_MAP.configure(
    RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri=sdp.URI_MID),
            RTCRtpHeaderExtensionParameters(id=3, uri=sdp.URI_ABS_SEND_TIME),
        ]
    )
)


class Publisher:
    """Makes VP8 packets the way a camera would: one or more packets per frame."""

    def __init__(self, ssrc: int, seq: int, ts: int, pid: int) -> None:
        self.ssrc, self.seq, self.ts, self.pid = ssrc, seq, ts, pid
        self.now = 0.0

    def frame(self, key: bool, packets: int = 2) -> list[InPacket]:
        out = []
        for i in range(packets):
            start = i == 0
            desc = bytes([0x90 if start else 0x80, 0x80, 0x80 | (self.pid >> 8), self.pid & 0xFF])
            body = bytes([0x00 if key else 0x01]) + b"frame" if start else b"more"
            marker = 0x80 if i == packets - 1 else 0
            data = struct.pack("!BBHII", 0x80, marker | 96, self.seq, self.ts, self.ssrc)
            p = parse(data + desc + body, (0, 0, 0), self.now)
            assert p is not None
            out.append(p)
            self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 3000) & 0xFFFFFFFF
        self.pid = (self.pid + 1) & 0x7FFF
        self.now += 1 / 30
        return out


def make_source(name: str, ssrc: int, kind: str = "video") -> tuple[Source, list[bytes]]:
    feedback: list[bytes] = []
    codecs = {96: "VP8"} if kind == "video" else {111: "OPUS"}
    source = Source(f"{name}:{kind}", name, kind, "0", codecs, {97: 96}, 90000, ssrc, ssrc + 1)
    source.upstream = lambda data: feedback.append(data) or True
    return source, feedback


def make_slot(kind: str = "video") -> tuple[Slot, list[RtpPacket]]:
    sent: list[RtpPacket] = []
    slot = Slot(
        "v0",
        "sub",
        kind,
        "4",
        5555,
        6666,
        lambda d: sent.append(RtpPacket.parse(d, EXT_MAP)) or True,
    )
    slot.configure({"VP8": 100, "OPUS": 111}, {"VP8": 101}, ExtensionLayout("4", 1, 3, "abs"))
    return slot, sent


def feed(source: Source, packets: list[InPacket]) -> None:
    for p in packets:
        source.receive(p, ABS)  # VP8 descriptors are parsed in there


def test_switch_waits_for_a_keyframe_and_keeps_the_stream_continuous() -> None:
    a, fa = make_source("a", 1000)
    b, fb = make_source("b", 2000)
    pa = Publisher(1000, 100, 50_000, 10)
    pb = Publisher(2000, 60_000, 9_000_000, 30_000)
    slot, sent = make_slot()

    slot.point_at(a, 0.0)
    assert [rtcp.parse(x)[0].kind for x in fa] == ["pli"]  # keyframe asked for at once
    feed(a, pa.frame(key=False))
    assert sent == []  # no keyframe yet: nothing goes out
    feed(a, pa.frame(key=True) + pa.frame(key=False))
    assert len(sent) == 4

    slot.point_at(b, 0.1)
    assert [rtcp.parse(x)[0].kind for x in fb] == ["pli"]
    feed(b, pb.frame(key=False))  # b's delta frame is not forwarded...
    feed(a, pa.frame(key=False))  # ...while a keeps playing
    assert len(sent) == 6 and all(p.ssrc == 5555 for p in sent)
    pb.now = pa.now + 0.05
    feed(b, pb.frame(key=True) + pb.frame(key=False))
    feed(a, pa.frame(key=False))  # a is no longer forwarded
    assert len(sent) == 10

    seqs = [p.sequence_number for p in sent]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    assert all(p.payload_type == 100 and p.extensions.mid == "4" for p in sent)
    stamps = [p.timestamp for p in sent]
    assert all(0 <= (y - x) & 0xFFFFFFFF < 90000 for x, y in itertools.pairwise(stamps))
    pids = []
    for p in sent:
        q = InPacket()
        q.rest = p.payload
        parse_vp8(q)
        if q.start:
            pids.append(q.picture_id)
    assert all((y - x) & 0x7FFF == 1 for x, y in itertools.pairwise(pids))
    assert slot.source is b and b.slots == [slot] and a.slots == []


def test_empty_slot_sends_nothing_and_resumes_continuously() -> None:
    a, _ = make_source("a", 1000)
    pa = Publisher(1000, 5, 0, 0)
    slot, sent = make_slot()
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=True))
    slot.point_at(None, 0.0)
    feed(a, pa.frame(key=True) + pa.frame(key=False))
    assert len(sent) == 2
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=False) + pa.frame(key=True))
    assert len(sent) == 4
    assert (sent[2].sequence_number - sent[1].sequence_number) & 0xFFFF == 1


def test_nack_is_answered_with_rtx_from_the_ring_even_after_a_switch() -> None:
    a, _ = make_source("a", 1000)
    b, _ = make_source("b", 2000)
    pa, pb = Publisher(1000, 65530, 0, 0), Publisher(2000, 7, 0, 0)
    slot, sent = make_slot()
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=True, packets=4))  # crosses the 16-bit wrap
    slot.point_at(b, 0.0)
    feed(b, pb.frame(key=True, packets=2))
    lost = sent[2]
    assert slot.retransmit(lost.sequence_number, ABS)
    rtx = sent[-1]
    assert (rtx.ssrc, rtx.payload_type) == (6666, 101)
    osn = struct.unpack("!H", rtx.payload[:2])[0]
    assert osn == lost.sequence_number and rtx.payload[2:] == lost.payload
    assert rtx.timestamp == lost.timestamp
    assert slot.retransmit(sent[5].sequence_number, ABS)  # one from the new source
    assert sent[-1].payload[2:] == sent[5].payload
    assert not slot.retransmit((sent[5].sequence_number + 50) & 0xFFFF, ABS)  # never sent


def test_audio_switches_at_the_next_packet() -> None:
    a, _ = make_source("a", 1000, "audio")
    b, _ = make_source("b", 2000, "audio")
    slot, sent = make_slot("audio")
    slot.configure({"OPUS": 111}, {}, ExtensionLayout("4", 1, 0, "level"))

    def opus(ssrc: int, seq: int, ts: int, now: float) -> InPacket:
        p = parse(struct.pack("!BBHII", 0x80, 111, seq, ts, ssrc) + b"op", (0, 0, 0), now)
        assert p is not None
        return p

    slot.point_at(a, 0.0)
    a.receive(opus(1000, 1, 960, 0.0), ABS)
    slot.point_at(b, 0.0)
    assert not b.plis_sent  # no keyframe request for audio
    b.receive(opus(2000, 900, 77, 0.02), ABS)
    assert len(sent) == 2
    assert (sent[1].sequence_number - sent[0].sequence_number) & 0xFFFF == 1
    assert (sent[1].timestamp - sent[0].timestamp) & 0xFFFFFFFF == 960


def test_duplicates_are_dropped_and_gaps_are_nacked_upstream() -> None:
    a, feedback = make_source("a", 1000)
    pa = Publisher(1000, 10, 0, 0)
    slot, sent = make_slot()
    slot.point_at(a, 0.0)
    feedback.clear()
    f1 = pa.frame(key=True, packets=3)
    feed(a, [f1[0], f1[0], f1[2]])
    assert a.duplicates == 1 and len(sent) == 2
    (nack,) = rtcp.parse(feedback[-1])
    assert nack.kind == "nack" and nack.lost == [11] and nack.media_ssrc == 1000
    a.retry_nacks(0.5)
    assert rtcp.parse(feedback[-1])[0].lost == [11]
    feed(a, [f1[1]])  # the retransmission arrives and is forwarded in its place
    assert not a.missing and len(sent) == 3
    assert sent[2].sequence_number == (sent[0].sequence_number + 1) & 0xFFFF


def test_keyframe_requests_are_throttled() -> None:
    a, feedback = make_source("a", 1000)
    feedback.clear()
    assert a.request_keyframe(10.0)
    assert not a.request_keyframe(10.1)
    assert a.request_keyframe(10.4)
    assert len(feedback) == 2


def test_sender_report_maps_the_source_clock_into_the_slot() -> None:
    a, _ = make_source("a", 1000)
    pa = Publisher(1000, 1, 1_000_000, 0)
    slot, sent = make_slot()
    assert slot.sender_report(0.0) is None  # empty slot: no report
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=True))
    assert slot.sender_report(0.0) is None  # no report from the publisher yet
    a.on_sender_report(5 << 32, 1_000_000, 0.0)
    (sr,) = rtcp.parse(slot.sender_report(1.0) or b"")
    assert sr.sender_ssrc == 5555
    assert sr.ntp == 6 << 32
    assert sr.rtp_timestamp == (sent[0].timestamp + 90000) & 0xFFFFFFFF


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=25))
def test_any_sequence_of_switches_keeps_one_stream(plan: list[tuple[int, int]]) -> None:
    sources = [make_source(n, 1000 * (i + 1))[0] for i, n in enumerate("abc")]
    pubs = [
        Publisher(1000 * (i + 1), 65000 * i % 65536, 7 * i, 32000 * i % 32768) for i in range(3)
    ]
    slot, sent = make_slot()
    now = 0.0
    for target, frames in plan:
        slot.point_at(sources[target], now)
        for _ in range(frames):
            for src, pub in zip(sources, pubs, strict=True):
                pub.now = now
                feed(src, pub.frame(key=pub.seq % 3 == 0, packets=2))
            now += 1 / 30
    seqs = [p.sequence_number for p in sent]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    stamps = [p.timestamp for p in sent]
    assert all((y - x) & 0xFFFFFFFF < 0x80000000 for x, y in itertools.pairwise(stamps))


def test_switch_waits_for_the_old_frame_to_end() -> None:
    a, _ = make_source("a", 1000)
    b, _ = make_source("b", 2000)
    pa, pb = Publisher(1000, 10, 0, 0), Publisher(2000, 500, 0, 0)
    slot, sent = make_slot()
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=True, packets=3))
    slot.point_at(b, 0.0)
    a_frame = pa.frame(key=False, packets=3)
    b_frame = pb.frame(key=True, packets=3)
    feed(a, a_frame[:1])  # a's frame has begun...
    feed(b, b_frame[:2])  # ...when b's keyframe starts: it waits
    assert len(sent) == 4 and slot.source is a
    assert worker_target(slot) is b
    feed(a, a_frame[1:])  # a's frame ends: the slot switches and catches up on b
    feed(b, b_frame[2:])
    feed(a, pa.frame(key=False))  # a is no longer forwarded
    assert slot.source is b
    assert [p.ssrc for p in sent] == [5555] * 9
    seqs = [p.sequence_number for p in sent]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    assert [p.marker for p in sent] == [0, 0, 1, 0, 0, 1, 0, 0, 1]  # whole frames only
    assert [p.payload[-4:] for p in sent[6:]] == [p.rest[-4:] for p in b_frame]


def test_a_stalled_old_frame_does_not_block_the_switch() -> None:
    a, _ = make_source("a", 1000)
    b, _ = make_source("b", 2000)
    pa, pb = Publisher(1000, 10, 0, 0), Publisher(2000, 500, 0, 0)
    slot, sent = make_slot()
    slot.point_at(a, 0.0)
    feed(a, pa.frame(key=True, packets=2)[:1])  # a frame that never ends
    slot.point_at(b, 0.0)
    feed(b, pb.frame(key=True, packets=2))
    assert slot.handover is b and len(sent) == 1
    slot.finish_handover()  # what the worker does when HANDOVER_MAX_S has passed
    assert slot.source is b and len(sent) == 3
    a.detach_all()
    assert slot.source is b


def worker_target(slot: Slot) -> Source | None:
    return slot.pending or slot.handover or slot.source
