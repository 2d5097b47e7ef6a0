"""The public face of the media plane: a :class:`Worker` owns endpoints and executes the
routing plan the control plane gives it (slot -> source, or empty)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import adapter
from .endpoint import Endpoint
from .forwarding import HANDOVER_MAX_S, KEYFRAME_RETRY_S, Slot, Source
from .pipe import Pipe

logger = logging.getLogger(__name__)


class SfuError(Exception):
    """Base of the errors the worker raises at the point of misuse."""


class UnknownEndpoint(SfuError, KeyError):
    pass


class RoutingError(SfuError, ValueError):
    """A routing plan names an unknown slot or source, or mixes audio and video."""


class SdpError(ValueError):
    """SDP the worker cannot use (not SDP, an answer where it made no offer). It came from
    the participant, so it is bad input rather than the control plane's misuse: not an
    :class:`SfuError`. The message can be shown to the participant."""


@dataclass(frozen=True, slots=True)
class SlotInfo:
    slot_id: str  # "v0".."v8", "a0".."a8"
    kind: str  # "video" or "audio"
    mid: str | None  # the m-line of the subscribe connection carrying it


@dataclass(frozen=True, slots=True)
class SourceInfo:
    source_id: str  # f"{endpoint_id}:video", f"{endpoint_id}:audio", then ":video2"...
    endpoint_id: str
    kind: str
    mid: str | None  # the m-line of the publish connection carrying it


@dataclass(frozen=True, slots=True)
class EndpointOffer:
    """What :meth:`Worker.create_endpoint` hands back to the signaling layer."""

    endpoint_id: str
    publish_answer_sdp: str | None
    subscribe_offer_sdp: str | None
    slots: list[SlotInfo] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)


@dataclass(slots=True)
class WorkerConfig:
    #: Host addresses ICE announces. None lets aioice choose, which leaves out loopback;
    #: tests use ("127.0.0.1",).
    host_addresses: Sequence[str] | None = None
    #: Video codecs offered on slots, in order of preference ("VP8", "H264").
    video_codecs: Sequence[str] = ("VP8",)
    #: How often audio levels are reported through ``on_audio_levels``.
    audio_level_interval: float = 0.2
    #: How often receiver reports go to publishers.
    report_interval: float = 1.0
    #: Housekeeping period: keyframe retries, NACK retries.
    tick_interval: float = 0.05
    #: Kernel socket buffer size asked for on every connection (0: system default).
    socket_buffer_bytes: int = 1 << 21


ConnectedCb = Callable[[str, str], None]  # (endpoint_id, "publish" | "subscribe")
SourceCb = Callable[[SourceInfo], None]
LevelsCb = Callable[[dict[str, int]], None]  # {source_id: RFC 6464 level, 0 loud..127}
FailedCb = Callable[[str, str], None]  # (endpoint_id, reason)


class Worker:
    """Owns endpoints (one per participant) and forwards RTP between them.

    Events are plain callables, assigned at construction or later:
    ``on_connected(endpoint_id, role)``, ``on_source_added(SourceInfo)``,
    ``on_source_removed(SourceInfo)``, ``on_audio_levels({source_id: level})`` and
    ``on_failed(endpoint_id, reason)``. They run on the event loop and must not block.
    """

    def __init__(
        self,
        config: WorkerConfig | None = None,
        *,
        on_connected: ConnectedCb | None = None,
        on_source_added: SourceCb | None = None,
        on_source_removed: SourceCb | None = None,
        on_audio_levels: LevelsCb | None = None,
        on_failed: FailedCb | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.on_connected = on_connected
        self.on_source_added = on_source_added
        self.on_source_removed = on_source_removed
        self.on_audio_levels = on_audio_levels
        self.on_failed = on_failed
        self._endpoints: dict[str, Endpoint] = {}
        self._sources: dict[str, Source] = {}
        self._pipes: dict[str, Pipe] = {}
        self._task: asyncio.Task[None] | None = None
        self._levels: dict[str, int] = {}
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Run the adapter self-test (raises :class:`adapter.AdapterError` if aiortc's
        internals changed) and start housekeeping."""
        if self._started:
            return
        await adapter.self_test()
        loop = asyncio.get_running_loop()
        if "uvloop" not in type(loop).__module__:
            logger.warning(
                "the SFU runs on %s; uvloop receives and sends datagrams far cheaper "
                "(see install_uvloop)",
                type(loop).__name__,
            )
        self._started = True
        self._task = asyncio.create_task(self._housekeeping())

    async def close(self) -> None:
        """Close every endpoint and pipe, and stop. Idempotent."""
        for endpoint_id in list(self._endpoints):
            await self.close_endpoint(endpoint_id)
        for pipe_id in list(self._pipes):
            self.close_pipe(pipe_id)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._started = False

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- endpoints ------------------------------------------------------------------------

    async def create_endpoint(
        self,
        endpoint_id: str,
        publish_offer_sdp: str | None,
        *,
        video_slots: int = 9,
        audio_slots: int = 9,
    ) -> EndpointOffer:
        """Create a participant's connections, negotiated once for the whole session.

        ``publish_offer_sdp`` is the participant's offer of its camera/microphone (None
        for a viewer who publishes nothing). Returns the publish answer, and the
        subscribe offer with ``video_slots`` + ``audio_slots`` send-only slots, whose
        answer goes to :meth:`set_subscribe_answer`.
        """
        if not self._started:
            await self.start()
        if endpoint_id in self._endpoints:
            raise SfuError(f"endpoint {endpoint_id!r} exists")
        endpoint = Endpoint(
            endpoint_id,
            self.config.host_addresses,
            self._on_state,
            self.config.socket_buffer_bytes,
        )
        self._endpoints[endpoint_id] = endpoint
        try:
            answer = None
            if publish_offer_sdp is not None:
                answer = await endpoint.open_publish(publish_offer_sdp, self.config.video_codecs)
            offer = None
            if video_slots or audio_slots:
                offer = await endpoint.open_subscribe(
                    video_slots, audio_slots, self.config.video_codecs
                )
        except Exception as exc:
            self._endpoints.pop(endpoint_id, None)
            await endpoint.close()
            if isinstance(exc, SfuError):
                raise
            raise _unusable(endpoint_id, "offer", exc) from exc
        sources = self._register_sources(endpoint)
        slots = [SlotInfo(s.id, s.kind, s.mid) for s in endpoint.slots.values()]
        return EndpointOffer(endpoint_id, answer, offer, slots, sources)

    async def add_publisher(self, endpoint_id: str, publish_offer_sdp: str) -> EndpointOffer:
        """Give an endpoint created without a publish offer (a viewer) its publish
        connection, e.g. when the participant turns the camera on to come on stage.
        The subscribe connection is untouched. Returns the answer and the new sources."""
        endpoint = self._endpoint(endpoint_id)
        if endpoint.publish_pc is not None:
            raise SfuError(f"endpoint {endpoint_id!r} already publishes")
        try:
            answer = await endpoint.open_publish(publish_offer_sdp, self.config.video_codecs)
        except SfuError:
            raise
        except Exception as exc:
            raise _unusable(endpoint_id, "offer", exc) from exc
        sources = self._register_sources(endpoint)
        return EndpointOffer(endpoint_id, answer, None, [], sources)

    def _register_sources(self, endpoint: Endpoint) -> list[SourceInfo]:
        sources = []
        for source in endpoint.sources.values():
            if source.id in self._sources:
                continue
            self._sources[source.id] = source
            info = _source_info(source)
            sources.append(info)
            if self.on_source_added is not None:
                self.on_source_added(info)
            if not source.watched():
                source.pause()  # until a slot or a pipe export points at it
        return sources

    async def set_subscribe_answer(self, endpoint_id: str, answer_sdp: str) -> None:
        """Apply the participant's answer to the subscribe offer."""
        endpoint = self._endpoint(endpoint_id)
        try:
            await endpoint.accept_subscribe_answer(answer_sdp)
        except SfuError:
            raise
        except Exception as exc:
            raise _unusable(endpoint_id, "answer", exc) from exc

    async def close_endpoint(self, endpoint_id: str) -> None:
        """Stop the endpoint's media at once (its sources leave every slot before this
        returns to the loop), then close its connections. Idempotent."""
        endpoint = self._endpoints.pop(endpoint_id, None)
        if endpoint is None:
            return
        endpoint.stop_media()
        self._remove_sources(endpoint)
        await endpoint.close()

    def _remove_sources(self, endpoint: Endpoint) -> None:
        """Take a stopped endpoint's sources out of the routable ones (each once), so no
        plan can name them any more, and tell ``on_source_removed``."""
        for source in endpoint.sources.values():
            if self._sources.get(source.id) is not source:
                continue
            del self._sources[source.id]
            self._levels.pop(source.id, None)
            if self.on_source_removed is not None:
                self.on_source_removed(_source_info(source))

    # -- pipes between workers ----------------------------------------------------------

    async def open_pipe(
        self, pipe_id: str, bind: tuple[str, int] = ("127.0.0.1", 0)
    ) -> tuple[str, int]:
        """Open this worker's end of a pipe to another worker; returns the address the
        other end must :meth:`connect_pipe` to. The pipe is plain RTP unless
        :meth:`connect_pipe` gives it keys."""
        if pipe_id in self._pipes:
            raise SfuError(f"pipe {pipe_id!r} exists")
        loop = asyncio.get_running_loop()
        transport, pipe = await loop.create_datagram_endpoint(
            lambda: Pipe(pipe_id), local_addr=bind
        )
        self._pipes[pipe_id] = pipe
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connect_pipe(
        self,
        pipe_id: str,
        remote: tuple[str, int],
        keys: tuple[bytes, bytes] | None = None,
    ) -> None:
        """Tell this end of the pipe where the other end is. With ``keys`` (30-byte SRTP
        master keys: what this end sends, what it receives; the other end gets them the
        other way round), everything in the pipe is encrypted and authenticated (SRTP and
        SRTCP, AES128_CM_SHA1_80): for pipes between machines."""
        pipe = self._pipe(pipe_id)
        pipe.remote = (remote[0], int(remote[1]))
        if keys is not None:
            pipe.secure(bytes(keys[0]), bytes(keys[1]))

    def export_source(self, pipe_id: str, source_id: str) -> dict[str, object]:
        """Send a local source into the pipe; hand the returned description (JSON-
        friendly) to the other worker's :meth:`import_source`."""
        source = self._sources.get(source_id)
        if source is None or source.closed:
            raise RoutingError(f"no source {source_id!r}")
        return self._pipe(pipe_id).export(source)

    def import_source(self, pipe_id: str, description: Mapping[str, object]) -> SourceInfo:
        """Make a source exported by another worker routable here, under the same id."""
        pipe = self._pipe(pipe_id)
        source_id = str(description["source_id"])
        if source_id in self._sources:
            raise SfuError(f"source {source_id!r} exists on this worker")
        source = pipe.import_source(dict(description))
        self._sources[source.id] = source
        info = _source_info(source)
        if self.on_source_added is not None:
            self.on_source_added(info)
        return info

    def unimport_source(self, pipe_id: str, source_id: str) -> None:
        """Stop a source imported through the pipe (its origin stopped, or nobody here
        watches it any more): slots pointing at it go empty. Idempotent."""
        pipe = self._pipe(pipe_id)
        for pipe_ssrc, source in list(pipe.imports.items()):
            if source.id != source_id:
                continue
            del pipe.imports[pipe_ssrc]
            source.detach_all()
            if self._sources.get(source_id) is source:
                del self._sources[source_id]
                if self.on_source_removed is not None:
                    self.on_source_removed(_source_info(source))

    def close_pipe(self, pipe_id: str) -> None:
        """Close this end: exported sources stop going out, imported ones stop at once."""
        pipe = self._pipes.pop(pipe_id, None)
        if pipe is None:
            return
        for source in list(pipe.imports.values()):
            if self._sources.get(source.id) is source:
                del self._sources[source.id]
                if self.on_source_removed is not None:
                    self.on_source_removed(_source_info(source))
        pipe.close()

    def _pipe(self, pipe_id: str) -> Pipe:
        pipe = self._pipes.get(pipe_id)
        if pipe is None:
            raise SfuError(f"no pipe {pipe_id!r}")
        return pipe

    # -- routing ------------------------------------------------------------------------

    def set_routing(self, endpoint_id: str, plan: Mapping[str, str | None]) -> None:
        """Point the endpoint's slots at sources: ``{slot_id: source_id or None}``.

        Slots not named keep their current source. The whole plan is checked before any
        slot changes. A video slot switches at the new source's next keyframe (requested
        now and retried), audio at its next packet; None empties a slot at once.
        """
        self.set_routings({endpoint_id: plan})

    def set_routings(self, plans: Mapping[str, Mapping[str, str | None]]) -> None:
        """:meth:`set_routing` for several endpoints at once (a move, a round opening):
        every plan is checked before any slot of any endpoint changes."""
        resolved: list[tuple[Slot, Source | None]] = []
        for endpoint_id, plan in plans.items():
            endpoint = self._endpoint(endpoint_id)
            for slot_id, source_id in plan.items():
                slot = endpoint.slots.get(slot_id)
                if slot is None:
                    raise RoutingError(f"endpoint {endpoint_id!r} has no slot {slot_id!r}")
                resolved.append((slot, self._routable(slot, source_id)))
        now = asyncio.get_event_loop().time()
        for slot, source in resolved:
            slot.point_at(source, now)

    def _routable(self, slot: Slot, source_id: str | None) -> Source | None:
        if source_id is None:
            return None
        source = self._sources.get(source_id)
        if source is None:
            raise RoutingError(f"no source {source_id!r}")
        if source.closed:
            raise RoutingError(f"source {source_id!r} has stopped")
        if source.kind != slot.kind:
            raise RoutingError(
                f"slot {slot.id!r} is {slot.kind}, source {source_id!r} {source.kind}"
            )
        return source

    def routing(self, endpoint_id: str) -> dict[str, str | None]:
        """The plan being executed: each slot's target (pending or current) source."""
        endpoint = self._endpoint(endpoint_id)
        out: dict[str, str | None] = {}
        for slot_id, slot in endpoint.slots.items():
            target = slot.pending or slot.handover or slot.source
            out[slot_id] = target.id if target is not None else None
        return out

    def request_keyframe(self, source_id: str) -> None:
        """Ask the publisher of a video source for a keyframe (throttled)."""
        source = self._sources.get(source_id)
        if source is None:
            raise RoutingError(f"no source {source_id!r}")
        source.request_keyframe(asyncio.get_event_loop().time())

    # -- queries --------------------------------------------------------------------------

    def sources(self, endpoint_id: str | None = None) -> list[SourceInfo]:
        """Sources of one endpoint, or of all."""
        if endpoint_id is not None:
            return [_source_info(s) for s in self._endpoint(endpoint_id).sources.values()]
        return [_source_info(s) for s in self._sources.values()]

    def audio_levels(self) -> dict[str, int]:
        """The latest mean RFC 6464 level per audio source (0 loudest .. 127 silent)."""
        return dict(self._levels)

    def stats(self) -> dict[str, object]:
        """Counters per endpoint, source and slot (JSON-friendly)."""
        endpoints: dict[str, object] = {}
        for endpoint in self._endpoints.values():
            pub = endpoint.publish_transport
            sub = endpoint.subscribe_transport
            endpoints[endpoint.id] = {
                "states": dict(endpoint.states),
                "rx_packets": pub.rx_packets if pub else 0,
                "rx_errors": pub.rx_errors if pub else 0,
                "tx_packets": sub.tx_packets if sub else 0,
                "tx_bytes": sub.tx_bytes if sub else 0,
                "tx_dropped": sub.tx_dropped if sub else 0,
                "unknown_packets": endpoint.unknown_packets,
                "remb_from_subscriber": endpoint.remb_from_subscriber,
                "sources": {
                    s.id: {
                        "kind": s.kind,
                        "codecs": sorted(set(s.codecs.values())),
                        "ssrc": s.ssrc,
                        "received": s.received,
                        "highest_seq": s.cycles + s.max_seq,
                        "bytes": s.bytes_received,
                        "keyframes": s.keyframes,
                        "plis_sent": s.plis_sent,
                        "missing": len(s.missing),
                        "duplicates": s.duplicates,
                        "subscribers": len(s.slots),
                        "paused": s.paused,
                        "dropped_paused": endpoint.dropped_paused(s),
                    }
                    for s in endpoint.sources.values()
                },
                "slots": {
                    slot.id: {
                        "kind": slot.kind,
                        "source": slot.source.id if slot.source else None,
                        "pending": slot.pending.id if slot.pending else None,
                        "packets": slot.packets,
                        "octets": slot.octets,
                        "switches": slot.switches,
                        "nacks": slot.nacks,
                        "retransmitted": slot.retransmitted,
                        "unsendable": slot.unsendable,
                    }
                    for slot in endpoint.slots.values()
                },
            }
        pipes = {
            pipe.id: {
                "remote": list(pipe.remote) if pipe.remote else None,
                "sent": pipe.sent,
                "received": pipe.received,
                "errors": pipe.errors,
                "encrypted": pipe.encrypted,
                "rejected": pipe.rejected,
                "nacks_received": pipe.nacks_received,
                "retransmitted": pipe.retransmitted,
                "exports": sorted(s.source.id for s in pipe.exports.values() if s.source),
                "exported_packets": sum(s.packets for s in pipe.exports.values()),
                "imports": sorted(s.id for s in pipe.imports.values()),
            }
            for pipe in self._pipes.values()
        }
        return {"endpoints": endpoints, "sources": len(self._sources), "pipes": pipes}

    # -- internals ------------------------------------------------------------------------

    def _endpoint(self, endpoint_id: str) -> Endpoint:
        endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None:
            raise UnknownEndpoint(endpoint_id)
        return endpoint

    def _on_state(self, endpoint: Endpoint, role: str, state: str) -> None:
        if self._endpoints.get(endpoint.id) is not endpoint:
            return
        if state == "connected" and self.on_connected is not None:
            self.on_connected(endpoint.id, role)
        elif state in ("failed", "closed"):
            # "closed" while the endpoint is still ours means the participant's side
            # went away (DTLS close): its media stops, its sources go as if the endpoint
            # were closed (plans naming them are refused from now on, rather than every
            # plan naming a stopped source), and the control plane is told.
            endpoint.stop_media()
            self._remove_sources(endpoint)
            if self.on_failed is not None:
                self.on_failed(endpoint.id, f"{role} connection {state}")

    async def _housekeeping(self) -> None:
        loop = asyncio.get_event_loop()
        next_levels = loop.time()
        next_reports = loop.time() + self.config.report_interval
        while True:
            await asyncio.sleep(self.config.tick_interval)
            now = loop.time()
            try:
                for source in list(self._sources.values()):
                    if not source.paused and source.pause_hook and not source.watched():
                        source.pause()  # its last slot or export went elsewhere
                    if source.pending and any(slot.ready() for slot in source.pending):
                        source.request_keyframe(now, min_interval=KEYFRAME_RETRY_S)
                    for slot in list(source.handover):
                        if now - slot.handover_since > HANDOVER_MAX_S:
                            slot.finish_handover()  # the old frame never ended
                    if source.missing:
                        source.retry_nacks(now)
                if now >= next_levels:
                    next_levels = now + self.config.audio_level_interval
                    self._report_levels()
                if now >= next_reports:
                    next_reports = now + self.config.report_interval
                    for endpoint in list(self._endpoints.values()):
                        endpoint.send_receiver_reports(now)
                        endpoint.send_sender_reports(now)
                    for pipe in list(self._pipes.values()):
                        pipe.send_sender_reports(now)
            except Exception:
                logger.exception("housekeeping failed")

    def _report_levels(self) -> None:
        changed: dict[str, int] = {}
        for source in self._sources.values():
            if source.kind != "audio":
                continue
            level = source.take_audio_level()
            if level is not None:
                changed[source.id] = level
                self._levels[source.id] = level
        if changed and self.on_audio_levels is not None:
            self.on_audio_levels(changed)


def _unusable(endpoint_id: str, what: str, exc: Exception) -> SdpError:
    """The error for SDP the worker cannot use: the caller can show its message."""
    detail = str(exc) or type(exc).__name__
    return SdpError(f"endpoint {endpoint_id!r}: cannot use the {what}: {detail}")


def _source_info(source: Source) -> SourceInfo:
    return SourceInfo(source.id, source.endpoint_id, source.kind, source.mid)


def install_uvloop() -> None:
    """Make uvloop the event loop of new asyncio runs (call before ``asyncio.run``)."""
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
