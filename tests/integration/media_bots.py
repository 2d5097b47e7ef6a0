"""Participants with real media: a protocol client plus aiortc peer connections.

Each bot publishes frames of its own solid colour and a tone, negotiates once through the
signaling server, decodes what its slots receive and knows, from ``media_slots``, whose
media each slot is meant to carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import Callable

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
from aiortc.mediastreams import MediaStreamError

from loadtest.client import PodiumClient
from sfu.adapter import announced_addresses
from signaling import protocol as p

LOOPBACK = ("127.0.0.1",)
Colour = tuple[int, int, int]


class ColourTrack(VideoStreamTrack):
    """Frames of one solid colour, 160x120."""

    def __init__(self, rgb: Colour) -> None:
        super().__init__()
        self._frame = np.full((120, 160, 3), rgb, dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self._frame, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class QuietTrack(AudioStreamTrack):
    """20 ms frames of a low hum, so audio packets flow."""

    def __init__(self) -> None:
        super().__init__()
        self._t = 0

    async def recv(self) -> av.AudioFrame:
        await super().recv()
        samples = np.zeros((1, 960), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._t
        frame.time_base = fractions.Fraction(1, 48000)
        self._t += 960
        return frame


def close_to(a: Colour | None, b: Colour, tolerance: int = 40) -> bool:
    return a is not None and all(
        abs(int(x) - int(y)) <= tolerance for x, y in zip(a, b, strict=True)
    )


async def started(client: PodiumClient, colour: Colour | None) -> MediaBot:
    """A media bot for ``client``, its connections negotiated."""
    bot = MediaBot(client, colour)
    await bot.start()
    return bot


class MediaBot:
    """A participant that publishes a colour and watches its slots."""

    def __init__(self, client: PodiumClient, colour: Colour | None) -> None:
        self.client = client
        self.colour = colour
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.offers = 0
        self.colour_by_mid: dict[str, Colour] = {}
        self.frames_by_mid: dict[str, int] = {}
        self.slots: p.MediaSlots | None = None
        self.restarts = 0
        self._restarting: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribe_pc.on("track", self._on_track)
        client_hook = client.on_message

        def on_message(message: p.ServerMessage, received: float) -> None:
            if isinstance(message, p.MediaSlots):
                self.slots = message
            elif (
                isinstance(message, p.MediaState)
                and message.state == "reconnect"
                and (self._restarting is None or self._restarting.done())
            ):
                # As the web client does: negotiate both connections again, once per burst.
                self._restarting = asyncio.get_running_loop().create_task(self.restart())
            if client_hook is not None:
                client_hook(message, received)

        client.on_message = on_message

    @property
    def participant_id(self) -> str:
        return self.client.participant_id

    async def turn_camera_on(self, colour: Colour) -> None:
        """A viewer starts publishing; the subscribe connection stays untouched."""
        self.colour = colour
        self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.publish_pc.addTrack(ColourTrack(colour))
        self.publish_pc.addTrack(QuietTrack())
        answer_wait = self.client.wait_for(p.SfuAnswer, lambda m: m.kind == "publish")
        offer = await self.publish_pc.createOffer()
        with announced_addresses(LOOPBACK):
            await self.publish_pc.setLocalDescription(offer)
        await self.client.request(
            p.MediaOffer(
                sdp=self.publish_pc.localDescription.sdp, kind="publish", keep_subscribe=True
            )
        )
        answer = await answer_wait
        await self.publish_pc.setRemoteDescription(
            RTCSessionDescription(sdp=answer.sdp, type="answer")
        )

    async def start(self) -> None:
        """Negotiate once: publish (if there is a colour) and subscribe."""
        offer_wait = self.client.wait_for(p.SfuOffer, lambda m: m.kind == "subscribe")
        if self.colour is not None:
            self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.publish_pc.addTrack(ColourTrack(self.colour))
            self.publish_pc.addTrack(QuietTrack())
            answer_wait = self.client.wait_for(p.SfuAnswer, lambda m: m.kind == "publish")
            offer = await self.publish_pc.createOffer()
            with announced_addresses(LOOPBACK):
                await self.publish_pc.setLocalDescription(offer)
            await self.client.request(
                p.MediaOffer(sdp=self.publish_pc.localDescription.sdp, kind="publish")
            )
            answer = await answer_wait
            await self.publish_pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer.sdp, type="answer")
            )
        else:
            await self.client.request(p.MediaSubscribe())
        sub_offer = await offer_wait
        self.offers += 1
        await self.subscribe_pc.setRemoteDescription(
            RTCSessionDescription(sdp=sub_offer.sdp, type="offer")
        )
        answer = await self.subscribe_pc.createAnswer()
        with announced_addresses(LOOPBACK):
            await self.subscribe_pc.setLocalDescription(answer)
        await self.client.request(
            p.MediaAnswer(sdp=self.subscribe_pc.localDescription.sdp, kind="subscribe")
        )

    async def restart(self) -> None:
        """New publish and subscribe connections, as after the server lost ours."""
        await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self.publish_pc is not None:
            await self.publish_pc.close()
        await self.subscribe_pc.close()
        self.colour_by_mid.clear()
        self.frames_by_mid.clear()
        self.slots = None
        self.subscribe_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.subscribe_pc.on("track", self._on_track)
        await self.start()
        self.restarts += 1

    def _on_track(self, track: MediaStreamTrack) -> None:
        for transceiver in self.subscribe_pc.getTransceivers():
            if transceiver.receiver.track is track and transceiver.mid is not None:
                if track.kind == "video":
                    self._tasks.append(asyncio.create_task(self._watch(transceiver.mid, track)))
                else:
                    self._tasks.append(asyncio.create_task(self._drain(track)))

    async def _watch(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                rgb = frame.to_ndarray(format="rgb24")  # type: ignore[union-attr]
                h, w = rgb.shape[:2]
                pixel = rgb[h // 2, w // 2]
                self.colour_by_mid[mid] = (int(pixel[0]), int(pixel[1]), int(pixel[2]))
                self.frames_by_mid[mid] = self.frames_by_mid.get(mid, 0) + 1

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()

    # ------------------------------------------------------------------ what it sees

    def video_slots_showing(self) -> dict[str, str]:
        """Participant id by mid, for the video slots that show someone."""
        if self.slots is None:
            return {}
        return {
            s.mid: s.participant_id
            for s in self.slots.slots
            if s.kind == "video" and s.mid is not None and s.participant_id is not None
        }

    def sees(self, pid: str, colour: Colour) -> bool:
        """True when the slot assigned to ``pid`` shows ``colour`` right now."""
        for mid, who in self.video_slots_showing().items():
            if who == pid:
                return close_to(self.colour_by_mid.get(mid), colour)
        return False

    async def wait_until(self, condition: Callable[[], bool], within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.client.participant_id}: condition not met; slots "
                    f"{self.video_slots_showing()} colours {self.colour_by_mid}"
                )
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.publish_pc is not None:
            await self.publish_pc.close()
        await self.subscribe_pc.close()
