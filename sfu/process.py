"""Media workers in processes of their own.

:class:`ProcessPort` starts ``python -m sfu.process`` with the interpreter running this
process, hands it one end of a Unix socketpair and drives it over the channel
(:mod:`sfu.channel`). The child runs one :class:`~sfu.worker.Worker` on uvloop, and stops
with its parent. Its log lines come back through its stderr into this process's logging.

A worker on another machine connects to a control plane's
:class:`~sfu.registry.WorkerRegistry` instead::

    python -m sfu.process --connect HOST:PORT --token T [--workers N]
                          [--announce-addresses ADDR,...]

starts N worker processes (default one per core), each connecting over TCP and serving
the channel there until the control plane closes it or the connection is lost. Exit
status: 0 when closed or stopped by a signal, 1 when refused (a wrong token) or given bad
arguments, 2 when the control plane cannot be reached or the connection was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections import deque
from pathlib import Path

from .channel import (
    HELLO_MAX_FRAME,
    HELLO_TIMEOUT_S,
    PROTOCOL_VERSION,
    Channel,
    ChannelError,
    ChannelPort,
    PortServer,
    WorkerFailure,
)
from .worker import SfuError, WorkerConfig, install_uvloop

logger = logging.getLogger("sfu.process")  # also when run as __main__

#: How long a child has to import, run its self-test and answer ``start``.
START_TIMEOUT_S = 60.0
#: Lines of a child's stderr kept to explain a failed start.
STDERR_TAIL_LINES = 40
#: After the channel ends, how long to wait for the child's exit status.
EXIT_WAIT_S = 1.0
#: The environment variable a worker reads its token from when ``--token`` is not given.
TOKEN_ENV = "SFU_WORKER_TOKEN"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_LOST = 2

_PR_SET_PDEATHSIG = 1
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_CHILD_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def describe_exit(returncode: int) -> str:
    """ "exited with status 1", "killed by SIGKILL"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with status {returncode}"


class ProcessPort(ChannelPort):
    """A media worker in a child process on this machine, behind the media port.

    ``start()`` returns once the child's worker has started (its adapter self-test
    passed) and raises :class:`~sfu.worker.SfuError` with the tail of the child's stderr
    otherwise. When the child dies, the port notices at once (the socket's end of stream,
    and the process's exit) and emits one :class:`~sfu.port.WorkerLost` with the exit
    status or signal.
    """

    def __init__(self, config: WorkerConfig | None = None, name: str = "w0") -> None:
        super().__init__(name)
        self.config = config or WorkerConfig()
        self.process: asyncio.subprocess.Process | None = None
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._exit_task: asyncio.Task[None] | None = None
        self._closer: asyncio.Future[None] | None = None

    @property
    def stderr_tail(self) -> list[str]:
        """The child's last lines on stderr."""
        return list(self._stderr_tail)

    async def start(self) -> None:
        if self.process is not None:
            raise SfuError(f"worker {self.name} was started already")
        loop = asyncio.get_running_loop()
        parent_end, child_end = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p
        )
        level = logging.getLevelName(logging.getLogger("sfu").getEffectiveLevel())
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sfu.process",
                "--fd",
                str(child_end.fileno()),
                "--parent-pid",
                str(os.getpid()),
                "--name",
                self.name,
                "--log-level",
                str(level),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(child_end.fileno(),),
                start_new_session=False,
                env=env,
                limit=1 << 20,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._pid = self.process.pid
        self._stderr_task = loop.create_task(self._read_stderr(self.process))
        self._exit_task = loop.create_task(self._watch_exit(self.process))
        reader, writer = await asyncio.open_unix_connection(sock=parent_end)
        self._attach(Channel(reader, writer, name=self.name))
        try:
            await asyncio.wait_for(self._start_worker(self.config), START_TIMEOUT_S)
        except (SfuError, WorkerFailure, TimeoutError) as exc:
            self._closing = True
            await self._terminate(grace=0.5)
            tail = "\n".join(self._stderr_tail)
            detail = str(exc) or type(exc).__name__
            raise SfuError(
                f"media worker {self.name} did not start: {detail}"
                + (f"\n--- its stderr ---\n{tail}" if tail else "")
            ) from exc

    async def close(self) -> None:
        """Close every endpoint and pipe, stop the child and wait for it. Idempotent."""
        if self.process is None:
            self._closing = True
            return
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        await self._stop_worker()
        await self._terminate()

    async def _terminate(self, grace: float = 5.0) -> None:
        """Wait for the child to exit (it does once its channel closes); SIGTERM, then
        SIGKILL, if it does not."""
        process = self.process
        if process is not None and process.returncode is None:
            if self._channel is not None:
                self._channel.close("closed")
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(asyncio.shield(process.wait()), 2.0)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        for task in (self._stderr_task, self._exit_task, self._reading):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
                task.cancel()

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        returncode = await process.wait()
        self._lose(describe_exit(returncode))

    async def _channel_ended(self, reason: str) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), EXIT_WAIT_S)
            except TimeoutError:
                # The channel broke but the process lives on: it is of no use any more.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                self._lose(f"{reason}; the process was killed")
                return
        if process is not None and process.returncode is not None:
            status = describe_exit(process.returncode)
            # The end of the stream (or a reset) only echoes the exit: the status says it.
            reason = status if reason.startswith("connection") else f"{reason}; {status}"
        self._lose(reason)

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        """Keep the tail of the child's stderr and pass its log lines on to this
        process's logging, at their own level."""
        stream = process.stderr
        if stream is None:
            return
        child_logger = logging.getLogger(f"sfu.process.{self.name}")
        level = logging.INFO
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit
                line = await stream.read(1 << 16)
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            self._stderr_tail.append(text)
            first = text.split(" ", 1)[0]
            named = logging.getLevelName(first)
            if isinstance(named, int):
                level = named  # a new record; lines without a level continue the last one
            child_logger.log(level, "%s", text)


# ------------------------------------------------------------------------------------------
# The child's side
# ------------------------------------------------------------------------------------------


def _stop_with_parent(parent_pid: int | None) -> None:
    """Get SIGTERM when the process that started this one dies (Linux), and stop now if
    it is gone already."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the end of the channel stops the worker all the same
    if parent_pid is not None and os.getppid() != parent_pid:
        sys.exit(EXIT_LOST)


def _on_sigterm(server: PortServer) -> None:
    """SIGTERM (the parent's death included) stops the worker cleanly. SIGINT stays
    ignored: see :func:`main`."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, server.stop, "worker stopped by SIGTERM"
        )


async def serve_socket(fd: int, name: str) -> int:
    """Serve the channel on an inherited socket (the child of a :class:`ProcessPort`)."""
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    server = PortServer(Channel(reader, writer, name=name), name)
    _on_sigterm(server)
    reason = await server.serve()
    logger.info("worker %s stops: %s", name, reason)
    return EXIT_OK


async def serve_remote(
    host: str,
    port: int,
    token: str,
    name: str,
    config: WorkerConfig,
    tls: ssl.SSLContext | None = None,
) -> int:
    """Connect to a control plane's registry (over TLS with ``tls``, which checks the
    server's certificate), authenticate, and serve the channel there until it ends.
    Returns the exit status."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls), HELLO_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
        logger.error("cannot reach the control plane at %s:%d: %s", host, port, exc)
        return EXIT_LOST
    channel = Channel(reader, writer, name=f"{host}:{port}")
    # Where other workers reach this one's pipes: its first announced address, else the
    # address this machine reaches the control plane from.
    local = writer.get_extra_info("sockname")
    pipe_host = config.host_addresses[0] if config.host_addresses else (local[0] if local else "")
    hello = {
        "token": token,
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "name": name,
        "pipe_host": pipe_host,
    }
    try:
        channel.send({"hello": hello})
        answer = await asyncio.wait_for(channel.receive(HELLO_MAX_FRAME), HELLO_TIMEOUT_S)
    except (ChannelError, TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
        logger.error("no answer from the control plane at %s:%d: %r", host, port, exc)
        channel.close("no answer")
        return EXIT_LOST
    if "refused" in answer:
        logger.error(
            "the control plane at %s:%d refused this worker: %s", host, port, answer["refused"]
        )
        channel.close("refused")
        return EXIT_REFUSED
    if not isinstance(answer.get("welcome"), dict):
        logger.error("the control plane at %s:%d answered %r", host, port, sorted(answer))
        channel.close("no welcome")
        return EXIT_LOST
    logger.info("worker %s serves the control plane at %s:%d", name, host, port)
    channel.start_heartbeat()
    server = PortServer(channel, name, config)
    stopped: list[str] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):

        def stop(signame: str = signal.Signals(signum).name) -> None:
            stopped.append(signame)
            server.stop(f"worker stopped by {signame}")

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop)
    reason = await server.serve()
    await channel.wait_closed()
    if server.closed_by_peer or stopped:
        logger.info("worker %s stops: %s", name, reason)
        return EXIT_OK
    logger.error("worker %s lost the control plane: %s", name, reason)
    return EXIT_LOST


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfu.process",
        description="Run media workers that serve a control plane over TCP.",
    )
    parser.add_argument(
        "--connect", type=_address, metavar="HOST:PORT", help="the control plane's registry"
    )
    parser.add_argument(
        "--token", default=None, help=f"the registry's token (default: ${TOKEN_ENV})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes to start (default: one per core)",
    )
    parser.add_argument(
        "--announce-addresses",
        type=_addresses,
        default=None,
        metavar="ADDR,...",
        help="host addresses ICE announces (default: those aioice finds)",
    )
    parser.add_argument(
        "--tls-ca",
        default=None,
        metavar="FILE",
        help="connect with TLS and trust the server's certificate if FILE (PEM) signed it or is it",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS, trusting the system's certificate authorities",
    )
    parser.add_argument("--name", default=None, help="this worker's name in logs")
    parser.add_argument("--log-level", default="INFO")
    # The child of a ProcessPort, and the children of --workers N.
    parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def _supervise(args: argparse.Namespace, token: str) -> int:
    """Start ``args.workers`` processes that each connect on their own; wait for all of
    them. The token goes to them through the environment, not their command line."""
    assert args.connect is not None
    host, port = args.connect
    base = socket.gethostname()
    env = dict(os.environ)
    env[TOKEN_ENV] = token
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    children = []
    for index in range(args.workers):
        command = [
            sys.executable,
            "-m",
            "sfu.process",
            "--connect",
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "--workers",
            "1",
            "--name",
            f"{args.name or base}:{index}",
            "--parent-pid",
            str(os.getpid()),
            "--log-level",
            args.log_level,
        ]
        if args.announce_addresses is not None:
            command += ["--announce-addresses", ",".join(args.announce_addresses)]
        if args.tls_ca is not None:
            command += ["--tls-ca", args.tls_ca]
        elif args.tls:
            command.append("--tls")
        children.append(subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL))

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    statuses = [child.wait() for child in children]
    return max(status if status >= 0 else EXIT_LOST for status in statuses)


def quiet_ice_logs() -> None:
    """aioice logs every candidate pair's progress at INFO (several lines per participant,
    sent through the channel's log pipe); keep warnings and the end of a connection's
    consent, which tells why a participant's media stopped."""

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "onsent" in record.getMessage()

    logging.getLogger("aioice.ice").addFilter(keep)


def main(argv: list[str] | None = None) -> int:
    """``python -m sfu.process``: see the module's documentation."""
    args = _parser().parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), logging.INFO)
    if args.fd is not None:
        # The child of a ProcessPort: Ctrl-C in a terminal reaches the whole process
        # group; the control plane stops its workers itself.
        _stop_with_parent(args.parent_pid)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        logging.basicConfig(level=level, format=_CHILD_LOG_FORMAT, stream=sys.stderr)
        quiet_ice_logs()
        install_uvloop()
        return asyncio.run(serve_socket(args.fd, args.name or f"pid{os.getpid()}"))
    if args.connect is None:
        _parser().error("--connect HOST:PORT is required")
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        _parser().error(f"--token (or ${TOKEN_ENV}) is required")
    if args.workers < 1:
        _parser().error("--workers must be at least 1")
    if args.parent_pid is not None:
        _stop_with_parent(args.parent_pid)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet_ice_logs()
    if args.workers > 1:
        return _supervise(args, token)
    host, port = args.connect
    config = WorkerConfig(host_addresses=args.announce_addresses)
    name = args.name or f"{socket.gethostname()}:0"
    install_uvloop()
    tls = None
    if args.tls or args.tls_ca:
        tls = ssl.create_default_context(cafile=args.tls_ca)
    return asyncio.run(serve_remote(host, port, token, name, config, tls))


if __name__ == "__main__":
    sys.exit(main())
