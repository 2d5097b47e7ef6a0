"""RTCP reading and writing for the feedback the SFU handles (RFC 3550, RFC 4585,
RFC 5104, draft-alvestrand-rmcat-remb)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SR = 200
RR = 201
SDES = 202
BYE = 203
RTPFB = 205
PSFB = 206

FMT_NACK = 1
FMT_PLI = 1
FMT_FIR = 4
FMT_APP = 15


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(slots=True)
class Feedback:
    """One parsed RTCP packet of interest."""

    kind: str  # "sr", "rr", "nack", "pli", "fir", "remb", "bye"
    sender_ssrc: int
    media_ssrc: int = 0
    ntp: int = 0
    rtp_timestamp: int = 0
    lost: list[int] = field(default_factory=list)
    bitrate: int = 0
    ssrcs: list[int] = field(default_factory=list)
    reports: list[ReportBlock] = field(default_factory=list)


def parse(data: bytes) -> list[Feedback]:
    """Parse a compound RTCP packet; unknown or malformed parts are skipped."""
    out: list[Feedback] = []
    pos = 0
    n = len(data)
    while pos + 4 <= n:
        b0, pt, length = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + 4 * length
        if b0 >> 6 != 2 or end > n:
            break
        count = b0 & 0x1F
        body = data[pos + 4 : end]
        try:
            fb = _parse_one(pt, count, body)
        except (struct.error, IndexError, ValueError):
            fb = None
        if fb is not None:
            out.append(fb)
        pos = end
    return out


def _blocks(body: bytes, start: int, count: int) -> list[ReportBlock]:
    blocks = []
    for i in range(count):
        off = start + 24 * i
        ssrc, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", body, off)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
    return blocks


def _parse_one(pt: int, count: int, body: bytes) -> Feedback | None:
    if pt == SR:
        ssrc, ntp, rtp_ts = struct.unpack_from("!IQI", body, 0)
        return Feedback("sr", ssrc, ntp=ntp, rtp_timestamp=rtp_ts, reports=_blocks(body, 24, count))
    if pt == RR:
        (ssrc,) = struct.unpack_from("!I", body, 0)
        return Feedback("rr", ssrc, reports=_blocks(body, 4, count))
    if pt == BYE:
        ssrcs = [struct.unpack_from("!I", body, 4 * i)[0] for i in range(count)]
        return Feedback("bye", ssrcs[0] if ssrcs else 0, ssrcs=ssrcs)
    if pt == RTPFB and count == FMT_NACK:
        sender, media = struct.unpack_from("!II", body, 0)
        lost: list[int] = []
        for off in range(8, len(body) - 3, 4):
            pid, blp = struct.unpack_from("!HH", body, off)
            lost.append(pid)
            for bit in range(16):
                if blp & (1 << bit):
                    lost.append((pid + bit + 1) & 0xFFFF)
        return Feedback("nack", sender, media, lost=lost)
    if pt == PSFB:
        sender, media = struct.unpack_from("!II", body, 0)
        if count == FMT_PLI:
            return Feedback("pli", sender, media)
        if count == FMT_FIR:
            # The media SSRC is in the FCI entry; the common header field is 0.
            (target,) = struct.unpack_from("!I", body, 8)
            return Feedback("fir", sender, target)
        if count == FMT_APP and body[8:12] == b"REMB":
            num = body[12]
            exp = body[13] >> 2
            mantissa = ((body[13] & 0x03) << 16) | (body[14] << 8) | body[15]
            ssrcs = [struct.unpack_from("!I", body, 16 + 4 * i)[0] for i in range(num)]
            return Feedback("remb", sender, media, bitrate=mantissa << exp, ssrcs=ssrcs)
    return None


def _header(count: int, pt: int, body_len: int) -> bytes:
    return struct.pack("!BBH", 0x80 | count, pt, body_len // 4)


def sender_report(ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> bytes:
    body = struct.pack(
        "!IQIII", ssrc, ntp, rtp_timestamp & 0xFFFFFFFF, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF
    )
    return _header(0, SR, len(body)) + body


def receiver_report(ssrc: int, blocks: list[ReportBlock]) -> bytes:
    body = struct.pack("!I", ssrc)
    for b in blocks[:31]:
        lost = max(-(1 << 23), min(b.packets_lost, (1 << 23) - 1)) & 0xFFFFFF
        body += struct.pack(
            "!IIIIII",
            b.ssrc,
            (b.fraction_lost << 24) | lost,
            b.highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr,
            b.dlsr,
        )
    return _header(min(len(blocks), 31), RR, len(body)) + body


def nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """A generic NACK for the given sequence numbers (grouped into PID + BLP pairs)."""
    body = struct.pack("!II", sender_ssrc, media_ssrc)
    pending = sorted(set(s & 0xFFFF for s in lost))
    i = 0
    while i < len(pending):
        pid = pending[i]
        blp = 0
        i += 1
        while i < len(pending) and 0 < ((pending[i] - pid) & 0xFFFF) <= 16:
            blp |= 1 << (((pending[i] - pid) & 0xFFFF) - 1)
            i += 1
        body += struct.pack("!HH", pid, blp)
    return _header(FMT_NACK, RTPFB, len(body)) + body


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    body = struct.pack("!II", sender_ssrc, media_ssrc)
    return _header(FMT_PLI, PSFB, len(body)) + body


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exp = 0
    mantissa = max(0, int(bitrate))
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exp += 1
    body = struct.pack("!II", sender_ssrc, 0) + b"REMB"
    body += bytes([len(ssrcs), (exp << 2) | (mantissa >> 16), (mantissa >> 8) & 0xFF])
    body += bytes([mantissa & 0xFF])
    for s in ssrcs:
        body += struct.pack("!I", s)
    return _header(FMT_APP, PSFB, len(body)) + body


def bye(ssrcs: list[int]) -> bytes:
    body = b"".join(struct.pack("!I", s) for s in ssrcs[:31])
    return _header(min(len(ssrcs), 31), BYE, len(body)) + body
