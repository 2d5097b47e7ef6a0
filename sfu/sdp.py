"""Just enough SDP reading for forwarding: per m-line its mid, direction, payload types,
header extension ids and SSRCs (RFC 8866, RFC 8285, RFC 5576)."""

from __future__ import annotations

from dataclasses import dataclass, field

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


@dataclass(slots=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int
    apt: int | None = None

    @property
    def is_rtx(self) -> bool:
        return self.name.lower() == "rtx"


@dataclass(slots=True)
class MediaSection:
    kind: str
    mid: str | None = None
    direction: str = "sendrecv"
    codecs: dict[int, Codec] = field(default_factory=dict)
    payload_order: list[int] = field(default_factory=list)
    extensions: dict[str, int] = field(default_factory=dict)
    ssrcs: list[int] = field(default_factory=list)
    fid_groups: list[tuple[int, int]] = field(default_factory=list)
    port: int = 9

    def codec_by_name(self, name: str) -> Codec | None:
        """The first (preferred) codec of that name, in m-line order."""
        lname = name.lower()
        for pt in self.payload_order:
            codec = self.codecs.get(pt)
            if codec is not None and codec.name.lower() == lname:
                return codec
        return None

    def rtx_for(self, payload_type: int) -> Codec | None:
        for codec in self.codecs.values():
            if codec.is_rtx and codec.apt == payload_type:
                return codec
        return None

    @property
    def media_ssrc(self) -> int | None:
        """The primary SSRC: first of an FID group, else the first listed."""
        if self.fid_groups:
            return self.fid_groups[0][0]
        return self.ssrcs[0] if self.ssrcs else None

    @property
    def rtx_ssrc(self) -> int | None:
        return self.fid_groups[0][1] if self.fid_groups else None


def parse(sdp: str) -> list[MediaSection]:
    """Parse the media sections of an SDP text; malformed attribute lines are skipped."""
    sections: list[MediaSection] = []
    current: MediaSection | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            current = MediaSection(kind=parts[0] if parts else "")
            try:
                current.port = int(parts[1])
                current.payload_order = [int(p) for p in parts[3:] if p.isdigit()]
            except (IndexError, ValueError):
                pass
            sections.append(current)
            continue
        if current is None or not line.startswith("a="):
            continue
        attr, _, value = line[2:].partition(":")
        try:
            _apply_attribute(current, attr, value)
        except (ValueError, IndexError):
            continue
    return sections


def _apply_attribute(section: MediaSection, attr: str, value: str) -> None:
    if attr == "mid":
        section.mid = value
    elif attr in ("sendrecv", "sendonly", "recvonly", "inactive"):
        section.direction = attr
    elif attr == "rtpmap":
        pt_text, _, encoding = value.partition(" ")
        name, _, rest = encoding.partition("/")
        clock = int(rest.split("/")[0]) if rest else 0
        pt = int(pt_text)
        previous = section.codecs.get(pt)
        section.codecs[pt] = Codec(pt, name, clock, previous.apt if previous else None)
    elif attr == "fmtp":
        pt_text, _, params = value.partition(" ")
        pt = int(pt_text)
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "apt":
                codec = section.codecs.get(pt)
                if codec is None:
                    codec = section.codecs[pt] = Codec(pt, "rtx", 0)
                codec.apt = int(val)
    elif attr == "extmap":
        ident, _, uri = value.partition(" ")
        section.extensions[uri.split()[0]] = int(ident.split("/")[0])
    elif attr == "ssrc":
        ssrc = int(value.split()[0])
        if ssrc not in section.ssrcs:
            section.ssrcs.append(ssrc)
    elif attr == "ssrc-group":
        parts = value.split()
        if parts[0] == "FID" and len(parts) >= 3:
            section.fid_groups.append((int(parts[1]), int(parts[2])))
