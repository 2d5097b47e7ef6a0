"""RTP, RTCP and SDP reading/writing, checked against aiortc's independent parsers."""

from __future__ import annotations

import struct

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    HeaderExtensionsMap,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    unpack_remb_fci,
)
from hypothesis import given
from hypothesis import strategies as st

from sfu import rtcp, sdp
from sfu.rtp import (
    ExtensionLayout,
    build_header,
    parse,
    parse_h264,
    parse_vp8,
    rewrite_vp8_descriptor,
    seq_newer,
)


def _ext_map(mid: int, abs_id: int, level: int) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=mid, uri=sdp.URI_MID),
                RTCRtpHeaderExtensionParameters(id=abs_id, uri=sdp.URI_ABS_SEND_TIME),
                RTCRtpHeaderExtensionParameters(id=level, uri=sdp.URI_AUDIO_LEVEL),
            ]
        )
    )
    return m


def _aiortc_packet(payload: bytes, **ext: object) -> bytes:
    p = RtpPacket(payload_type=96, marker=1, sequence_number=65535, timestamp=4000000000)
    p.ssrc = 0x11223344
    p.csrc = [7]
    p.payload = payload
    p.extensions.mid = ext.get("mid")  # type: ignore[assignment]
    p.extensions.abs_send_time = ext.get("abs_send_time")  # type: ignore[assignment]
    p.extensions.audio_level = ext.get("audio_level")  # type: ignore[assignment]
    return p.serialize(_ext_map(4, 2, 1))


def test_parse_reads_header_and_extensions_written_by_aiortc() -> None:
    data = _aiortc_packet(
        b"\x90\x80\x81\x02\x10abc", mid="3", abs_send_time=0x123456, audio_level=(True, 42)
    )
    p = parse(data, (4, 2, 1), 5.0)
    assert p is not None
    assert (p.seq, p.timestamp, p.ssrc, p.payload_type, p.marker) == (
        65535,
        4000000000,
        0x11223344,
        96,
        0x80,
    )
    assert p.mid == b"3" and p.abs_send_time == 0x123456 and p.audio_level == 42
    assert p.rest == b"\x90\x80\x81\x02\x10abc" and p.arrival == 5.0


def test_parse_strips_padding_and_rejects_garbage() -> None:
    header = struct.pack("!BBHII", 0xA0, 111, 1, 2, 3)
    p = parse(header + b"opus" + b"\x00\x00\x03", (0, 0, 0), 0.0)
    assert p is not None and p.rest == b"opus"
    assert parse(b"\x80\x60", (0, 0, 0), 0.0) is None
    assert parse(b"\x00" * 12, (0, 0, 0), 0.0) is None  # version 0
    assert parse(struct.pack("!BBHII", 0xA0, 96, 1, 2, 3) + b"\x09", (0, 0, 0), 0.0) is None


def test_vp8_descriptor_with_wide_picture_id_and_tl0() -> None:
    # X=1, S=1, PID=0 ; I=1, L=1, T=1 ; M=1 PictureID 0x1234 ; TL0PICIDX 200 ; TID byte
    payload = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 200, 0x40]) + bytes([0x10, 0x02, 0x9D])
    p = parse(struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + payload, (0, 0, 0), 0.0)
    assert p is not None
    parse_vp8(p)
    assert p.picture_id == 0x1234 and p.picture_id_wide and p.tl0 == 200
    assert p.start and p.keyframe  # P bit of the VP8 payload header is 0
    assert p.descriptor == payload[:6] and p.rest == payload[6:]
    desc, pid, tl0 = rewrite_vp8_descriptor(p, 0x7FFF - 0x1234 + 3, 100)
    assert pid == 2 and tl0 == 44  # both wrap
    assert desc == bytes([0x90, 0xE0, 0x80, 0x02, 44, 0x40])


def test_vp8_narrow_picture_id_and_delta_frames() -> None:
    p = parse(
        struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + bytes([0x90, 0x80, 0x7F, 0x01]), (0, 0, 0), 0
    )
    assert p is not None
    parse_vp8(p)
    assert p.picture_id == 0x7F and not p.picture_id_wide
    assert p.start and not p.keyframe  # P bit set: a delta frame
    assert rewrite_vp8_descriptor(p, 1, 0)[0] == bytes([0x90, 0x80, 0x00])
    q = parse(
        struct.pack("!BBHII", 0x80, 96, 2, 2, 3) + bytes([0x80, 0x80, 0x05, 0x00]), (0, 0, 0), 0
    )
    assert q is not None
    parse_vp8(q)
    assert not q.start and not q.keyframe  # a continuation packet


def test_h264_keyframes() -> None:
    def h264(payload: bytes) -> object:
        p = parse(struct.pack("!BBHII", 0x80, 102, 1, 2, 3) + payload, (0, 0, 0), 0)
        assert p is not None
        parse_h264(p)
        return p

    stap_sps = bytes([24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xCE])
    assert h264(stap_sps).keyframe  # type: ignore[attr-defined]
    assert h264(bytes([28, 0x85, 1, 2])).keyframe  # type: ignore[attr-defined] # FU-A IDR start
    assert not h264(bytes([28, 0x05, 1, 2])).keyframe  # type: ignore[attr-defined]
    assert not h264(bytes([0x41, 1, 2])).keyframe  # type: ignore[attr-defined]


def test_extension_block_is_read_back_by_aiortc() -> None:
    ext = ExtensionLayout("12", 9, 3, "abs")
    data = build_header(0x80 | 97, 7, 8, 9) + ext.block(b"\x01\x02\x03", -1) + b"vp8"
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=9, uri=sdp.URI_MID),
                RTCRtpHeaderExtensionParameters(id=3, uri=sdp.URI_ABS_SEND_TIME),
            ]
        )
    )
    p = RtpPacket.parse(data, m)
    assert p.payload_type == 97 and p.marker == 1 and p.sequence_number == 7
    assert p.extensions.mid == "12" and p.extensions.abs_send_time == 0x010203
    assert p.payload == b"vp8"
    audio = ExtensionLayout("5", 1, 2, "level")
    data = build_header(111, 1, 2, 3) + audio.block(b"", 30) + b"opus"
    assert parse(data, (1, 0, 2), 0.0).audio_level == 30  # type: ignore[union-attr]
    assert ExtensionLayout(None, 0, 0, "").block(b"", 0) == b"\xbe\xde\x00\x00"


def test_seq_newer_wraps() -> None:
    assert seq_newer(1, 65535) and not seq_newer(65535, 1) and not seq_newer(5, 5)


@given(st.sets(st.integers(0, 65535), min_size=1, max_size=60))
def test_nack_round_trips_through_aiortc(lost: set[int]) -> None:
    data = rtcp.nack(1, 2, sorted(lost))
    (ours,) = rtcp.parse(data)
    assert ours.kind == "nack" and set(ours.lost) == lost
    (theirs,) = RtcpPacket.parse(data)
    assert isinstance(theirs, RtcpRtpfbPacket)
    assert {x & 0xFFFF for x in theirs.lost} == lost


def test_pli_remb_rr_sr_round_trip() -> None:
    data = (
        rtcp.pli(1, 2) + rtcp.remb(1, 1_500_000, [5, 6]) + rtcp.sender_report(9, 1 << 40, 7, 8, 9)
    )
    block = rtcp.ReportBlock(5, 25, 3, 70000, 12, 0xABCD, 0x1234)
    data += rtcp.receiver_report(1, [block])
    kinds = [(f.kind, f.media_ssrc) for f in rtcp.parse(data)]
    assert kinds == [("pli", 2), ("remb", 0), ("sr", 0), ("rr", 0)]
    parsed = rtcp.parse(data)
    assert parsed[1].bitrate == 1_500_000 and parsed[1].ssrcs == [5, 6]
    assert parsed[2].ntp == 1 << 40 and parsed[2].rtp_timestamp == 7
    assert parsed[3].reports == [block]
    theirs = RtcpPacket.parse(data)
    assert isinstance(theirs[1], RtcpPsfbPacket)
    assert unpack_remb_fci(theirs[1].fci) == (1_500_000, [5, 6])
    assert theirs[3].reports[0].lsr == 0xABCD


def test_fir_names_its_target_in_the_fci() -> None:
    data = struct.pack("!BBHIIII", 0x84, 206, 4, 1, 0, 77, 3 << 24)
    (fir,) = rtcp.parse(data)
    assert fir.kind == "fir" and fir.media_ssrc == 77


CHROME_LIKE_OFFER = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=audio 9 UDP/TLS/RTP/SAVPF 111 63
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=ssrc:1111 cname:x
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102
a=mid:1
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=ssrc-group:FID 2222 3333
a=ssrc:2222 cname:x
a=ssrc:3333 cname:x
"""


def test_sdp_sections() -> None:
    audio, video = sdp.parse(CHROME_LIKE_OFFER)
    assert (audio.kind, audio.mid, audio.direction) == ("audio", "0", "sendonly")
    assert audio.extensions[sdp.URI_AUDIO_LEVEL] == 1 and audio.media_ssrc == 1111
    assert audio.codec_by_name("opus").payload_type == 111  # type: ignore[union-attr]
    assert video.codec_by_name("vp8").payload_type == 96  # type: ignore[union-attr]
    assert video.rtx_for(96).payload_type == 97  # type: ignore[union-attr]
    assert video.rtx_for(102) is None
    assert (video.media_ssrc, video.rtx_ssrc) == (2222, 3333)
    assert video.extensions[sdp.URI_ABS_SEND_TIME] == 2
    assert video.payload_order == [96, 97, 102]
