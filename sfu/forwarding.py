"""Sources, slots and the per-packet forwarding path.

A :class:`Source` is one published track arriving at the SFU. A :class:`Slot` is one
fixed outgoing track of a subscriber, pointed at a source (or at nothing). Each source
keeps the slots it feeds; an incoming packet is parsed once and every slot rewrites
only the header (SSRC, sequence number, timestamp, payload type, extensions) and the
VP8 picture ids, so the subscriber sees one continuous stream whatever the source.

Everything here is synchronous and does no I/O of its own: a slot sends through the
``send`` callable it is given, a source sends feedback through ``upstream``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from . import rtcp
from .rtp import (
    PICTURE_ID_BYTES,
    ExtensionLayout,
    InPacket,
    abs_send_time_now,
    build_header,
    pack_header,
    parse_h264,
    parse_vp8,
    rewrite_vp8_descriptor,
)

#: Minimum time between two keyframe requests to one source, and the retry period
#: while a slot waits for a keyframe to switch.
KEYFRAME_RETRY_S = 0.3
#: Slots re-pointed within this time of a keyframe request share it.
KEYFRAME_BATCH_S = 0.05
#: Subscriber keyframe requests (PLI/FIR) are forwarded at most this often per source.
PLI_THROTTLE_S = 0.3
#: Packets kept per source to answer NACKs (a power of two): 512 is about 2.5 s of a
#: 1.8 Mbit/s stream, far more than a round trip, for about 0.6 MB per video source.
VIDEO_RING = 512
AUDIO_RING = 64
#: Upstream NACK: give up on a missing packet after this many requests or this age.
NACK_MAX_TRIES = 4
NACK_MAX_AGE_S = 1.0
NACK_RETRY_S = 0.08
#: A handover waiting for the old source's frame to end gives up after this long, or
#: after this many queued packets of the new source.
HANDOVER_MAX_S = 0.15
HANDOVER_MAX_PACKETS = 300
#: Slot epochs remembered for answering NACKs across a switch.
EPOCHS_KEPT = 4

SendFn = Callable[[bytes], bool]

_LEVEL_BYTES = [bytes([i]) for i in range(128)]


class Source:
    """A published track. Owned by its publishing endpoint; fed by its receive path."""

    def __init__(
        self,
        source_id: str,
        endpoint_id: str,
        kind: str,
        mid: str | None,
        codecs: dict[int, str],
        rtx_payload_types: dict[int, int],
        clock_rate: int,
        ssrc: int | None,
        rtx_ssrc: int | None,
    ) -> None:
        self.id = source_id
        self.endpoint_id = endpoint_id
        self.kind = kind
        self.mid = mid
        self.codecs = codecs
        self.rtx_payload_types = rtx_payload_types
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.is_video = kind == "video"
        self.slots: list[Slot] = []
        self.pending: list[Slot] = []
        # Slots that got this source's keyframe while their old source was mid-frame:
        # they queue this source's packets until that frame ends (see Slot.handover).
        self.handover: list[Slot] = []
        # Slots whose old-source frame ended in the current fan-out; finished after it.
        self.releasing: list[Slot] = []
        self.ring_mask = (VIDEO_RING if self.is_video else AUDIO_RING) - 1
        self.ring: list[InPacket | None] = [None] * (self.ring_mask + 1)
        self.closed = False
        # Feedback to the publisher, set by the endpoint.
        self.upstream: SendFn | None = None
        self.rtcp_ssrc = 1
        # The header extension ids (mid, abs-send-time, audio level) of the packets as they
        # arrive, which a pipe passes on untouched.
        self.ext_ids: tuple[int, int, int] = (0, 0, 0)
        # Reception statistics (RFC 3550 appendix A.3 and A.8).
        self.base_seq = -1
        self.max_seq = -1
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self.last_transit = 0.0
        self.missing: dict[int, list[float]] = {}
        self.bytes_received = 0
        self.duplicates = 0
        self.unknown_payload = 0
        # Sender report of the publisher: (ntp, rtp timestamp, local arrival time).
        self.sr_ntp = -1
        self.sr_rtp = 0
        self.sr_arrival = 0.0
        self.sr_lsr = 0
        # Keyframes.
        self.last_keyframe = -1.0
        self.last_pli = -1e9
        self.plis_sent = 0
        self.keyframes = 0
        # Audio level (RFC 6464: 0 is loudest, 127 silence), accumulated between reads.
        self.level_sum = 0
        self.level_count = 0
        self.last_level = 127
        # Paused: nobody watches, and the receive path drops this source's packets before
        # decrypting them. Only a source whose receiving endpoint set ``pause_hook`` (to
        # start and stop the dropping) can be paused.
        self.paused = False
        self.pause_hook: Callable[[Source, bool], None] | None = None
        # Sequence numbers passed over while paused: neither received nor lost.
        self.skipped = 0

    # -- receive path -------------------------------------------------------------------

    def receive(self, p: InPacket, abs_send_time: bytes) -> None:
        """Handle one packet of this source (RTX already unwrapped) and fan it out."""
        codec = self.codecs.get(p.payload_type)
        if codec is None:
            self.unknown_payload += 1
            return
        ring = self.ring
        index = p.seq & self.ring_mask
        old = ring[index]
        if old is not None and old.seq == p.seq and old.timestamp == p.timestamp:
            self.duplicates += 1
            return
        self.received += 1
        self.bytes_received += p.size
        self._track_sequence(p)
        if self.is_video:
            if codec == "VP8":
                parse_vp8(p)
            elif codec == "H264":
                parse_h264(p)
            if p.keyframe:
                self.keyframes += 1
                self.last_keyframe = p.arrival
        elif p.audio_level >= 0:
            self.level_sum += p.audio_level
            self.level_count += 1
            self.last_level = p.audio_level
        ring[index] = p
        if self.handover:
            for slot in self.handover:
                slot.queue_packet(p)
        if self.pending and (p.keyframe or not self.is_video):
            # A slot whose subscriber cannot receive yet keeps waiting (and the worker
            # keeps asking for keyframes): a keyframe sent into the void would leave the
            # subscriber decoding delta frames against nothing.
            waiting = []
            for slot in self.pending:
                if not slot.ready():
                    waiting.append(slot)
                elif slot.source is None or slot.last_marker or not self.is_video:
                    slot.switch_to(self, p)
                else:
                    slot.begin_handover(self, p)
            self.pending[:] = waiting
        for slot in self.slots:
            slot.forward(p, codec, abs_send_time)
        if self.releasing:
            for slot in self.releasing:
                slot.finish_handover()
            self.releasing.clear()

    def _track_sequence(self, p: InPacket) -> None:
        seq = p.seq
        if self.max_seq < 0:
            self.base_seq = seq
            self.max_seq = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:
                if seq < self.max_seq:
                    self.cycles += 0x10000
                if delta > 1 and self.is_video:
                    self._note_missing(self.max_seq, delta, p.arrival)
                self.max_seq = seq
            elif self.missing:
                self.missing.pop(seq, None)
        if self.clock_rate:
            transit = p.arrival * self.clock_rate - p.timestamp
            if self.received > 1:
                d = abs(transit - self.last_transit)
                if d < self.clock_rate:
                    self.jitter += (d - self.jitter) / 16.0
            self.last_transit = transit

    def _note_missing(self, last: int, delta: int, now: float) -> None:
        lost = [(last + i) & 0xFFFF for i in range(1, min(delta, 200))]
        for seq in lost:
            self.missing[seq] = [now, 1.0]
        if self.upstream is not None and self.ssrc is not None:
            self.upstream(rtcp.nack(self.rtcp_ssrc, self.ssrc, lost))

    # -- pausing --------------------------------------------------------------------------

    def watched(self) -> bool:
        """Whether any slot or pipe export plays, awaits or takes over this source."""
        return bool(self.slots or self.pending or self.handover)

    def pause(self) -> None:
        """Nobody watches: have the receive path drop this source's packets before
        decrypting them. No effect on a source that cannot be paused."""
        if self.paused or self.pause_hook is None or self.closed:
            return
        self.paused = True
        self.missing.clear()  # dropped on purpose: nothing to ask again for
        self.pause_hook(self, True)

    def resume(self, now: float) -> None:
        """Someone watches again: decrypt and forward from the next packet, and ask for a
        keyframe (the publisher may have stopped sending; the worker retries the request
        while a slot waits)."""
        if not self.paused:
            return
        self.paused = False
        if self.pause_hook is not None:
            self.pause_hook(self, False)
        self.request_keyframe(now, min_interval=KEYFRAME_BATCH_S)

    def skip_to(self, seq: int) -> None:
        """Move the sequence state to ``seq`` without receiving it: the packets passed over
        (dropped while paused) count neither as received nor as lost, and are not asked
        for again."""
        if self.max_seq < 0:
            self.base_seq = seq
            self.max_seq = seq
            self.skipped += 1
            return
        delta = (seq - self.max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            if seq < self.max_seq:
                self.cycles += 0x10000
            self.skipped += delta
            self.max_seq = seq

    def note_audio_level(self, level: int) -> None:
        """An RFC 6464 level read without receiving the packet (a paused source)."""
        self.level_sum += level
        self.level_count += 1
        self.last_level = level

    # -- feedback -----------------------------------------------------------------------

    def request_keyframe(self, now: float, min_interval: float = PLI_THROTTLE_S) -> bool:
        """Send a PLI to the publisher unless one went out less than ``min_interval`` ago."""
        if not self.is_video or self.upstream is None or self.ssrc is None:
            return False
        if now - self.last_pli < min_interval:
            return False
        self.last_pli = now
        self.plis_sent += 1
        self.upstream(rtcp.pli(self.rtcp_ssrc, self.ssrc))
        return True

    def retry_nacks(self, now: float) -> None:
        """Ask again for packets still missing; forget those too old or asked too often."""
        if not self.missing:
            return
        again: list[int] = []
        for seq, entry in list(self.missing.items()):
            first, tries = entry
            if now - first > NACK_MAX_AGE_S or tries >= NACK_MAX_TRIES:
                del self.missing[seq]
            elif now - first >= tries * NACK_RETRY_S:
                entry[1] = tries + 1
                again.append(seq)
        if again and self.upstream is not None and self.ssrc is not None:
            self.upstream(rtcp.nack(self.rtcp_ssrc, self.ssrc, again))

    def on_sender_report(self, ntp: int, rtp_timestamp: int, now: float) -> None:
        self.sr_ntp = ntp
        self.sr_rtp = rtp_timestamp
        self.sr_arrival = now
        self.sr_lsr = (ntp >> 16) & 0xFFFFFFFF

    def report_block(self, now: float) -> rtcp.ReportBlock | None:
        if self.ssrc is None or self.max_seq < 0 or self.paused:
            return None
        extended_max = self.cycles + self.max_seq
        expected = extended_max - self.base_seq + 1 - self.skipped
        lost = expected - self.received
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self.sr_ntp >= 0:
            dlsr = int((now - self.sr_arrival) * 65536) & 0xFFFFFFFF
        return rtcp.ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=lost,
            highest_seq=extended_max,
            jitter=int(self.jitter),
            lsr=self.sr_lsr if self.sr_ntp >= 0 else 0,
            dlsr=dlsr if self.sr_ntp >= 0 else 0,
        )

    def take_audio_level(self) -> int | None:
        """Mean RFC 6464 level (0 loudest .. 127 silent) since the last call, or None."""
        if not self.level_count:
            return None
        level = self.level_sum // self.level_count
        self.level_sum = 0
        self.level_count = 0
        return level

    def detach_all(self) -> None:
        """Stop feeding every slot at once (the source is gone)."""
        self.closed = True
        for slot in list(self.slots):
            if slot.handover is not None:
                slot.finish_handover()  # no end of frame will come: switch now
            else:
                slot.clear()
        for slot in list(self.pending) + list(self.handover):
            slot.clear()
        self.slots.clear()
        self.pending.clear()
        self.handover.clear()


class Slot:
    """One outgoing track of a subscriber, pointed at a source or at nothing.

    The slot keeps its own sequence number, timestamp and picture id spaces: on a switch
    it continues them from the last packet sent, so the subscriber sees one stream.
    """

    __slots__ = (
        "clock_rate",
        "endpoint_id",
        "epochs",
        "ext",
        "ext_head",
        "ext_kind",
        "ext_tail",
        "handover",
        "handover_since",
        "id",
        "kind",
        "last_marker",
        "last_pid",
        "last_sent",
        "last_seq",
        "last_tl0",
        "last_ts",
        "mid",
        "nacks",
        "octets",
        "packets",
        "pending",
        "pid_off",
        "pt_by_codec",
        "queue",
        "retransmitted",
        "rtx_pt_by_codec",
        "rtx_seq",
        "rtx_ssrc",
        "send",
        "seq_off",
        "source",
        "ssrc",
        "start_seq",
        "started",
        "switches",
        "tl0_off",
        "transport_ready",
        "ts_off",
        "unsendable",
    )

    def __init__(
        self,
        slot_id: str,
        endpoint_id: str,
        kind: str,
        mid: str | None,
        ssrc: int,
        rtx_ssrc: int,
        send: SendFn,
        transport_ready: Callable[[], bool] | None = None,
    ) -> None:
        self.id = slot_id
        self.transport_ready = transport_ready
        self.endpoint_id = endpoint_id
        self.kind = kind
        self.mid = mid
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.send = send
        self.clock_rate = 90000 if kind == "video" else 48000
        self.source: Source | None = None
        self.pending: Source | None = None
        self.handover: Source | None = None
        self.handover_since = 0.0
        self.queue: list[InPacket] = []
        self.last_marker = True
        self.pt_by_codec: dict[str, int] = {}
        self.rtx_pt_by_codec: dict[str, int] = {}
        self.ext = ExtensionLayout(None, 0, 0, "")
        self.ext_head = self.ext.head
        self.ext_tail = self.ext.tail
        self.ext_kind = 0
        self.seq_off = 0
        self.ts_off = 0
        self.pid_off = 0
        self.tl0_off = 0
        self.start_seq = 0
        # Random starting points, below 2^15 like aiortc, so SRTP never sees a rollover
        # ambiguity at the start.
        self.last_seq = random.randrange(0x8000)
        self.last_ts = random.randrange(1 << 32)
        self.last_pid = random.randrange(0x8000)
        self.last_tl0 = random.randrange(0x100)
        self.last_sent = 0.0
        self.started = False
        self.rtx_seq = random.randrange(0x8000)
        self.epochs: list[tuple[int, Source, int, int, int, int, int]] = []
        self.packets = 0
        self.octets = 0
        self.switches = 0
        self.nacks = 0
        self.retransmitted = 0
        self.unsendable = 0

    def configure(
        self,
        pt_by_codec: dict[str, int],
        rtx_pt_by_codec: dict[str, int],
        ext: ExtensionLayout,
    ) -> None:
        """Set what the subscriber negotiated for this slot (from its answer)."""
        self.pt_by_codec = pt_by_codec
        self.rtx_pt_by_codec = rtx_pt_by_codec
        self.ext = ext
        self.ext_head = ext.head
        self.ext_tail = ext.tail
        self.ext_kind = ext.kind_code

    def ready(self) -> bool:
        """Whether the subscriber has answered and its connection can carry packets."""
        if not self.pt_by_codec:
            return False
        return self.transport_ready is None or self.transport_ready()

    # -- routing ------------------------------------------------------------------------

    def point_at(self, source: Source | None, now: float) -> None:
        """Re-point the slot. Video keeps the current source until the new one sends a
        keyframe (requested here, and retried by the worker); None stops at once."""
        if source is None:
            self.clear()
            return
        if source is self.source:
            self._cancel_pending()
            return
        if source is self.pending or source is self.handover:
            return
        self._cancel_pending()
        if source.paused:
            source.resume(now)
        self.pending = source
        source.pending.append(self)
        if source.is_video:
            # One request serves every slot that points here at about the same time.
            source.request_keyframe(now, min_interval=KEYFRAME_BATCH_S)

    def _cancel_pending(self) -> None:
        if self.pending is not None:
            try:
                self.pending.pending.remove(self)
            except ValueError:
                pass
            self.pending = None
        if self.handover is not None:
            try:
                self.handover.handover.remove(self)
            except ValueError:
                pass
            self.handover = None
            self.queue = []

    # -- handover at a frame boundary -----------------------------------------------------

    def begin_handover(self, source: Source, p: InPacket) -> None:
        """The new source's keyframe starts while the old source is mid-frame: keep
        forwarding the old source until its frame ends, queueing the new one meanwhile,
        so the subscriber never gets a frame cut short."""
        self.pending = None
        self.handover = source
        self.handover_since = p.arrival
        self.queue = [p]
        source.handover.append(self)

    def queue_packet(self, p: InPacket) -> None:
        self.queue.append(p)
        if len(self.queue) > HANDOVER_MAX_PACKETS and self.source is not None:
            self.source.releasing.append(self)

    def finish_handover(self) -> None:
        """Switch to the queued source now and send what was queued."""
        source = self.handover
        queue = self.queue
        if source is None or not queue:
            return
        self.handover = None
        self.queue = []
        try:
            source.handover.remove(self)
        except ValueError:
            pass
        self.switch_to(source, queue[0])
        abs_send_time = abs_send_time_now()
        for p in queue:
            codec = source.codecs.get(p.payload_type)
            if codec is not None:
                self.forward(p, codec, abs_send_time)

    def clear(self) -> None:
        """Point at nothing: the slot sends nothing from now on."""
        self._cancel_pending()
        if self.source is not None:
            try:
                self.source.slots.remove(self)
            except ValueError:
                pass
            self.source = None

    def switch_to(self, source: Source, p: InPacket) -> None:
        """Start forwarding ``source`` at packet ``p`` (a keyframe start for video),
        continuing this slot's sequence number, timestamp and picture id spaces."""
        if self.source is not None:
            try:
                self.source.slots.remove(self)
            except ValueError:
                pass
        self.pending = None
        if self.started:
            elapsed = p.arrival - self.last_sent
            step = max(1, int(elapsed * self.clock_rate)) if elapsed > 0 else 1
            next_seq = (self.last_seq + 1) & 0xFFFF
            next_ts = (self.last_ts + step) & 0xFFFFFFFF
        else:
            next_seq = self.last_seq
            next_ts = self.last_ts
        self.seq_off = (next_seq - p.seq) & 0xFFFF
        self.ts_off = (next_ts - p.timestamp) & 0xFFFFFFFF
        if p.picture_id >= 0:
            self.pid_off = (self.last_pid + 1 - p.picture_id) & 0x7FFF
        if p.tl0 >= 0:
            self.tl0_off = (self.last_tl0 + 1 - p.tl0) & 0xFF
        self.start_seq = p.seq
        self.epochs.append(
            (next_seq, source, self.seq_off, self.ts_off, self.pid_off, self.tl0_off, p.seq)
        )
        if len(self.epochs) > EPOCHS_KEPT:
            del self.epochs[0]
        self.source = source
        source.slots.append(self)
        self.switches += 1
        # The packet that triggered the switch is forwarded by the source's fan-out loop,
        # which runs after this switch.

    # -- per packet ---------------------------------------------------------------------

    def forward(self, p: InPacket, codec: str, abs_send_time: bytes) -> None:
        """Rewrite one packet of the current source into this slot and send it. This is
        the per-packet, per-subscriber path: keep it flat."""
        if (p.seq - self.start_seq) & 0x8000:
            return  # older than the switch to this source
        pt = self.pt_by_codec.get(codec)
        if pt is None:
            self.unsendable += 1
            return
        seq = (p.seq + self.seq_off) & 0xFFFF
        ts = (p.timestamp + self.ts_off) & 0xFFFFFFFF
        tl0 = -1
        if p.desc_head:
            pid = (p.picture_id + self.pid_off) & 0x7FFF
            desc = p.desc_head + PICTURE_ID_BYTES[pid] + p.desc_tail
        elif p.descriptor:
            desc, pid, tl0 = rewrite_vp8_descriptor(p, self.pid_off, self.tl0_off)
        else:
            desc, pid = b"", -1
        kind = self.ext_kind
        if kind == 1:
            ext = self.ext_head + abs_send_time + self.ext_tail
        elif kind == 2:
            level = p.audio_level
            ext = self.ext_head + _LEVEL_BYTES[level if level >= 0 else 127] + self.ext_tail
        else:
            ext = self.ext_head + self.ext_tail
        rest = p.rest
        self.send(b"".join((pack_header(0x90, p.marker | pt, seq, ts, self.ssrc), ext, desc, rest)))
        self.packets += 1
        self.octets += len(desc) + len(rest)
        if not self.started or (seq - self.last_seq) & 0xFFFF < 0x8000:
            self.started = True
            self.last_seq = seq
            self.last_ts = ts
            self.last_sent = p.arrival
            self.last_marker = p.marker != 0
            if pid >= 0:
                self.last_pid = pid
            if tl0 >= 0:
                self.last_tl0 = tl0
            if p.marker and self.handover is not None and self.source is not None:
                self.source.releasing.append(self)  # the old frame is complete

    def retransmit(self, out_seq: int, abs_send_time: bytes) -> bool:
        """Answer a NACK for ``out_seq`` from the source's packet ring, as RTX when
        negotiated. False when the packet is no longer (or never was) available."""
        self.nacks += 1
        for first_out, source, seq_off, ts_off, pid_off, tl0_off, start_seq in reversed(
            self.epochs
        ):
            if (out_seq - first_out) & 0x8000:
                continue
            src_seq = (out_seq - seq_off) & 0xFFFF
            if (src_seq - start_seq) & 0x8000:
                return False
            p = source.ring[src_seq & source.ring_mask]
            if p is None or p.seq != src_seq:
                return False
            codec = source.codecs.get(p.payload_type, "")
            pt = self.pt_by_codec.get(codec)
            if pt is None:
                return False
            ts = (p.timestamp + ts_off) & 0xFFFFFFFF
            desc = b""
            if p.descriptor:
                desc = rewrite_vp8_descriptor(p, pid_off, tl0_off)[0]
            ext = self.ext.block(abs_send_time, p.audio_level)
            rtx_pt = self.rtx_pt_by_codec.get(codec)
            if rtx_pt is not None:
                header = build_header(p.marker | rtx_pt, self.rtx_seq, ts, self.rtx_ssrc)
                self.rtx_seq = (self.rtx_seq + 1) & 0xFFFF
                packet = header + ext + out_seq.to_bytes(2, "big") + desc + p.rest
            else:
                packet = build_header(p.marker | pt, out_seq, ts, self.ssrc) + ext + desc + p.rest
            self.send(packet)
            self.retransmitted += 1
            return True
        return False

    def sender_report(self, now: float) -> bytes | None:
        """A sender report mapped from the current source's, or None while the slot is
        empty or the source has not sent one yet."""
        source = self.source
        if source is None or not self.started or source.sr_ntp < 0:
            return None
        elapsed = now - source.sr_arrival
        ntp = (source.sr_ntp + int(elapsed * (1 << 32))) & 0xFFFFFFFFFFFFFFFF
        rtp_ts = source.sr_rtp + int(elapsed * source.clock_rate) + self.ts_off
        return rtcp.sender_report(self.ssrc, ntp, rtp_ts, self.packets, self.octets)
