"""Bot worker processes and the pool that drives them.

The machine's cores are shared between the server and the bots, and one Python process
cannot use more than one core, so bots are split over worker processes. The coordinator
reaches each worker through a link: a pipe to a process on this machine, or the connection
to an agent that started the worker on another machine (see :mod:`loadtest.agent`). The
messages are the same either way:

- coordinator -> worker: ``{"seq": n, "cmd": name, "args": {...}}`` runs
  ``BotFleet.<name>(**args)``, a public coroutine of the fleet; ``{"cmd": "exit"}`` ends
  the worker.
- worker -> coordinator: ``{"type": "ready", "pid": pid}`` once, ``{"type": "progress",
  "counters": ...}`` a few times a second, and ``{"type": "result" | "error", "seq": n, ...}``
  per command.

A worker whose coordinator goes away (the pipe closes) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import logging
import multiprocessing as mp
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

from loadtest import clock

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25

# The class whose commands a worker runs, as "module:Class". Scenarios with other kinds of
# bots (media bots) name a subclass of :class:`loadtest.bots.BotFleet` with :func:`use_fleet`
# before the pool starts.
_fleet = "loadtest.bots:BotFleet"

# What a worker sends up, and what the pool hands to ``_deliver``: a message, or None when
# the worker has gone.
Deliver = Callable[[dict[str, Any] | None], None]


def use_fleet(spec: str) -> None:
    """Workers started from now on run ``spec`` ("module:Class") instead of BotFleet."""
    global _fleet
    _fleet = spec


def fleet_spec() -> str:
    """The class workers started now run, as "module:Class"."""
    return _fleet


class WorkerFailed(Exception):
    """A worker process died or a command failed in it."""


def _raise_file_limit() -> None:
    """Every bot holds a socket: allow as many open files as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(
    conn: Connection,
    worker_id: int,
    base_url: str,
    run_id: str,
    fleet: str = _fleet,
    clock_offset: float = 0.0,
) -> None:
    """Entry point of a worker process.

    ``clock_offset`` makes this process's clock the coordinator's (zero on its machine).
    """
    import uvloop

    clock.set_offset(clock_offset)
    _raise_file_limit()
    logging.basicConfig(level=logging.WARNING)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(conn, worker_id, base_url, run_id, fleet))


def _read_pipe(conn: Connection, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
    """Read messages from ``conn`` in a thread of their own and hand them to ``loop``.

    Pipes are read with blocking calls in a thread rather than watched by the event loop:
    a loop may switch the descriptor to non-blocking mode (uvloop does), and a large message
    written to a non-blocking pipe would then be cut short. ``None`` means the pipe closed.
    """
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        try:
            loop.call_soon_threadsafe(deliver, message)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return
        if message is None:
            return


def fleet_command(fleet: object, name: object) -> Callable[..., Any]:
    """The fleet's command ``name``: one of its public coroutine methods, nothing else.

    Commands may come from another machine, so a name starting with "_" (internals, dunder
    methods) or naming anything but a coroutine method is refused.
    """
    if not isinstance(name, str) or not name or name.startswith("_"):
        raise LookupError(f"{name!r} is not a command of {type(fleet).__name__}")
    method = getattr(fleet, name, None)
    if not inspect.ismethod(method) or not inspect.iscoroutinefunction(method):
        raise LookupError(f"{name!r} is not a command of {type(fleet).__name__}")
    return method


async def _serve(
    conn: Connection, worker_id: int, base_url: str, run_id: str, fleet_spec: str
) -> None:
    module_name, _, class_name = fleet_spec.partition(":")
    fleet_class = getattr(importlib.import_module(module_name), class_name)

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    reader = threading.Thread(
        target=_read_pipe,
        args=(conn, loop, commands.put_nowait),
        name="pipe-reader",
        daemon=True,
    )
    reader.start()
    fleet = fleet_class(worker_id, base_url, run_id)
    alive = True

    def send(message: dict[str, Any]) -> None:
        nonlocal alive
        if not alive:
            return
        try:
            conn.send(message)
        except (BrokenPipeError, OSError):
            alive = False

    async def report_progress() -> None:
        while alive:
            send({"type": "progress", "counters": fleet.progress()})
            await asyncio.sleep(PROGRESS_INTERVAL_S)

    async def run(seq: int, name: object, args: object) -> None:
        try:
            method = fleet_command(fleet, name)
            if not isinstance(args, dict):
                raise TypeError(f"the arguments of {name} are not a mapping")
            data = await method(**args)
        except Exception as exc:
            send(
                {
                    "type": "error",
                    "seq": seq,
                    "message": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
            return
        send({"type": "result", "seq": seq, "data": data})

    ticker = loop.create_task(report_progress())
    tasks: set[asyncio.Task[None]] = set()
    send({"type": "ready", "pid": os.getpid()})
    try:
        while True:
            command = await commands.get()
            if command is None or command.get("cmd") == "exit":
                break
            seq = command.get("seq")
            if not isinstance(seq, int):
                log.warning("worker %d: a command without a sequence number", worker_id)
                continue
            task = loop.create_task(run(seq, command.get("cmd"), command.get("args", {})))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fleet.close(), timeout=10.0)
        if alive:
            send({"type": "progress", "counters": fleet.progress()})
        alive = False
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        # Closing our end makes the coordinator's reader see the end of the pipe.
        conn.close()


# ---------------------------------------------------------------------- links


class WorkerLink(Protocol):
    """How the pool reaches one worker."""

    where: str  # for messages: "" on this machine, " on agent HOST" elsewhere

    def send(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to the worker; raises :class:`WorkerFailed` when it is gone."""
        ...

    async def close(self) -> None:
        """After the worker has ended (or was given up on): release what the link holds."""
        ...


class ProcessLink:
    """A worker process on this machine and the pipe to it."""

    where = ""

    def __init__(self, process: Any, conn: Connection, reader: threading.Thread) -> None:
        self.process = process
        self.conn = conn
        self.reader = reader
        self.pid: int = process.pid

    @classmethod
    def start(
        cls,
        worker_id: int,
        base_url: str,
        run_id: str,
        fleet: str,
        clock_offset: float,
        deliver: Deliver,
    ) -> ProcessLink:
        """Start a worker process; its messages go to ``deliver`` in the running loop."""
        loop = asyncio.get_running_loop()
        # "spawn": a fresh interpreter per worker, nothing inherited from this process's loop.
        context = mp.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(
            target=worker_main,
            args=(child, worker_id, base_url, run_id, fleet, clock_offset),
            name=f"loadtest-worker-{worker_id}",
            daemon=True,
        )
        process.start()
        child.close()
        reader = threading.Thread(
            target=_read_pipe,
            args=(parent, loop, deliver),
            name=f"pipe-reader-{worker_id}",
            daemon=True,
        )
        reader.start()
        return cls(process, parent, reader)

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailed(f"its pipe is closed ({exc})") from exc

    async def close(self) -> None:
        process = self.process
        await asyncio.to_thread(process.join, 5.0)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5.0)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5.0)
        # The worker is gone, so the reader thread has seen the end of its pipe.
        await asyncio.to_thread(self.reader.join, 5.0)
        self.conn.close()


class WorkerHost(Protocol):
    """Worker processes on another machine, reached through one connection (an agent's).

    Its workers are ``first_worker`` .. ``first_worker + processes - 1`` in the pool, and
    ``index`` below counts from 0 on the host.
    """

    name: str
    first_worker: int
    processes: int

    def attach(self, deliver: Callable[[int, dict[str, Any] | None], None]) -> None:
        """From now on hand every worker message (None: the worker is gone) to ``deliver``."""
        ...

    def send(self, index: int, message: dict[str, Any]) -> None:
        """Raises :class:`WorkerFailed` when the host cannot be reached."""
        ...


class WorkerHosts(Protocol):
    """Where remote workers come from: agents connecting to the coordinator."""

    async def gather(self, timeout: float) -> Sequence[WorkerHost]:
        """Wait for every expected host; raises :class:`WorkerFailed` when they do not come."""
        ...

    async def stop(self) -> None:
        """Tell every host to stop its workers; close the connections."""
        ...


class HostLink:
    """A worker on another machine: a host's connection and the worker's index there."""

    def __init__(self, host: WorkerHost, index: int) -> None:
        self.host = host
        self.index = index
        self.where = f" on agent {host.name}"

    def send(self, message: dict[str, Any]) -> None:
        self.host.send(self.index, message)

    async def close(self) -> None:
        """Nothing to do here: the host ends its own processes when told to stop."""


# ---------------------------------------------------------------------- the pool


class WorkerPool:
    """``processes`` worker processes on this machine, then those of each agent.

    Worker ids are global: local workers first, then each agent's in the order they
    connected. :attr:`count` (all of them) is known once :meth:`start` returns.
    ``on_progress`` is called (in the coordinator's event loop) whenever a worker reports its
    counters; :meth:`totals` adds them up.
    """

    def __init__(
        self,
        processes: int,
        base_url: str,
        run_id: str,
        on_progress: Callable[[], None] | None = None,
        agents: WorkerHosts | None = None,
    ) -> None:
        self.processes = processes
        self.count = processes
        self.base_url = base_url
        self.run_id = run_id
        self.on_progress = on_progress
        self.agents = agents
        self.hosts: list[WorkerHost] = []
        self.counters: list[dict[str, int]] = [{} for _ in range(processes)]
        # The pid of each worker (on its own machine), once started.
        self.pids: list[int] = []
        self._links: list[WorkerLink] = []
        self._ready: list[asyncio.Future[int]] = []
        self._ended: list[asyncio.Event] = []
        self._pending: dict[int, tuple[int, asyncio.Future[Any]]] = {}
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, timeout: float = 30.0, agent_wait: float = 120.0) -> None:
        """Start the local workers, wait up to ``agent_wait`` s for the agents, then up to
        ``timeout`` s for every worker to be ready."""
        self._loop = asyncio.get_running_loop()
        fleet = fleet_spec()
        for worker_id in range(self.processes):
            deliver = functools.partial(self._deliver, worker_id)
            self._add(ProcessLink.start(worker_id, self.base_url, self.run_id, fleet, 0.0, deliver))
        if self.agents is not None:
            self.hosts = list(await self.agents.gather(agent_wait))
            for host in self.hosts:
                if host.first_worker != len(self._links):
                    raise WorkerFailed(
                        f"agent {host.name}: its workers were numbered from {host.first_worker}, "
                        f"expected {len(self._links)}"
                    )
                for index in range(host.processes):
                    self._add(HostLink(host, index))
                host.attach(functools.partial(self._deliver_from, host.first_worker))
        self.count = len(self._links)
        try:
            async with asyncio.timeout(timeout):
                self.pids = list(await asyncio.gather(*self._ready))
        except TimeoutError as exc:
            raise WorkerFailed(f"bot workers did not start within {timeout:.0f} s") from exc

    def _add(self, link: WorkerLink) -> None:
        """Register a worker; its messages may arrive from now on (an agent's backlog is
        handed over as soon as it is attached)."""
        assert self._loop is not None
        self._links.append(link)
        if len(self.counters) < len(self._links):
            self.counters.append({})
        self._ready.append(self._loop.create_future())
        self._ended.append(asyncio.Event())

    def _deliver_from(self, first: int, index: int, message: dict[str, Any] | None) -> None:
        self._deliver(first + index, message)

    def _deliver(self, worker_id: int, message: dict[str, Any] | None) -> None:
        if message is None:
            self._lost(worker_id)
            return
        kind = message.get("type")
        if kind == "progress":
            self.counters[worker_id] = message["counters"]
            if self.on_progress is not None:
                self.on_progress()
        elif kind == "ready":
            ready = self._ready[worker_id]
            if not ready.done():
                ready.set_result(int(message["pid"]))
        elif kind in ("result", "error"):
            entry = self._pending.pop(message["seq"], None)
            if entry is None or entry[1].done():
                return
            if kind == "result":
                entry[1].set_result(message["data"])
            else:
                log.debug("worker %d: %s", worker_id, message.get("traceback"))
                entry[1].set_exception(WorkerFailed(f"worker {worker_id}: {message['message']}"))

    def _lost(self, worker_id: int) -> None:
        self._ended[worker_id].set()
        error = WorkerFailed(f"bot worker {worker_id}{self._links[worker_id].where} exited")
        ready = self._ready[worker_id]
        if not ready.done():
            ready.set_exception(error)
        for seq, (owner, future) in list(self._pending.items()):
            if owner == worker_id and not future.done():
                future.set_exception(error)
                del self._pending[seq]

    def call(self, worker_id: int, cmd: str, **args: Any) -> asyncio.Future[Any]:
        """Run ``BotFleet.<cmd>(**args)`` in one worker; the future resolves to its result."""
        assert self._loop is not None, "start the pool first"
        self._seq += 1
        future: asyncio.Future[Any] = self._loop.create_future()
        link = self._links[worker_id]
        if self._ended[worker_id].is_set():
            future.set_exception(WorkerFailed(f"bot worker {worker_id}{link.where} exited"))
            return future
        self._pending[self._seq] = (worker_id, future)
        try:
            link.send({"seq": self._seq, "cmd": cmd, "args": args})
        except WorkerFailed as exc:
            self._pending.pop(self._seq, None)
            future.set_exception(WorkerFailed(f"bot worker {worker_id}: {exc}"))
        return future

    async def call_all(self, cmd: str, args: Sequence[dict[str, Any]] | None = None) -> list[Any]:
        """Run a command in every worker (``args[i]`` for worker ``i``) and gather the results."""
        per_worker = args if args is not None else [{} for _ in range(self.count)]
        return list(
            await asyncio.gather(*(self.call(i, cmd, **per_worker[i]) for i in range(self.count)))
        )

    def totals(self) -> dict[str, int]:
        """Counters added up over the workers."""
        total: dict[str, int] = {}
        for counters in self.counters:
            for key, value in counters.items():
                total[key] = total.get(key, 0) + value
        return total

    async def stop(self, timeout: float = 15.0) -> None:
        """Ask every worker to close its bots and exit; end those that do not, and the
        agents' connections."""
        for link in self._links:
            with contextlib.suppress(WorkerFailed):
                link.send({"cmd": "exit"})
        deadline = time.monotonic() + timeout
        for ended in self._ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), remaining)
        await asyncio.gather(*(link.close() for link in self._links))
        if self.agents is not None:
            await self.agents.stop()
        for future in [entry[1] for entry in self._pending.values()]:
            if not future.done():
                future.set_exception(WorkerFailed("the pool was stopped"))
        self._pending.clear()
