"""Forwarding benchmark: packets forwarded per CPU-second of the SFU process, against an
aiortc ``MediaRelay`` baseline (decode once, re-encode per subscriber) in the same run.

One publisher replays a pre-encoded VP8 clip (about 1.8 Mbit/s, 30 fps) and N subscriber
peers count the packets they receive at their transport without decoding. The server
under test runs in its own process so its CPU time (all threads) is measured alone.
Everything runs on 127.0.0.1.

Call :func:`run_forwarding_benchmark` (async) or :func:`forwarding_benchmark` (sync).
:func:`run_piping_benchmark` measures what a pipe to another worker costs the sending
worker, against forwarding to a local slot, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import pstats
import resource
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import adapter, sdp
from .rtp import ExtensionLayout, build_header

HOST = "127.0.0.1"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
MAX_PAYLOAD = 1100


# ---------------------------------------------------------------------------------------
# The clip
# ---------------------------------------------------------------------------------------


def encode_clip(
    frames: int = 60, width: int = 640, height: int = 480, bitrate: int = 1_800_000
) -> list[tuple[bool, bytes]]:
    """Encode ``frames`` frames of moving noise as VP8 once: (keyframe, frame) pairs, a
    keyframe every second."""
    import av

    codec: Any = av.CodecContext.create("libvpx", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate
    codec.gop_size = 30
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
    }
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width]
    noise = rng.integers(0, 24, (height, width, 3), dtype=np.uint8)
    out: list[tuple[bool, bytes]] = []
    for i in range(frames):
        # Moving gradients and a moving block, with light noise: camera-like content
        # that the encoder's rate control can hold near the target bitrate.
        img = np.empty((height, width, 3), dtype=np.uint8)
        img[..., 0] = (xx + 4 * i) % 256
        img[..., 1] = (yy + 2 * i) % 256
        img[..., 2] = ((xx + yy) // 2 + 3 * i) % 256
        x0 = (10 * i) % (width - 120)
        img[100:220, x0 : x0 + 120] = (240, 240, 40)
        img += np.roll(noise, 7 * i, axis=1)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in codec.encode(frame):
            out.append((bool(packet.is_keyframe), bytes(packet)))
    for packet in codec.encode(None):
        out.append((bool(packet.is_keyframe), bytes(packet)))
    return out


def packetize_vp8(frame: bytes, picture_id: int) -> list[bytes]:
    """RFC 7741 payloads: a descriptor with a 15-bit PictureID, then up to MAX_PAYLOAD."""
    chunks = [frame[i : i + MAX_PAYLOAD] for i in range(0, len(frame), MAX_PAYLOAD)] or [b""]
    pid = bytes([0x80 | (picture_id >> 8), picture_id & 0xFF])
    return [bytes([0x90 if i == 0 else 0x80, 0x80]) + pid + c for i, c in enumerate(chunks)]


def save_clip(clip: list[tuple[bool, bytes]], path: str) -> None:
    with open(path, "wb") as f:
        for key, frame in clip:
            f.write(struct.pack("!BI", int(key), len(frame)) + frame)


def load_clip(path: str) -> list[tuple[bool, bytes]]:
    with open(path, "rb") as f:
        data = f.read()
    clip, pos = [], 0
    while pos < len(data):
        key, n = struct.unpack_from("!BI", data, pos)
        clip.append((bool(key), data[pos + 5 : pos + 5 + n]))
        pos += 5 + n
    return clip


# ---------------------------------------------------------------------------------------
# Peers in the benchmark process
# ---------------------------------------------------------------------------------------


def _config() -> Any:
    from aiortc import RTCConfiguration
    from aiortc.rtcconfiguration import RTCBundlePolicy

    # max-bundle: aiortc's default policy leaves some m-lines off the bundle transport.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class ClipPublisher:
    """Sends the clip as raw RTP through an aiortc connection (no encoding per frame)."""

    def __init__(self, clip: list[tuple[bool, bytes]]) -> None:
        from aiortc import RTCPeerConnection

        self.clip = clip
        self.pc = RTCPeerConnection(_config())
        self.transceiver = self.pc.addTransceiver(
            adapter.ParkedTrack("video"), direction="sendonly"
        )
        self.transport: adapter.PeerTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    async def offer(self) -> str:
        from aiortc import RTCRtpSender

        caps = [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType.lower() == "video/vp8"
        ]
        self.transceiver.setCodecPreferences(caps)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def start(self, answer_sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        section = sdp.parse(answer_sdp)[0]
        vp8 = section.codec_by_name("VP8")
        assert vp8 is not None
        self.payload_type = vp8.payload_type
        self.ext = ExtensionLayout(
            section.mid,
            section.extensions.get(sdp.URI_MID, 0),
            section.extensions.get(sdp.URI_ABS_SEND_TIME, 0),
            "abs",
        )
        self.ssrc = adapter.sender_ssrcs(self.transceiver.sender)[0]
        self.transport = adapter.PeerTransport(self.pc)
        self.transport.attach(lambda d, t: None, lambda d: None)

    def play(self) -> None:
        """Start sending the clip (after everyone joined, so joining is not under load)."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from .rtp import abs_send_time_now

        loop = asyncio.get_running_loop()
        seq, ts, pid = 1000, 0, 0
        start = loop.time()
        n = 0
        assert self.transport is not None
        while True:
            _, frame = self.clip[n % len(self.clip)]
            payloads = packetize_vp8(frame, pid)
            # Pace like a browser does: a frame's packets spread over most of the frame
            # interval (a keyframe is many packets), in bursts of a few packets.
            frame_start = start + n / 30
            for i, payload in enumerate(payloads):
                if i and i % 4 == 0:
                    due = frame_start + (i / len(payloads)) * (0.9 / 30)
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                marker = 0x80 if i == len(payloads) - 1 else 0
                header = build_header(marker | self.payload_type, seq, ts, self.ssrc)
                self.transport.send_rtp(header + self.ext.block(abs_send_time_now(), -1) + payload)
                seq = (seq + 1) & 0xFFFF
                self.sent += 1
            n += 1
            ts = (ts + 3000) & 0xFFFFFFFF
            pid = (pid + 1) & 0x7FFF
            delay = start + n / 30 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pc.close()


class SequenceCount:
    """Packets received and the highest (extended) sequence number seen, for loss."""

    def __init__(self) -> None:
        self.received = 0
        self.highest = 0  # extended
        self._last = -1
        self.flowing = asyncio.Event()

    def count(self, seq: int) -> None:
        self.received += 1
        if self._last < 0:
            self.flowing.set()
            self.highest = seq
            self._last = seq
            return
        delta = (seq - self._last) & 0xFFFF
        if delta < 0x8000:
            self.highest += delta
            self._last = seq

    def snapshot(self) -> tuple[int, int]:
        return self.received, self.highest


class CountingSubscriber(SequenceCount):
    """Answers a subscribe offer and counts media packets at its transport."""

    decrypt = False

    def __init__(self) -> None:
        from aiortc import RTCPeerConnection

        super().__init__()
        self.pc = RTCPeerConnection(_config())
        self.media_ssrcs: set[int] = set()

    async def answer(self, offer_sdp: str) -> str:
        from aiortc import RTCSessionDescription

        for section in sdp.parse(offer_sdp):
            if section.media_ssrc is not None:
                self.media_ssrcs.add(section.media_ssrc)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        with adapter.announced_addresses([HOST]):
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        transport = adapter.PeerTransport(self.pc)
        # Hundreds of these share one process: room for bursts while it is busy elsewhere.
        transport.set_socket_buffers(1 << 20)
        # Count at the transport without even decrypting: SRTP leaves headers in clear.
        transport.attach(self._count, lambda d: None, decrypt=self.decrypt)
        return str(self.pc.localDescription.sdp)

    def _count(self, data: bytes, arrival: float) -> None:
        ssrc = struct.unpack_from("!I", data, 8)[0]
        if ssrc not in self.media_ssrcs:
            return
        self.count((data[2] << 8) | data[3])

    async def close(self) -> None:
        await self.pc.close()


class PipeSink(SequenceCount, asyncio.DatagramProtocol):
    """The far end of a pipe, standing in for an importing worker: counts the plain RTP
    packets that arrive and follows their sequence numbers (for loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: asyncio.DatagramTransport | None = None

    async def open(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, 0))
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 12 or 192 <= data[1] <= 208:
            return  # RTCP (the pipe's sender reports)
        self.count((data[2] << 8) | data[3])

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# ---------------------------------------------------------------------------------------
# The server process (SFU or MediaRelay baseline)
# ---------------------------------------------------------------------------------------


class _Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.worker: Any = None
        self.pcs: dict[str, Any] = {}
        self.source_track: Any = None
        self.relay: Any = None
        self.track_ready = asyncio.Event()
        self.profiler: cProfile.Profile | None = None
        self.split = (0.0, 0.0)
        self.received_at_start = 0
        self.highest_at_start = 0

    async def start(self) -> None:
        if self.mode == "sfu":
            from .worker import Worker, WorkerConfig

            self.worker = Worker(WorkerConfig(host_addresses=(HOST,)))
            await self.worker.start()
        else:
            from aiortc.contrib.media import MediaRelay

            self.relay = MediaRelay()

    async def publish(self, offer: str) -> str:
        if self.mode == "sfu":
            result = await self.worker.create_endpoint("pub", offer, video_slots=0, audio_slots=0)
            return str(result.publish_answer_sdp)
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(_config())
        self.pcs["pub"] = pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            self.source_track = track
            self.track_ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        with adapter.announced_addresses([HOST]):
            await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def subscribe(self, name: str) -> str:
        if self.mode == "sfu":
            result = await self.worker.create_endpoint(name, None, video_slots=1, audio_slots=0)
            return str(result.subscribe_offer_sdp)
        from aiortc import RTCPeerConnection

        await asyncio.wait_for(self.track_ready.wait(), 10)
        pc = RTCPeerConnection(_config())
        self.pcs[name] = pc
        pc.addTrack(self.relay.subscribe(self.source_track))
        with adapter.announced_addresses([HOST]):
            await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)

    async def answer(self, name: str, answer: str) -> None:
        if self.mode == "sfu":
            await self.worker.set_subscribe_answer(name, answer)
            self.worker.set_routing(name, {"v0": "pub:video"})
            return
        from aiortc import RTCSessionDescription

        await self.pcs[name].setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def pipe(self, name: str, host: str, port: int) -> None:
        """Export the publisher's video into a new pipe to ``host:port``."""
        await self.worker.open_pipe(name, (HOST, 0))
        self.worker.connect_pipe(name, (host, port))
        self.worker.export_source(name, "pub:video")

    async def forwarded(self) -> int:
        if self.mode == "sfu":
            stats = self.worker.stats()
            total = 0
            for ep in stats["endpoints"].values():
                total += sum(s["packets"] for s in ep["slots"].values())
            total += sum(p["exported_packets"] for p in stats["pipes"].values())
            return total
        total = 0
        for name, pc in self.pcs.items():
            if name == "pub":
                continue
            for sender in pc.getSenders():
                report = await sender.getStats()
                total += sum(
                    getattr(s, "packetsSent", 0)
                    for s in report.values()
                    if s.type == "outbound-rtp"
                )
        return total

    def source_stats(self) -> dict[str, Any]:
        if self.mode != "sfu":
            return {}
        endpoints = self.worker.stats()["endpoints"]
        return {
            "source": endpoints["pub"]["sources"]["pub:video"],
            "rx_packets": endpoints["pub"]["rx_packets"],
            "rx_errors": endpoints["pub"]["rx_errors"],
            "tx_dropped": sum(e["tx_dropped"] for e in endpoints.values()),
        }

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close()
        for pc in self.pcs.values():
            await pc.close()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the whole process, all threads
    return usage.ru_utime + usage.ru_stime


def _cpu_split() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def _serve_publisher(clip_path: str) -> None:
    """The publisher's own process (its pacing must not suffer from the subscribers'
    load): JSON commands on stdin, replies on stdout."""
    loop = asyncio.get_running_loop()
    publisher = ClipPublisher(load_clip(clip_path))

    def reply(value: Any) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await publisher.close()
            return
        command, *args = json.loads(line)
        try:
            if command == "offer":
                with adapter.announced_addresses([HOST]):
                    reply(await publisher.offer())
            elif command == "start":
                await publisher.start(args[0])
                reply(None)
            elif command == "play":
                publisher.play()
                reply(None)
            elif command == "sent":
                reply(publisher.sent)
            elif command == "quit":
                await publisher.close()
                reply(None)
                return
        except Exception as exc:
            reply({"error": repr(exc)})


async def _serve_async(mode: str) -> None:
    """The server side: JSON commands one per line on stdin, replies on stdout."""
    loop = asyncio.get_running_loop()
    server = _Server(mode)
    await server.start()
    out = sys.stdout

    def reply(value: Any) -> None:
        out.write(json.dumps(value) + "\n")
        out.flush()

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await server.close()
            return
        command, *args = json.loads(line)
        try:
            if command == "publish":
                reply(await server.publish(args[0]))
            elif command == "subscribe":
                reply(await server.subscribe(args[0]))
            elif command == "answer":
                await server.answer(args[0], args[1])
                reply(None)
            elif command == "pipe":
                await server.pipe(args[0], args[1], args[2])
                reply(None)
            elif command == "measure":
                server.split = _cpu_split()
                start_stats = server.source_stats().get("source", {})
                server.received_at_start = start_stats.get("received", 0)
                server.highest_at_start = start_stats.get("highest_seq", 0)
                if args[0]:
                    server.profiler = cProfile.Profile()
                    server.profiler.enable()
                reply([await server.forwarded(), _cpu_seconds(), time.monotonic()])
            elif command == "finish":
                profile = ""
                if server.profiler is not None:
                    server.profiler.disable()
                    text = io.StringIO()
                    stats = pstats.Stats(server.profiler, stream=text)
                    stats.sort_stats("tottime").print_stats(18)
                    profile = text.getvalue()
                    server.profiler = None
                cpu, now = _cpu_seconds(), time.monotonic()
                user, system = _cpu_split()
                extra = server.source_stats()
                extra["user_seconds"] = round(user - server.split[0], 3)
                extra["system_seconds"] = round(system - server.split[1], 3)
                extra["received_in_window"] = (
                    extra.get("source", {}).get("received", 0) - server.received_at_start
                )
                extra["sequence_advance_in_window"] = (
                    extra.get("source", {}).get("highest_seq", 0) - server.highest_at_start
                )
                reply([await server.forwarded(), cpu, now, profile, extra])
            elif command == "quit":
                await server.close()
                reply(None)
                return
        except Exception as exc:
            reply({"error": repr(exc)})


class _ServerProcess:
    """The server under test in its own Python process, driven over its stdin/stdout."""

    def __init__(self, mode: str, *args: str) -> None:
        self.mode = mode
        self.args = args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sfu.bench",
            "serve",
            self.mode,
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 24,
        )

    async def call(self, *command: Any) -> Any:
        assert self.process is not None
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"{self.mode} server exited")
        result = json.loads(line)
        if isinstance(result, dict) and "error" in result:
            raise RuntimeError(f"{self.mode} server: {result['error']}")
        return result

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call("quit"), 20)
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# ---------------------------------------------------------------------------------------
# One measured run
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    mode: str
    subscribers: int
    seconds: float
    forwarded_packets: int
    cpu_seconds: float
    packets_per_cpu_second: float
    loss_ratio: float
    published_packets: int
    profile: str = ""
    setup_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


async def measure(
    mode: str,
    subscribers: int,
    seconds: float,
    clip_path: str,
    *,
    profile: bool = False,
    warmup: float = 2.0,
    pipes: bool = False,
) -> RunResult:
    """Run one server (``"sfu"`` or ``"relay"``) with one clip publisher (its own
    process, replaying the clip file at ``clip_path``) and ``subscribers`` counting
    subscribers (this process); measure over ``seconds`` after ``warmup``. With
    ``pipes``, the SFU exports the video into that many pipes instead, each to a
    :class:`PipeSink` here (as to another worker)."""
    server = _ServerProcess(mode)
    await server.start()
    publisher = _ServerProcess("publisher", clip_path)
    await publisher.start()
    subs: list[CountingSubscriber | PipeSink] = [
        PipeSink() if pipes else CountingSubscriber() for _ in range(subscribers)
    ]
    started = time.monotonic()
    try:
        answer = await server.call("publish", await publisher.call("offer"))
        await publisher.call("start", answer)

        async def join(i: int) -> None:
            sub = subs[i]
            if isinstance(sub, PipeSink):
                host, port = await sub.open()
                await server.call("pipe", f"p{i}", host, port)
                return
            sub_offer = await server.call("subscribe", f"s{i}")
            await server.call("answer", f"s{i}", await sub.answer(sub_offer))

        for i in range(subscribers):  # the server handles one command at a time anyway
            await join(i)
        setup = time.monotonic() - started
        await publisher.call("play")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.flowing.wait() for s in subs)), 30)
        await asyncio.sleep(warmup)
        before = [s.snapshot() for s in subs]
        published0 = await publisher.call("sent")
        fwd0, cpu0, t0 = await server.call("measure", profile)
        await asyncio.sleep(seconds)
        fwd1, cpu1, t1, profile_text, source_stats = await server.call("finish")
        published1 = await publisher.call("sent")
        after = [s.snapshot() for s in subs]
        received = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        expected = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        cpu = max(cpu1 - cpu0, 1e-9)
        forwarded = fwd1 - fwd0
        return RunResult(
            mode=mode,
            subscribers=subscribers,
            seconds=t1 - t0,
            forwarded_packets=forwarded,
            cpu_seconds=cpu,
            packets_per_cpu_second=forwarded / cpu,
            loss_ratio=max(0.0, 1 - received / expected) if expected > 0 else 1.0,
            published_packets=published1 - published0,
            profile=profile_text,
            setup_seconds=setup,
            extra={"server": source_stats, "publisher_sent": published1},
        )
    finally:
        for s in subs:
            await s.close()
        await publisher.stop()
        await server.stop()


async def run_forwarding_benchmark(
    subscribers: int = 50,
    seconds: float = 10.0,
    *,
    baseline: bool = True,
    baseline_subscribers: int | None = None,
    profile: bool = False,
) -> dict[str, Any]:
    """Measure the SFU and (optionally) the MediaRelay baseline in the same run.

    Returns a report dict with ``metrics.forwarded_packets_per_cpu_second``,
    ``metrics.loss_ratio`` and ``metrics.baseline_packets_per_cpu_second``, plus the
    raw figures of each run and (with ``profile``) the SFU process's top functions.
    """
    fd, clip_path = tempfile.mkstemp(prefix="sfu-clip-", suffix=".vp8")
    os.close(fd)
    save_clip(encode_clip(), clip_path)
    try:
        return await _run_forwarding(
            subscribers, seconds, clip_path, baseline, baseline_subscribers, profile
        )
    finally:
        os.unlink(clip_path)


async def _run_forwarding(
    subscribers: int,
    seconds: float,
    clip_path: str,
    baseline: bool,
    baseline_subscribers: int | None,
    profile: bool,
) -> dict[str, Any]:
    fast_path = await measure_fast_path()
    sfu = await measure("sfu", subscribers, seconds, clip_path, profile=profile)
    metrics: dict[str, Any] = {
        "forwarded_packets_per_cpu_second": round(sfu.packets_per_cpu_second),
        "loss_ratio": round(sfu.loss_ratio, 5),
        "forwarded_packets": sfu.forwarded_packets,
        "sfu_cpu_seconds": round(sfu.cpu_seconds, 3),
        "sfu_cpu_share": round(sfu.cpu_seconds / sfu.seconds, 3),
        "published_packets_per_second": round(sfu.published_packets / sfu.seconds, 1),
        # Below 1 when the SFU process fell behind the publisher (its socket buffer
        # filled up): on a machine shared with the peers, a sign of CPU starvation.
        "sfu_kept_up": round(
            sfu.extra["server"].get("received_in_window", 0) / max(sfu.published_packets, 1), 3
        ),
        "subscribers": subscribers,
        "seconds": round(sfu.seconds, 2),
        "setup_seconds": round(sfu.setup_seconds, 2),
    }
    metrics.update(fast_path)
    report: dict[str, Any] = {"metrics": metrics, "profile": sfu.profile, "sfu": sfu.extra}
    if baseline:
        # MediaRelay re-encodes per subscriber: beyond a few dozen it only measures a
        # saturated core, so it runs with at most 20 unless told otherwise.
        n = baseline_subscribers if baseline_subscribers is not None else min(subscribers, 20)
        base = await measure("relay", n, seconds, clip_path)
        metrics["baseline_packets_per_cpu_second"] = round(base.packets_per_cpu_second)
        metrics["baseline_loss_ratio"] = round(base.loss_ratio, 5)
        metrics["baseline_subscribers"] = n
        metrics["baseline_cpu_share"] = round(base.cpu_seconds / base.seconds, 3)
        metrics["speedup"] = round(
            sfu.packets_per_cpu_second / max(base.packets_per_cpu_second, 1e-9), 1
        )
    return report


def forwarding_benchmark(
    subscribers: int = 50, seconds: float = 10.0, **kwargs: Any
) -> dict[str, Any]:
    """Synchronous wrapper of :func:`run_forwarding_benchmark`, on uvloop."""
    import uvloop

    return uvloop.run(run_forwarding_benchmark(subscribers, seconds, **kwargs))


# ---------------------------------------------------------------------------------------
# Piping: what a pipe to another worker costs the sending worker
# ---------------------------------------------------------------------------------------


async def run_piping_benchmark(consumers: int = 20, seconds: float = 10.0) -> dict[str, Any]:
    """Measure, in one run, the sending worker's CPU per packet exported into pipes
    (``consumers`` pipes, each to a sink standing in for another worker) against its CPU
    per packet forwarded to local slots (``consumers`` subscribers), with the same clip
    publisher; and the synchronous paths alone for both.

    Returns a report dict with ``metrics.piped_packets_per_cpu_second``,
    ``metrics.forwarded_packets_per_cpu_second`` and their ratio
    ``metrics.piped_to_forwarded``.
    """
    fd, clip_path = tempfile.mkstemp(prefix="sfu-clip-", suffix=".vp8")
    os.close(fd)
    save_clip(encode_clip(), clip_path)
    try:
        fast = await measure_fast_path(consumers)
        fast_piped = await measure_fast_path(consumers, pipes=True)
        forwarded = await measure("sfu", consumers, seconds, clip_path)
        piped = await measure("sfu", consumers, seconds, clip_path, pipes=True)
    finally:
        os.unlink(clip_path)

    def per_packet_us(run: RunResult) -> float:
        return round(run.cpu_seconds / max(run.forwarded_packets, 1) * 1e6, 2)

    metrics: dict[str, Any] = {
        "piped_packets_per_cpu_second": round(piped.packets_per_cpu_second),
        "forwarded_packets_per_cpu_second": round(forwarded.packets_per_cpu_second),
        "piped_to_forwarded": round(
            piped.packets_per_cpu_second / max(forwarded.packets_per_cpu_second, 1e-9), 2
        ),
        "piped_us_per_packet": per_packet_us(piped),
        "forwarded_us_per_packet": per_packet_us(forwarded),
        "piped_loss_ratio": round(piped.loss_ratio, 5),
        "forwarded_loss_ratio": round(forwarded.loss_ratio, 5),
        "piped_cpu_share": round(piped.cpu_seconds / piped.seconds, 3),
        "forwarded_cpu_share": round(forwarded.cpu_seconds / forwarded.seconds, 3),
        "published_packets_per_second": round(piped.published_packets / piped.seconds, 1),
        "consumers": consumers,
        "seconds": round(piped.seconds, 2),
    }
    metrics.update(fast)
    metrics.update(fast_piped)
    metrics["fast_path_piped_to_forwarded"] = round(
        fast_piped["fast_path_piped_packets_per_cpu_second"]
        / max(fast["fast_path_packets_per_cpu_second"], 1e-9),
        2,
    )
    return {"metrics": metrics, "forwarding": forwarded.extra, "piping": piped.extra}


# ---------------------------------------------------------------------------------------
# The fast path alone
# ---------------------------------------------------------------------------------------


async def measure_fast_path(
    subscribers: int = 100, packets: int = 300, *, pipes: bool = False
) -> dict[str, float]:
    """CPU time per forwarded packet of the synchronous path alone (VP8 parse, slot
    rewrite, SRTP protect, sendto to a local socket), one source fanned out to
    ``subscribers`` slots, in this process: the floor under the end-to-end figure.
    With ``pipes``, the source goes into that many pipes instead (plain RTP, its own
    numbering: no rewrite, no encryption)."""
    import pylibsrtp

    from .forwarding import Slot, Source
    from .pipe import Pipe
    from .rtp import parse

    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((HOST, 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sink.setblocking(False)
    addr = sink.getsockname()
    source = Source("a:video", "a", "video", "0", {96: "VP8"}, {}, 90000, 1, 2)
    transports: list[Any] = []
    for i in range(subscribers):
        if pipes:
            pipe_transport, pipe = await loop.create_datagram_endpoint(
                functools.partial(Pipe, f"p{i}"), local_addr=(HOST, 0)
            )
            transports.append(pipe_transport)
            pipe.remote = (str(addr[0]), int(addr[1]))
            pipe.export(source)
            continue
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(HOST, 0)
        )
        transports.append(transport)
        session = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=os.urandom(30),
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            )
        )
        protect = adapter.fast_protect(session)

        def send(packet: bytes, protect: Any = protect, sendto: Any = transport.sendto) -> bool:
            sendto(protect(packet), addr)
            return True

        slot = Slot(f"v{i}", "s", "video", "1", 100 + i, 200 + i, send)
        slot.configure({"VP8": 100}, {"VP8": 101}, ExtensionLayout("1", 1, 3, "abs"))
        slot.point_at(source, 0.0)

    def packet(seq: int, key: bool) -> Any:
        payload = bytes([0x90, 0x80, 0x80 | ((seq >> 8) & 0x7F), seq & 0xFF])
        payload += (b"\x00" if key else b"\x01") + bytes(1100)
        header = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 1)
        return parse(header + payload, (0, 0, 0), loop.time())

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                sink.recv(2048)

    source.receive(packet(0, True), b"\x00\x00\x01")
    drain()
    spent = 0.0
    for seq in range(1, packets + 1):
        p = packet(seq, False)
        start = time.process_time()
        source.receive(p, b"\x00\x00\x01")
        spent += time.process_time() - start
        if seq % 10 == 0:
            drain()
    for transport in transports:
        transport.close()
    sink.close()
    if pipes:
        return {
            "fast_path_us_per_piped_packet": round(spent / (packets * subscribers) * 1e6, 2),
            "fast_path_piped_packets_per_cpu_second": round(packets * subscribers / spent),
        }
    return {
        "fast_path_us_per_forwarded_packet": round(spent / (packets * subscribers) * 1e6, 2),
        "fast_path_packets_per_cpu_second": round(packets * subscribers / spent),
    }


# ---------------------------------------------------------------------------------------
# Slot switch latency
# ---------------------------------------------------------------------------------------


def _colour_track(rgb: tuple[int, int, int]) -> Any:
    import av
    from aiortc import VideoStreamTrack

    class ColourTrack(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.image = np.full((240, 320, 3), rgb, dtype=np.uint8)

        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
            frame.pts = pts
            frame.time_base = time_base
            return frame

    return ColourTrack()


class _KeyframeWatcher(CountingSubscriber):
    """Notes when packets starting a VP8 keyframe arrive."""

    decrypt = True

    def __init__(self) -> None:
        super().__init__()
        self.keyframes: list[float] = []
        self.first_packet: float | None = None
        self.keyframe_seen = asyncio.Event()

    def _count(self, data: bytes, arrival: float) -> None:
        super()._count(data, arrival)
        if self.first_packet is None:
            self.first_packet = time.monotonic()
        from .rtp import parse as parse_rtp
        from .rtp import parse_vp8

        p = parse_rtp(data, (0, 0, 0), arrival)
        if p is not None and p.ssrc in self.media_ssrcs:
            parse_vp8(p)
            if p.keyframe:
                self.keyframes.append(time.monotonic())
                self.keyframe_seen.set()


async def run_switching_benchmark(switches: int = 40, interval: float = 0.4) -> dict[str, Any]:
    """Re-point one slot between two publishers ``switches`` times and measure the time
    from ``set_routing`` to the first packet of the new source's keyframe at the
    subscriber; a fresh join (endpoint creation to first packet) is measured too."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from .worker import Worker, WorkerConfig

    worker = Worker(WorkerConfig(host_addresses=(HOST,)))
    await worker.start()
    pubs: list[Any] = []
    watchers: list[_KeyframeWatcher] = []
    try:
        for name, rgb in (("a", (220, 40, 40)), ("b", (40, 40, 220))):
            pc = RTCPeerConnection(_config())
            pc.addTrack(_colour_track(rgb))
            pubs.append(pc)
            with adapter.announced_addresses([HOST]):
                await pc.setLocalDescription(await pc.createOffer())
            result = await worker.create_endpoint(
                name, pc.localDescription.sdp, video_slots=0, audio_slots=0
            )
            await pc.setRemoteDescription(
                RTCSessionDescription(sdp=str(result.publish_answer_sdp), type="answer")
            )

        async def join(name: str, source: str) -> tuple[_KeyframeWatcher, float]:
            started = time.monotonic()
            watcher = _KeyframeWatcher()
            watchers.append(watcher)
            result = await worker.create_endpoint(name, None, video_slots=1, audio_slots=0)
            answer = await watcher.answer(str(result.subscribe_offer_sdp))
            await worker.set_subscribe_answer(name, answer)
            worker.set_routing(name, {"v0": source})
            await asyncio.wait_for(watcher.flowing.wait(), 20)
            assert watcher.first_packet is not None
            return watcher, watcher.first_packet - started

        joins = []
        watcher, join_s = await join("viewer", "a:video")
        joins.append(join_s)
        latencies: list[float] = []
        for i in range(switches):
            target = "b:video" if i % 2 == 0 else "a:video"
            count = len(watcher.keyframes)
            watcher.keyframe_seen.clear()
            t0 = time.monotonic()
            worker.set_routing("viewer", {"v0": target})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.keyframe_seen.wait(), 5)
            if len(watcher.keyframes) > count:
                latencies.append(watcher.keyframes[count] - t0)
            await asyncio.sleep(interval)
        for i in range(3):
            joins.append((await join(f"late{i}", "a:video"))[1])
        ordered = sorted(latencies)

        def pct(values: list[float], q: float) -> float:
            return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 1)

        return {
            "metrics": {
                "switch_latency_ms": {
                    "p50": pct(ordered, 0.5) if ordered else None,
                    "p95": pct(ordered, 0.95) if ordered else None,
                    "max": round(1000 * ordered[-1], 1) if ordered else None,
                },
                "switches": switches,
                "switches_completed": len(latencies),
                "fresh_join_ms": {
                    "p50": pct(sorted(joins), 0.5),
                    "max": round(1000 * max(joins), 1),
                },
            }
        }
    finally:
        for w in watchers:
            await w.close()
        for pc in pubs:
            await pc.close()
        await worker.close()


def main(argv: list[str]) -> None:
    """Command line, usable without importing this package (loadtest/ may not)::

        python -m sfu.bench forwarding --subscribers N --seconds S [--baseline-subscribers M]
                                       [--no-baseline] [--profile] [--report DIR]
        python -m sfu.bench switching --switches N [--report DIR]
        python -m sfu.bench piping --consumers N --seconds S [--report DIR]

    Prints the report and, with ``--report DIR``, writes ``DIR/report.json``.
    (``python -m sfu.bench serve ...`` is the server side of a forwarding run.)
    """
    import argparse

    import uvloop

    if argv and argv[0] == "serve":
        if argv[1] == "publisher":
            uvloop.run(_serve_publisher(argv[2]))
        else:
            uvloop.run(_serve_async(argv[1]))
        return
    parser = argparse.ArgumentParser(prog="python -m sfu.bench")
    commands = parser.add_subparsers(dest="command", required=True)
    fwd = commands.add_parser("forwarding", help="packets per CPU-second vs MediaRelay")
    fwd.add_argument("--subscribers", type=int, default=50)
    fwd.add_argument("--seconds", type=float, default=10.0)
    fwd.add_argument("--baseline-subscribers", type=int, default=None)
    fwd.add_argument("--no-baseline", action="store_true")
    fwd.add_argument("--profile", action="store_true")
    fwd.add_argument("--report", type=Path, default=None)
    sw = commands.add_parser("switching", help="slot switch latency")
    sw.add_argument("--switches", type=int, default=40)
    sw.add_argument("--report", type=Path, default=None)
    pipe = commands.add_parser(
        "piping", help="CPU per packet exported into pipes vs forwarded to local slots"
    )
    pipe.add_argument("--consumers", type=int, default=20)
    pipe.add_argument("--seconds", type=float, default=10.0)
    pipe.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "forwarding":
        report = forwarding_benchmark(
            args.subscribers,
            args.seconds,
            baseline=not args.no_baseline,
            baseline_subscribers=args.baseline_subscribers,
            profile=args.profile,
        )
        if report.get("profile"):
            print(report["profile"])
    elif args.command == "piping":
        report = uvloop.run(run_piping_benchmark(args.consumers, args.seconds))
    else:
        report = uvloop.run(run_switching_benchmark(args.switches))
    report["benchmark"] = args.command
    text = json.dumps(report, indent=2)
    print(text)
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "report.json").write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
