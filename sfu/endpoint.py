"""An endpoint: one participant's two peer connections, negotiated once.

The publish connection answers the participant's offer (camera, microphone): each
m-line it sends becomes a :class:`~sfu.forwarding.Source`. The subscribe connection is
offered by the SFU with a fixed set of send-only slots (video then audio) that the
worker re-points at will; it is never renegotiated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCBundlePolicy

from . import adapter, rtcp, sdp
from .forwarding import Slot, Source
from .rtp import ExtensionLayout, InPacket, abs_send_time_now, header_audio_level, parse

logger = logging.getLogger(__name__)

StateCallback = Callable[["Endpoint", str, str], None]


def _configuration() -> RTCConfiguration:
    # iceServers=[] always: aiortc's default STUN server is on the internet.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def _clock_rate(section: sdp.MediaSection, kind: str) -> int:
    for pt in section.payload_order:
        codec = section.codecs.get(pt)
        if codec is not None and not codec.is_rtx and codec.clock_rate:
            return codec.clock_rate
    return 90000 if kind == "video" else 48000


class Endpoint:
    """A participant's connections, sources and slots. Created by the worker."""

    def __init__(
        self,
        endpoint_id: str,
        host_addresses: Sequence[str] | None,
        on_state: StateCallback,
        socket_buffer: int = 0,
    ) -> None:
        self.id = endpoint_id
        self._socket_buffer = socket_buffer
        self._hosts = host_addresses
        self._on_state = on_state
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.publish_transport: adapter.PeerTransport | None = None
        self.subscribe_transport: adapter.PeerTransport | None = None
        self.sources: dict[str, Source] = {}
        self.slots: dict[str, Slot] = {}
        self.slot_by_ssrc: dict[int, Slot] = {}
        self._media_by_ssrc: dict[int, Source] = {}
        self._rtx_by_ssrc: dict[int, Source] = {}
        self._by_mid: dict[bytes, Source] = {}
        # Streams of paused sources, by SSRC: kept across pauses for their counters.
        self._paused_streams: dict[int, adapter.PausedStream] = {}
        self._ext_ids = (0, 0, 0)
        self._estimator: adapter.BitrateEstimator | None = None
        self._rtcp_ssrc = 1
        self.remb_from_subscriber = 0
        self.unknown_packets = 0
        self.closed = False
        self.subscribe_answered = False
        self.states: dict[str, str] = {}

    # -- negotiation ----------------------------------------------------------------------

    async def open_publish(self, offer_sdp: str, video_codecs: Sequence[str]) -> str:
        """Answer the participant's publish offer; returns the answer SDP. Only codecs the
        slots can carry are accepted (``video_codecs``, and Opus)."""
        pc = RTCPeerConnection(_configuration())
        self.publish_pc = pc
        self._watch(pc, "publish")
        allowed = {"video": {c.upper() for c in video_codecs}, "audio": {"OPUS"}}
        offer_sdp = sdp.restrict_codecs(offer_sdp, allowed)
        with adapter.no_receive_estimators():
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            adapter.park_receiver(transceiver.receiver)
        answer = await pc.createAnswer()
        with adapter.announced_addresses(self._hosts):
            await pc.setLocalDescription(answer)
        local_sdp = pc.localDescription.sdp
        offered = {s.mid: s for s in sdp.parse(offer_sdp)}
        mid_id = abs_id = level_id = 0
        counts: dict[str, int] = {}
        for section in sdp.parse(local_sdp):
            if section.kind not in ("audio", "video") or section.port == 0:
                continue
            mid_id = mid_id or section.extensions.get(sdp.URI_MID, 0)
            abs_id = abs_id or section.extensions.get(sdp.URI_ABS_SEND_TIME, 0)
            level_id = level_id or section.extensions.get(sdp.URI_AUDIO_LEVEL, 0)
            if section.direction not in ("recvonly", "sendrecv"):
                continue
            counts[section.kind] = counts.get(section.kind, 0) + 1
            n = counts[section.kind]
            source_id = f"{self.id}:{section.kind}" + (str(n) if n > 1 else "")
            codecs = {pt: c.name.upper() for pt, c in section.codecs.items() if not c.is_rtx}
            rtx = {pt: c.apt for pt, c in section.codecs.items() if c.is_rtx and c.apt is not None}
            remote = offered.get(section.mid)
            source = Source(
                source_id,
                self.id,
                section.kind,
                section.mid,
                codecs,
                rtx,
                _clock_rate(section, section.kind),
                remote.media_ssrc if remote else None,
                remote.rtx_ssrc if remote else None,
            )
            self.sources[source_id] = source
            if source.ssrc is not None:
                self._media_by_ssrc[source.ssrc] = source
            if source.rtx_ssrc is not None:
                self._rtx_by_ssrc[source.rtx_ssrc] = source
            if section.mid is not None:
                self._by_mid[section.mid.encode()] = source
        self._ext_ids = (mid_id, abs_id, level_id)
        transceivers = pc.getTransceivers()
        if transceivers:
            self._rtcp_ssrc = adapter.rtcp_sender_ssrc(transceivers[0])
        transport = adapter.PeerTransport(pc)
        self.publish_transport = transport
        for source in self.sources.values():
            source.upstream = transport.send_rtcp
            source.rtcp_ssrc = self._rtcp_ssrc
            source.ext_ids = self._ext_ids
            source.pause_hook = self._set_paused
        if any(s.is_video for s in self.sources.values()) and abs_id:
            self._estimator = adapter.BitrateEstimator()
        if self._socket_buffer:
            transport.set_socket_buffers(self._socket_buffer)
        transport.attach(self._on_publish_rtp, self._on_publish_rtcp)
        return local_sdp

    async def open_subscribe(
        self, video_slots: int, audio_slots: int, video_codecs: Sequence[str]
    ) -> str:
        """Create the subscribe connection with its slots; returns the SDP offer."""
        pc = RTCPeerConnection(_configuration())
        self.subscribe_pc = pc
        self._watch(pc, "subscribe")
        wanted = {"video": [c.upper() for c in video_codecs], "audio": ["OPUS"]}
        specs = [("video", f"v{i}") for i in range(video_slots)]
        specs += [("audio", f"a{i}") for i in range(audio_slots)]
        transceivers = []
        with adapter.no_receive_estimators():
            for kind, slot_id in specs:
                t = pc.addTransceiver(adapter.ParkedTrack(kind), direction="sendonly")
                caps = RTCRtpSender.getCapabilities(kind).codecs
                preferred = []
                for name in wanted[kind]:
                    preferred += [c for c in caps if c.mimeType.split("/")[1].upper() == name]
                preferred += [c for c in caps if c.mimeType.lower().endswith("/rtx")]
                t.setCodecPreferences(preferred)
                transceivers.append((kind, slot_id, t))
        offer = await pc.createOffer()
        with adapter.announced_addresses(self._hosts):
            await pc.setLocalDescription(offer)
        transport = adapter.PeerTransport(pc)
        self.subscribe_transport = transport
        for kind, slot_id, t in transceivers:
            ssrc, rtx_ssrc = adapter.sender_ssrcs(t.sender)
            slot = Slot(
                slot_id,
                self.id,
                kind,
                t.mid,
                ssrc,
                rtx_ssrc,
                transport.send_rtp,
                transport.is_ready,
            )
            transport.bind(slot)
            self.slots[slot_id] = slot
            self.slot_by_ssrc[ssrc] = slot
            adapter.park_sender_rtcp(t.sender)
        if self._socket_buffer:
            transport.set_socket_buffers(self._socket_buffer)
        transport.attach(self._on_subscribe_rtp, self._on_subscribe_rtcp)
        return pc.localDescription.sdp

    async def accept_subscribe_answer(self, answer_sdp: str) -> None:
        """Apply the participant's answer to the subscribe offer (once)."""
        if self.subscribe_pc is None:
            raise RuntimeError(f"endpoint {self.id} has no subscribe connection")
        await self.subscribe_pc.setRemoteDescription(
            RTCSessionDescription(sdp=answer_sdp, type="answer")
        )
        by_mid = {s.mid: s for s in sdp.parse(answer_sdp)}
        for slot in self.slots.values():
            section = by_mid.get(slot.mid)
            if section is None or section.port == 0:
                continue
            pts: dict[str, int] = {}
            rtx_pts: dict[str, int] = {}
            for pt in section.payload_order:
                codec = section.codecs.get(pt)
                if codec is None or codec.is_rtx:
                    continue
                name = codec.name.upper()
                pts.setdefault(name, pt)
                rtx = section.rtx_for(pt)
                if rtx is not None:
                    rtx_pts.setdefault(name, rtx.payload_type)
            if slot.kind == "video":
                ext = ExtensionLayout(
                    slot.mid,
                    section.extensions.get(sdp.URI_MID, 0),
                    section.extensions.get(sdp.URI_ABS_SEND_TIME, 0),
                    "abs",
                )
            else:
                ext = ExtensionLayout(
                    slot.mid,
                    section.extensions.get(sdp.URI_MID, 0),
                    section.extensions.get(sdp.URI_AUDIO_LEVEL, 0),
                    "level",
                )
            slot.configure(pts, rtx_pts, ext)
        self.subscribe_answered = True

    def _watch(self, pc: RTCPeerConnection, role: str) -> None:
        @pc.on("connectionstatechange")
        def _changed() -> None:
            self.states[role] = pc.connectionState
            if pc.connectionState == "connected":
                adapter.keep_consent(pc)
            self._on_state(self, role, pc.connectionState)

    # -- packets from the publisher ----------------------------------------------------

    def _on_publish_rtp(self, data: bytes, arrival: float) -> None:
        if self.closed:
            return
        p = parse(data, self._ext_ids, arrival)
        if p is None:
            self.unknown_packets += 1
            return
        source = self._media_by_ssrc.get(p.ssrc)
        if source is None:
            source = self._rtx_by_ssrc.get(p.ssrc)
            if source is None:
                source = self._learn_ssrc(p)
                if source is None:
                    self.unknown_packets += 1
                    return
            if p.ssrc == source.rtx_ssrc:
                # RTX (RFC 4588): the original sequence number leads the payload.
                apt = source.rtx_payload_types.get(p.payload_type)
                if apt is None or len(p.rest) < 2:
                    return  # padding-only probe
                p.seq = (p.rest[0] << 8) | p.rest[1]
                p.rest = p.rest[2:]
                p.payload_type = apt
                p.ssrc = source.ssrc or 0
                p.raw = None  # no longer the packet that arrived
        estimator = self._estimator
        if (
            estimator is not None
            and p.abs_send_time >= 0
            and source.is_video
            and estimator.add(p.abs_send_time, int(arrival * 1000), p.size, p.ssrc)
        ):
            self._send_remb()
        source.receive(p, abs_send_time_now())

    def _learn_ssrc(self, p: InPacket) -> Source | None:
        """Attribute an SSRC the offer did not announce, by MID or payload type."""
        source = self._by_mid.get(p.mid) if p.mid else None
        if source is None:
            matches = [
                s
                for s in self.sources.values()
                if p.payload_type in s.codecs or p.payload_type in s.rtx_payload_types
            ]
            if len(matches) == 1:
                source = matches[0]
        if source is None:
            return None
        if p.payload_type in source.rtx_payload_types:
            source.rtx_ssrc = p.ssrc
            self._rtx_by_ssrc[p.ssrc] = source
        else:
            if source.ssrc is not None:
                self._media_by_ssrc.pop(source.ssrc, None)
            source.ssrc = p.ssrc
            self._media_by_ssrc[p.ssrc] = source
        if source.paused:
            self._pause_stream(source, p.ssrc, True, last_decrypted=p.seq)
        return source

    # -- paused sources ------------------------------------------------------------------

    def _set_paused(self, source: Source, paused: bool) -> None:
        """The source's ``pause_hook``: start or stop dropping its packets (media and RTX)
        before decryption."""
        for ssrc in (source.ssrc, source.rtx_ssrc):
            if ssrc is not None:
                self._pause_stream(source, ssrc, paused)

    def _pause_stream(
        self, source: Source, ssrc: int, paused: bool, last_decrypted: int | None = None
    ) -> None:
        transport = self.publish_transport
        if transport is None:
            return
        media = ssrc == source.ssrc
        if not paused:
            stream = transport.paused.pop(ssrc, None)
            if stream is not None and media and stream.last_seen >= 0:
                # Packets dropped meanwhile are not losses to ask for.
                source.skip_to(stream.last_seen)
            return
        stream = self._paused_streams.get(ssrc)
        if stream is None:
            on_clear = None
            level_id = self._ext_ids[2]
            if media and not source.is_video and level_id:
                # Levels of unwatched microphones still pick who speaks: read them from
                # the clear header extension (RFC 6464 is not encrypted by SRTP).
                def on_clear(data: bytes, source: Source = source, ident: int = level_id) -> None:
                    level = header_audio_level(data, ident)
                    if level >= 0:
                        source.note_audio_level(level)

            on_decrypted = None
            if media:
                # Keeps the source's extended sequence number right across long pauses.
                def on_decrypted(packet: bytes, source: Source = source) -> None:
                    source.skip_to((packet[2] << 8) | packet[3])

            stream = adapter.PausedStream(on_clear, on_decrypted)
            self._paused_streams[ssrc] = stream
        if last_decrypted is not None:
            stream.last_decrypted = last_decrypted
        elif media:
            stream.last_decrypted = source.max_seq
        else:
            stream.last_decrypted = -1  # RTX sequence numbers are not followed
        stream.last_seen = -1
        transport.paused[ssrc] = stream

    def dropped_paused(self, source: Source) -> int:
        """Packets of ``source`` dropped before decryption while it was paused."""
        total = 0
        for ssrc in (source.ssrc, source.rtx_ssrc):
            stream = self._paused_streams.get(ssrc) if ssrc is not None else None
            if stream is not None:
                total += stream.dropped
        return total

    def _on_publish_rtcp(self, data: bytes) -> None:
        now = asyncio.get_event_loop().time()
        for fb in rtcp.parse(data):
            if fb.kind == "sr":
                source = self._media_by_ssrc.get(fb.sender_ssrc)
                if source is not None:
                    source.on_sender_report(fb.ntp, fb.rtp_timestamp, now)

    def _send_remb(self) -> None:
        if self._estimator is None or self.publish_transport is None:
            return
        bitrate = self._estimator.bitrate
        ssrcs = [s.ssrc for s in self.sources.values() if s.is_video and s.ssrc is not None]
        if bitrate and ssrcs:
            self.publish_transport.send_rtcp(rtcp.remb(self._rtcp_ssrc, bitrate, ssrcs))

    def send_receiver_reports(self, now: float) -> None:
        """One RR for every source of this publisher, plus the current REMB."""
        if self.publish_transport is None:
            return
        blocks = [b for s in self.sources.values() if (b := s.report_block(now)) is not None]
        if not blocks:
            return
        packet = rtcp.receiver_report(self._rtcp_ssrc, blocks)
        if self._estimator is not None and self._estimator.bitrate:
            ssrcs = [s.ssrc for s in self.sources.values() if s.is_video and s.ssrc is not None]
            if ssrcs:
                packet += rtcp.remb(self._rtcp_ssrc, self._estimator.bitrate, ssrcs)
        self.publish_transport.send_rtcp(packet)

    def send_sender_reports(self, now: float) -> None:
        """One compound RTCP packet with a sender report for every slot that is playing,
        each mapped from its source's latest report (keeps lip sync)."""
        if self.subscribe_transport is None:
            return
        reports = [r for slot in self.slots.values() if (r := slot.sender_report(now))]
        if reports:
            self.subscribe_transport.send_rtcp(b"".join(reports))

    # -- packets from the subscriber ---------------------------------------------------

    def _on_subscribe_rtp(self, data: bytes, arrival: float) -> None:
        # A subscriber's browser sends no media on this connection.
        self.unknown_packets += 1

    def _on_subscribe_rtcp(self, data: bytes) -> None:
        if self.closed:
            return
        now = asyncio.get_event_loop().time()
        for fb in rtcp.parse(data):
            if fb.kind == "nack":
                slot = self.slot_by_ssrc.get(fb.media_ssrc)
                if slot is not None:
                    abs_time = abs_send_time_now()
                    for seq in fb.lost:
                        slot.retransmit(seq, abs_time)
            elif fb.kind in ("pli", "fir"):
                slot = self.slot_by_ssrc.get(fb.media_ssrc)
                if slot is not None and slot.source is not None:
                    slot.source.request_keyframe(now)
            elif fb.kind == "remb":
                self.remb_from_subscriber = fb.bitrate

    # -- teardown ------------------------------------------------------------------------

    def stop_media(self) -> None:
        """Synchronously stop all media of this endpoint: its sources feed no slot any more
        and its slots send nothing."""
        self.closed = True
        for source in self.sources.values():
            source.detach_all()
        for slot in self.slots.values():
            slot.clear()

    async def close(self) -> None:
        self.stop_media()
        if self.subscribe_transport is not None and self.slots:
            ssrcs = [slot.ssrc for slot in self.slots.values()]
            self.subscribe_transport.send_rtcp(rtcp.bye(ssrcs[:31]))
        for transport in (self.publish_transport, self.subscribe_transport):
            if transport is not None:
                transport.detach()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                try:
                    await asyncio.wait_for(pc.close(), timeout=5)
                except (TimeoutError, Exception):
                    logger.warning("closing a peer connection of %s failed", self.id)
