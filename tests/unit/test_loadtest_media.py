"""Pure parts of the media load tests: loss from sequence numbers, VP8 keyframes, SDP slots,
appearance latency, report figures and plots."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from loadtest.media import (
    ClipSettings,
    SeqTracker,
    SlotChange,
    appearance_latency,
    encode_clip,
    ssrc_mids,
    vp8_keyframe_start,
)
from loadtest.plots import plot_cpu, plot_latency, plot_spaces, write_plots
from loadtest.scenarios.conference import space_kind
from loadtest.scenarios.mediabase import latency_events, latency_summaries, loss_figures


def test_no_loss_when_every_sequence_number_arrives() -> None:
    tracker = SeqTracker()
    for seq in range(100, 200):
        tracker.add(seq)
    assert (tracker.expected, tracker.received, tracker.lost) == (100, 100, 0)


def test_gaps_count_as_lost_across_the_wrap() -> None:
    tracker = SeqTracker()
    seqs = [65530, 65531, 65533, 65535, 0, 1, 3]  # 65532, 65534 and 2 missing
    for seq in seqs:
        tracker.add(seq)
    assert tracker.expected == 10
    assert tracker.lost == 3


def test_a_late_packet_is_not_lost_and_an_earlier_one_extends_the_range() -> None:
    tracker = SeqTracker()
    for seq in (10, 12, 11, 13, 9):
        tracker.add(seq)
    assert tracker.expected == 5
    assert tracker.lost == 0


def test_a_retransmission_repairs_a_gap_once_and_duplicates_count_once() -> None:
    tracker = SeqTracker()
    skipped = [tracker.add(seq) for seq in (1, 2, 5, 5, 6)]
    assert skipped == [0, 0, 2, 0, 0]  # 3 and 4 missing: a NACK asks for both
    assert tracker.lost == 2
    assert tracker.repair(3) and not tracker.repair(3)  # a second copy repairs nothing
    assert not tracker.repair(2)  # never missing
    assert (tracker.lost, tracker.repaired) == (1, 1)


def test_an_empty_tracker_expects_nothing() -> None:
    assert SeqTracker().expected == 0
    assert SeqTracker().lost == 0


def _rtp(payload: bytes, extension: bytes = b"") -> bytes:
    first = 0x80 | (0x10 if extension else 0)
    header = struct.pack("!BBHII", first, 96, 1, 0, 1234)
    if extension:
        header += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    return header + payload


def test_vp8_keyframe_start_reads_the_descriptor() -> None:
    # X=1 S=1 PID=0; I=1 with a 15-bit picture id; payload header P bit 0 = keyframe.
    keyframe = _rtp(
        bytes([0x90, 0x80, 0x80, 0x01, 0x10, 0x02, 0x00]), extension=b"\x10\xff\x00\x00"
    )
    delta = _rtp(bytes([0x90, 0x80, 0x80, 0x01, 0x11, 0x02, 0x00]))
    continuation = _rtp(bytes([0x80, 0x80, 0x80, 0x01, 0x10]))
    assert vp8_keyframe_start(keyframe)
    assert not vp8_keyframe_start(delta)
    assert not vp8_keyframe_start(continuation)
    assert not vp8_keyframe_start(b"\x80" * 5)


def test_ssrc_mids_leaves_retransmission_streams_out() -> None:
    sdp = "\r\n".join(
        [
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
            "a=mid:0",
            "a=ssrc-group:FID 111 112",
            "a=ssrc:111 cname:x",
            "a=ssrc:112 cname:x",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=mid:9",
            "a=ssrc:333 cname:x",
        ]
    )
    mids, rtx = ssrc_mids(sdp)
    assert mids == {111: "0", 333: "9"}
    assert rtx == {112: 111}


def test_appearance_latency_takes_the_first_keyframe_on_the_named_slot() -> None:
    changes = [SlotChange(5.0, "1", "p-old"), SlotChange(10.02, "1", "p-new")]
    keyframes = {"1": [4.0, 10.05, 12.0], "2": [10.01]}
    slots, packet = appearance_latency(changes, keyframes, "p-new", since=10.0)
    assert slots is not None and abs(slots - 0.02) < 1e-9
    assert packet is not None and abs(packet - 0.05) < 1e-9
    assert appearance_latency(changes, keyframes, "p-else", since=10.0) == (None, None)


def test_a_viewer_who_moved_on_before_the_video_came_is_not_a_miss() -> None:
    # Told at 10.02, the slot shows someone else from 10.3 (the viewer went to a booth).
    changes = [SlotChange(10.02, "1", "p-new"), SlotChange(10.3, "1", "p-booth")]
    keyframes = {"1": [10.35]}  # the booth member's keyframe, not p-new's
    assert appearance_latency(changes, keyframes, "p-new", since=10.0, within=3.0) == (
        None,
        None,
    )
    # Shown for the whole hold with no keyframe at all: a viewer who saw an empty tile.
    slots, packet = appearance_latency(changes[:1], {"1": []}, "p-new", since=10.0, within=3.0)
    assert slots is not None and packet is None


def test_appearance_latency_when_the_slots_message_comes_after_the_packet() -> None:
    changes = [SlotChange(10.2, "3", "p-new")]
    slots, packet = appearance_latency(changes, {"3": [10.1]}, "p-new", since=10.0)
    assert slots is not None and abs(slots - 0.2) < 1e-9
    assert packet is not None and abs(packet - 0.1) < 1e-9


def test_loss_and_latency_figures_add_up_over_workers() -> None:
    results = [
        {
            "expected": 100,
            "received": 99,
            "slots": 2,
            "bytes": 1000,
            "per_bot": [[1, 100, 99, 2]],
            "latencies": [["p", 10.0, 1, 0.002, 0.030]],
        },
        {
            "expected": 100,
            "received": 100,
            "slots": 2,
            "bytes": 1000,
            "per_bot": [[2, 100, 100, 2]],
            "latencies": [["p", 10.0, 2, 0.004, None]],
        },
    ]
    figures = loss_figures(results, seconds=2.0)
    assert figures["packets_lost"] == 1
    assert figures["loss_ratio"] == 0.005
    assert figures["forwarded_packets_per_s"] == 100.0
    assert figures["bots_with_loss"] == 1
    rows = latency_events(results, t0=8.0)
    assert [row[0] for row in rows] == [2.0, 2.0]
    slots, packets = latency_summaries(rows)
    assert slots["count"] == 2 and packets["count"] == 1
    assert abs(packets["p50"] - 30.0) < 1e-6


def test_space_kinds() -> None:
    assert space_kind("main-stage") == "stage"
    assert space_kind("booth-07") == "booths"
    assert space_kind("r1-room-3") == "rooms"
    assert space_kind("lobby") == "lobby"


def test_plots_write_pngs_from_small_series(tmp_path: Path) -> None:
    series = {
        "latency_events": {
            "columns": ["t", "participant", "observer", "slots_ms", "first_packet_ms"],
            "rows": [[1.0, "p", 1, 2.0, 30.0], [2.0, "p", 2, 3.0, 45.0]],
        },
        "spaces": {"columns": ["t", "stage", "booths"], "rows": [[0, 10, 0], [1, 8, 2]]},
        "server": {"t": [0.5, 1.0], "cpu_percent": [20.0, 40.0]},
        "bots": {"t": [0.5, 1.0], "cpu_percent": [10.0, 15.0]},
    }
    written = write_plots(series, tmp_path, "test")
    assert {p.name for p in written} == {"latency.png", "spaces.png", "cpu.png"}
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_latency({}, tmp_path / "none.png", "x") is None
    assert plot_spaces(None, tmp_path / "none.png", "x") is None
    assert plot_cpu({}, tmp_path / "none.png", "x") is None


def test_the_clip_is_encoded_once_with_a_single_keyframe_first() -> None:
    clip = encode_clip(ClipSettings(width=64, height=48, fps=10, video_kbps=100, seconds=0.5))
    assert len(clip.video) == 5
    assert not clip.video[0][0] & 0x01  # VP8 frame tag: keyframe
    assert all(frame[0] & 0x01 for frame in clip.video[1:])
    assert len(clip.audio) == 50


def test_chat_series_gives_each_message_its_fan_out() -> None:
    from array import array

    from loadtest.scenarios.conference import chat_series

    chat = [{"receipt_index": array("l", [0, 0, 1]), "receipt_latency_s": [0.01, 0.03, 0.02]}]
    sends = [{"sent_index": [0, 1], "sent_at": [10.5, 11.0]}]
    series = chat_series(chat, sends, t0=10.0)
    assert series["rows"][0][:3] == [0, 0.5, 2]
    assert series["rows"][1][:3] == [1, 1.0, 1]
    assert series["rows"][0][5] == 30.0


def test_the_clip_is_kept_between_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from loadtest.scenarios.mediabase import load_clip

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings = ClipSettings(width=64, height=48, fps=10, video_kbps=100, seconds=0.3)
    first = load_clip(settings)
    assert list(tmp_path.glob("podium-loadtest-clip-*.json"))
    again = load_clip(settings)
    assert again.video == first.video and again.audio == first.audio


def test_a_viewer_nacks_lost_video_and_reports_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the bot sends back, read with aiortc's own RTCP parser, as the SFU would."""
    from aiortc.rtp import (
        RtcpPacket,
        RtcpPsfbPacket,
        RtcpRrPacket,
        RtcpRtpfbPacket,
        unpack_remb_fci,
    )

    from loadtest import clock
    from loadtest.bots import Bot
    from loadtest.client import PodiumClient
    from loadtest.media import MediaPeer

    class Sender:
        _ssrc = 4242

    class Transceiver:
        sender = Sender()

    class Connection:
        def getTransceivers(self) -> list[Transceiver]:
            return [Transceiver()]

    now = 100.0
    monkeypatch.setattr(clock, "now", lambda: now)
    peer = MediaPeer(Bot(None, 0, "v", PodiumClient("http://h", None)), None, False)  # type: ignore[arg-type]
    peer.subscribe_pc = Connection()
    peer.ssrc_mid, peer.rtx_media = {1001: "0", 2002: "9"}, {1501: 1001}
    peer.mid_ssrc = {"0": 1001, "9": 2002}
    peer.video_mids = {"0"}
    peer.next_report = 100.5

    def packet(ssrc: int, seq: int) -> bytes:
        return struct.pack("!BBHII", 0x80, 96, seq, 0, ssrc) + b"\x00" * 10

    for seq in (10, 11, 14, 15):  # 12 and 13 lost
        peer._count(packet(1001, seq), decrypted=True)
    for seq in (7, 9):  # audio loss is not asked for again
        peer._count(packet(2002, seq), decrypted=False)
    nack = RtcpPacket.parse(peer.feedback(now) or b"")
    assert [type(p) for p in nack] == [RtcpRtpfbPacket]
    assert (nack[0].media_ssrc, nack[0].lost) == (1001, [12, 13])
    assert peer.feedback(now) is None  # asked once

    # The retransmission of 12 arrives (RTX payload: the original sequence number first).
    peer._repair(struct.pack("!BBHII", 0x80, 97, 1, 0, 1501) + b"\x00\x0c" + b"\x00" * 8, 1501)
    now = 101.0
    report = RtcpPacket.parse(peer.feedback(now) or b"")
    rr = next(p for p in report if isinstance(p, RtcpRrPacket))
    blocks = {block.ssrc: block for block in rr.reports}
    assert blocks[1001].packets_lost == 1 and blocks[1001].highest_sequence == 15
    assert blocks[2002].packets_lost == 1
    remb = next(p for p in report if isinstance(p, RtcpPsfbPacket))
    bitrate, ssrcs = unpack_remb_fci(remb.fci)
    assert remb.fmt == 15 and ssrcs == [1001] and bitrate >= 300_000
    assert peer.feedback(now + 0.5) is None  # the next report is a second later

    # A new measuring window starts the counts again; the next report is still a report.
    peer.reset_counters()
    for seq in (20, 21):
        peer._count(packet(1001, seq), decrypted=True)
    report = RtcpPacket.parse(peer.feedback(now + 1.0) or b"")
    rr = next(p for p in report if isinstance(p, RtcpRrPacket))
    assert [b.fraction_lost for b in rr.reports] == [0]
