"""Real aiortc peers for the SFU tests: publishers of a solid colour (and a tone), and a
subscriber that decodes its slots and watches RTP at its receive hook."""

from __future__ import annotations

import asyncio
import fractions
import math
import random
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.rtcconfiguration import RTCBundlePolicy

from sfu import Worker
from sfu.adapter import announced_addresses
from sfu.rtcp import parse as parse_rtcp
from sfu.rtp import parse as parse_rtp
from sfu.rtp import parse_vp8
from sfu.sdp import parse as parse_sdp

LOOPBACK = ("127.0.0.1",)


class ColourTrack(VideoStreamTrack):
    """Frames of one solid colour, 160x120 at 30 fps."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self.rgb = rgb
        self._array = np.full((120, 160, 3), rgb, dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self._array, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone (loud) or silence, 20 ms frames of 48 kHz mono."""

    def __init__(self, amplitude: float) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._t = 0

    async def recv(self) -> av.AudioFrame:
        await super().recv()  # paces 20 ms frames
        samples = 960
        pts = self._t
        t = np.arange(self._t, self._t + samples) / 48000.0
        self._t += samples
        data = (self.amplitude * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        out = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate = 48000
        out.pts = pts
        out.time_base = fractions.Fraction(1, 48000)
        return out


async def wait_for(
    condition: Callable[[], bool], within: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)


def _config() -> RTCConfiguration:
    # max-bundle: with aiortc's default policy, an answerer leaves every audio m-line but
    # the first on a transport of its own, which never connects.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Publisher:
    """A participant publishing a colour and a tone, through the worker."""

    def __init__(self, name: str, rgb: tuple[int, int, int], amplitude: float = 0.0) -> None:
        self.name = name
        self.pc = RTCPeerConnection(_config())
        self.video = ColourTrack(rgb)
        self.audio = ToneTrack(amplitude)
        self.pc.addTrack(self.video)
        self.pc.addTrack(self.audio)

    async def join(self, worker: Worker, **slots: int) -> Any:
        offer = await self.pc.createOffer()
        with announced_addresses(LOOPBACK):
            await self.pc.setLocalDescription(offer)
        result = await worker.create_endpoint(
            self.name,
            self.pc.localDescription.sdp,
            video_slots=slots.get("video_slots", 0),
            audio_slots=slots.get("audio_slots", 0),
        )
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=result.publish_answer_sdp, type="answer")
        )
        return result

    async def close(self) -> None:
        await self.pc.close()


def _rtp_fields(data: bytes) -> tuple[int, int, int, int]:
    """(payload type, sequence number, ssrc, payload offset) of a plain RTP packet."""
    pt = data[1] & 0x7F
    seq, ssrc = struct.unpack_from("!H", data, 2)[0], struct.unpack_from("!I", data, 8)[0]
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        length = struct.unpack_from("!H", data, offset + 2)[0]
        offset += 4 + 4 * length
    return pt, seq, ssrc, offset


class Subscriber:
    """A participant that only watches: answers the SFU's subscribe offer once, decodes
    every slot and records RTP sequence numbers per SSRC at its receive hook."""

    def __init__(self, name: str, loss: float = 0.0, seed: int = 7) -> None:
        self.name = name
        self.pc = RTCPeerConnection(_config())
        self.offers_received = 0
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.colour: dict[str, tuple[int, int, int]] = {}
        self.frames: dict[str, int] = {}
        self.samples: dict[str, float] = {}
        self.ssrc_of_mid: dict[str, int] = {}
        self.rtx_ssrc_of_mid: dict[str, int] = {}
        self.seqs: dict[int, list[int]] = {}
        self.headers: dict[int, list[tuple[int, int, int, float]]] = {}
        self.sender_reports: dict[int, list[tuple[int, int, float]]] = {}
        self.recovered: dict[int, list[int]] = {}
        self.dropped: dict[int, set[int]] = {}
        self.loss = loss
        self._random = random.Random(seed)
        self._tasks: list[asyncio.Task[None]] = []
        self._rtx_to_media: dict[int, int] = {}

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            for t in self.pc.getTransceivers():
                if t.receiver.track is track and t.mid is not None:
                    self.tracks[t.mid] = track
                    self._tasks.append(asyncio.create_task(self._read(t.mid, track)))

    async def join(self, worker: Worker, video_slots: int = 3, audio_slots: int = 3) -> Any:
        result = await worker.create_endpoint(
            self.name, None, video_slots=video_slots, audio_slots=audio_slots
        )
        answer = await self.accept_offer(result.subscribe_offer_sdp)
        await worker.set_subscribe_answer(self.name, answer)
        self.mid_of_slot = {s.slot_id: s.mid for s in result.slots}
        return result

    async def accept_offer(self, offer_sdp: str) -> str:
        self.offers_received += 1
        for section in parse_sdp(offer_sdp):
            if section.mid is not None and section.media_ssrc is not None:
                self.ssrc_of_mid[section.mid] = section.media_ssrc
                if section.rtx_ssrc is not None:
                    self.rtx_ssrc_of_mid[section.mid] = section.rtx_ssrc
                    self._rtx_to_media[section.rtx_ssrc] = section.media_ssrc
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await self.pc.createAnswer()
        with announced_addresses(LOOPBACK):
            await self.pc.setLocalDescription(answer)
        self._hook_receive()
        return self.pc.localDescription.sdp

    def _hook_receive(self) -> None:
        # Test-side receive hook: sees every decrypted RTP packet before aiortc does.
        dtls = self.pc.getTransceivers()[0].receiver.transport
        original: Callable[[bytes, int], Awaitable[None]] = dtls._handle_rtp_data

        async def handle(data: bytes, arrival_time_ms: int) -> None:
            _pt, seq, ssrc, offset = _rtp_fields(data)
            media = self._rtx_to_media.get(ssrc)
            if media is not None:
                if len(data) >= offset + 2:
                    osn = struct.unpack_from("!H", data, offset)[0]
                    self.recovered.setdefault(media, []).append(osn)
            else:
                if self.loss and self._random.random() < self.loss:
                    self.dropped.setdefault(ssrc, set()).add(seq)
                    return
                self.seqs.setdefault(ssrc, []).append(seq)
                packet = parse_rtp(data, (0, 0, 0), time.time())
                if packet is not None:
                    parse_vp8(packet)
                    self.headers.setdefault(ssrc, []).append(
                        (packet.seq, packet.timestamp, packet.picture_id, packet.arrival)
                    )
            await original(data, arrival_time_ms)

        original_rtcp: Callable[[bytes], Awaitable[None]] = dtls._handle_rtcp_data

        async def handle_rtcp(data: bytes) -> None:
            for fb in parse_rtcp(data):
                if fb.kind == "sr":
                    self.sender_reports.setdefault(fb.sender_ssrc, []).append(
                        (fb.ntp, fb.rtp_timestamp, time.time())
                    )
            await original_rtcp(data)

        dtls._handle_rtp_data = handle
        dtls._handle_rtcp_data = handle_rtcp

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    rgb = frame.to_ndarray(format="rgb24")
                    h, w, _ = rgb.shape
                    self.colour[mid] = tuple(int(x) for x in rgb[h // 2, w // 2])  # type: ignore[assignment]
                    self.frames[mid] = self.frames.get(mid, 0) + 1
                else:
                    pcm = frame.to_ndarray().astype(np.float64)
                    self.samples[mid] = float(np.sqrt(np.mean(pcm * pcm))) if pcm.size else 0.0
        except Exception:
            return

    def slot_colour(self, slot_id: str) -> tuple[int, int, int] | None:
        return self.colour.get(self.mid_of_slot[slot_id])

    def slot_frames(self, slot_id: str) -> int:
        return self.frames.get(self.mid_of_slot[slot_id], 0)

    def slot_ssrc(self, slot_id: str) -> int:
        return self.ssrc_of_mid[self.mid_of_slot[slot_id]]

    def packets(self, slot_id: str) -> int:
        return len(self.seqs.get(self.slot_ssrc(slot_id), []))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def near(rgb: tuple[int, int, int] | None, want: tuple[int, int, int], tol: int = 40) -> bool:
    return rgb is not None and all(
        abs(int(a) - int(b)) <= tol for a, b in zip(rgb, want, strict=True)
    )


def unwrap(seqs: list[int]) -> list[int]:
    """Extend 16-bit sequence numbers (in arrival order) to a monotonic space."""
    out: list[int] = []
    last = None
    base = 0
    for s in seqs:
        if last is not None:
            delta = (s - last) & 0xFFFF
            if delta >= 0x8000:
                delta -= 0x10000
            value = out[-1] + delta if out else s
            out.append(value)
        else:
            out.append(s + base)
        last = s
    return out
