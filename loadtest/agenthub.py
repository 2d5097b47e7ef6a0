"""Where agents connect: the coordinator's end of the channel (see :mod:`loadtest.agentwire`).

The coordinator of a run with ``--agents N`` listens on ``ws://HOST:PORT/agent``. An agent
says hello with the token; the hub admits the first N that know it, numbers their workers
after the local ones and tells each the run (target URL, run id, bot class). From then on
an :class:`AgentConnection` carries its workers' messages to the pool and the pool's
commands to its workers, as a pipe does for a worker on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from loadtest import clock
from loadtest.agentwire import (
    CLOSE_PROTOCOL,
    CLOSE_REFUSED,
    HEARTBEAT_S,
    MAX_MESSAGE_BYTES,
    PATH,
    PROTOCOL_VERSION,
    ChannelError,
    Clock,
    FromWorker,
    Hello,
    Ping,
    Pong,
    Stop,
    ToWorker,
    Welcome,
    WorkerExited,
    decode_from_agent,
    encode,
)
from loadtest.procstat import boot_id
from loadtest.workers import WorkerFailed

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
MAX_PROCESSES = 4096

WorkerDeliver = Callable[[int, dict[str, Any] | None], None]


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class AgentConnection:
    """One admitted agent: its workers, its clock, and the socket to it.

    The pool's workers ``first_worker`` .. ``first_worker + processes - 1`` are this agent's
    workers 0 .. ``processes - 1``. Messages of its workers that arrive before the pool
    attaches are kept and handed over then.
    """

    def __init__(
        self, ws: web.WebSocketResponse, hello: Hello, first_worker: int, same_machine: bool
    ) -> None:
        self.name = hello.host[:255]
        self.pid = hello.pid
        self.processes = hello.processes
        self.first_worker = first_worker
        # Same boot of the same kernel: one CLOCK_MONOTONIC and one /proc.
        self.same_machine = same_machine
        self.clock_offset: float | None = 0.0 if same_machine else None
        self.clock_uncertainty: float | None = 0.0 if same_machine else None
        self.ended = asyncio.Event()
        self._ws = ws
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._deliver: WorkerDeliver | None = None
        self._backlog: list[tuple[int, dict[str, Any] | None]] = []
        self._exited: set[int] = set()

    # ------------------------------------------------------------------ the pool's side

    def attach(self, deliver: WorkerDeliver) -> None:
        self._deliver = deliver
        backlog, self._backlog = self._backlog, []
        for index, message in backlog:
            deliver(index, message)

    def send(self, index: int, message: dict[str, Any]) -> None:
        if self.ended.is_set():
            raise WorkerFailed(f"agent {self.name} is gone")
        try:
            data = encode(ToWorker(worker=index, message=message))
        except ChannelError as exc:
            raise WorkerFailed(f"the command cannot be sent to agent {self.name}: {exc}") from exc
        self._outbox.put_nowait(data)

    def stop(self, reason: str) -> None:
        """Ask the agent to stop its workers and go; it closes the connection when done."""
        if not self.ended.is_set():
            self._outbox.put_nowait(encode(Stop(reason=reason)))

    def describe(self) -> dict[str, Any]:
        """The agent, for the report."""
        return {
            "host": self.name,
            "pid": self.pid,
            "processes": self.processes,
            "first_worker": self.first_worker,
            "same_machine": self.same_machine,
            "clock_offset_s": _round(self.clock_offset),
            "clock_uncertainty_s": _round(self.clock_uncertainty),
        }

    # ------------------------------------------------------------------ the socket's side

    def post(self, message: Welcome | Pong) -> None:
        self._outbox.put_nowait(encode(message))

    async def serve(self) -> None:
        """Carry messages until the agent goes; then its workers count as exited."""
        writer = asyncio.get_running_loop().create_task(self._write())
        try:
            async for frame in self._ws:
                if frame.type == WSMsgType.ERROR:
                    log.warning("agent %s: %s", self.name, self._ws.exception())
                    break
                if frame.type != WSMsgType.BINARY:
                    raise ChannelError(f"a {frame.type.name.lower()} frame")
                self._handle(decode_from_agent(frame.data))
        except ChannelError as exc:
            log.warning("agent %s: %s", self.name, exc)
            await self._ws.close(code=CLOSE_PROTOCOL, message=_reason(f"protocol error: {exc}"))
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._end()

    async def _write(self) -> None:
        while True:
            data = await self._outbox.get()
            try:
                await self._ws.send_bytes(data)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("agent %s: cannot send: %s", self.name, exc)
                return

    def _handle(self, message: Any) -> None:
        if isinstance(message, FromWorker):
            self._forward(self._index(message.worker), message.message)
        elif isinstance(message, Ping):
            self.post(Pong(n=message.n, t=clock.now()))
        elif isinstance(message, WorkerExited):
            index = self._index(message.worker)
            if index not in self._exited:
                self._exited.add(index)
                self._forward(index, None)
        elif isinstance(message, Clock):
            if not self.same_machine:
                self.clock_offset, self.clock_uncertainty = message.offset, message.uncertainty
        else:
            raise ChannelError(f"unexpected {type(message).__name__.lower()}")

    def _index(self, index: int) -> int:
        if not 0 <= index < self.processes:
            raise ChannelError(f"worker {index} of an agent with {self.processes}")
        return index

    def _forward(self, index: int, message: dict[str, Any] | None) -> None:
        if self._deliver is None:
            self._backlog.append((index, message))
            return
        try:
            self._deliver(index, message)
        except Exception:
            # As for a local worker's message (a loop callback): logged, the channel goes on.
            log.exception("agent %s, worker %d: handling a message failed", self.name, index)

    def _end(self) -> None:
        self.ended.set()
        for index in range(self.processes):
            if index not in self._exited:
                self._exited.add(index)
                self._forward(index, None)


class AgentHub:
    """The coordinator's listener for agents: admits ``expected`` agents that know ``token``.

    ``announce`` shows the operator who joined or was refused.
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        expected: int,
        *,
        base_url: str,
        run_id: str,
        fleet: str,
        first_worker: int,
        announce: Callable[[str], None] = print,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.expected = expected
        self.base_url = base_url
        self.run_id = run_id
        self.fleet = fleet
        self.first_worker = first_worker
        self.announce = announce
        self.agents: list[AgentConnection] = []
        # The coordinator's machine, as agents tell theirs apart from it.
        self.boot_id = boot_id()
        self._complete = asyncio.Event()
        self._closing = False
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where agents connect; a wildcard address is given as this machine's name."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}{PATH}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise WorkerFailed(
                f"cannot listen for agents on {self.host}:{self.port}: {exc}"
            ) from exc
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])

    async def gather(self, timeout: float) -> list[AgentConnection]:
        """Wait until every expected agent has joined."""
        try:
            async with asyncio.timeout(timeout):
                await self._complete.wait()
        except TimeoutError as exc:
            raise WorkerFailed(
                f"{len(self.agents)} of {self.expected} agents joined within {timeout:g} s "
                f"(--agent-wait); agents connect to {self.url}"
            ) from exc
        return list(self.agents)

    async def stop(self, timeout: float = 15.0) -> None:
        """Tell every agent to stop, give them ``timeout`` s to go, then close what is left."""
        self._closing = True
        for agent in self.agents:
            agent.stop("the run is over")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for agent in self.agents:
                    await agent.ended.wait()
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the run is over")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_S)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            try:
                agent = await self._admit(ws)
            except _Refused as refused:
                self.announce(f"refused an agent from {request.remote}: {refused.reason}")
                await ws.close(code=refused.code, message=_reason(refused.reason))
                return ws
            if agent is not None:
                await agent.serve()
        finally:
            self._sockets.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws

    async def _admit(self, ws: web.WebSocketResponse) -> AgentConnection | None:
        try:
            frame = await ws.receive(timeout=HELLO_TIMEOUT_S)
        except TimeoutError as exc:
            raise _Refused(CLOSE_PROTOCOL, f"no hello within {HELLO_TIMEOUT_S:g} s") from exc
        if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return None
        if frame.type != WSMsgType.BINARY:
            raise _Refused(CLOSE_PROTOCOL, "expected a hello")
        try:
            hello = decode_from_agent(frame.data)
        except ChannelError as exc:
            raise _Refused(CLOSE_PROTOCOL, f"expected a hello: {exc}") from exc
        if not isinstance(hello, Hello):
            raise _Refused(CLOSE_PROTOCOL, "expected a hello")
        if not hmac.compare_digest(hello.token.encode(), self.token.encode()):
            raise _Refused(CLOSE_REFUSED, "wrong token")
        if hello.version != PROTOCOL_VERSION:
            raise _Refused(
                CLOSE_REFUSED,
                f"agent protocol version {hello.version}, the coordinator's is {PROTOCOL_VERSION}",
            )
        if not 1 <= hello.processes <= MAX_PROCESSES:
            raise _Refused(CLOSE_PROTOCOL, f"{hello.processes} processes")
        if self._closing or len(self.agents) >= self.expected:
            raise _Refused(CLOSE_REFUSED, f"the run has all its {self.expected} agents")
        first = self.first_worker + sum(agent.processes for agent in self.agents)
        same_machine = bool(hello.boot_id) and hello.boot_id == self.boot_id
        agent = AgentConnection(ws, hello, first, same_machine)
        self.agents.append(agent)
        agent.post(
            Welcome(
                run_id=self.run_id,
                base_url=self.base_url,
                fleet=self.fleet,
                first_worker=first,
                boot_id=self.boot_id,
            )
        )
        where = "this machine" if same_machine else agent.name
        self.announce(
            f"agent {len(self.agents)} of {self.expected} joined: {hello.processes} bot "
            f"processes on {where}"
        )
        if len(self.agents) == self.expected:
            self._complete.set()
        return agent


def _reason(text: str) -> bytes:
    """A close reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore").encode()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
