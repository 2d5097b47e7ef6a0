"""Where media workers on other machines report: a TCP listener on the control plane's side.

A worker started with ``python -m sfu.process --connect HOST:PORT --token T`` connects,
sends a hello with the token, and, once accepted, is handed to ``on_worker`` as a
:class:`RemotePort` (a :class:`~sfu.port.MediaPort`, the same channel client as
:class:`~sfu.process.ProcessPort`). Both ends send heartbeats; a worker whose connection
breaks or goes quiet for 2 s is lost (a :class:`~sfu.port.WorkerLost`), and its process
exits: it does not reconnect.

With ``tls`` (an :class:`ssl.SSLContext` with the server's certificate), the channel is TLS:
the token, the pipes' keys and everything else cross it encrypted, and workers check the
server's certificate (``--tls-ca``). Without it the channel is plain: loopback or a private
network only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
from collections.abc import Callable
from typing import Any

from .channel import (
    HELLO_MAX_FRAME,
    HELLO_TIMEOUT_S,
    PROTOCOL_VERSION,
    Channel,
    ChannelError,
    ChannelPort,
)
from .port import MediaPort

logger = logging.getLogger(__name__)


class RemotePort(ChannelPort):
    """A media worker that connected over TCP. It runs with the configuration its own
    command line gave it (the addresses its machine announces)."""

    def __init__(self, name: str, channel: Channel, hello: dict[str, Any]) -> None:
        super().__init__(name)
        pid = hello.get("pid")
        self._pid = pid if isinstance(pid, int) else None
        #: The worker's hello, without its token.
        self.hello = {key: value for key, value in hello.items() if key != "token"}
        #: The address other workers send this one's pipes to (its machine's).
        pipe_host = hello.get("pipe_host")
        self.pipe_host = pipe_host if isinstance(pipe_host, str) and pipe_host else None
        self._attach(channel)

    async def start(self) -> None:
        await self._start_worker(None)

    async def close(self) -> None:
        """Close every endpoint and pipe; the worker's process then exits. Idempotent."""
        if self._closing:
            return
        await self._stop_worker()


class WorkerRegistry:
    """Listens for media workers on ``host:port`` and hands each one that presents
    ``token`` to ``on_worker`` as a media port, not started yet: set its ``on_event``,
    then ``await port.start()``."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        on_worker: Callable[[MediaPort], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not token:
            raise ValueError("a worker registry needs a token")
        self.host = host
        self.port = port
        self.on_worker = on_worker
        self._token = token.encode()
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._names: dict[str, RemotePort] = {}
        #: Connections refused (a wrong token, no hello).
        self.refused = 0
        #: Where it listens, once started (the port the system chose for port 0).
        self.address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        """Start listening; returns the address."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self._tls)
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        logger.info("media worker registry on %s:%d", *self.address)
        return self.address

    async def close(self) -> None:
        """Stop listening. Workers handed out stay with whoever has their port."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._handshakes):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handshakes.add(task)
        try:
            await self._handshake(reader, writer)
        finally:
            if task is not None:
                self._handshakes.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        channel = Channel(reader, writer, name=where)
        try:
            message = await asyncio.wait_for(channel.receive(HELLO_MAX_FRAME), HELLO_TIMEOUT_S)
        except (ChannelError, TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            self.refused += 1
            logger.warning("media worker connection from %s: no hello (%r)", where, exc)
            channel.close("no hello")
            return
        hello = message.get("hello")
        refusal = self._refusal(hello)
        if refusal is not None or not isinstance(hello, dict):
            self.refused += 1
            reason = refusal or "no hello"
            logger.warning("refused a media worker from %s: %s", where, reason)
            with contextlib.suppress(ChannelError):
                channel.send({"refused": reason})
            await channel.drain()
            channel.close(reason)
            return
        name = self._name(hello, where)
        channel.name = name
        try:
            channel.send({"welcome": {"name": name}})
        except ChannelError:
            return
        channel.start_heartbeat()
        port = RemotePort(name, channel, hello)
        self._names[name] = port
        logger.info("media worker %s connected from %s (pid %s)", name, where, port.pid)
        try:
            self.on_worker(port)
        except Exception:
            logger.exception("on_worker failed for media worker %s", name)
            await port.close()

    def _refusal(self, hello: Any) -> str | None:
        if not isinstance(hello, dict):
            return "the first message must be a hello"
        token = hello.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
            return "wrong token"
        if hello.get("protocol") != PROTOCOL_VERSION:
            return f"protocol {hello.get('protocol')!r} is not {PROTOCOL_VERSION}"
        return None

    def _name(self, hello: dict[str, Any], where: str) -> str:
        """The worker's own name unless a live worker has it already."""
        name = hello.get("name")
        if not isinstance(name, str) or not name:
            name = where
        taken = self._names.get(name)
        if taken is not None and taken.lost_reason is None:
            name = f"{name}/{hello.get('pid')}"
        return name
