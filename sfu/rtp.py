"""RTP header reading and writing for the forwarding path (RFC 3550, RFC 8285, RFC 7741).

Everything here is pure and synchronous: one incoming packet is parsed once into an
:class:`InPacket`; each slot then builds its own header around the shared payload.
"""

from __future__ import annotations

import struct
import time

_HDR = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# Seconds between the NTP epoch (1900) and the Unix epoch (1970).
NTP_EPOCH_OFFSET = 2208988800


def ntp_now() -> int:
    """The current wall clock as a 64-bit NTP timestamp."""
    now = time.time() + NTP_EPOCH_OFFSET
    return int(now * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def abs_send_time_now() -> bytes:
    """The 3-byte abs-send-time value for now (6.18 fixed point seconds)."""
    value = (int((time.time() + NTP_EPOCH_OFFSET) * (1 << 18))) & 0xFFFFFF
    return value.to_bytes(3, "big")


class InPacket:
    """One decrypted incoming RTP packet, parsed once for every slot it feeds.

    ``descriptor`` is the VP8 payload descriptor (empty for other codecs) and ``rest``
    the payload after it; a slot sends ``descriptor`` (picture ids rewritten) + ``rest``.
    ``raw`` is the whole packet as it arrived (None when it was rebuilt, as an RTX
    packet unwrapped is): a pipe sends it on untouched.
    """

    __slots__ = (
        "abs_send_time",
        "arrival",
        "audio_level",
        "desc_head",
        "desc_tail",
        "descriptor",
        "keyframe",
        "marker",
        "mid",
        "payload_type",
        "picture_id",
        "picture_id_pos",
        "picture_id_wide",
        "raw",
        "rest",
        "seq",
        "size",
        "ssrc",
        "start",
        "timestamp",
        "tl0",
        "tl0_pos",
    )

    def __init__(self) -> None:
        self.seq = 0
        self.timestamp = 0
        self.ssrc = 0
        self.payload_type = 0
        self.marker = 0
        self.arrival = 0.0
        self.size = 0
        self.rest = b""
        self.descriptor = b""
        self.desc_head = b""
        self.desc_tail = b""
        self.keyframe = False
        self.start = True
        self.picture_id = -1
        self.picture_id_pos = -1
        self.picture_id_wide = False
        self.tl0 = -1
        self.tl0_pos = -1
        self.audio_level = -1
        self.abs_send_time = -1
        self.mid: bytes | None = None
        self.raw: bytes | None = None


def parse(data: bytes, ext_ids: tuple[int, int, int], arrival: float) -> InPacket | None:
    """Parse an RTP header. ``ext_ids`` are the (mid, abs-send-time, audio-level) ids of
    this leg (0 when not negotiated). Returns None for a malformed packet."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        return None
    b0 = data[0]
    p = InPacket()
    p.arrival = arrival
    p.size = n
    p.marker = data[1] & 0x80
    p.payload_type = data[1] & 0x7F
    p.seq, p.timestamp, p.ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if offset + 4 > n:
            return None
        profile, length = struct.unpack_from("!HH", data, offset)
        start = offset + 4
        offset = start + 4 * length
        if offset > n:
            return None
        if profile == 0xBEDE or (profile & 0xFFF0) == 0x1000:
            _read_extensions(p, data, start, offset, profile == 0xBEDE, ext_ids)
    end = n
    if b0 & 0x20:
        end -= data[-1]
        if end < offset:
            return None
    p.rest = data[offset:end]
    p.raw = data
    return p


def header_audio_level(data: bytes, level_id: int) -> int:
    """The RFC 6464 level in an RTP packet's header extension (SRTP leaves it in the
    clear), or -1."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2 or not data[0] & 0x10:
        return -1
    offset = 12 + 4 * (data[0] & 0x0F)
    if offset + 4 > n:
        return -1
    profile, length = struct.unpack_from("!HH", data, offset)
    end = offset + 4 + 4 * length
    if end > n or not (profile == 0xBEDE or (profile & 0xFFF0) == 0x1000):
        return -1
    p = InPacket()
    _read_extensions(p, data, offset + 4, end, profile == 0xBEDE, (0, 0, level_id))
    return p.audio_level


def _read_extensions(
    p: InPacket, data: bytes, pos: int, end: int, one_byte: bool, ext_ids: tuple[int, int, int]
) -> None:
    mid_id, abs_id, level_id = ext_ids
    while pos < end:
        if one_byte:
            b = data[pos]
            if b == 0:
                pos += 1
                continue
            ident = b >> 4
            if ident == 15:
                return
            length = (b & 0x0F) + 1
            pos += 1
        else:
            if pos + 2 > end:
                return
            ident = data[pos]
            if ident == 0:
                pos += 1
                continue
            length = data[pos + 1]
            pos += 2
        if pos + length > end:
            return
        if ident == level_id and length >= 1:
            p.audio_level = data[pos] & 0x7F
        elif ident == abs_id and length == 3:
            p.abs_send_time = int.from_bytes(data[pos : pos + 3], "big")
        elif ident == mid_id:
            p.mid = data[pos : pos + length]
        pos += length


def parse_vp8(p: InPacket) -> None:
    """Split the VP8 payload descriptor off ``p.rest`` and note picture ids and whether
    the packet starts a (key)frame (RFC 7741 section 4.2 and 4.3)."""
    payload = p.rest
    n = len(payload)
    if n < 1:
        p.start = False
        return
    b0 = payload[0]
    pos = 1
    if b0 & 0x80:  # X: extension byte present
        if n < 2:
            return
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: PictureID
            if pos >= n:
                return
            p.picture_id_pos = pos
            if payload[pos] & 0x80:
                if pos + 1 >= n:
                    return
                p.picture_id_wide = True
                p.picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                pos += 2
            else:
                p.picture_id = payload[pos]
                pos += 1
        if x & 0x40:  # L: TL0PICIDX
            if pos >= n:
                return
            p.tl0_pos = pos
            p.tl0 = payload[pos]
            pos += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    if pos > n:
        return
    p.start = bool(b0 & 0x10) and (b0 & 0x07) == 0
    p.keyframe = p.start and pos < n and (payload[pos] & 0x01) == 0
    p.descriptor = payload[:pos]
    p.rest = payload[pos:]
    if p.picture_id_wide and p.tl0 < 0:
        # The common case (one 15-bit PictureID, no TL0PICIDX) is rewritten by a slot as
        # head + new picture id + tail, without a bytearray round trip.
        p.desc_head = payload[: p.picture_id_pos]
        p.desc_tail = payload[p.picture_id_pos + 2 : pos]


def parse_h264(p: InPacket) -> None:
    """Note whether an H264 packet starts a keyframe (carries SPS or an IDR start)."""
    payload = p.rest
    if not payload:
        p.start = False
        return
    nal = payload[0] & 0x1F
    if nal == 24:  # STAP-A: look at every aggregated unit
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (5, 7):
                p.keyframe = True
                break
            pos += 2 + size
        p.start = True
    elif nal == 28:  # FU-A
        if len(payload) > 1:
            p.start = bool(payload[1] & 0x80)
            p.keyframe = p.start and (payload[1] & 0x1F) in (5, 7)
        else:
            p.start = False
    else:
        p.keyframe = nal in (5, 7)
        p.start = True


def rewrite_vp8_descriptor(
    p: InPacket, picture_id_offset: int, tl0_offset: int
) -> tuple[bytes, int, int]:
    """The descriptor with picture id and TL0PICIDX moved by the slot's offsets; returns
    (descriptor, picture id sent, tl0 sent) (-1 where absent)."""
    desc = p.descriptor
    pid = p.picture_id
    tl0 = p.tl0
    if pid < 0 and tl0 < 0:
        return desc, -1, -1
    buf = bytearray(desc)
    if pid >= 0:
        if p.picture_id_wide:
            pid = (pid + picture_id_offset) & 0x7FFF
            buf[p.picture_id_pos] = 0x80 | (pid >> 8)
            buf[p.picture_id_pos + 1] = pid & 0xFF
        else:
            pid = (pid + picture_id_offset) & 0x7F
            buf[p.picture_id_pos] = pid
    if tl0 >= 0:
        tl0 = (tl0 + tl0_offset) & 0xFF
        buf[p.tl0_pos] = tl0
    return bytes(buf), pid, tl0


#: The two bytes of every 15-bit VP8 PictureID (M bit set), precomputed.
PICTURE_ID_BYTES: list[bytes] = [bytes([0x80 | (i >> 8), i & 0xFF]) for i in range(0x8000)]

pack_header = _HDR.pack


def build_header(marker_pt: int, seq: int, timestamp: int, ssrc: int) -> bytes:
    """A 12-byte RTP header with the extension bit set (an extension block follows)."""
    return _HDR.pack(0x90, marker_pt, seq, timestamp, ssrc)


class ExtensionLayout:
    """A slot's one-byte header extension block (RFC 8285): its mid (constant) and one
    per-packet value, abs-send-time for video or audio level for audio.

    ``head`` holds everything up to the per-packet value and ``tail`` the padding, so a
    block is ``head + value + tail``.
    """

    __slots__ = ("head", "kind_code", "tail", "value_kind")

    def __init__(self, mid: str | None, mid_id: int, value_id: int, value_kind: str) -> None:
        elements = b""
        if mid and mid_id and 0 < mid_id < 15:
            mid_bytes = mid.encode()[:16]
            elements += bytes([(mid_id << 4) | (len(mid_bytes) - 1)]) + mid_bytes
        value_len = 0
        self.value_kind = ""
        if value_id and 0 < value_id < 15:
            value_len = 3 if value_kind == "abs" else 1
            elements += bytes([(value_id << 4) | (value_len - 1)])
            self.value_kind = value_kind
        total = len(elements) + value_len
        words = (total + 3) // 4
        self.head = b"\xbe\xde" + _U16.pack(words) + elements
        self.tail = b"\x00" * (words * 4 - total)
        #: 1: abs-send-time follows head, 2: audio level, 0: nothing.
        self.kind_code = {"abs": 1, "level": 2}.get(self.value_kind, 0)

    def block(self, abs_send_time: bytes, audio_level: int) -> bytes:
        if self.value_kind == "abs":
            return self.head + abs_send_time + self.tail
        if self.value_kind == "level":
            return self.head + bytes([audio_level if audio_level >= 0 else 127]) + self.tail
        return self.head + self.tail


def seq_newer(a: int, b: int) -> bool:
    """Whether 16-bit sequence number ``a`` is after ``b``."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000
