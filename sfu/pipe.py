"""A plain-RTP pipe between two workers, so one source can feed slots on several workers
(a stage watched by more people than one core can serve).

Each side opens a UDP socket and is told the other's address. The exporting worker sends
the packets of its exported sources (after RTX repair, with a pipe SSRC of their own) and
their publishers' sender reports; the importing worker turns each into a local
:class:`~sfu.forwarding.Source` its slots can point at, and sends keyframe requests back.
Loss inside the pipe is repaired the way a publisher's is: the importing source notes the
gaps in its sequence numbers and sends NACKs back through the pipe; the exporting end
sends those packets again from the source's packet ring, with their original numbers.
The pipe is not encrypted: it is meant for loopback or a private network between workers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from . import adapter, rtcp
from .forwarding import Source
from .rtp import ExtensionLayout, InPacket, abs_send_time_now, pack_header, parse

logger = logging.getLogger(__name__)

#: Header extension ids used inside a pipe (both ends agree on them).
PIPE_ABS_ID = 3
PIPE_LEVEL_ID = 1
PIPE_EXT_IDS = (0, PIPE_ABS_ID, PIPE_LEVEL_ID)


class PipeSlot:
    """Looks like a slot to a source: every packet goes into the pipe as it arrived from the
    publisher (its SSRC is the pipe SSRC, its header extensions keep the publisher's ids,
    which the importing end is told), so the importing worker sees the source's own
    numbering and the sending worker copies nothing. A packet that was rebuilt (an RTX
    repair from the publisher) is written anew in the same form."""

    handover = None

    def __init__(self, source: Source, pipe_ssrc: int, pipe: Pipe) -> None:
        self.source: Source | None = source
        self.pipe_ssrc = pipe_ssrc
        self.pipe = pipe
        _, abs_id, level_id = source.ext_ids
        self.layout = ExtensionLayout(
            None,
            0,
            abs_id if source.is_video else level_id,
            "abs" if source.is_video else "level",
        )
        self.packets = 0

    def forward(self, p: InPacket, codec: str, abs_send_time: bytes) -> None:
        # Once per packet and pipe: kept flat, like Slot.forward.
        raw = p.raw
        if raw is None or p.ssrc != self.pipe_ssrc:
            header = pack_header(
                0x90, p.marker | p.payload_type, p.seq, p.timestamp, self.pipe_ssrc
            )
            raw = b"".join(
                (header, self.layout.block(abs_send_time, p.audio_level), p.descriptor, p.rest)
            )
        self.pipe.send(raw)
        self.packets += 1

    def resend(self, seqs: list[int]) -> None:
        """Answer a NACK from the importing end: send these packets of the source again
        from its ring (those still there), as they were first sent."""
        source = self.source
        if source is None:
            return
        abs_send_time = abs_send_time_now()
        ring = source.ring
        mask = source.ring_mask
        for seq in seqs:
            p = ring[seq & mask]
            if p is None or p.seq != seq:
                self.pipe.nacks_unanswered += 1
                continue
            self.forward(p, "", abs_send_time)
            self.pipe.retransmitted += 1

    def clear(self) -> None:
        if self.source is not None:
            try:
                self.source.slots.remove(self)  # type: ignore[arg-type]
            except ValueError:
                pass
            self.source = None


class Pipe(asyncio.DatagramProtocol):
    """One end of a pipe between two workers."""

    def __init__(self, pipe_id: str, on_error: Callable[[str], None] | None = None) -> None:
        self.id = pipe_id
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.exports: dict[int, PipeSlot] = {}  # pipe ssrc -> exported source
        self.imports: dict[int, Source] = {}  # pipe ssrc -> imported source
        self.sent = 0
        self.received = 0
        self.errors = 0
        self.nacks_received = 0
        self.retransmitted = 0
        self.nacks_unanswered = 0
        #: Tests only: a datagram about to be sent for which this returns True is dropped
        #: instead (loss inside the pipe, on purpose).
        self.drop_filter: Callable[[bytes], bool] | None = None
        self.dropped_on_purpose = 0
        self._on_error = on_error
        # SRTP both ways once :meth:`secure` gave keys (pipes between machines).
        self._protect: Callable[[bytes], bytes | None] | None = None
        self._protect_rtcp: Callable[[bytes], bytes] | None = None
        self._unprotect: Callable[[bytes], bytes | None] | None = None
        self._unprotect_rtcp: Callable[[bytes], bytes] | None = None
        self.rejected = 0  # datagrams that failed authentication

    @property
    def encrypted(self) -> bool:
        return self._protect is not None

    def secure(self, send_key: bytes, receive_key: bytes) -> None:
        """Encrypt and authenticate everything this end sends with ``send_key`` and accept
        only what ``receive_key`` authenticates (SRTP/SRTCP, AES128_CM_SHA1_80)."""
        import pylibsrtp

        def session(key: bytes, direction: int, allow_repeat: bool) -> Any:
            policy = pylibsrtp.Policy(
                key=key,
                ssrc_type=direction,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            )
            # Answers to NACKs send a packet again as it was: the same index twice.
            policy.allow_repeat_tx = allow_repeat
            return pylibsrtp.Session(policy)

        outbound = session(send_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, True)
        inbound = session(receive_key, pylibsrtp.Policy.SSRC_ANY_INBOUND, False)
        self._protect = adapter.fast_protect(outbound)
        self._protect_rtcp = outbound.protect_rtcp
        self._unprotect = adapter.fast_unprotect(inbound)
        self._unprotect_rtcp = inbound.unprotect_rtcp

    # -- asyncio ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.remote is not None and (addr[0], addr[1]) != self.remote:
            self.errors += 1  # only the connected peer may feed this pipe
            return
        self.received += 1
        try:
            rtcp_packet = len(data) >= 2 and 192 <= data[1] <= 208
            if self._unprotect is not None:
                opened = self._unprotect_rtcp(data) if rtcp_packet else self._unprotect(data)  # type: ignore[misc]
                if opened is None:
                    self.rejected += 1
                    return
                data = opened
            if rtcp_packet:
                self._on_rtcp(data)
                return
            if len(data) < 12:
                self.errors += 1
                return
            source = self.imports.get(int.from_bytes(data[8:12], "big"))
            if source is None or source.closed:
                return
            # Parsed with the extension ids of the publisher the packet came from.
            p = parse(data, source.ext_ids, asyncio.get_event_loop().time())
            if p is None:
                self.errors += 1
                return
            source.receive(p, abs_send_time_now())
        except Exception:
            self.errors += 1

    def _on_rtcp(self, data: bytes) -> None:
        now = asyncio.get_event_loop().time()
        for fb in rtcp.parse(data):
            if fb.kind == "sr":
                source = self.imports.get(fb.sender_ssrc)
                if source is not None:
                    source.on_sender_report(fb.ntp, fb.rtp_timestamp, now)
            elif fb.kind in ("pli", "fir"):
                slot = self.exports.get(fb.media_ssrc)
                if slot is not None and slot.source is not None:
                    slot.source.request_keyframe(now)
            elif fb.kind == "nack":
                slot = self.exports.get(fb.media_ssrc)
                if slot is not None:
                    self.nacks_received += 1
                    slot.resend(fb.lost)

    # -- sending --------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        if self.transport is None or self.remote is None:
            return False
        if self.drop_filter is not None and self.drop_filter(data):
            self.dropped_on_purpose += 1
            return True
        if self._protect is not None:
            sealed = (
                self._protect_rtcp(data)  # type: ignore[misc]
                if len(data) >= 2 and 192 <= data[1] <= 208
                else self._protect(data)
            )
            if sealed is None:
                self.errors += 1
                return False
            data = sealed
        self.transport.sendto(data, self.remote)
        self.sent += 1
        return True

    def export(self, source: Source) -> dict[str, Any]:
        """Start sending ``source`` into the pipe; returns what the other worker's
        :meth:`import_source` needs."""
        for slot in self.exports.values():
            if slot.source is source:
                return self._descriptor(slot)
        # The publisher's own SSRC, so its packets go on untouched, unless another export
        # of this pipe has it already.
        pipe_ssrc = source.ssrc or 0
        while not pipe_ssrc or pipe_ssrc in self.exports:
            pipe_ssrc = random.randrange(1, 1 << 32)
        slot = PipeSlot(source, pipe_ssrc, self)
        self.exports[pipe_ssrc] = slot
        source.slots.append(slot)  # type: ignore[arg-type]
        if source.paused:
            source.resume(asyncio.get_event_loop().time())
        return self._descriptor(slot)

    def _descriptor(self, slot: PipeSlot) -> dict[str, Any]:
        source = slot.source
        assert source is not None
        return {
            "source_id": source.id,
            "endpoint_id": source.endpoint_id,
            "kind": source.kind,
            "pipe_ssrc": slot.pipe_ssrc,
            "ext_ids": list(source.ext_ids),
            "codecs": {str(pt): name for pt, name in source.codecs.items()},
            "clock_rate": source.clock_rate,
        }

    def import_source(self, descriptor: dict[str, Any]) -> Source:
        """A local source fed by the pipe, with the exporting worker's source id."""
        pipe_ssrc = int(descriptor["pipe_ssrc"])
        source = Source(
            str(descriptor["source_id"]),
            str(descriptor["endpoint_id"]),
            str(descriptor["kind"]),
            None,
            {int(pt): str(name) for pt, name in descriptor["codecs"].items()},
            {},
            int(descriptor["clock_rate"]),
            pipe_ssrc,
            None,
        )
        source.upstream = self.send
        ids = descriptor.get("ext_ids") or PIPE_EXT_IDS
        source.ext_ids = (int(ids[0]), int(ids[1]), int(ids[2]))
        self.imports[pipe_ssrc] = source
        return source

    def send_sender_reports(self, now: float) -> None:
        """Pass the publishers' latest sender reports of exported sources along."""
        reports = []
        for pipe_ssrc, slot in self.exports.items():
            source = slot.source
            if source is None or source.sr_ntp < 0:
                continue
            elapsed = now - source.sr_arrival
            ntp = (source.sr_ntp + int(elapsed * (1 << 32))) & 0xFFFFFFFFFFFFFFFF
            rtp_ts = source.sr_rtp + int(elapsed * source.clock_rate)
            reports.append(rtcp.sender_report(pipe_ssrc, ntp, rtp_ts, slot.packets, 0))
        if reports:
            self.send(b"".join(reports))

    def close(self) -> None:
        for slot in self.exports.values():
            slot.clear()
        self.exports.clear()
        for source in self.imports.values():
            source.detach_all()
        self.imports.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
