"""The control plane's side of the media plane: placement, negotiation, routing plans.

The SFU runs as media workers (one per core by default, or one inside this process), each
reached only through its :class:`~sfu.port.MediaPort`. A participant's connections live on
one worker, the least loaded when they first negotiate. Whenever the event changes (a move,
a promotion, a round) or a source appears, the plans of the viewers concerned are
recomputed (:mod:`signaling.routing`) and only the slots that change are re-pointed; the
viewer's client is told who is in which slot with ``media_slots``.

A viewer on one worker who should see a publisher on another gets the publisher's source
through a pipe between the two workers: sent once per worker that watches it, however many
viewers there are there. Imports nobody watches any more are dropped after a while.

Each publisher is told with ``media_watched`` whether anyone receives its camera and its
microphone, so the browser sends only what someone watches (the workers drop what still
arrives of an unwatched source before decrypting it).

A worker that dies takes its connections with it: its participants are told to negotiate
again (``media_state`` ``reconnect``) and land on a live worker, keeping their place in the
event; a replacement worker is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from sfu import SfuError, SourceInfo, WorkerConfig
from sfu.port import (
    AudioLevels,
    Connected,
    Failed,
    LocalPort,
    MediaPort,
    RoutingRefused,
    SourceAdded,
    SourceRemoved,
    WorkerEvent,
    WorkerLost,
)
from sfu.registry import WorkerRegistry
from signaling import protocol as p
from signaling.config import Config
from signaling.model import (
    Change,
    Event,
    Moved,
    ParticipantRemoved,
    SlotsChanged,
)
from signaling.routing import Plan, plan_for

log = logging.getLogger(__name__)

# RFC 6464 levels are -dBov: 0 is the loudest, 127 silence. Speech sits well below 70.
SPEAKING_LEVEL = 70
# An imported source nobody on its worker has watched for this long is dropped there.
IMPORT_IDLE_S = 10.0
HOUSEKEEPING_S = 2.0
REPLACE_AFTER_S = 0.5

Send = Callable[[str, msgspec.Struct], None]
PortFactory = Callable[[str], MediaPort]


class MediaError(Exception):
    """A media request that cannot be served; ``code`` is a protocol error code."""

    def __init__(self, code: p.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: p.ErrorCode = code
        self.message = message


@dataclass(slots=True)
class _Viewer:
    """A participant's endpoint as the control plane tracks it."""

    worker: _Worker
    video_slots: list[str]
    audio_slots: list[str]
    mids: dict[str, str | None]
    video: dict[str, str | None] = field(default_factory=dict)  # slot -> participant
    audio: dict[str, str | None] = field(default_factory=dict)
    # What the worker was told: slot -> source id (None: empty). A slot whose participant's
    # source is not on this worker yet stays empty until the import arrives.
    routed: dict[str, str | None] = field(default_factory=dict)
    sent: p.MediaSlots | None = None
    publishing: bool = False


@dataclass(slots=True, eq=False)
class _Worker:
    """One media worker and what the control plane keeps of it."""

    port: MediaPort
    remote: bool = False  # registered from another machine: not replaced when lost
    endpoints: set[str] = field(default_factory=set)
    # Sources routable on this worker: its own publishers' and those imported through pipes.
    available: set[str] = field(default_factory=set)
    imports: dict[str, str] = field(default_factory=dict)  # source id -> pipe id
    importing: set[str] = field(default_factory=set)
    idle_since: dict[str, float] = field(default_factory=dict)  # imported, watched by nobody

    @property
    def name(self) -> str:
        return self.port.name


def default_workers(config: Config) -> int:
    """How many worker processes ``config`` asks for (0: one inside this process)."""
    if config.media_workers < 0:
        return os.cpu_count() or 1
    return config.media_workers


def worker_config(config: Config) -> WorkerConfig:
    return WorkerConfig(host_addresses=config.media_addresses or None)


def process_ports(config: Config) -> PortFactory:
    """Worker processes on this machine, one per port."""
    from sfu.process import ProcessPort

    return lambda name: ProcessPort(worker_config(config), name=name)


class MediaPlane:
    """Drives media workers from the event model."""

    def __init__(
        self,
        config: Config,
        get_event: Callable[[], Event | None],
        send: Send,
        *,
        ports: PortFactory | None = None,
        workers: int | None = None,
    ) -> None:
        self.config = config
        self._get_event = get_event
        self._send = send
        count = default_workers(config) if workers is None else workers
        if ports is None:
            ports = process_ports(config) if count > 0 else self._local_port
        self._make_port = ports
        self._wanted = max(1, count)
        self._serial = 0
        self.workers: list[_Worker] = []
        self._viewers: dict[str, _Viewer] = {}
        self._placed: dict[str, _Worker] = {}  # participant -> worker of their endpoint
        self._origin: dict[str, _Worker] = {}  # source id -> the worker it is published on
        self._video: dict[str, str] = {}  # participant -> video source id
        self._audio: dict[str, str] = {}  # participant -> audio source id
        self._last_spoke: dict[str, float] = {}
        # Who watches what: (publisher, kind) -> viewers, and what each publisher was told.
        self._watchers: dict[tuple[str, str], set[str]] = {}
        self._watching: dict[str, set[tuple[str, str]]] = {}
        self._told_watched: dict[str, tuple[bool, bool]] = {}
        self._pipes: dict[tuple[str, str], str] = {}
        self._pipe_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._registry: WorkerRegistry | None = None
        self._stopping = False

    def _local_port(self, name: str) -> MediaPort:
        return LocalPort(worker_config(self.config), name=name)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.gather(*(self._add_worker() for _ in range(self._wanted)))
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())
        if self.config.media_listen:
            host, _, port = self.config.media_listen.rpartition(":")
            tls = None
            if self.config.media_tls_cert:
                tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                tls.load_cert_chain(self.config.media_tls_cert, self.config.media_tls_key or None)
            self._registry = WorkerRegistry(
                host.strip("[]") or "0.0.0.0",
                int(port),
                self.config.media_token,
                lambda port: self._spawn(self._adopt(port)),
                tls,
            )
            await self._registry.start()

    async def _adopt(self, port: MediaPort) -> None:
        """A worker on another machine registered: it takes participants from now on."""
        worker = _Worker(port, remote=True)
        port.on_event = lambda event: self._on_event(worker, event)
        await port.start()
        self.workers.append(worker)
        log.info("media worker %s joined from another machine", port.name)

    async def stop(self) -> None:
        self._stopping = True
        if self._registry is not None:
            await self._registry.close()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        for task in list(self._tasks):
            task.cancel()
        workers, self.workers = self.workers, []
        await asyncio.gather(*(w.port.close() for w in workers), return_exceptions=True)
        self._viewers.clear()
        self._placed.clear()

    async def _add_worker(self) -> _Worker:
        self._serial += 1
        port = self._make_port(f"w{self._serial - 1}")
        worker = _Worker(port)
        port.on_event = lambda event: self._on_event(worker, event)
        await port.start()
        self.workers.append(worker)
        log.info("media worker %s started (pid %s)", port.name, port.pid)
        return worker

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._stopping:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media task failed", exc_info=task.exception())

    def _place(self) -> _Worker:
        """The live worker with the fewest endpoints."""
        live = [w for w in self.workers if w.port.alive]
        if not live:
            raise MediaError("not_ready", "no media worker is running; try again shortly")
        return min(live, key=lambda w: len(w.endpoints))

    def summary(self) -> list[dict[str, Any]]:
        """Each worker's name, process and load, for health checks and load tests."""
        return [
            {
                "name": w.name,
                "pid": w.port.pid,
                "alive": w.port.alive,
                "endpoints": len(w.endpoints),
                "imports": len(w.imports),
            }
            for w in self.workers
        ]

    async def counters(self) -> list[dict[str, Any]]:
        """Packet totals per worker: what arrived from publishers (``rx_packets``, RTP and
        RTCP; ``rx_rtp_packets``, media only, of which ``dropped_paused`` unwatched and
        dropped undecrypted), what went to viewers (``tx_packets``) and through pipes."""
        stats = await self.stats()
        out = []
        for worker in self.workers:
            part = stats.get(worker.name) or {}
            endpoints = part.get("endpoints") or {}
            pipes = part.get("pipes") or {}
            out.append(
                {
                    "name": worker.name,
                    "pid": worker.port.pid,
                    "endpoints": len(endpoints),
                    "rx_packets": sum(e.get("rx_packets", 0) for e in endpoints.values()),
                    "rx_rtp_packets": sum(
                        s.get("received", 0) + s.get("dropped_paused", 0)
                        for e in endpoints.values()
                        for s in (e.get("sources") or {}).values()
                    ),
                    "dropped_paused": sum(
                        s.get("dropped_paused", 0)
                        for e in endpoints.values()
                        for s in (e.get("sources") or {}).values()
                    ),
                    "tx_packets": sum(e.get("tx_packets", 0) for e in endpoints.values()),
                    "pipe_sent": sum(pp.get("sent", 0) for pp in pipes.values()),
                    "pipe_received": sum(pp.get("received", 0) for pp in pipes.values()),
                }
            )
        return out

    async def stats(self) -> dict[str, Any]:
        """Every worker's own statistics, by worker name."""
        parts = await asyncio.gather(
            *(w.port.stats() for w in self.workers if w.port.alive), return_exceptions=True
        )
        names = [w.name for w in self.workers if w.port.alive]
        return {
            name: part if not isinstance(part, BaseException) else {"error": str(part)}
            for name, part in zip(names, parts, strict=True)
        }

    # ------------------------------------------------------------------ negotiation

    async def open(self, pid: str, publish_sdp: str | None) -> tuple[str | None, str]:
        """Create (or replace) ``pid``'s endpoint; returns (publish answer, subscribe offer).

        Call :meth:`refresh` for ``pid`` once the client has been sent the offer.
        """
        event = self._get_event()
        if event is None or pid not in event.participants:
            raise MediaError("not_found", "join the event before starting media")
        if publish_sdp is not None and not _has_media(publish_sdp):
            raise MediaError("invalid", "the SDP offer carries no audio or video m-line")
        if pid in self._placed:
            await self.close(pid)
        worker = self._place()
        worker.endpoints.add(pid)
        self._placed[pid] = worker
        try:
            offer = await worker.port.create_endpoint(
                pid,
                publish_sdp,
                video_slots=self.config.video_slots,
                audio_slots=self.config.audio_slots,
            )
        except Exception as exc:
            worker.endpoints.discard(pid)
            if self._placed.get(pid) is worker:
                del self._placed[pid]
            raise _refused("offer", pid, worker, exc) from exc
        viewer = _Viewer(
            worker=worker,
            video_slots=[s.slot_id for s in offer.slots if s.kind == "video"],
            audio_slots=[s.slot_id for s in offer.slots if s.kind == "audio"],
            mids={s.slot_id: s.mid for s in offer.slots},
            publishing=publish_sdp is not None,
        )
        self._viewers[pid] = viewer
        assert offer.subscribe_offer_sdp is not None
        return offer.publish_answer_sdp, offer.subscribe_offer_sdp

    async def add_publisher(self, pid: str, publish_sdp: str) -> str:
        """Give a viewer's endpoint a publish connection; returns the answer SDP."""
        viewer = self._viewers.get(pid)
        if viewer is None:
            raise MediaError("conflict", "start media with media_subscribe first")
        if not _has_media(publish_sdp):
            raise MediaError("invalid", "the SDP offer carries no audio or video m-line")
        try:
            offer = await viewer.worker.port.add_publisher(pid, publish_sdp)
        except Exception as exc:
            raise _refused("offer", pid, viewer.worker, exc) from exc
        viewer.publishing = True
        assert offer.publish_answer_sdp is not None
        return offer.publish_answer_sdp

    async def answer(self, pid: str, sdp: str) -> None:
        viewer = self._viewers.get(pid)
        if viewer is None:
            raise MediaError("conflict", "there is no media offer to answer; send media_offer")
        try:
            await viewer.worker.port.set_subscribe_answer(pid, sdp)
        except Exception as exc:
            raise _refused("answer", pid, viewer.worker, exc) from exc

    async def close(self, pid: str) -> None:
        """Stop ``pid``'s media at once and close their connections. Idempotent."""
        worker = self._placed.pop(pid, None)
        self._forget(pid)
        if worker is not None:
            worker.endpoints.discard(pid)
            if worker.port.alive:
                with contextlib.suppress(SfuError):
                    await worker.port.close_endpoint(pid)

    def _forget(self, pid: str) -> None:
        """Drop what the plane keeps of ``pid``'s endpoint; its watchers get new plans."""
        self._viewers.pop(pid, None)
        self._set_watching(pid, set())
        self._told_watched.pop(pid, None)
        had_media = pid in self._video or pid in self._audio
        for table in (self._video, self._audio):
            source_id = table.pop(pid, None)
            if source_id is not None:
                self._source_gone(source_id)
        self._last_spoke.pop(pid, None)
        if had_media:
            self._refresh_watchers_of(pid)

    # ------------------------------------------------------------------ plans

    def on_changes(self, changes: Iterable[Change]) -> None:
        """Recompute the plans of everyone a model change concerns."""
        event = self._get_event()
        if event is None or not self._viewers:
            return
        spaces: set[str] = set()
        for change in changes:
            if isinstance(change, Moved):
                if change.from_space is not None:
                    spaces.add(change.from_space)
                spaces.add(change.to_space)
            elif isinstance(change, SlotsChanged):
                spaces.add(change.stage_id)
            elif isinstance(change, ParticipantRemoved):
                spaces.add(change.space_id)
        if spaces:
            self.refresh(
                pid
                for pid in self._viewers
                if pid in event.participants and event.participants[pid].space_id in spaces
            )

    def refresh(self, pids: Iterable[str], *, force: bool = False) -> None:
        """Recompute and apply the plans of ``pids``; tell each client what changed.

        ``force``: send the slots message even if it did not change (a new connection).
        """
        event = self._get_event()
        if event is None:
            return
        plans: dict[_Worker, dict[str, dict[str, str | None]]] = {}
        for pid in list(pids):
            viewer = self._viewers.get(pid)
            if viewer is None or pid not in event.participants:
                continue
            plan = plan_for(
                event,
                pid,
                video_slots=viewer.video_slots,
                audio_slots=viewer.audio_slots,
                publishing_video=self._video,
                publishing_audio=self._audio,
                current_video=viewer.video,
                current_audio=viewer.audio,
                last_spoke=self._last_spoke,
            )
            routing = self._routing(viewer, plan)
            if routing:
                plans.setdefault(viewer.worker, {})[pid] = routing
                viewer.routed.update(routing)
            viewer.video, viewer.audio = plan.video, plan.audio
            self._set_watching(
                pid,
                {(who, "video") for who in plan.video.values() if who}
                | {(who, "audio") for who in plan.audio.values() if who},
            )
            message = p.MediaSlots(
                slots=[
                    p.MediaSlotInfo(
                        slot_id=slot_id,
                        kind=kind,
                        mid=viewer.mids.get(slot_id),
                        participant_id=who,
                        name=event.participants[who].name if who else None,
                        role=plan.shown_as.get(who) if who else None,
                    )
                    for kind, assigned in _by_kind(plan)
                    for slot_id, who in assigned.items()
                ]
            )
            if force or message != viewer.sent:
                viewer.sent = message
                self._send(pid, message)
        for worker, worker_plans in plans.items():
            if worker.port.alive:
                worker.port.set_routings(worker_plans)

    def _routing(self, viewer: _Viewer, plan: Plan) -> dict[str, str | None]:
        """The slots of ``viewer`` whose source must change on its worker.

        A participant's source that is not on the viewer's worker yet is imported; its slot
        stays empty until the import arrives, then a refresh points it.
        """
        routing: dict[str, str | None] = {}
        for assigned, table in ((plan.video, self._video), (plan.audio, self._audio)):
            for slot_id, who in assigned.items():
                source_id = table.get(who) if who else None
                if source_id is not None and source_id not in viewer.worker.available:
                    self._want(viewer.worker, source_id)
                    source_id = None
                if viewer.routed.get(slot_id, None) != source_id or slot_id not in viewer.routed:
                    routing[slot_id] = source_id
        return routing

    def _refresh_watchers_of(self, pid: str) -> None:
        event = self._get_event()
        if event is None:
            return
        participant = event.participants.get(pid)
        if participant is None:
            # Gone from the event: anyone whose plan still names them needs a new one.
            stale = [
                viewer_id
                for viewer_id, v in self._viewers.items()
                if pid in v.video.values() or pid in v.audio.values()
            ]
            self.refresh(stale)
            return
        space_id = participant.space_id
        self.refresh(
            viewer_id
            for viewer_id in self._viewers
            if viewer_id in event.participants
            and event.participants[viewer_id].space_id == space_id
        )

    def slots_of(self, pid: str) -> p.MediaSlots | None:
        viewer = self._viewers.get(pid)
        return viewer.sent if viewer else None

    # ------------------------------------------------------------------ who watches whom

    def _set_watching(self, viewer_id: str, now: set[tuple[str, str]]) -> None:
        before = self._watching.get(viewer_id, set())
        if now == before:
            return
        if now:
            self._watching[viewer_id] = now
        else:
            self._watching.pop(viewer_id, None)
        touched: set[str] = set()
        for key in before - now:
            viewers = self._watchers.get(key)
            if viewers is not None:
                viewers.discard(viewer_id)
                if not viewers:
                    del self._watchers[key]
            touched.add(key[0])
        for key in now - before:
            self._watchers.setdefault(key, set()).add(viewer_id)
            touched.add(key[0])
        for publisher in touched:
            self._tell_watched(publisher)

    def _tell_watched(self, publisher: str, *, always: bool = False) -> None:
        """Tell a publisher whether anyone receives its camera and microphone."""
        viewer = self._viewers.get(publisher)
        if viewer is None or not viewer.publishing:
            return
        state = ((publisher, "video") in self._watchers, (publisher, "audio") in self._watchers)
        if not always and self._told_watched.get(publisher) == state:
            return
        self._told_watched[publisher] = state
        self._send(publisher, p.MediaWatched(video=state[0], audio=state[1]))

    def watched(self, pid: str) -> tuple[bool, bool]:
        """(video, audio): whether anyone receives ``pid``'s camera and microphone."""
        return ((pid, "video") in self._watchers, (pid, "audio") in self._watchers)

    # ------------------------------------------------------------------ pipes

    def _want(self, worker: _Worker, source_id: str) -> None:
        if source_id in worker.importing or source_id in worker.available:
            return
        origin = self._origin.get(source_id)
        if origin is None or origin is worker or not origin.port.alive:
            return
        worker.importing.add(source_id)
        self._spawn(self._import(origin, worker, source_id))

    async def _import(self, origin: _Worker, worker: _Worker, source_id: str) -> None:
        """Send ``source_id`` from its worker to ``worker`` through their pipe."""
        try:
            pipe_id = await self._pipe(origin, worker)
            description = await origin.port.export_source(pipe_id, source_id)
            if self._origin.get(source_id) is not origin or not worker.port.alive:
                return  # the source stopped, or the worker died, meanwhile
            await worker.port.import_source(pipe_id, description)
            worker.imports[source_id] = pipe_id
        except SfuError as exc:
            log.warning(
                "%s could not import %s from %s: %s", worker.name, source_id, origin.name, exc
            )
        finally:
            worker.importing.discard(source_id)

    async def _pipe(self, a: _Worker, b: _Worker) -> str:
        """The pipe between two workers, opened on first use."""
        key = (a.name, b.name) if a.name < b.name else (b.name, a.name)
        lock = self._pipe_locks.setdefault(key, asyncio.Lock())
        async with lock:
            pipe_id = self._pipes.get(key)
            if pipe_id is not None:
                return pipe_id
            pipe_id = f"{key[0]}~{key[1]}"
            address_a, address_b = await asyncio.gather(
                self._open_pipe(a, pipe_id), self._open_pipe(b, pipe_id)
            )
            # Between machines, the pipe is encrypted and authenticated (SRTP), with keys
            # made here and handed to both ends over their channels.
            keys_a = keys_b = None
            if a.remote or b.remote:
                forth, back = os.urandom(30), os.urandom(30)
                keys_a, keys_b = (forth, back), (back, forth)
            await asyncio.gather(
                a.port.connect_pipe(pipe_id, address_b, keys_a),
                b.port.connect_pipe(pipe_id, address_a, keys_b),
            )
            self._pipes[key] = pipe_id
            return pipe_id

    async def _open_pipe(self, worker: _Worker, pipe_id: str) -> tuple[str, int]:
        """Open ``worker``'s end of a pipe; returns where the other end sends to."""
        host = getattr(worker.port, "pipe_host", None) if worker.remote else None
        if host is None:
            return await worker.port.open_pipe(pipe_id, (self.config.media_pipe_host, 0))
        # On another machine: listen on every interface, reached at its own address.
        _, port = await worker.port.open_pipe(pipe_id, ("0.0.0.0", 0))
        return host, port

    def _source_gone(self, source_id: str) -> None:
        """A published source stopped: the workers that imported it drop it too."""
        self._origin.pop(source_id, None)
        for worker in self.workers:
            pipe_id = worker.imports.pop(source_id, None)
            worker.idle_since.pop(source_id, None)
            if pipe_id is not None and worker.port.alive:
                self._spawn(self._unimport(worker, pipe_id, source_id))

    async def _unimport(self, worker: _Worker, pipe_id: str, source_id: str) -> None:
        with contextlib.suppress(SfuError):
            await worker.port.unimport_source(pipe_id, source_id)

    async def _housekeep(self) -> None:
        """Drop imports nobody on their worker has watched for IMPORT_IDLE_S."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            now = time.monotonic()
            watched: dict[_Worker, set[str]] = {}
            for viewer in self._viewers.values():
                watched.setdefault(viewer.worker, set()).update(
                    s for s in viewer.routed.values() if s is not None
                )
            for worker in self.workers:
                in_use = watched.get(worker, set())
                for source_id, pipe_id in list(worker.imports.items()):
                    if source_id in in_use:
                        worker.idle_since.pop(source_id, None)
                        continue
                    since = worker.idle_since.setdefault(source_id, now)
                    if now - since >= IMPORT_IDLE_S and worker.port.alive:
                        del worker.imports[source_id]
                        del worker.idle_since[source_id]
                        self._spawn(self._unimport(worker, pipe_id, source_id))

    # ------------------------------------------------------------------ worker events

    def _on_event(self, worker: _Worker, event: WorkerEvent) -> None:
        if isinstance(event, AudioLevels):
            self._on_audio_levels(worker, event.levels)
        elif isinstance(event, SourceAdded):
            self._on_source_added(worker, event.source)
        elif isinstance(event, SourceRemoved):
            self._on_source_removed(worker, event.source)
        elif isinstance(event, Connected):
            if self._placed.get(event.endpoint_id) is worker:
                self._send(
                    event.endpoint_id,
                    p.MediaState(connection=_direction(event.role), state="connected"),
                )
                if event.role == "publish":
                    self._tell_watched(event.endpoint_id, always=True)
        elif isinstance(event, Failed):
            if self._placed.get(event.endpoint_id) is worker:
                role = "publish" if event.reason.startswith("publish") else "subscribe"
                self._send(
                    event.endpoint_id,
                    p.MediaState(connection=_direction(role), state="failed", reason=event.reason),
                )
        elif isinstance(event, RoutingRefused):
            # Nothing of that plan was applied: point those slots again at the next refresh.
            viewer = self._viewers.get(event.endpoint_id)
            log.warning("routing plan for %s refused: %s", event.endpoint_id, event.reason)
            if viewer is not None and viewer.worker is worker:
                viewer.routed.clear()
                self.refresh([event.endpoint_id])
        elif isinstance(event, WorkerLost):
            self._on_lost(worker, event.reason)

    def _on_source_added(self, worker: _Worker, source: SourceInfo) -> None:
        worker.available.add(source.source_id)
        if self._placed.get(source.endpoint_id) is not worker:
            # An import arrived: point the slots that wait for it.
            self.refresh(
                pid
                for pid, viewer in self._viewers.items()
                if viewer.worker is worker and source.endpoint_id in _shown(viewer)
            )
            return
        self._origin[source.source_id] = worker
        table = self._video if source.kind == "video" else self._audio
        if source.endpoint_id not in table:
            table[source.endpoint_id] = source.source_id
            self._refresh_watchers_of(source.endpoint_id)

    def _on_source_removed(self, worker: _Worker, source: SourceInfo) -> None:
        worker.available.discard(source.source_id)
        worker.imports.pop(source.source_id, None)
        if self._origin.get(source.source_id) is not worker:
            return
        table = self._video if source.kind == "video" else self._audio
        if table.get(source.endpoint_id) == source.source_id:
            del table[source.endpoint_id]
        self._source_gone(source.source_id)
        # Its slots go empty, the other sources keep flowing.
        self._refresh_watchers_of(source.endpoint_id)

    def _on_lost(self, worker: _Worker, reason: str) -> None:
        """A worker died: its participants negotiate again elsewhere; a new one starts."""
        log.error("media worker %s lost: %s", worker.name, reason)
        if worker in self.workers:
            self.workers.remove(worker)
        for key, pipe_id in list(self._pipes.items()):
            if worker.name in key:
                del self._pipes[key]
                other = next((w for w in self.workers if w.name in key), None)
                if other is not None and other.port.alive:
                    self._spawn(_quietly(other.port.close_pipe(pipe_id)))
        for source_id, origin in list(self._origin.items()):
            if origin is worker:
                self._origin.pop(source_id, None)
                for other in self.workers:
                    other.imports.pop(source_id, None)
                    other.available.discard(source_id)
        lost = sorted(worker.endpoints)
        for pid in lost:
            self._placed.pop(pid, None)
            self._forget(pid)
            connections: tuple[p.MediaDirection, ...] = ("publish", "subscribe")
            for connection in connections:
                self._send(
                    pid,
                    p.MediaState(
                        connection=connection,
                        state="reconnect",
                        reason="the media server restarted; connecting again",
                    ),
                )
        if not self._stopping and not worker.remote:
            self._spawn(self._replace())

    async def _replace(self) -> None:
        """Start a worker in place of a lost one, unless the server is stopping: a signal to
        the whole process group reaches the workers a moment before the server."""
        await asyncio.sleep(REPLACE_AFTER_S)
        if not self._stopping:
            await self._add_worker()

    def _on_audio_levels(self, worker: _Worker, levels: dict[str, int]) -> None:
        event = self._get_event()
        if event is None:
            return
        now = time.monotonic()
        by_source = {sid: pid for pid, sid in self._audio.items()}
        crowded: set[str] = set()
        for source_id, level in levels.items():
            pid = by_source.get(source_id)
            # Imported copies report levels too: the origin's count.
            if pid is None or level > SPEAKING_LEVEL or self._origin.get(source_id) is not worker:
                continue
            self._last_spoke[pid] = now
            participant = event.participants.get(pid)
            if participant is None:
                continue
            space = event.spaces[participant.space_id]
            if space.kind in ("booth", "breakout") and (
                event.count(space.id) - 1 > self.config.video_slots
            ):
                crowded.add(space.id)
        if crowded:
            self.refresh(
                viewer_id
                for viewer_id in self._viewers
                if viewer_id in event.participants
                and event.participants[viewer_id].space_id in crowded
            )


def _shown(viewer: _Viewer) -> set[str | None]:
    return set(viewer.video.values()) | set(viewer.audio.values())


async def _quietly(coro: Coroutine[Any, Any, Any]) -> None:
    with contextlib.suppress(SfuError):
        await coro


def _refused(what: str, pid: str, worker: _Worker, exc: Exception) -> MediaError:
    if not worker.port.alive:
        return MediaError("not_ready", "the media server restarted; try again")
    if isinstance(exc, SfuError):
        return MediaError("conflict", str(exc))
    # aiortc raises a variety of errors for SDP it cannot use; none is the server's.
    log.info("media %s of %s refused: %r", what, pid, exc)
    return MediaError("invalid", f"the SDP {what} was refused: {exc}")


def _has_media(sdp: str) -> bool:
    return any(
        line.startswith(("m=audio", "m=video")) for line in sdp.replace("\r", "").split("\n")
    )


def _by_kind(plan: Plan) -> tuple[tuple[p.MediaKind, dict[str, str | None]], ...]:
    return (("video", plan.video), ("audio", plan.audio))


def _direction(role: str) -> p.MediaDirection:
    return "publish" if role == "publish" else "subscribe"
