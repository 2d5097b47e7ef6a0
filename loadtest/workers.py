"""Bot worker processes and the pool that drives them.

The machine's cores are shared between the server and the bots, and one Python process
cannot use more than one core, so bots are split over worker processes. The coordinator
talks to each worker over a pipe:

- coordinator -> worker: ``{"seq": n, "cmd": name, "args": {...}}`` runs
  ``BotFleet.<name>(**args)``; ``{"cmd": "exit"}`` ends the worker.
- worker -> coordinator: ``{"type": "ready"}`` once, ``{"type": "progress", "counters": ...}``
  a few times a second, and ``{"type": "result" | "error", "seq": n, ...}`` per command.

A worker whose coordinator goes away (the pipe closes) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import multiprocessing as mp
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25

# The class whose commands a worker runs, as "module:Class". Scenarios with other kinds of
# bots (media bots) name a subclass of :class:`loadtest.bots.BotFleet` with :func:`use_fleet`
# before the pool starts.
_fleet = "loadtest.bots:BotFleet"


def use_fleet(spec: str) -> None:
    """Workers started from now on run ``spec`` ("module:Class") instead of BotFleet."""
    global _fleet
    _fleet = spec


class WorkerFailed(Exception):
    """A worker process died or a command failed in it."""


def _raise_file_limit() -> None:
    """Every bot holds a socket: allow as many open files as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(
    conn: Connection, worker_id: int, base_url: str, run_id: str, fleet: str = _fleet
) -> None:
    """Entry point of a worker process."""
    import uvloop

    _raise_file_limit()
    logging.basicConfig(level=logging.WARNING)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(conn, worker_id, base_url, run_id, fleet))


def _read_pipe(
    conn: Connection, loop: asyncio.AbstractEventLoop, deliver: Callable[[Any], None]
) -> None:
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

    async def run(seq: int, name: str, args: dict[str, Any]) -> None:
        try:
            method: Callable[..., Any] = getattr(fleet, name)
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
            task = loop.create_task(run(command["seq"], command["cmd"], command.get("args", {})))
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


class WorkerPool:
    """``count`` worker processes, each with its own bots.

    ``on_progress`` is called (in the coordinator's event loop) whenever a worker reports its
    counters; :meth:`totals` adds them up.
    """

    def __init__(
        self,
        count: int,
        base_url: str,
        run_id: str,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.count = count
        self.base_url = base_url
        self.run_id = run_id
        self.on_progress = on_progress
        self.counters: list[dict[str, int]] = [{} for _ in range(count)]
        self.pids: list[int] = []
        self._processes: list[Any] = []
        self._conns: list[Connection] = []
        self._pending: dict[int, tuple[int, asyncio.Future[Any]]] = {}
        self._ready: list[asyncio.Future[None]] = []
        self._readers: list[threading.Thread] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, timeout: float = 30.0) -> None:
        loop = self._loop = asyncio.get_running_loop()
        # "spawn": a fresh interpreter per worker, nothing inherited from this process's loop.
        context = mp.get_context("spawn")
        for worker_id in range(self.count):
            parent, child = context.Pipe(duplex=True)
            process = context.Process(
                target=worker_main,
                args=(child, worker_id, self.base_url, self.run_id, _fleet),
                name=f"loadtest-worker-{worker_id}",
                daemon=True,
            )
            process.start()
            child.close()
            self._processes.append(process)
            self._conns.append(parent)
            self._ready.append(loop.create_future())
            assert process.pid is not None
            self.pids.append(process.pid)
            reader = threading.Thread(
                target=_read_pipe,
                args=(parent, loop, functools.partial(self._deliver, worker_id)),
                name=f"pipe-reader-{worker_id}",
                daemon=True,
            )
            reader.start()
            self._readers.append(reader)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._ready)
        except TimeoutError as exc:
            raise WorkerFailed(f"bot workers did not start within {timeout:.0f} s") from exc

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
                ready.set_result(None)
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
        error = WorkerFailed(f"bot worker {worker_id} exited")
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
        self._pending[self._seq] = (worker_id, future)
        try:
            self._conns[worker_id].send({"seq": self._seq, "cmd": cmd, "args": args})
        except (BrokenPipeError, OSError) as exc:
            self._pending.pop(self._seq, None)
            future.set_exception(WorkerFailed(f"bot worker {worker_id} is gone: {exc}"))
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
        """Ask every worker to close its bots and exit; terminate those that do not."""
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send({"cmd": "exit"})
        deadline = time.monotonic() + timeout
        for process in self._processes:
            remaining = max(0.0, deadline - time.monotonic())
            await asyncio.to_thread(process.join, remaining)
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=5.0)
        # The workers are gone, so each reader thread has seen the end of its pipe.
        for reader in self._readers:
            await asyncio.to_thread(reader.join, 5.0)
        for conn in self._conns:
            conn.close()
        for future in [entry[1] for entry in self._pending.values()]:
            if not future.done():
                future.set_exception(WorkerFailed("the pool was stopped"))
        self._pending.clear()
