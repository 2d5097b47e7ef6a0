"""Pieces of the browser end-to-end tests: a real server process, fake cameras, bots.

Everything here talks to 127.0.0.1 only. The server runs as its own process (as in
production) on a free port, with a secret file in a temporary folder, so tests can sign
moderator tokens the server accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from loadtest.client import PodiumClient
from signaling import protocol as p
from signaling.auth import issue_token, new_participant_id
from signaling.model import Role

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PODIUM_CHROMIUM", "/usr/lib/chromium/chromium"))
SCREENSHOTS = REPO / "artifacts" / "screenshots"

# The flags TESTING.md lists for headless Chromium with a fake camera and microphone.
CHROMIUM_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]

# One solid colour per participant's fake camera, so "whose video is this?" is a pixel read.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 70),
    "blue": (40, 90, 230),
    "yellow": (235, 200, 40),
    "grey": (128, 128, 128),
}

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_y4m(path: Path, rgb: tuple[int, int, int], width: int = 320, height: int = 240) -> Path:
    """A short clip of one solid colour (Chromium loops it), in full-range BT.601 yuv420p."""
    r, g, b = rgb
    y = round(0.299 * r + 0.587 * g + 0.114 * b)
    u = round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)
    v = round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)
    clamp = lambda x: max(0, min(255, x))  # noqa: E731
    frame = (
        bytes([clamp(y)]) * (width * height)
        + bytes([clamp(u)]) * (width * height // 4)
        + bytes([clamp(v)]) * (width * height // 4)
    )
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(15):
            fh.write(b"FRAME\n")
            fh.write(frame)
    return path


@dataclass
class ServerProcess:
    """``podium serve`` on a free loopback port, with its own secret and working folder."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        secret_file = self.workdir / "secret"
        secret_file.write_text(self.secret + "\n")
        secret_file.chmod(0o600)
        env = {
            **os.environ,
            # Quick flushes and round ticks keep the tests short; media, if the server has a
            # media plane, announces loopback only.
            "PODIUM_COUNTS_INTERVAL_S": "0.2",
            "PODIUM_FLUSH_INTERVAL_S": "0.05",
            "PODIUM_TICK_INTERVAL_S": "0.2",
            "PODIUM_MEDIA_ADDRESSES": "127.0.0.1",
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "signaling.cli",
                "--log-level",
                "WARNING",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--secret-file",
                str(secret_file),
                "--demo",
            ],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_path.read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the server did not answer in {timeout} s:\n{self.log_path.read_text()}"
        )

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def token(self, name: str, role: Role = "moderator") -> str:
        """A signed token, as ``podium token --role ROLE --name NAME`` prints it."""
        return issue_token(self.secret, new_participant_id(role[:3]), name, role, ttl_s=3600)


class Bots:
    """Scripted participants (protocol clients) on an event loop of their own thread, so the
    synchronous Playwright tests can drive them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[PodiumClient] = []
        self._http: aiohttp.ClientSession | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def join(self, name: str, space_id: str | None = None) -> PodiumClient:
        """Register a participant and, if given, send them into ``space_id``."""

        async def go() -> PodiumClient:
            if self._http is None:
                self._http = aiohttp.ClientSession()
            client = PodiumClient(self.url, self._http)
            await client.register(name)
            await client.connect()
            self.clients.append(client)
            if space_id is not None:
                await client.request(p.Join(space_id=space_id))
                await client.until(lambda: client.space_id == space_id)
            return client

        return self.run(go())

    def close(self) -> None:
        async def stop() -> None:
            for client in self.clients:
                with contextlib.suppress(Exception):
                    await client.close()
            if self._http is not None:
                await self._http.close()

        with contextlib.suppress(Exception):
            self.run(stop(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class DropProxy:
    """A TCP proxy in front of the server that a test can cut, as a network drop would.

    ``cut()`` closes every open connection (the browser sees its websocket drop);
    ``refuse(True)`` makes new connections fail until ``refuse(False)``.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.port), self.loop
        ).result(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        # Let the transports run their connection_lost callbacks, which close the sockets.
        for _ in range(3):
            await asyncio.sleep(0)

    def cut(self) -> None:
        asyncio.run_coroutine_threadsafe(self._abort_all(), self.loop).result(5)

    def refuse(self, on: bool) -> None:
        self.refusing = on

    def close(self) -> None:
        async def shutdown() -> None:
            self.refusing = True
            self._server.close()
            await self._abort_all()
            await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def require_browser() -> None:
    """Skip the calling test module unless Playwright and Debian's Chromium are installed."""
    import pytest

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(
            "Playwright is not installed (pip install -e '.[test]')", allow_module_level=True
        )
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} (sudo apt-get install chromium, "
            "or make system-deps)",
            allow_module_level=True,
        )
