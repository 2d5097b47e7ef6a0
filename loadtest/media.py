"""Media bots: participants with real WebRTC connections that cost little CPU.

Publishing: a short VP8 clip and an Opus tone are encoded once per process at start-up
(:func:`encode_clip`) and replayed frame by frame. A replay track returns already encoded
frames, which aiortc's sender packetizes without encoding (the path aiortc takes for
``MediaPlayer(decode=False)``). Only the first frame of the clip is a keyframe; the replay
loops over the others and sends the keyframe again when the SFU asks for one (PLI), as a
browser does. Nobody decodes these streams, so a looped clip is as good as a live camera.

Receiving: packets of the subscribe connection are taken in the socket callback, before
aiortc's asynchronous receive path: the RTP header of SRTP is in clear, so counting needs no
decryption; video and retransmission packets are decrypted (one C call) to see where
keyframes start and which lost packet a retransmission repairs. Per slot (SSRC from the
server's offer): packets, bytes, sequence gaps (loss, less what retransmissions repaired)
and the arrival of each VP8 keyframe, with no jitter buffer and no decoder. Like a browser,
each bot asks again for lost video packets (NACK) and sends a receiver report and a bandwidth
estimate (REMB) once a second.

aiortc internals used here (small, all in this module):
- ``RTCRtpSender._RTCRtpSender__force_keyframe``: set when a PLI/FIR arrives; the replay
  track reads and clears it to send its keyframe.
- ``RTCDtlsTransport._handle_rtp_data``: replaced on the subscribe connection's transport
  (packets that take aiortc's path before the socket hook is in place).
- ``RTCDtlsTransport._rx_srtp`` (the SRTP session), ``RTCIceTransport._connection`` and its
  ``_protocols``: each local socket's ``datagram_received`` is wrapped on the subscribe
  connection.
- ``RTCRtpReceiver.receive``: replaced on subscribe receivers so no decoder thread starts;
  ``aiortc.rtcrtpreceiver.RemoteBitrateEstimator``: replaced in bot processes, as those
  receivers never see a packet.
- ``RTCDtlsTransport._send_rtp`` and ``RTCRtpSender._ssrc``: the bots' own RTCP on the
  subscribe connection (receiver reports, REMB, NACK), as a browser sends it.
- ``aioice.ice.get_host_addresses``: returns 127.0.0.1 in bot processes (loopback ICE; aioice
  leaves loopback out of its own choice).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fractions
import logging
import math
import random
import socket
import struct
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest import clock
from loadtest.bots import Bot, BotFleet
from loadtest.client import PodiumClient, RequestFailed
from loadtest.target import is_loopback_url
from signaling import protocol as p

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
AUDIO_FRAME = 960  # 20 ms of Opus
_RTP_HEADER = struct.Struct("!BBHII")
_MAX_KEYFRAMES_KEPT = 2000
_RECEIVE_BUFFER = 1 << 20
# A slot that should carry someone and went this long without a packet shows a frozen tile.
STALL_GAP_S = 1.0
# Sequence numbers remembered as missing per stream, for NACKs and their repairs.
MAX_MISSING = 1000
# A browser reports to each sender once a second (receiver reports and its bandwidth
# estimate, REMB) and asks again for lost video packets (NACK) within milliseconds.
REPORT_EVERY_S = 1.0
NACK_EVERY_S = 0.02
# A participant shown for less than this before the viewer's slot moved on (the viewer left
# for a booth) is not counted as seen or unseen.
MIN_SHOWN_S = 1.0
# A stream is alive when its latest packet is at most this old.
LIVE_WITHIN_S = 2.0


# ---------------------------------------------------------------------- the clip


@dataclass(frozen=True, slots=True)
class ClipSettings:
    width: int = 640
    height: int = 360
    fps: int = 24
    video_kbps: int = 600
    seconds: float = 2.0


@dataclass(slots=True)
class Clip:
    """Encoded frames: video (the first one a keyframe) and Opus audio packets."""

    settings: ClipSettings
    video: list[bytes]
    audio: list[bytes]

    @property
    def video_kbps_measured(self) -> float:
        total = sum(len(frame) for frame in self.video)
        return 8 * total * self.settings.fps / max(1, len(self.video)) / 1000


def encode_clip(settings: ClipSettings) -> Clip:
    """Encode a moving test pattern with libvpx and a tone with libopus, once."""
    import av
    import numpy as np

    count = max(2, round(settings.fps * settings.seconds))
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = settings.width, settings.height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = settings.video_kbps * 1000
    codec.framerate = fractions.Fraction(settings.fps, 1)
    codec.time_base = fractions.Fraction(1, settings.fps)
    codec.gop_size = 100000  # one keyframe at the start; others only when asked for
    codec.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
    y = np.arange(settings.height)[:, None]
    x = np.arange(settings.width)[None, :]
    video: list[bytes] = []
    for i in range(count):
        # A moving gradient with a drifting checkerboard: P-frames of a realistic size.
        shade = ((x * 3 + y * 2 + i * 9) % 256).astype(np.uint8)
        checks = (((x // 16 + y // 16 + i) % 2) * 40).astype(np.uint8)
        rgb = np.stack([shade, shade // 2 + checks, 255 - shade], axis=2)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = i
        video.extend(bytes(packet) for packet in codec.encode(frame))
    video.extend(bytes(packet) for packet in codec.encode(None))

    audio_codec = av.CodecContext.create("libopus", "w")
    audio_codec.sample_rate = AUDIO_CLOCK
    audio_codec.layout = "mono"
    audio_codec.format = "s16"
    audio_codec.bit_rate = 32000
    audio_codec.time_base = fractions.Fraction(1, AUDIO_CLOCK)
    audio: list[bytes] = []
    t = np.arange(AUDIO_FRAME)
    for i in range(50):  # one second
        samples = (3000 * np.sin(2 * math.pi * 220 * (t + i * AUDIO_FRAME) / AUDIO_CLOCK)).astype(
            np.int16
        )
        sound = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        sound.sample_rate = AUDIO_CLOCK
        sound.pts = i * AUDIO_FRAME
        sound.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        audio.extend(bytes(packet) for packet in audio_codec.encode(sound))
    return Clip(settings=settings, video=video, audio=audio)


class EncodedFrame:
    """What a replay track returns: aiortc packs it (``bytes()``, ``pts``, ``time_base``)."""

    __slots__ = ("data", "pts", "time_base")

    def __init__(self, data: bytes, pts: int, time_base: fractions.Fraction) -> None:
        self.data = data
        self.pts = pts
        self.time_base = time_base

    def __bytes__(self) -> bytes:
        return self.data


def _replay_track_class() -> type[Any]:
    from aiortc import MediaStreamTrack

    class ReplayTrack(MediaStreamTrack):
        """Replays encoded frames at their pace; never encodes.

        ``paused`` stops the frames (nothing is sent) as a browser's inactive encoding does;
        on resuming, video starts again with its keyframe and the timestamps jump by the
        time paused, as a camera's would.
        """

        def __init__(self, kind: str, frames: Sequence[bytes], rate: float, clock: int) -> None:
            super().__init__()
            self.kind = kind
            self.frames = list(frames)
            self.rate = rate
            self.interval = 1.0 / rate
            self.step = round(clock / rate)
            self.time_base = fractions.Fraction(1, clock)
            self.sender: Any = None
            self.index = 0
            self.pts = 0
            self.sent = 0
            self._next: float | None = None
            self._running = asyncio.Event()
            self._running.set()

        @property
        def paused(self) -> bool:
            return not self._running.is_set()

        def pause(self, paused: bool) -> None:
            if paused:
                self._running.clear()
            elif self.paused:
                self._running.set()

        async def recv(self) -> EncodedFrame:  # type: ignore[override]
            loop = asyncio.get_running_loop()
            if self.paused:
                stopped = loop.time()
                await self._running.wait()
                self.pts += round((loop.time() - stopped) * self.rate) * self.step
                self._next = None
                if self.kind == "video":
                    self.index = 0  # the keyframe first
            now = loop.time()
            if self._next is None or now - self._next > 1.0:
                self._next = now  # first frame, or far behind (a busy process): no burst
            else:
                self._next += self.interval
                delay = self._next - now
                if delay > 0:
                    await asyncio.sleep(delay)
            if self.kind == "video":
                sender = self.sender
                if sender is not None and getattr(sender, "_RTCRtpSender__force_keyframe", False):
                    sender._RTCRtpSender__force_keyframe = False
                    self.index = 0
                data = self.frames[self.index]
                # Frame 0 is the keyframe; the loop goes over the others.
                self.index = self.index + 1 if self.index + 1 < len(self.frames) else 1
            else:
                data = self.frames[self.index]
                self.index = (self.index + 1) % len(self.frames)
            frame = EncodedFrame(data, self.pts, self.time_base)
            self.pts += self.step
            self.sent += 1
            return frame

    return ReplayTrack


class _NoEstimator:
    """Stands in for aiortc's receive-side bandwidth estimator, which bots never feed."""


def skip_receive_estimators() -> None:
    """Receivers of this process create no bandwidth estimator.

    aiortc builds one per video receiver (a 3 ms table each, 27 ms per subscribe connection
    of 9 video slots), all in one go when the server's offer is applied: a burst of joins
    would stall a bot process for that alone. Bots read packets in the socket callback, so
    the receivers never see a packet; the bots send their own estimate (REMB).
    """
    import aiortc.rtcrtpreceiver

    aiortc.rtcrtpreceiver.RemoteBitrateEstimator = _NoEstimator  # type: ignore[assignment,misc]


def use_loopback_ice() -> None:
    """ICE candidates on 127.0.0.1 only, for every connection of this process."""
    import aioice.ice

    def loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"]

    aioice.ice.get_host_addresses = loopback


# ---------------------------------------------------------------------- receive accounting


class SeqTracker:
    """Loss of one RTP stream from its sequence numbers: expected vs received.

    Sequence numbers wrap at 2**16; they are extended to a growing counter. The numbers a
    packet skips are kept as missing (the most recent MAX_MISSING) until a late packet or a
    retransmission fills them; a duplicate counts once. A late packet older than the first
    one seen extends the range back.
    """

    __slots__ = (
        "first",
        "highest",
        "last",
        "longest_stall",
        "missing",
        "received",
        "repaired",
        "stalled",
    )

    def __init__(self) -> None:
        self.first = -1
        self.highest = -1
        self.received = 0
        self.repaired = 0  # of which retransmissions
        self.missing: dict[int, None] = {}  # extended numbers skipped, oldest first
        self.last = 0.0  # arrival time of the latest packet (set by the caller)
        # Seconds the stream went without packets while it should have carried someone.
        self.stalled = 0.0
        self.longest_stall = 0.0

    def add(self, seq: int) -> int:
        """Count a packet; returns how many numbers it skipped (a gap to ask again for)."""
        if self.highest < 0:
            self.first = self.highest = seq
            self.received = 1
            return 0
        delta = (seq - self.highest) & 0xFFFF
        if delta == 0:
            return 0  # a duplicate
        if delta < 0x8000:
            skipped = delta - 1
            if skipped:
                missing = self.missing
                for extended in range(
                    self.highest + 1, self.highest + 1 + min(skipped, MAX_MISSING)
                ):
                    missing[extended] = None
                while len(missing) > MAX_MISSING:
                    del missing[next(iter(missing))]
            self.highest += delta
            self.received += 1
            return skipped
        extended = self.highest - ((self.highest - seq) & 0xFFFF)
        if extended < self.first:
            self.first = extended
            self.received += 1
        elif extended in self.missing:
            del self.missing[extended]
            self.received += 1
        return 0

    def repair(self, seq: int) -> bool:
        """A retransmission of ``seq`` arrived: it counts if that number was missing."""
        if self.highest < 0:
            return False
        extended = self.highest - ((self.highest - seq) & 0xFFFF)
        if extended not in self.missing:
            return False
        del self.missing[extended]
        self.received += 1
        self.repaired += 1
        return True

    @property
    def expected(self) -> int:
        return 0 if self.highest < 0 else self.highest - self.first + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)


def vp8_keyframe_start(packet: bytes | memoryview) -> bool:
    """True when the RTP packet carries the first part of a VP8 keyframe."""
    if len(packet) < 13:
        return False
    first = packet[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(packet) < offset + 4:
            return False
        length = (packet[offset + 2] << 8) | packet[offset + 3]
        offset += 4 + 4 * length
    if len(packet) <= offset:
        return False
    descriptor = packet[offset]
    if not descriptor & 0x10 or descriptor & 0x07:  # S bit and partition 0
        return False
    offset += 1
    if descriptor & 0x80:
        if len(packet) <= offset:
            return False
        extended = packet[offset]
        offset += 1
        if extended & 0x80:  # picture id
            if len(packet) <= offset:
                return False
            offset += 2 if packet[offset] & 0x80 else 1
        if extended & 0x40:  # TL0PICIDX
            offset += 1
        if extended & 0x30:  # TID / KEYIDX
            offset += 1
    if len(packet) <= offset:
        return False
    return not packet[offset] & 0x01


def ssrc_mids(sdp: str) -> tuple[dict[int, str], dict[int, int]]:
    """Media SSRC -> mid from an SDP, and retransmission (RTX) SSRC -> its media SSRC."""
    mids: dict[int, str] = {}
    rtx: dict[int, int] = {}
    mid = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            mid = ""
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=ssrc-group:FID"):
            parts = line.split()
            if len(parts) >= 3:
                media = int(parts[1])
                rtx.update((int(s), media) for s in parts[2:])
        elif line.startswith("a=ssrc:"):
            ssrc = int(line[7:].split()[0])
            mids.setdefault(ssrc, mid)
    for ssrc in rtx:
        mids.pop(ssrc, None)
    return mids, rtx


@dataclass(slots=True)
class SlotChange:
    t: float
    mid: str
    participant_id: str | None


def first_after(times: Sequence[float], t: float) -> float | None:
    """The first of the sorted ``times`` at or after ``t``."""
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def appearance_latency(
    changes: Sequence[SlotChange],
    keyframes: Mapping[str, Sequence[float]],
    participant_id: str,
    since: float,
    within: float = 30.0,
) -> tuple[float | None, float | None]:
    """(slots latency, first-packet latency) of ``participant_id``'s video after ``since``.

    The slot is the one ``media_slots`` names for the participant (the last change after
    ``since``, or the one showing them already); the first packet is the first VP8 keyframe on
    that slot after ``since`` (a switch to a new source starts with its keyframe).
    """
    shown: dict[str, str | None] = {}
    slots_at: float | None = None
    mid: str | None = None
    for change in changes:
        if change.t > since + within:
            break
        shown[change.mid] = change.participant_id
        if change.t >= since and change.participant_id == participant_id and slots_at is None:
            slots_at, mid = change.t, change.mid
    if mid is None:
        for candidate, who in shown.items():
            if who == participant_id:
                mid = candidate
    if mid is None:
        return None, None
    # Until when the slot showed them: the viewer may have moved on (to a booth) meanwhile.
    start = since if slots_at is None else slots_at
    until = since + within
    for change in changes:
        if change.mid == mid and change.t > start and change.participant_id != participant_id:
            until = min(until, change.t)
            break
    packet = first_after(keyframes.get(mid, ()), since)
    slots_latency = None if slots_at is None else slots_at - since
    if packet is None or packet > until:
        if until - start < MIN_SHOWN_S:
            return None, None  # shown too briefly to count either way
        return slots_latency, None
    return slots_latency, packet - since


class MediaPeer:
    """A bot's two connections: publish (replayed clip, optional) and subscribe (counted).

    Besides loss, it keeps what a viewer would notice: which slots the server says carry
    someone (``media_slots``), how long each such slot went without a packet (a frozen
    tile), and whether either connection failed (ICE consent expiry, DTLS) without the bot
    closing it.
    """

    def __init__(self, bot: Bot, clip: Clip | None, publish: bool) -> None:
        self.bot = bot
        self.clip = clip
        self.publish = publish and clip is not None
        self.publish_pc: Any = None
        self.subscribe_pc: Any = None
        self.ssrc_mid: dict[int, str] = {}
        self.mid_ssrc: dict[str, int] = {}
        self.rtx_media: dict[int, int] = {}
        # Feedback as a browser sends it: video sequence numbers to ask again for (NACK), by
        # SSRC, and what each stream had received at the last receiver report.
        self.nacks: dict[int, list[int]] = {}
        self.reported: dict[int, tuple[int, int]] = {}
        self.next_report = math.inf  # from the subscribe offer on
        self.reported_at = 0.0
        self.bytes_reported = 0
        self.feedback_sent = 0
        self.video_mids: set[str] = set()
        self.trackers: dict[int, SeqTracker] = {}
        self.bytes = 0
        self.packets = 0
        self.rtx_packets = 0
        self.decrypt_errors = 0
        self.first_packet_at: float | None = None
        self.receiving = asyncio.Event()
        self.keyframes: dict[str, array[float]] = {}
        self.changes: list[SlotChange] = []
        self.shown: dict[str, str | None] = {}
        # Every slot the server says carries someone: mid -> (participant, name, kind, since).
        self.assigned: dict[str, tuple[str, str, str, float]] = {}
        self.window_start = 0.0
        # Connections that failed under us: (which, why, when).
        self.failures: list[tuple[str, str, float]] = []
        self.server_failures: list[tuple[str, str, float]] = []
        self.closing = False
        self.restarts = 0
        self.fleet: MediaFleet | None = None
        # The replayed camera and microphone (when publishing), and what the server last
        # said anyone receives of them.
        self.tracks: dict[str, Any] = {}
        self.audio_sender: Any = None
        self.video_sender: Any = None
        self.watched: tuple[bool, bool] | None = None
        self.reconnect_asked = False
        self.restarting = False
        self.sent_at_reset = 0
        hook = bot.client.on_message

        def on_message(message: p.ServerMessage, received: float) -> None:
            if isinstance(message, p.MediaSlots):
                self._slots(message, received)
            elif isinstance(message, p.MediaWatched):
                # As the page does: send only what someone receives.
                self.watched = (message.video, message.audio)
                for kind, watched in (("video", message.video), ("audio", message.audio)):
                    track = self.tracks.get(kind)
                    if track is not None:
                        track.pause(not watched)
            elif isinstance(message, p.MediaState) and message.state == "reconnect":
                self.reconnect_asked = True
                if self.fleet is not None:
                    self.fleet.renegotiate(self)
            elif isinstance(message, p.MediaState) and message.state != "connected":
                self.server_failures.append((message.connection, message.state, received))
            if hook is not None:
                hook(message, received)

        bot.client.on_message = on_message

    def _slots(self, message: p.MediaSlots, received: float) -> None:
        for slot in message.slots:
            if slot.mid is None:
                continue
            if slot.participant_id is None:
                self.assigned.pop(slot.mid, None)
            else:
                current = self.assigned.get(slot.mid)
                if current is None or current[0] != slot.participant_id:
                    self.assigned[slot.mid] = (
                        slot.participant_id,
                        slot.name or slot.participant_id,
                        slot.kind,
                        received,
                    )
            if slot.kind != "video":
                continue
            if self.shown.get(slot.mid) != slot.participant_id:
                self.shown[slot.mid] = slot.participant_id
                self.changes.append(SlotChange(received, slot.mid, slot.participant_id))

    @property
    def broken(self) -> bool:
        """A connection was negotiated but is gone (failed or closed), as the page judges."""
        return any(
            pc is not None and pc.connectionState in ("failed", "closed")
            for pc in (self.publish_pc, self.subscribe_pc)
        )

    def _watch(self, pc: Any, which: str) -> None:
        def changed() -> None:
            if pc.connectionState != "failed" or self.closing:
                return
            # aioice closes a connection whose consent expired, which fails the ICE transport;
            # otherwise the DTLS transport is what failed.
            why = "ice" if pc.iceConnectionState == "failed" else "dtls"
            self.failures.append((which, why, clock.now()))
            if self.fleet is not None:
                key = f"media_{why}_failures"
                self.fleet.counters[key] = self.fleet.counters.get(key, 0) + 1

        pc.on("connectionstatechange", changed)

    async def start(self) -> float:
        """Negotiate as the page does at its first welcome: the publish connection with
        microphone and camera (when publishing), then the server's subscribe offer. Returns
        the time the subscribe connection was asked for."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        client = self.bot.client
        self.closing = False
        self.next_report = math.inf
        self.subscribe_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._watch(self.subscribe_pc, "subscribe")
        offer_wait = client.wait_for(p.SfuOffer, lambda m: m.kind == "subscribe", timeout=30.0)
        asked = clock.now()
        if self.publish and self.clip is not None:
            track_class = _replay_track_class()
            settings = self.clip.settings
            self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self._watch(self.publish_pc, "publish")
            audio = track_class("audio", self.clip.audio, AUDIO_CLOCK / AUDIO_FRAME, AUDIO_CLOCK)
            video = track_class("video", self.clip.video, settings.fps, VIDEO_CLOCK)
            self.tracks = {"audio": audio, "video": video}
            # The page adds the microphone's transceiver first, then the camera's.
            self.audio_sender = self.publish_pc.addTrack(audio)
            video.sender = self.video_sender = self.publish_pc.addTrack(video)
            answer_wait = client.wait_for(p.SfuAnswer, lambda m: m.kind == "publish", timeout=30.0)
            await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
            await client.request(
                p.MediaOffer(sdp=self.publish_pc.localDescription.sdp, kind="publish"),
                timeout=30.0,
            )
            answer = await answer_wait
            await self.publish_pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer.sdp, type="answer")
            )
        else:
            await client.request(p.MediaSubscribe(), timeout=30.0)
        offer = await offer_wait
        self.ssrc_mid, self.rtx_media = ssrc_mids(offer.sdp)
        self.nacks.clear()
        self.reported.clear()
        self.mid_ssrc = {mid: ssrc for ssrc, mid in self.ssrc_mid.items()}
        for line_mid, kind in _mid_kinds(offer.sdp):
            if kind == "video":
                self.video_mids.add(line_mid)
        pc = self.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            transceiver.receiver.receive = _no_receive  # no decoder thread, no jitter buffer
        dtls = pc.getTransceivers()[0].receiver.transport
        dtls._handle_rtp_data = self._on_rtp
        await pc.setLocalDescription(await pc.createAnswer())
        self._attach()
        # Reports start at a random phase, as browsers joining at different times do.
        self.next_report = clock.now() + REPORT_EVERY_S * random.random()
        await client.request(
            p.MediaAnswer(sdp=pc.localDescription.sdp, kind="subscribe"), timeout=30.0
        )
        return asked

    async def packets_sent(self) -> int:
        """RTP packets this bot's publish connection has sent (camera and microphone)."""
        total = 0
        for sender in (self.audio_sender, self.video_sender):
            if sender is None:
                continue
            with contextlib.suppress(Exception):
                report = await sender.getStats()
                total += sum(
                    int(getattr(stat, "packetsSent", 0))
                    for stat in report.values()
                    if getattr(stat, "type", "") == "outbound-rtp"
                )
        return total

    async def restart(self) -> None:
        """Negotiate both connections again from scratch, as the page does after a reconnect
        that finds one of them failed or closed. Loss and stall figures carry on."""
        await self.close()
        self.restarts += 1
        self.assigned.clear()
        self.shown.clear()
        await self.start()

    async def _on_rtp(self, data: bytes, arrival_time_ms: int = 0) -> None:
        """aiortc's path (decrypted packets), used until :meth:`_attach` takes over."""
        self._count(data, decrypted=True)

    def _attach(self) -> None:
        """Take SRTP packets straight from the subscribe connection's sockets.

        The RTP header of an SRTP packet is in clear: counting needs no decryption. Only
        video packets are decrypted (one C call) to find where keyframes start. RTCP from
        the server (sender reports) is dropped: nothing here needs it.
        """
        dtls = self.subscribe_pc.getTransceivers()[0].receiver.transport
        connection = dtls.transport._connection
        count = self._count
        video_ssrcs = {ssrc for ssrc, mid in self.ssrc_mid.items() if mid in self.video_mids}
        rtx_ssrcs = set(self.rtx_media)
        repair = self._repair
        for protocol in list(connection._protocols):
            original = protocol.datagram_received
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)

            def datagram_received(
                data: bytes, addr: tuple[Any, ...], original: Any = original
            ) -> None:
                session = dtls._rx_srtp
                if session is None or not data or not 127 < data[0] < 192:
                    original(data, addr)  # STUN, DTLS, or before the handshake ended
                    return
                if 192 <= data[1] <= 223:  # RTCP packet types 192..223
                    return
                if len(data) < 12:
                    return
                ssrc = _RTP_HEADER.unpack_from(data)[4]
                if ssrc in video_ssrcs or ssrc in rtx_ssrcs:
                    try:
                        data = session.unprotect(data)
                    except Exception:
                        self.decrypt_errors += 1
                        return
                    if ssrc in rtx_ssrcs:
                        repair(data, ssrc)
                    else:
                        count(data, decrypted=True)
                else:
                    count(data, decrypted=False)

            protocol.datagram_received = datagram_received

    def _count(self, data: bytes, decrypted: bool) -> None:
        if len(data) < 12:
            return
        _, _, seq, _, ssrc = _RTP_HEADER.unpack_from(data)
        mid = self.ssrc_mid.get(ssrc)
        if mid is None:
            self.rtx_packets += 1
            return
        now = clock.now()
        if self.first_packet_at is None:
            self.first_packet_at = now
            self.receiving.set()
        tracker = self.trackers.get(ssrc)
        if tracker is None:
            tracker = self.trackers[ssrc] = SeqTracker()
        shown = self.assigned.get(mid)
        if shown is not None:
            # Time without a packet while the slot was meant to carry someone: a frozen tile.
            gap = now - max(tracker.last, shown[3], self.window_start)
            if gap > STALL_GAP_S:
                tracker.stalled += gap
                tracker.longest_stall = max(tracker.longest_stall, gap)
        skipped = tracker.add(seq)
        if skipped and mid in self.video_mids:
            # A browser asks again for lost video at once (NACK); the SFU answers with RTX.
            first = tracker.highest - min(skipped, MAX_MISSING)
            self.nacks.setdefault(ssrc, []).extend(
                n & 0xFFFF for n in range(first, tracker.highest)
            )
        tracker.last = now
        self.packets += 1
        self.bytes += len(data)
        if decrypted and mid in self.video_mids and vp8_keyframe_start(data):
            times = self.keyframes.get(mid)
            if times is None:
                times = self.keyframes[mid] = array("d")
            if len(times) < _MAX_KEYFRAMES_KEPT:
                times.append(now)
        if self.fleet is not None:
            self.fleet.packets += 1

    def _repair(self, data: bytes, rtx_ssrc: int) -> None:
        """A retransmission (decrypted): its first two payload bytes are the lost packet's
        sequence number (RFC 4588)."""
        self.rtx_packets += 1
        tracker = self.trackers.get(self.rtx_media.get(rtx_ssrc, -1))
        offset = _payload_offset(data)
        if tracker is not None and offset is not None and len(data) >= offset + 2:
            tracker.repair((data[offset] << 8) | data[offset + 1])

    def feedback(self, now: float) -> bytes | None:
        """The RTCP a browser would send now on the subscribe connection, if any: NACKs for
        the video packets found missing, and once a second a receiver report for every
        stream with a REMB estimate (what arrives, with headroom, as a link that keeps up
        reports)."""
        if self.subscribe_pc is None or (not self.nacks and now < self.next_report):
            return None
        from aiortc.rtp import (
            RtcpPsfbPacket,
            RtcpReceiverInfo,
            RtcpRrPacket,
            RtcpRtpfbPacket,
            pack_remb_fci,
        )

        sender_ssrc = self.subscribe_pc.getTransceivers()[0].sender._ssrc
        parts: list[bytes] = []
        for ssrc, lost in self.nacks.items():
            run: list[int] = []
            for seq in lost:
                if run and seq <= run[-1]:  # wrapped: a NACK packet per ascending run
                    parts.append(bytes(RtcpRtpfbPacket(1, sender_ssrc, ssrc, run)))
                    run = []
                run.append(seq)
            if run:
                parts.append(bytes(RtcpRtpfbPacket(1, sender_ssrc, ssrc, run)))
        self.nacks.clear()
        if now >= self.next_report:
            elapsed = now - self.reported_at if self.reported_at else REPORT_EVERY_S
            self.reported_at = now
            self.next_report = now + REPORT_EVERY_S
            reports = []
            for ssrc, tracker in list(self.trackers.items())[:31]:
                expected, received = self.reported.get(ssrc, (0, 0))
                interval_expected = tracker.expected - expected
                interval_lost = max(0, interval_expected - (tracker.received - received))
                fraction = (interval_lost << 8) // interval_expected if interval_expected > 0 else 0
                self.reported[ssrc] = (tracker.expected, tracker.received)
                reports.append(
                    RtcpReceiverInfo(
                        ssrc=ssrc,
                        fraction_lost=min(255, fraction),
                        packets_lost=min(tracker.lost, 0x7FFFFF),
                        highest_sequence=tracker.highest & 0xFFFFFFFF,
                        jitter=0,
                        lsr=0,
                        dlsr=0,
                    )
                )
            if reports:
                parts.append(bytes(RtcpRrPacket(sender_ssrc, reports)))
                received_bps = 8 * (self.bytes - self.bytes_reported) / max(elapsed, 0.1)
                bitrate = int(max(300_000.0, 1.5 * received_bps))
                video = [r.ssrc for r in reports if self.ssrc_mid.get(r.ssrc) in self.video_mids]
                remb = pack_remb_fci(bitrate, video)
                parts.append(bytes(RtcpPsfbPacket(15, sender_ssrc, 0, remb)))
            self.bytes_reported = self.bytes
        if not parts:
            return None
        self.feedback_sent += 1
        return b"".join(parts)

    async def send_feedback(self, now: float) -> None:
        packet = self.feedback(now)
        if packet is None or self.closing:
            return
        dtls = self.subscribe_pc.getTransceivers()[0].receiver.transport
        with contextlib.suppress(Exception):  # not connected (yet, or any more)
            await dtls._send_rtp(packet)

    def reset_counters(self) -> None:
        """Start a measuring window: loss and stalls count from here."""
        self.trackers = {}
        self.packets = 0
        self.bytes = 0
        self.window_start = clock.now()
        self.reported.clear()  # the counts a report compares with start again too

    def live(self, now: float, within: float = LIVE_WITHIN_S) -> int:
        """Streams (slots) that received a packet in the last ``within`` seconds."""
        return sum(1 for tracker in self.trackers.values() if now - tracker.last <= within)

    def streams_at(self, now: float) -> dict[str, Any]:
        """What a viewer sees at ``now``: slots that should carry someone (assigned at least
        LIVE_WITHIN_S ago), those of them that do, the silent ones (who, kind), and how long
        each tile went frozen in the window (ongoing freezes included)."""
        expected = live = 0
        dead: list[list[str]] = []
        stalls: list[float] = []
        for mid, (pid, name, kind, since) in self.assigned.items():
            ssrc = self.mid_ssrc.get(mid)
            tracker = self.trackers.get(ssrc) if ssrc is not None else None
            last = tracker.last if tracker is not None else 0.0
            silent = now - max(last, since, self.window_start)
            if silent > STALL_GAP_S:
                stalls.append(silent)
            if now - since < LIVE_WITHIN_S:
                continue  # just re-pointed: its first packets may still be on their way
            expected += 1
            if now - last <= LIVE_WITHIN_S:
                live += 1
            else:
                dead.append([pid, name, kind])
        frozen = sum(t.stalled for t in self.trackers.values()) + sum(stalls)
        longest = max(
            [t.longest_stall for t in self.trackers.values()] + stalls + [0.0],
        )
        return {
            "assigned": expected,
            "live": live,
            "dead": dead,
            "frozen_s": frozen,
            "longest_freeze_s": longest,
        }

    def loss(self) -> tuple[int, int, int]:
        """(expected, received, slots that received anything) since the last reset."""
        expected = sum(t.expected for t in self.trackers.values())
        received = sum(t.received for t in self.trackers.values())
        return expected, received, len(self.trackers)

    async def close(self) -> None:
        self.closing = True
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()


def _payload_offset(packet: bytes) -> int | None:
    """Where an RTP packet's payload starts (after CSRCs and header extensions)."""
    if len(packet) < 12:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * ((packet[offset + 2] << 8) | packet[offset + 3])
    return offset if offset <= len(packet) else None


async def _no_receive(*args: Any, **kwargs: Any) -> None:
    return None


def _mid_kinds(sdp: str) -> list[tuple[str, str]]:
    kinds: list[tuple[str, str]] = []
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
        elif line.startswith("a=mid:"):
            kinds.append((line[6:].strip(), kind))
    return kinds


# ---------------------------------------------------------------------- the fleet


@dataclass(slots=True)
class MediaResults:
    expected: int = 0
    received: int = 0
    slots: int = 0
    bytes: int = 0
    events: list[list[Any]] = field(default_factory=list)


class MediaFleet(BotFleet):
    """Signaling bots (every :class:`BotFleet` command) plus media bots of one process."""

    def __init__(self, worker_id: int, base_url: str, run_id: str) -> None:
        super().__init__(worker_id, base_url, run_id)
        self.peers: dict[int, MediaPeer] = {}
        self.clip: Clip | None = None
        self.packets = 0
        self.counts: dict[str, int] = {}
        self.counters.update({"media_bots": 0, "media_failed": 0, "media_packets": 0})
        self._spawn(self._feedback())

    def progress(self) -> dict[str, Any]:
        counters = super().progress()
        counters["media_packets"] = self.packets
        return counters

    async def _feedback(self) -> None:
        """Send each subscribe connection's RTCP as its browser would (see MediaPeer.feedback)."""
        while True:
            await asyncio.sleep(NACK_EVERY_S)
            now = clock.now()
            for peer in list(self.peers.values()):
                if peer.nacks or now >= peer.next_report:
                    self._spawn(peer.send_feedback(now))

    async def prepare_clip(
        self, settings: dict[str, Any], video: list[bytes], audio: list[bytes]
    ) -> int:
        """Keep the clip (encoded once, by the coordinator) this process replays."""
        # Import aiortc now rather than at the first bot's negotiation: an import inside a
        # measured phase stalls the event loop for a good part of a second.
        _replay_track_class()
        skip_receive_estimators()
        if is_loopback_url(self.base_url):
            use_loopback_ice()
        self.clip = Clip(settings=ClipSettings(**settings), video=video, audio=audio)
        return len(video)

    async def media_join(
        self,
        bots: Sequence[dict[str, Any]],
        concurrency: int = 8,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Connect, join a space and negotiate media with each bot.

        Each entry: ``index``, ``name``, ``space`` (None: stay in the lobby), ``publish``,
        ``token`` (a staff or speaker token; None: register as an attendee), ``media``
        (False: signaling only), ``at`` (run clock time to arrive at; None: now). As the page
        does, media is negotiated from the welcome on, while the bot joins its space.
        """
        gate = asyncio.Semaphore(max(1, concurrency))
        join_ack_s = array("d")
        media_s = array("d")
        joined: dict[int, str] = {}

        async def one(entry: dict[str, Any]) -> None:
            index, name = int(entry["index"]), str(entry["name"])
            at = entry.get("at")
            if at is not None:
                await asyncio.sleep(max(0.0, float(at) - clock.now()))
            async with gate:
                http = self._session("")
                client = PodiumClient(self.base_url, http, keep=64, keep_chat=0)
                bot = Bot(self, index, name, client)
                self.bots[index] = bot
                try:
                    async with asyncio.timeout(timeout):
                        token = entry.get("token")
                        if token is None:
                            await self._register(bot)
                        if entry.get("watch_counts"):
                            self._watch_counts(bot)
                        await client.connect(token)
                        negotiation: asyncio.Task[float] | None = None
                        if entry.get("media", True):
                            peer = MediaPeer(bot, self.clip, bool(entry.get("publish")))
                            peer.fleet = self
                            self.peers[index] = peer
                            negotiation = asyncio.get_running_loop().create_task(peer.start())
                        try:
                            if entry.get("space"):
                                ack_s, _ = await self._join(bot, str(entry["space"]))
                                join_ack_s.append(ack_s)
                        except BaseException:
                            if negotiation is not None:
                                negotiation.cancel()
                            raise
                        if negotiation is not None:
                            asked = await negotiation
                            if entry.get("expect_media"):
                                await peer.receiving.wait()
                            if peer.first_packet_at is not None:
                                media_s.append(peer.first_packet_at - asked)
                            self.counters["media_bots"] += 1
                        joined[index] = client.participant_id
                        self.counters["joined"] += 1
                except Exception as exc:
                    self.counters["media_failed"] += 1
                    self.note_error(f"{name}: media join: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(entry) for entry in bots))
        return {"join_ack_s": join_ack_s, "media_s": media_s, "joined": joined}

    def renegotiate(self, peer: MediaPeer) -> None:
        """The server lost this bot's media connections: negotiate again, once per burst of
        ``reconnect`` messages, as the page does."""
        if peer.restarting:
            return
        peer.restarting = True
        self._spawn(self._renegotiate(peer))

    async def _renegotiate(self, peer: MediaPeer) -> None:
        try:
            await asyncio.sleep(0.05)  # both connections' messages come together
            await peer.restart()
            self.counters["media_restarts"] = self.counters.get("media_restarts", 0) + 1
        finally:
            peer.restarting = False

    async def reconnected(self, bot: Bot) -> None:
        """Signed in again: renegotiate media when a connection failed, as the page does."""
        peer = self.peers.get(bot.index)
        if peer is None or not peer.broken:
            return
        try:
            await peer.restart()
            self.counters["media_restarts"] = self.counters.get("media_restarts", 0) + 1
        except Exception as exc:
            self.note_error(f"{bot.name}: media restart: {type(exc).__name__}: {exc}")

    async def act(self, index: int, message: dict[str, Any], timeout: float = 15.0) -> float:
        """Send a client message (a dict with ``type``) with bot ``index``; returns the send
        time (on the run clock). Raises when the server refuses it."""
        bot = self.bots[index]
        request = p.convert_client(message)
        sent = clock.now()
        await bot.client.request(request, timeout=timeout)
        return sent

    async def act_many(
        self, actions: Sequence[tuple[int, dict[str, Any]]], timeout: float = 15.0
    ) -> list[float | None]:
        """Several :meth:`act` at once; None for each refused one."""

        async def one(index: int, message: dict[str, Any]) -> float | None:
            try:
                return await self.act(index, message, timeout)
            except (RequestFailed, ConnectionError, TimeoutError, KeyError) as exc:
                self.note_error(f"bot {index}: {message.get('type')}: {exc}")
                return None

        return list(await asyncio.gather(*(one(i, m) for i, m in actions)))

    async def visit(
        self,
        schedule: Sequence[tuple[int, str, float, float, str]],
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Booth visits: (bot index, space, start on the run clock, stay seconds, home space).

        Each bot moves to the space at its time, stays, and moves back. Measured per move:
        request -> ack and request -> the new space's snapshot, with the send time.
        """
        rows = array("d")  # flat: sent, ack_s, snapshot_s

        async def move(bot: Bot, space: str) -> None:
            key = f"snapshot:{space}"
            bot.marks.pop(key, None)
            sent = clock.now()
            ack = await bot.client.request(p.Move(space_id=space), timeout=timeout)
            await bot.client.until(lambda: key in bot.marks, timeout=timeout)
            acked = bot.marks.get(ack.id or "", clock.now())
            rows.extend((sent, acked - sent, bot.marks[key] - sent))
            self.counters["moves"] = self.counters.get("moves", 0) + 1

        async def one(index: int, space: str, at: float, stay: float, home: str) -> None:
            bot = self.bots.get(index)
            if bot is None or not bot.connected:
                return
            await asyncio.sleep(max(0.0, at - clock.now()))
            try:
                await move(bot, space)
                await asyncio.sleep(stay)
                await move(bot, home)
            except (RequestFailed, ConnectionError, TimeoutError) as exc:
                self.counters["move_failed"] = self.counters.get("move_failed", 0) + 1
                self.note_error(f"{bot.name}: visit {space}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(*entry) for entry in schedule))
        return {"moves": rows}

    def _watch_counts(self, bot: Bot) -> None:
        hook = bot.client.on_message

        def on_message(message: p.ServerMessage, received: float) -> None:
            if isinstance(message, p.Counts):
                self.counts = dict(message.counts)
            if hook is not None:
                hook(message, received)

        bot.client.on_message = on_message

    async def latest_counts(self) -> dict[str, int]:
        """Participants per space, as the last ``counts`` message told a watching bot."""
        return dict(self.counts)

    async def media_reset(self) -> int:
        for peer in self.peers.values():
            peer.reset_counters()
            peer.sent_at_reset = await peer.packets_sent()
        return len(self.peers)

    async def media_results(
        self,
        appearances: Sequence[tuple[str, float]] = (),
        within: float = 30.0,
        observers: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """Loss since :meth:`media_reset`, what each viewer sees now, connections that failed,
        and for each (participant id, time): how long each bot (all, or ``observers``) took
        to be told of it and to get its first video packet, if within ``within`` seconds
        (while it was shown: a promoted attendee is shown until demoted).

        ``per_bot`` rows: index, packets expected, received, slots receiving, streams flowing,
        seconds of frozen tiles, longest freeze.
        """
        expected = received = slots = total_bytes = live = assigned = assigned_live = 0
        per_bot: list[list[Any]] = []
        dead: list[list[Any]] = []
        failures: list[list[Any]] = []
        now = clock.now()
        repaired = feedback = 0
        sent: dict[int, int] = {}
        for index, peer in self.peers.items():
            sent[index] = await peer.packets_sent() - peer.sent_at_reset
            repaired += sum(t.repaired for t in peer.trackers.values())
            feedback += peer.feedback_sent
            e, r, s = peer.loss()
            expected, received, slots = expected + e, received + r, slots + s
            total_bytes += peer.bytes
            alive = peer.live(now)
            live += alive
            seen = peer.streams_at(now)
            assigned += seen["assigned"]
            assigned_live += seen["live"]
            dead.extend([index, *row] for row in seen["dead"])
            per_bot.append(
                [
                    index,
                    e,
                    r,
                    s,
                    alive,
                    round(seen["frozen_s"], 3),
                    round(seen["longest_freeze_s"], 3),
                ]
            )
            for which, why, when in peer.failures:
                failures.append([index, which, why, when, "client"])
            for which, why, when in peer.server_failures:
                failures.append([index, which, why, when, "server"])
        latencies: list[list[Any]] = []
        watchers = (
            list(self.peers.values())
            if observers is None
            else [self.peers[i] for i in observers if i in self.peers]
        )
        for pid, since in appearances:
            for peer in watchers:
                if peer.bot.client.participant_id == pid:
                    continue
                slots_s, packet_s = appearance_latency(
                    peer.changes, peer.keyframes, pid, since, within
                )
                if slots_s is None and packet_s is None:
                    continue
                latencies.append([pid, since, peer.bot.index, slots_s, packet_s])
        return {
            "expected": expected,
            "received": received,
            "slots": slots,
            "live": live,
            "assigned": assigned,
            "assigned_live": assigned_live,
            "repaired": repaired,
            "feedback_packets": feedback,
            "published_packets": sent,  # by bot index
            "dead": dead,
            "failures": failures,
            "bytes": total_bytes,
            "per_bot": per_bot,
            "latencies": latencies,
        }

    async def media_status(self) -> dict[str, Any]:
        return {
            "peers": len(self.peers),
            "receiving": sum(1 for peer in self.peers.values() if peer.packets > 0),
            "packets": self.packets,
        }

    async def close(self) -> dict[str, Any]:
        peers = list(self.peers.values())
        self.peers.clear()
        await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)
        return await super().close()
