"""Real packets and SDP captured from Chromium (tests/fixtures/sfu): what the SFU reads
from them and what it writes for a slot."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu import Worker, sdp
from sfu.forwarding import Slot, Source
from sfu.rtp import ExtensionLayout, InPacket, parse, parse_vp8

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sfu" / "chromium_publish.json"


@pytest.fixture(scope="module")
def capture() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text()))


def _ids(capture: dict[str, Any]) -> tuple[int, int, int]:
    mid = abs_id = level = 0
    for section in sdp.parse(capture["answer"]):
        mid = mid or section.extensions.get(sdp.URI_MID, 0)
        abs_id = abs_id or section.extensions.get(sdp.URI_ABS_SEND_TIME, 0)
        level = level or section.extensions.get(sdp.URI_AUDIO_LEVEL, 0)
    return mid, abs_id, level


def _packets(capture: dict[str, Any], kind: str) -> list[InPacket]:
    out = []
    for i, text in enumerate(capture[kind]):
        p = parse(bytes.fromhex(text), _ids(capture), i / 100)
        assert p is not None
        out.append(p)
    return out


def test_chromium_offer_is_understood(capture: dict[str, Any]) -> None:
    audio, video = sdp.parse(capture["offer"])
    assert video.codec_by_name("VP8").payload_type == 96  # type: ignore[union-attr]
    assert video.rtx_for(96).payload_type == 97  # type: ignore[union-attr]
    assert video.media_ssrc and video.rtx_ssrc
    assert audio.media_ssrc and audio.codec_by_name("opus")


def test_restricting_chromium_offer_keeps_forwardable_codecs(capture: dict[str, Any]) -> None:
    restricted = sdp.restrict_codecs(capture["offer"], {"video": {"VP8"}, "audio": {"OPUS"}})
    audio, video = sdp.parse(restricted)
    assert sorted(video.codecs) == [96, 97] and video.payload_order == [96, 97]
    assert sorted(audio.codecs) == [111]
    assert "a=rtcp-fb:96 nack pli" in restricted and "H264" not in restricted
    assert restricted.count("\r\n") < capture["offer"].count("\r\n")
    assert "a=ssrc-group:FID" in restricted  # everything else is left alone


async def test_worker_answers_chromium_with_vp8_and_opus_only(
    worker: Worker, capture: dict[str, Any]
) -> None:
    result = await worker.create_endpoint("chrome", capture["offer"], video_slots=1, audio_slots=1)
    assert result.publish_answer_sdp is not None
    audio, video = sdp.parse(result.publish_answer_sdp)
    assert {c.name.upper() for c in video.codecs.values()} == {"VP8", "RTX"}
    assert {c.name.upper() for c in audio.codecs.values()} == {"OPUS"}
    assert {s.source_id: s.kind for s in result.sources} == {
        "chrome:audio": "audio",
        "chrome:video": "video",
    }
    await worker.close_endpoint("chrome")


def test_chromium_video_packets(capture: dict[str, Any]) -> None:
    packets = _packets(capture, "video")
    _, video = sdp.parse(capture["offer"])
    media = [p for p in packets if p.ssrc == video.media_ssrc]
    assert media, "no media packets in the capture"
    for p in media:
        assert p.abs_send_time >= 0
        parse_vp8(p)
        assert p.picture_id_wide
    assert media[0].keyframe  # a fresh stream starts with a keyframe
    assert media[0].mid == b"1"
    frames = []
    for p in media:
        if p.start:
            frames.append(p.picture_id)
    assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(frames))


def test_chromium_audio_levels(capture: dict[str, Any]) -> None:
    packets = _packets(capture, "audio")
    assert all(0 <= p.audio_level <= 127 for p in packets)
    # Chromium sends the MID only until it sees feedback: the first packets carry it.
    assert packets[0].mid == b"0"


def test_chromium_packets_rewritten_for_a_slot(capture: dict[str, Any]) -> None:
    _, video = sdp.parse(capture["offer"])
    answer_video = sdp.parse(capture["subscribe_answer"])[0]
    source = Source("c:video", "c", "video", "1", {96: "VP8"}, {97: 96}, 90000, video.media_ssrc, 0)
    sent: list[bytes] = []
    slot = Slot("v0", "s", "video", "0", 1234, 5678, lambda d: sent.append(d) or True)
    vp8 = answer_video.codec_by_name("VP8")
    assert vp8 is not None
    mid_id = answer_video.extensions[sdp.URI_MID]
    abs_id = answer_video.extensions[sdp.URI_ABS_SEND_TIME]
    slot.configure({"VP8": vp8.payload_type}, {}, ExtensionLayout("0", mid_id, abs_id, "abs"))
    slot.point_at(source, 0.0)
    packets = [p for p in _packets(capture, "video") if p.ssrc == video.media_ssrc]
    for p in packets:
        source.receive(p, b"\x01\x02\x03")
    assert len(sent) == len(packets)
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=mid_id, uri=sdp.URI_MID),
                RTCRtpHeaderExtensionParameters(id=abs_id, uri=sdp.URI_ABS_SEND_TIME),
            ]
        )
    )
    for raw, original in zip(sent, packets, strict=True):
        out = RtpPacket.parse(raw, ext_map)
        assert out.ssrc == 1234 and out.payload_type == vp8.payload_type
        assert out.extensions.mid == "0" and out.extensions.abs_send_time == 0x010203
        assert out.payload.endswith(original.rest)  # the VP8 payload itself is untouched
        assert out.marker == (1 if original.marker else 0)
