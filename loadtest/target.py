"""The server a load test drives: the URL of a running deployment, or a server process
started on this machine for the run (``--spawn``, on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import aiohttp

from loadtest.procstat import descendants

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class TargetError(Exception):
    """The server to test cannot be used: a refused address, or a server that did not start."""


def target_url(url: str) -> str:
    """``url`` as an ``http(s)://host[:port]`` base URL; raises :class:`TargetError` when it is
    not one.

    Any host the operator names is accepted: a deployment on other machines is what a load
    test with agents is for. ``ws://`` URLs are given as ``http://``, paths are dropped.
    """
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise TargetError(f"{url!r}: expected an http:// or ws:// URL")
    host = parts.hostname
    if not host:
        raise TargetError(f"{url!r}: no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"{url!r}: {exc}") from exc
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def is_loopback_url(url: str) -> bool:
    """True when ``url`` names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _stop_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started us dies.

    A coordinator killed without a chance to clean up then leaves no server behind.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the coordinator's own cleanup has to do


def podium_command() -> list[str]:
    """How to start ``podium`` with the interpreter running this process."""
    script = Path(sys.executable).with_name("podium")
    if script.exists():
        return [str(script)]
    found = shutil.which("podium")
    if found:
        return [found]
    return [sys.executable, "-m", "signaling.cli"]


async def wait_healthy(
    base_url: str, timeout: float, process: subprocess.Popen[bytes] | None
) -> None:
    """Poll ``/healthz`` until it answers 200, the process exits, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise TargetError(f"the server exited with status {process.returncode}")
            try:
                async with http.get(f"{base_url}/healthz") as resp:
                    if resp.status == 200:
                        return
                    last = f"status {resp.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                last = type(exc).__name__
            await asyncio.sleep(0.1)
    raise TargetError(f"{base_url} did not become healthy within {timeout:.0f} s ({last})")


class SpawnedServer:
    """A ``podium serve`` process on a free loopback port, stopped by :meth:`stop`.

    Its output goes to ``log_path``; its token secret lives in a temporary folder removed on
    stop, so a run leaves nothing behind but its report.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.command: list[str] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        """Start the process and wait until it answers ``/healthz``."""
        self._launch()
        try:
            await wait_healthy(self.url, self.start_timeout, self.process)
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="podium-loadtest-")
        env = {
            **os.environ,
            "PODIUM_SECRET_FILE": str(Path(self._tmp.name) / "secret"),
            "PODIUM_DEMO": "1",
            **self.extra_env,
        }
        self.command = [
            *podium_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._tmp.name,
            preexec_fn=_stop_with_parent,
        )

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``grace`` seconds) and its children.

        Idempotent; returns the exit status when there was a process.
        """
        process = self.process
        status: int | None = None
        if process is not None:
            children = descendants(process.pid) if process.poll() is None else []
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=grace)
            status = process.returncode
            for child in children:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return status
