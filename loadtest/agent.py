"""``python -m loadtest agent --connect URL``: bot workers on this machine for a run
coordinated from another one.

A run started with ``--agents N`` waits for N agents before its bots start. An agent
connects to the coordinator (retrying for ``--wait`` seconds, so it may be started first),
says hello with the run's token, learns the run (the server's URL, the run id, the kind of
bots), sets its clock to the coordinator's and starts ``--processes`` bot worker processes,
the same as the coordinator starts for itself (see :mod:`loadtest.workers`). It then
carries the coordinator's commands to its workers and their replies back, until the
coordinator says stop or goes away; it then stops its workers and exits.

The clock: every time a bot notes is a reading of :func:`loadtest.clock.now`. On the
coordinator's machine (the same boot id) CLOCK_MONOTONIC is shared and the offset is 0.
Elsewhere the agent asks the coordinator for its clock a few times and keeps the answer
with the shortest round trip: offset = coordinator's time + round trip / 2 - local time of
arrival, known to within half that round trip (the uncertainty, given in the report).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from loadtest.agentwire import (
    CLOSE_PROTOCOL,
    DEFAULT_PORT,
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
    decode_from_coordinator,
    encode,
)
from loadtest.procstat import boot_id
from loadtest.workers import ProcessLink, WorkerFailed

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

CLOCK_SAMPLES = 8
REPLY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def agent_url(text: str) -> str:
    """The coordinator's channel as a ``ws://`` URL, from ``ws://HOST:PORT/agent``,
    ``http://HOST:PORT`` or ``HOST[:PORT]`` (port 7870 when none is given)."""
    text = text.strip()
    bare = "://" not in text
    parts = urlsplit(f"ws://{text}" if bare else text)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"{text!r}: expected ws://HOST:PORT{PATH} or HOST:PORT")
    if not parts.hostname:
        raise ValueError(f"{text!r}: no host")
    port = parts.port  # raises ValueError for a port that is not a number
    netloc = parts.netloc
    if bare and port is None:
        netloc = f"{netloc}:{DEFAULT_PORT}"
    path = parts.path if parts.path not in ("", "/") else PATH
    return urlunsplit((scheme, netloc, path, "", ""))


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """Seconds to add to this machine's clock to read the coordinator's, within
    ``uncertainty`` seconds either way."""

    offset: float
    uncertainty: float


def estimate_offset(samples: Iterable[tuple[float, float, float]]) -> ClockEstimate:
    """From (local send time, coordinator's time, local arrival time) of each ping: the
    estimate of the sample with the shortest round trip."""
    sent, remote, received = min(samples, key=lambda sample: sample[2] - sample[0])
    half_trip = (received - sent) / 2
    return ClockEstimate(offset=remote + half_trip - received, uncertainty=half_trip)


def check_fleet(spec: str) -> None:
    """Run only bot classes of this package: the coordinator names the class to import."""
    from loadtest.bots import BotFleet

    module_name, _, class_name = spec.partition(":")
    names = module_name.split(".")
    if names[0] != "loadtest" or not all(n.isidentifier() for n in names) or not class_name:
        raise ValueError(f"{spec!r} is not a bot class of the loadtest package")
    fleet_class = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(fleet_class, type) and issubclass(fleet_class, BotFleet)):
        raise ValueError(f"{spec!r} is not a bot class of the loadtest package")


def say(text: str) -> None:
    print(f"agent: {text}", file=sys.stderr, flush=True)


class _Refused(Exception):
    """The coordinator would not have this agent (or is not a coordinator)."""


class _Stopped(Exception):
    """The coordinator said stop before the workers started (its run ended early)."""


class Agent:
    """One connection to a coordinator and the worker processes started for it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, processes: int) -> None:
        self.ws = ws
        self.processes = processes
        self.links: list[ProcessLink] = []
        self._ended: list[asyncio.Event] = []
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def run(self, token: str) -> int:
        """Join the run, serve it, stop; returns the exit status."""
        try:
            welcome = await self._join(token)
            check_fleet(welcome.fleet)
            same_machine = bool(welcome.boot_id) and welcome.boot_id == boot_id()
            estimate = ClockEstimate(0.0, 0.0) if same_machine else await self._measure_clock()
            await self.ws.send_bytes(
                encode(Clock(offset=estimate.offset, uncertainty=estimate.uncertainty))
            )
        except _Refused as exc:
            say(f"refused: {exc}")
            return EXIT_FAILED
        except _Stopped as exc:
            say(f"the coordinator says stop: {exc}")
            await self.ws.close()
            return EXIT_OK
        except (ChannelError, ValueError) as exc:
            say(f"cannot take part: {exc}")
            await self.ws.close(code=CLOSE_PROTOCOL, message=str(exc).encode()[:120])
            return EXIT_FAILED
        writer = asyncio.get_running_loop().create_task(self._write())
        try:
            for index in range(self.processes):
                self._ended.append(asyncio.Event())
                self.links.append(
                    ProcessLink.start(
                        welcome.first_worker + index,
                        welcome.base_url,
                        welcome.run_id,
                        welcome.fleet,
                        estimate.offset,
                        functools.partial(self._relay, index),
                    )
                )
            where = "on the coordinator's machine" if same_machine else "here"
            say(
                f"run {welcome.run_id}: {self.processes} bot workers {where} "
                f"(ids {welcome.first_worker}-{welcome.first_worker + self.processes - 1}) "
                f"driving {welcome.base_url}; clock offset {estimate.offset * 1e3:+.3f} ms "
                f"+/- {estimate.uncertainty * 1e3:.3f} ms"
            )
            return await self._carry()
        finally:
            await self._stop_workers()
            self._outbox.put_nowait(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(writer, REPLY_TIMEOUT_S)
            await self.ws.close()

    async def _join(self, token: str) -> Welcome:
        hello = Hello(
            token=token,
            version=PROTOCOL_VERSION,
            host=socket.gethostname(),
            pid=os.getpid(),
            boot_id=boot_id(),
            processes=self.processes,
        )
        await self.ws.send_bytes(encode(hello))
        message = await self._receive()
        if not isinstance(message, Welcome):
            raise ChannelError(f"expected a welcome, got a {type(message).__name__.lower()}")
        return message

    async def _receive(self) -> Welcome | Pong:
        """The next message, during the exchanges before the workers start."""
        while True:
            try:
                frame = await self.ws.receive(timeout=REPLY_TIMEOUT_S)
            except TimeoutError as exc:
                raise ChannelError(f"no answer within {REPLY_TIMEOUT_S:g} s") from exc
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                reason = frame.extra or "the connection was closed"
                raise _Refused(f"{reason} (code {frame.data})")
            if frame.type != aiohttp.WSMsgType.BINARY:
                raise _Refused(f"the connection ended ({frame.type.name.lower()})")
            message = decode_from_coordinator(frame.data)
            if isinstance(message, Stop):
                raise _Stopped(message.reason)
            # Before its workers start, a command for them can only be the pool ending the
            # run early ("exit"): there is nothing to end yet.
            if not isinstance(message, ToWorker):
                return message

    async def _measure_clock(self) -> ClockEstimate:
        samples = []
        for n in range(CLOCK_SAMPLES):
            sent = time.perf_counter()
            await self.ws.send_bytes(encode(Ping(n=n)))
            message = await self._receive()
            received = time.perf_counter()
            if not isinstance(message, Pong) or message.n != n:
                raise ChannelError(f"expected pong {n}, got {message!r}")
            samples.append((sent, message.t, received))
        return estimate_offset(samples)

    async def _carry(self) -> int:
        """Commands to the workers until the coordinator says stop; returns the exit status."""
        ws = self.ws
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.ERROR:
                    break
                if frame.type != aiohttp.WSMsgType.BINARY:
                    raise ChannelError(f"a {frame.type.name.lower()} frame")
                message = decode_from_coordinator(frame.data)
                if isinstance(message, ToWorker):
                    self._to_worker(message.worker, message.message)
                elif isinstance(message, Stop):
                    say(f"the coordinator says stop: {message.reason}")
                    return EXIT_OK
                elif not isinstance(message, Pong):  # a late answer to a ping
                    raise ChannelError(f"unexpected {type(message).__name__.lower()}")
        except ChannelError as exc:
            say(f"protocol error: {exc}")
            await ws.close(code=CLOSE_PROTOCOL, message=str(exc).encode()[:120])
            return EXIT_FAILED
        if ws.close_code in (aiohttp.WSCloseCode.OK, aiohttp.WSCloseCode.GOING_AWAY):
            say("the coordinator closed the connection")
            return EXIT_OK
        say(f"lost the coordinator (close code {ws.close_code}, {ws.exception() or 'no error'})")
        return EXIT_FAILED

    def _to_worker(self, index: int, message: dict[str, Any]) -> None:
        if not 0 <= index < len(self.links):
            raise ChannelError(f"no worker {index} here")
        try:
            self.links[index].send(message)
        except WorkerFailed as exc:
            # The worker is gone: its pipe's end reaches the coordinator as worker_exited,
            # which fails the command there.
            log.debug("worker %d: %s", index, exc)

    def _relay(self, index: int, message: dict[str, Any] | None) -> None:
        """A worker's message, in this loop: on to the coordinator."""
        if message is None:
            self._ended[index].set()
            self._outbox.put_nowait(encode(WorkerExited(worker=index)))
            return
        try:
            data = encode(FromWorker(worker=index, message=message))
        except ChannelError as exc:
            seq = message.get("seq")
            if not isinstance(seq, int):
                log.warning("worker %d: a message that cannot be sent: %s", index, exc)
                return
            error = {
                "type": "error",
                "seq": seq,
                "message": f"the result cannot be sent to the coordinator: {exc}",
            }
            data = encode(FromWorker(worker=index, message=error))
        self._outbox.put_nowait(data)

    async def _write(self) -> None:
        while True:
            data = await self._outbox.get()
            if data is None:
                return
            try:
                await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("cannot send: %s", exc)
                return

    async def _stop_workers(self) -> None:
        for link in self.links:
            with contextlib.suppress(WorkerFailed):
                link.send({"cmd": "exit"})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                for ended in self._ended:
                    await ended.wait()
        await asyncio.gather(*(link.close() for link in self.links))


async def _connect(
    session: aiohttp.ClientSession, url: str, wait: float
) -> aiohttp.ClientWebSocketResponse | None:
    """Connect to the coordinator, trying again for ``wait`` seconds."""
    deadline = time.monotonic() + wait
    waiting = False
    while True:
        try:
            return await session.ws_connect(
                url, max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_S
            )
        except aiohttp.WSServerHandshakeError as exc:
            say(f"{url} is not a load-test coordinator (HTTP {exc.status})")
            return None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                say(f"no coordinator at {url} within {wait:g} s ({exc})")
                return None
            if not waiting:
                say(f"waiting up to {wait:g} s for the coordinator at {url}")
                waiting = True
            await asyncio.sleep(min(0.5, remaining))


async def run_agent(connect: str, token: str, processes: int, wait: float) -> int:
    """The agent command; returns its exit status."""
    url = agent_url(connect)
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            ws = await _connect(session, url, wait)
            if ws is None:
                return EXIT_FAILED
            return await Agent(ws, processes).run(token)
    except asyncio.CancelledError:
        say("interrupted")
        return EXIT_INTERRUPTED
