"""The media port's channel: how a control plane and a media worker in another process (a
Unix socketpair) or on another machine (TCP) exchange requests, replies and events.

A frame is a 4-byte big-endian length, then that many bytes of one msgpack map (msgspec),
at most :data:`MAX_FRAME` bytes. The messages (listed in sfu/README.md, "The media port and
its channel"):

- a request ``{"id": n, "method": name, "args": {...}}``, answered by a reply
  ``{"id": n, "result": value}`` or ``{"id": n, "error": {"type": t, "message": m}}``;
- a posted request ``{"method": name, "args": {...}}``: no id, no reply;
- an event ``{"event": name, ...}``, one for each :data:`~sfu.port.WorkerEvent`;
- on TCP, ``{"hello": {...}}`` then ``{"welcome": {...}}`` or ``{"refused": reason}`` open
  the channel, and ``{"heartbeat": n}`` goes both ways every 0.5 s.

Both ends are here: :class:`ChannelPort` is the control plane's (a
:class:`~sfu.port.MediaPort`; :class:`~sfu.process.ProcessPort` and
:class:`~sfu.registry.RemotePort` only add how the worker is reached), and
:class:`PortServer` serves a worker's :class:`~sfu.port.LocalPort` to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

import msgspec

from .port import (
    AudioLevels,
    Connected,
    EventHandler,
    Failed,
    LocalPort,
    RoutingRefused,
    SourceAdded,
    SourceRemoved,
    WorkerEvent,
    WorkerLost,
)
from .worker import (
    EndpointOffer,
    RoutingError,
    SdpError,
    SfuError,
    SourceInfo,
    UnknownEndpoint,
    WorkerConfig,
)

logger = logging.getLogger(__name__)

#: Sent in the start reply and the hello; both ends must speak the same.
PROTOCOL_VERSION = 1
#: The largest frame either end accepts (an SDP is a few kB, stats of a busy worker a few
#: hundred); a larger length prefix closes the channel.
MAX_FRAME = 16 * 1024 * 1024
#: The largest frame a TCP peer may send before it has authenticated.
HELLO_MAX_FRAME = 64 * 1024
#: How long a TCP peer has to send its hello, and a worker to get its answer.
HELLO_TIMEOUT_S = 10.0
HEARTBEAT_S = 0.5
#: A TCP channel over which nothing arrived for this long is lost.
HEARTBEAT_TIMEOUT_S = 2.0

_LENGTH = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()

T = TypeVar("T")


class ChannelError(SfuError):
    """A frame that breaks the channel's rules (too large, not msgpack, not a message this
    end knows), or a channel that is closed."""


class WorkerFailure(RuntimeError):
    """The worker failed a request for a reason other than misuse of the port or unusable
    SDP; the message names the exception. Not an :class:`~sfu.worker.SfuError`, as the
    same failure in a :class:`~sfu.port.LocalPort` would not be one either."""


# ------------------------------------------------------------------------------------------
# Messages
# ------------------------------------------------------------------------------------------

#: The ``event`` name of each worker event.
EVENT_NAMES: dict[type[Any], str] = {
    Connected: "connected",
    Failed: "failed",
    SourceAdded: "source_added",
    SourceRemoved: "source_removed",
    AudioLevels: "audio_levels",
    RoutingRefused: "routing_refused",
    WorkerLost: "worker_lost",
}
_EVENT_TYPES = {name: cls for cls, name in EVENT_NAMES.items()}

#: Error types of a reply, and the exception each becomes on the control plane's side
#: (the one a LocalPort raises, but for "Failure").
ERROR_TYPES: dict[str, type[Exception]] = {
    "UnknownEndpoint": UnknownEndpoint,
    "RoutingError": RoutingError,
    "SfuError": SfuError,
    "SdpError": SdpError,
    "Failure": WorkerFailure,
}


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """One frame: the length prefix and the message as msgpack."""
    try:
        body = _encoder.encode(message)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise ChannelError(f"cannot encode the message: {exc}") from exc
    if len(body) > MAX_FRAME:
        raise ChannelError(f"a frame of {len(body)} bytes is larger than {MAX_FRAME}")
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_size: int = MAX_FRAME) -> dict[str, Any]:
    """Read one frame; raises :class:`ChannelError` for a frame breaking the rules and
    ``asyncio.IncompleteReadError`` at the end of the stream."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if size > max_size:
        raise ChannelError(f"a frame of {size} bytes is larger than {max_size}")
    body = await reader.readexactly(size)
    try:
        message = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ChannelError(f"a frame is not msgpack: {exc}") from exc
    if not isinstance(message, dict):
        raise ChannelError(f"a frame holds a {type(message).__name__}, not a map")
    return message


def encode_event(event: WorkerEvent) -> dict[str, Any]:
    """``{"event": name, ...fields}``; a :class:`~sfu.worker.SourceInfo` becomes a map."""
    message: dict[str, Any] = msgspec.to_builtins(event)
    message["event"] = EVENT_NAMES[type(event)]
    return message


def decode_event(message: Mapping[str, Any]) -> WorkerEvent:
    name = message.get("event")
    cls = _EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ChannelError(f"unknown event {name!r}")
    body = {key: value for key, value in message.items() if key != "event"}
    try:
        event: WorkerEvent = msgspec.convert(body, cls)
    except msgspec.ValidationError as exc:
        raise ChannelError(f"malformed {name} event: {exc}") from exc
    return event


def encode_error(exc: BaseException) -> dict[str, str]:
    """The ``error`` of a reply: one of :data:`ERROR_TYPES` and a message to show."""
    if isinstance(exc, UnknownEndpoint):
        # A KeyError's str() quotes its argument; send the argument itself.
        return {"type": "UnknownEndpoint", "message": str(exc.args[0]) if exc.args else ""}
    if isinstance(exc, RoutingError):
        return {"type": "RoutingError", "message": str(exc)}
    if isinstance(exc, SfuError):
        return {"type": "SfuError", "message": str(exc)}
    if isinstance(exc, SdpError):
        return {"type": "SdpError", "message": str(exc)}
    if isinstance(exc, WorkerFailure):
        return {"type": "Failure", "message": str(exc)}
    return {"type": "Failure", "message": f"{type(exc).__name__}: {exc}"}


def decode_error(error: Any) -> Exception:
    if not isinstance(error, dict):
        raise ChannelError("a reply's error is not a map")
    kind, message = error.get("type"), error.get("message")
    if not isinstance(kind, str) or not isinstance(message, str):
        raise ChannelError("a reply's error has no type or message")
    return ERROR_TYPES.get(kind, WorkerFailure)(message)


_CONFIG_FIELDS = frozenset(f.name for f in fields(WorkerConfig))


def encode_config(config: WorkerConfig) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(config)
    return data


def decode_config(data: Any) -> WorkerConfig:
    """A :class:`~sfu.worker.WorkerConfig` from a map; unknown or mistyped settings are
    refused rather than ignored."""
    if not isinstance(data, dict):
        raise SfuError("the worker configuration is not a map")
    unknown = set(data) - _CONFIG_FIELDS
    if unknown:
        raise SfuError(f"unknown worker settings: {', '.join(sorted(map(str, unknown)))}")
    try:
        return msgspec.convert(data, WorkerConfig)
    except msgspec.ValidationError as exc:
        raise SfuError(f"bad worker configuration: {exc}") from exc


def _convert(value: Any, cls: type[T]) -> T:
    try:
        return msgspec.convert(value, cls)
    except msgspec.ValidationError as exc:
        raise WorkerFailure(f"malformed reply: {exc}") from exc


# ------------------------------------------------------------------------------------------
# The channel
# ------------------------------------------------------------------------------------------


class Channel:
    """One end of a channel over an asyncio stream: frames out, a loop reading frames in,
    and (on TCP) heartbeats both ways. Closing it is idempotent and keeps the first
    reason."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        self.name = name
        self._reader = reader
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self._last_received = self._loop.time()
        self._heartbeat: asyncio.Task[None] | None = None
        self.closed_reason: str | None = None
        self.frames_in = 0
        self.frames_out = 0

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    def send(self, message: Mapping[str, Any]) -> None:
        """Queue one message (never blocks); raises :class:`ChannelError` when closed or
        when the message cannot be a frame."""
        if self.closed_reason is not None or self._writer.is_closing():
            raise ChannelError(f"channel {self.name} is closed")
        self._writer.write(encode_frame(message))
        self.frames_out += 1

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def receive(self, max_size: int = MAX_FRAME) -> dict[str, Any]:
        """Read one message outside :meth:`run` (an opening handshake)."""
        message = await read_frame(self._reader, max_size)
        self._last_received = self._loop.time()
        self.frames_in += 1
        return message

    def start_heartbeat(
        self, interval: float = HEARTBEAT_S, timeout: float = HEARTBEAT_TIMEOUT_S
    ) -> None:
        """Send a heartbeat every ``interval`` and close the channel when nothing has
        arrived for ``timeout`` (the peer's heartbeats count, and any other frame)."""
        if self._heartbeat is None:
            self._last_received = self._loop.time()
            self._heartbeat = self._loop.create_task(self._beat(interval, timeout))

    async def _beat(self, interval: float, timeout: float) -> None:
        beats = 0
        while self.closed_reason is None:
            await asyncio.sleep(interval)
            if self._loop.time() - self._last_received > timeout:
                self.close(f"no heartbeat for {timeout:g} s")
                return
            beats += 1
            with contextlib.suppress(ChannelError):
                self.send({"heartbeat": beats})

    async def run(self, handle: Callable[[dict[str, Any]], Awaitable[None] | None]) -> str:
        """Read messages until the channel ends; returns why it ended. Heartbeats are
        taken here; every other message goes to ``handle``, in order (awaited when it
        returns an awaitable). A malformed frame, or one ``handle`` rejects with
        :class:`ChannelError`, is logged and closes the channel."""
        try:
            while True:
                message = await read_frame(self._reader)
                self._last_received = self._loop.time()
                self.frames_in += 1
                if "heartbeat" in message:
                    continue
                result = handle(message)
                if result is not None:
                    await result
        except ChannelError as exc:
            logger.error("channel %s: %s; closing it", self.name, exc)
            self.close(f"malformed frame: {exc}")
        except asyncio.IncompleteReadError:
            self.close("connection closed")
        except ConnectionError as exc:
            self.close(f"connection lost: {exc}")
        except asyncio.CancelledError:
            self.close("closed")
            raise
        except Exception as exc:
            logger.exception("channel %s failed", self.name)
            self.close(f"channel failed: {exc}")
        assert self.closed_reason is not None
        return self.closed_reason

    def close(self, reason: str) -> None:
        """Close the stream (what was queued is still sent). Idempotent."""
        if self.closed_reason is None:
            self.closed_reason = reason
        heartbeat = self._heartbeat
        if heartbeat is not None and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
        self._writer.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


# ------------------------------------------------------------------------------------------
# The control plane's end
# ------------------------------------------------------------------------------------------


class ChannelPort:
    """A media worker at the far end of a channel, behind the media port.

    Requests become request messages and wait for their reply; posted requests
    (:meth:`set_routings`, :meth:`request_keyframe`) are sent and forgotten; events are
    handed to ``on_event`` in the order they arrive. When the channel ends, every pending
    request fails with ``SfuError("worker ... lost: reason")``, exactly one
    :class:`~sfu.port.WorkerLost` is emitted (for a started worker not being closed),
    and posted requests are dropped and counted in :attr:`posts_dropped`.

    Subclasses say how the worker is reached: :meth:`_attach` a :class:`Channel`, then
    :meth:`_start_worker`; :meth:`_stop_worker` on close.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.on_event: EventHandler | None = None
        #: What the worker told about itself when it started (protocol, pid, host).
        self.info: dict[str, Any] = {}
        #: Posted requests dropped because the worker was not there (yet, or any more).
        self.posts_dropped = 0
        self._channel: Channel | None = None
        self._reading: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1
        self._started = False
        self._closing = False
        self._lost: str | None = None
        self._pid: int | None = None

    @property
    def alive(self) -> bool:
        return self._started and self._lost is None and not self._closing

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def lost_reason(self) -> str | None:
        """Why the worker was lost, or None."""
        return self._lost

    # -- the channel ------------------------------------------------------------------------

    def _attach(self, channel: Channel) -> None:
        self._channel = channel
        self._reading = asyncio.get_running_loop().create_task(self._read(channel))

    async def _read(self, channel: Channel) -> None:
        reason = await channel.run(self._on_message)
        await self._channel_ended(reason)

    async def _channel_ended(self, reason: str) -> None:
        """The channel is gone. A subclass may learn more first (an exit status)."""
        self._lose(reason)

    def _lose(self, reason: str) -> None:
        """The worker is gone: fail what waits for it, and tell (once)."""
        if self._lost is not None:
            return
        self._lost = reason
        if self._channel is not None:
            self._channel.close(reason)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(SfuError(f"worker {self.name} lost: {reason}"))
        if self._started and not self._closing:
            logger.warning("media worker %s lost: %s", self.name, reason)
            self._emit(WorkerLost(reason))

    def _on_message(self, message: dict[str, Any]) -> None:
        if "event" in message:
            event = decode_event(message)
            if isinstance(event, WorkerLost):
                self._lose(event.reason)  # the worker is stopping on its own
            else:
                self._emit(event)
            return
        ident = message.get("id")
        if isinstance(ident, int) and ("result" in message or "error" in message):
            future = self._pending.pop(ident, None)
            if future is None or future.done():
                logger.debug("worker %s: a reply to request %d nobody waits for", self.name, ident)
                return
            if "error" in message:
                future.set_exception(decode_error(message["error"]))
            else:
                future.set_result(message["result"])
            return
        raise ChannelError(f"unexpected message with keys {sorted(map(str, message))[:6]}")

    def _emit(self, event: WorkerEvent) -> None:
        handler = self.on_event
        if handler is None:
            return
        try:
            handler(event)
        except Exception:
            logger.exception("the event handler of media worker %s failed", self.name)

    async def _call(self, method: str, **args: Any) -> Any:
        if self._lost is not None:
            raise SfuError(f"worker {self.name} lost: {self._lost}")
        channel = self._channel
        if channel is None or (not self._started and method != "start"):
            raise SfuError(f"worker {self.name} is not started")
        if self._closing and method != "close":
            raise SfuError(f"worker {self.name} is closed")
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            channel.send({"id": ident, "method": method, "args": args})
            return await future
        finally:
            self._pending.pop(ident, None)

    def _post(self, method: str, **args: Any) -> None:
        channel = self._channel
        if not self.alive or channel is None:
            self.posts_dropped += 1
            return
        try:
            channel.send({"method": method, "args": args})
        except ChannelError as exc:
            self.posts_dropped += 1
            logger.warning("worker %s: %s dropped: %s", self.name, method, exc)

    async def _start_worker(self, config: WorkerConfig | None) -> None:
        """Have the worker start (its adapter self-test included) with ``config``, or with
        its own configuration when None."""
        info = await self._call("start", config=encode_config(config) if config else None)
        if not isinstance(info, dict) or info.get("protocol") != PROTOCOL_VERSION:
            raise WorkerFailure(f"worker {self.name} speaks another protocol: {info!r}")
        self.info = info
        pid = info.get("pid")
        if isinstance(pid, int):
            self._pid = pid
        self._started = True

    async def _stop_worker(self, timeout: float = 10.0) -> None:
        """Ask the worker to close everything and stop, then close the channel."""
        self._closing = True
        if self._lost is None and self._started and self._channel is not None:
            try:
                await asyncio.wait_for(self._call("close"), timeout)
            except (SfuError, WorkerFailure, TimeoutError) as exc:
                logger.warning("media worker %s did not close cleanly: %s", self.name, exc)
        if self._channel is not None:
            self._channel.close("closed")
        if self._reading is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reading), 2.0)
            if not self._reading.done():
                self._reading.cancel()
        self._lose("closed")

    # -- the media port -------------------------------------------------------------------

    async def create_endpoint(
        self,
        endpoint_id: str,
        publish_offer_sdp: str | None,
        *,
        video_slots: int = 9,
        audio_slots: int = 9,
    ) -> EndpointOffer:
        result = await self._call(
            "create_endpoint",
            endpoint_id=endpoint_id,
            publish_offer_sdp=publish_offer_sdp,
            video_slots=video_slots,
            audio_slots=audio_slots,
        )
        return _convert(result, EndpointOffer)

    async def add_publisher(self, endpoint_id: str, publish_offer_sdp: str) -> EndpointOffer:
        result = await self._call(
            "add_publisher", endpoint_id=endpoint_id, publish_offer_sdp=publish_offer_sdp
        )
        return _convert(result, EndpointOffer)

    async def set_subscribe_answer(self, endpoint_id: str, answer_sdp: str) -> None:
        await self._call("set_subscribe_answer", endpoint_id=endpoint_id, answer_sdp=answer_sdp)

    async def close_endpoint(self, endpoint_id: str) -> None:
        await self._call("close_endpoint", endpoint_id=endpoint_id)

    def set_routings(self, plans: Mapping[str, Mapping[str, str | None]]) -> None:
        self._post("set_routings", plans={e: dict(plan) for e, plan in plans.items()})

    def request_keyframe(self, source_id: str) -> None:
        self._post("request_keyframe", source_id=source_id)

    async def open_pipe(
        self, pipe_id: str, bind: tuple[str, int] = ("127.0.0.1", 0)
    ) -> tuple[str, int]:
        result = await self._call("open_pipe", pipe_id=pipe_id, bind=list(bind))
        return _convert(result, tuple[str, int])

    async def connect_pipe(
        self, pipe_id: str, remote: tuple[str, int], keys: tuple[bytes, bytes] | None = None
    ) -> None:
        await self._call(
            "connect_pipe",
            pipe_id=pipe_id,
            remote=list(remote),
            keys=list(keys) if keys is not None else None,
        )

    async def export_source(self, pipe_id: str, source_id: str) -> dict[str, Any]:
        result = await self._call("export_source", pipe_id=pipe_id, source_id=source_id)
        return _convert(result, dict[str, Any])

    async def import_source(self, pipe_id: str, description: Mapping[str, Any]) -> SourceInfo:
        result = await self._call("import_source", pipe_id=pipe_id, description=dict(description))
        return _convert(result, SourceInfo)

    async def unimport_source(self, pipe_id: str, source_id: str) -> None:
        await self._call("unimport_source", pipe_id=pipe_id, source_id=source_id)

    async def close_pipe(self, pipe_id: str) -> None:
        await self._call("close_pipe", pipe_id=pipe_id)

    async def stats(self) -> dict[str, Any]:
        result = await self._call("stats")
        return _convert(result, dict[str, Any])


# ------------------------------------------------------------------------------------------
# The worker's end
# ------------------------------------------------------------------------------------------

#: Requests a control plane may send, answered each (the media port's coroutines).
REQUESTS = frozenset(
    {
        "create_endpoint",
        "add_publisher",
        "set_subscribe_answer",
        "close_endpoint",
        "open_pipe",
        "connect_pipe",
        "export_source",
        "import_source",
        "unimport_source",
        "close_pipe",
        "stats",
    }
)
#: Requests that are posted: no reply (a refused plan comes back as an event).
POSTED = frozenset({"set_routings", "request_keyframe"})
_PLANS = dict[str, dict[str, str | None]]


class PortServer:
    """Serves one media worker to the control plane at the other end of a channel.

    The worker is a :class:`~sfu.port.LocalPort`, created by the ``start`` request (with
    the configuration it carries, or the one given here). Requests start in the order they
    arrive and run concurrently (a negotiation does not hold up a routing change); posted
    requests run at once; events go out as they happen.
    """

    def __init__(self, channel: Channel, name: str, config: WorkerConfig | None = None) -> None:
        self.name = name
        self.port: LocalPort | None = None
        #: True once the control plane asked this worker to close.
        self.closed_by_peer = False
        self._channel = channel
        self._config = config
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> str:
        """Serve until the channel ends; then close the worker. Returns why it ended."""
        try:
            reason = await self._channel.run(self._handle)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self.port is not None:
                await self.port.close()
        return reason

    def stop(self, reason: str) -> None:
        """Stop on this side (a signal): tell the control plane, then end the channel."""
        with contextlib.suppress(ChannelError):
            self._channel.send(encode_event(WorkerLost(reason)))
        self._channel.close(reason)

    async def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        args = message.get("args", {})
        ident = message.get("id")
        if not isinstance(method, str) or not isinstance(args, dict):
            raise ChannelError(f"not a request: keys {sorted(map(str, message))[:6]}")
        if ident is None:
            self._posted(method, args)
            return
        if not isinstance(ident, int):
            raise ChannelError(f"a request id must be an integer, not {ident!r}")
        task = asyncio.get_running_loop().create_task(self._answer(ident, method, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Let the request start (and do what it does before its first wait) before the
        # next message is read: effects keep the order of the requests.
        await asyncio.sleep(0)

    async def _answer(self, ident: int, method: str, args: dict[str, Any]) -> None:
        try:
            result = await self._run(method, args)
            reply: dict[str, Any] = {"id": ident, "result": result}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, (SfuError, SdpError)):
                logger.warning("worker %s: %s failed: %r", self.name, method, exc)
            reply = {"id": ident, "error": encode_error(exc)}
        try:
            self._channel.send(reply)
        except ChannelError as exc:
            if not self._channel.closed:  # the result cannot be a frame: say so instead
                with contextlib.suppress(ChannelError):
                    self._channel.send({"id": ident, "error": encode_error(WorkerFailure(exc))})
        if method == "close" and self.closed_by_peer:
            self._channel.close("closed by the control plane")

    async def _run(self, method: str, args: dict[str, Any]) -> Any:
        if method == "start":
            return await self._start(args.get("config"))
        port = self.port
        if port is None:
            raise SfuError("the worker is not started")
        if method == "close":
            self.closed_by_peer = True
            await port.close()
            return None
        if method not in REQUESTS:
            raise WorkerFailure(f"unknown request {method!r}")
        for key in ("bind", "remote", "keys"):
            if isinstance(args.get(key), list):
                args[key] = tuple(args[key])
        try:
            call = getattr(port, method)(**args)
        except TypeError as exc:
            raise WorkerFailure(f"bad arguments for {method}: {exc}") from exc
        return await call

    async def _start(self, config_data: Any) -> dict[str, Any]:
        if self.port is not None:
            raise SfuError("the worker is already started")
        if config_data is not None:
            config = decode_config(config_data)
        else:
            config = self._config or WorkerConfig()
        port = LocalPort(config, name=self.name)
        port.on_event = self._send_event
        await port.start()  # the adapter self-test
        self.port = port
        addresses = config.host_addresses
        return {
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "host_addresses": list(addresses) if addresses is not None else None,
        }

    def _send_event(self, event: WorkerEvent) -> None:
        with contextlib.suppress(ChannelError):
            self._channel.send(encode_event(event))

    def _posted(self, method: str, args: dict[str, Any]) -> None:
        port = self.port
        if port is None:
            logger.warning("worker %s: %s posted before start, dropped", self.name, method)
            return
        if method == "set_routings":
            try:
                plans = msgspec.convert(args.get("plans"), _PLANS)
            except msgspec.ValidationError as exc:
                logger.error("worker %s: a malformed routing plan, dropped: %s", self.name, exc)
                return
            port.set_routings(plans)
        elif method == "request_keyframe":
            source_id = args.get("source_id")
            if isinstance(source_id, str):
                port.request_keyframe(source_id)
        else:
            logger.warning("worker %s: unknown posted request %r, dropped", self.name, method)
