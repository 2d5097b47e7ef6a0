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


def restrict_codecs(sdp: str, allowed: dict[str, set[str]]) -> str:
    """Keep, in each audio/video m-line, only the codecs named in ``allowed[kind]`` (upper
    case) and the RTX entries that repair them. The SFU answers with codecs it can
    forward to every slot; an m-line left with no codec is kept unchanged (and refused by
    the answer). Line endings are preserved."""
    eol = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(eol)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("m="):
            out.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("m="):
            j += 1
        out.extend(_restrict_section(lines[i:j], allowed))
        i = j
    return eol.join(out)


def _restrict_section(section: list[str], allowed: dict[str, set[str]]) -> list[str]:
    parts = section[0][2:].split()
    if len(parts) < 4 or parts[0] not in allowed:
        return section
    names: dict[int, str] = {}
    apts: dict[int, int] = {}
    for line in section[1:]:
        value = line[2:].partition(":")[2]
        try:
            if line.startswith("a=rtpmap:"):
                pt_text, _, encoding = value.partition(" ")
                names[int(pt_text)] = encoding.split("/")[0].upper()
            elif line.startswith("a=fmtp:") and "apt=" in value:
                pt_text, _, params = value.partition(" ")
                for param in params.split(";"):
                    key, _, val = param.strip().partition("=")
                    if key == "apt":
                        apts[int(pt_text)] = int(val)
        except ValueError:
            continue
    wanted = allowed[parts[0]]
    keep = {pt for pt, name in names.items() if name in wanted}
    keep |= {pt for pt, apt in apts.items() if apt in keep and names.get(pt) == "RTX"}
    if not keep:
        return section
    formats = [p for p in parts[3:] if p.isdigit() and int(p) in keep]
    out = ["m=" + " ".join(parts[:3] + formats)]
    for line in section[1:]:
        for prefix in ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"):
            if line.startswith(prefix):
                pt_text = line[len(prefix) :].split(" ", 1)[0]
                if pt_text.isdigit() and int(pt_text) not in keep:
                    break
        else:
            out.append(line)
    return out
