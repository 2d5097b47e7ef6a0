"""The media port: the one interface through which a control plane drives a media worker.

A worker may run in the control plane's own process (:class:`LocalPort`, for tests and the
smallest setup) or in a process of its own, on this machine or another (see
:mod:`sfu.channel` and :mod:`sfu.process`); the control plane cannot tell them apart. Every
request is a coroutine except the two that happen on every move and promotion,
:meth:`MediaPort.set_routings` and :meth:`MediaPort.request_keyframe`: they are posted in
order and never waited for, and a plan the worker refuses comes back as a
:class:`RoutingRefused` event.

What the worker tells (connections up or failed, sources appearing and stopping, audio
levels, its own loss) arrives as :data:`WorkerEvent` values through ``on_event``, on the
event loop of the port's owner, in the order the worker produced them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .worker import EndpointOffer, SfuError, SourceInfo, Worker, WorkerConfig

logger = logging.getLogger(__name__)


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """An endpoint's connection (``role``: "publish" or "subscribe") is up."""

    endpoint_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Failed:
    """An endpoint's connection failed or was closed by the participant's side; its media
    has stopped (its sources are removed: a :class:`SourceRemoved` each)."""

    endpoint_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceAdded:
    source: SourceInfo


@dataclass(frozen=True, slots=True)
class SourceRemoved:
    source: SourceInfo


@dataclass(frozen=True, slots=True)
class AudioLevels:
    """The latest mean RFC 6464 level of audio sources that changed (0 loud .. 127)."""

    levels: dict[str, int]


@dataclass(frozen=True, slots=True)
class RoutingRefused:
    """A posted routing plan was not applied for this endpoint (nothing of it changed)."""

    endpoint_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The worker is gone (its process died, or its connection broke): every endpoint,
    source and pipe it had is gone with it. No event follows."""

    reason: str


WorkerEvent = (
    Connected | Failed | SourceAdded | SourceRemoved | AudioLevels | RoutingRefused | WorkerLost
)
EventHandler = Callable[[WorkerEvent], None]


# -- the interface --------------------------------------------------------------------------


class MediaPort(Protocol):
    """One media worker, as the control plane sees it."""

    #: A short name for logs and figures ("w0", "sfu-b:1").
    name: str
    #: Receives every event of the worker; set before :meth:`start`.
    on_event: EventHandler | None

    @property
    def alive(self) -> bool:
        """False once the worker is lost or closed."""
        ...

    @property
    def pid(self) -> int | None:
        """The worker's process id (on its own machine), if known."""
        ...

    async def start(self) -> None:
        """Start the worker (and its self-test); raises when it cannot run."""
        ...

    async def close(self) -> None:
        """Close every endpoint and pipe and stop the worker. Idempotent."""
        ...

    async def create_endpoint(
        self,
        endpoint_id: str,
        publish_offer_sdp: str | None,
        *,
        video_slots: int = 9,
        audio_slots: int = 9,
    ) -> EndpointOffer: ...

    async def add_publisher(self, endpoint_id: str, publish_offer_sdp: str) -> EndpointOffer: ...

    async def set_subscribe_answer(self, endpoint_id: str, answer_sdp: str) -> None: ...

    async def close_endpoint(self, endpoint_id: str) -> None: ...

    def set_routings(self, plans: Mapping[str, Mapping[str, str | None]]) -> None:
        """Post routing plans (``{endpoint: {slot: source or None}}``); each endpoint's
        plan is applied whole or refused (a :class:`RoutingRefused`)."""
        ...

    def request_keyframe(self, source_id: str) -> None: ...

    async def open_pipe(
        self, pipe_id: str, bind: tuple[str, int] = ("127.0.0.1", 0)
    ) -> tuple[str, int]: ...

    async def connect_pipe(
        self, pipe_id: str, remote: tuple[str, int], keys: tuple[bytes, bytes] | None = None
    ) -> None:
        """Where the other end is; ``keys`` (send, receive) encrypt the pipe (SRTP)."""
        ...

    async def export_source(self, pipe_id: str, source_id: str) -> dict[str, Any]: ...

    async def import_source(self, pipe_id: str, description: Mapping[str, Any]) -> SourceInfo: ...

    async def unimport_source(self, pipe_id: str, source_id: str) -> None:
        """Stop an imported source here (its :class:`SourceRemoved` follows)."""
        ...

    async def close_pipe(self, pipe_id: str) -> None: ...

    async def stats(self) -> dict[str, Any]: ...


# -- in the same process --------------------------------------------------------------------


class LocalPort:
    """A :class:`~sfu.worker.Worker` in this process, behind the media port."""

    def __init__(self, config: WorkerConfig | None = None, name: str = "w0") -> None:
        self.name = name
        self.on_event: EventHandler | None = None
        self.worker = Worker(
            config,
            on_connected=lambda endpoint_id, role: self._emit(Connected(endpoint_id, role)),
            on_failed=lambda endpoint_id, reason: self._emit(Failed(endpoint_id, reason)),
            on_source_added=lambda info: self._emit(SourceAdded(info)),
            on_source_removed=lambda info: self._emit(SourceRemoved(info)),
            on_audio_levels=lambda levels: self._emit(AudioLevels(levels)),
        )
        self._alive = False

    def _emit(self, event: WorkerEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def pid(self) -> int | None:
        return os.getpid()

    async def start(self) -> None:
        await self.worker.start()
        self._alive = True

    async def close(self) -> None:
        self._alive = False
        await self.worker.close()

    async def create_endpoint(
        self,
        endpoint_id: str,
        publish_offer_sdp: str | None,
        *,
        video_slots: int = 9,
        audio_slots: int = 9,
    ) -> EndpointOffer:
        return await self.worker.create_endpoint(
            endpoint_id, publish_offer_sdp, video_slots=video_slots, audio_slots=audio_slots
        )

    async def add_publisher(self, endpoint_id: str, publish_offer_sdp: str) -> EndpointOffer:
        return await self.worker.add_publisher(endpoint_id, publish_offer_sdp)

    async def set_subscribe_answer(self, endpoint_id: str, answer_sdp: str) -> None:
        await self.worker.set_subscribe_answer(endpoint_id, answer_sdp)

    async def close_endpoint(self, endpoint_id: str) -> None:
        await self.worker.close_endpoint(endpoint_id)

    def set_routings(self, plans: Mapping[str, Mapping[str, str | None]]) -> None:
        for endpoint_id, plan in plans.items():
            try:
                self.worker.set_routing(endpoint_id, plan)
            except SfuError as exc:
                self._emit(RoutingRefused(endpoint_id, str(exc)))

    def request_keyframe(self, source_id: str) -> None:
        try:
            self.worker.request_keyframe(source_id)
        except SfuError:
            logger.debug("keyframe request for unknown source %s", source_id)

    async def open_pipe(
        self, pipe_id: str, bind: tuple[str, int] = ("127.0.0.1", 0)
    ) -> tuple[str, int]:
        return await self.worker.open_pipe(pipe_id, bind)

    async def connect_pipe(
        self, pipe_id: str, remote: tuple[str, int], keys: tuple[bytes, bytes] | None = None
    ) -> None:
        self.worker.connect_pipe(pipe_id, remote, keys)

    async def export_source(self, pipe_id: str, source_id: str) -> dict[str, Any]:
        return self.worker.export_source(pipe_id, source_id)

    async def import_source(self, pipe_id: str, description: Mapping[str, Any]) -> SourceInfo:
        return self.worker.import_source(pipe_id, description)

    async def unimport_source(self, pipe_id: str, source_id: str) -> None:
        self.worker.unimport_source(pipe_id, source_id)

    async def close_pipe(self, pipe_id: str) -> None:
        self.worker.close_pipe(pipe_id)

    async def stats(self) -> dict[str, Any]:
        return self.worker.stats()
