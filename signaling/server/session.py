"""One connected participant: their websocket, outgoing queue and rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from aiohttp import WSCloseCode, web

from signaling.auth import Identity
from signaling.config import Config
from signaling.protocol import CLOSE_SLOW_CONSUMER
from signaling.server.ratelimit import TokenBucket

log = logging.getLogger(__name__)


class Session:
    """A participant's websocket.

    Fan-out never awaits a socket: ``send`` only queues already-encoded text, and a writer task
    per session drains the queue. A client that cannot keep up is disconnected rather than
    allowed to hold the others back or grow the server's memory without bound.
    """

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_limit",
        "_queue",
        "_wake",
        "_writer",
        "action_bucket",
        "chat_bucket",
        "closed",
        "identity",
        "sent_event_chat",
        "ws",
    )

    def __init__(self, identity: Identity, ws: web.WebSocketResponse, config: Config, now: float):
        self.identity = identity
        self.ws = ws
        self.chat_bucket = TokenBucket(config.chat_rate, now)
        self.action_bucket = TokenBucket(config.action_rate, now)
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._limit = config.send_queue_limit
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.sent_event_chat = False
        self._close_code: int = WSCloseCode.OK
        self._close_reason = ""

    @property
    def participant_id(self) -> str:
        return self.identity.participant_id

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(
            self._drain(), name=f"ws-writer-{self.participant_id}"
        )

    def send(self, text: str) -> None:
        """Queue an encoded message for this client."""
        if self.closed:
            return
        if len(self._queue) >= self._limit:
            log.warning("participant %s cannot keep up; disconnecting", self.participant_id)
            self.close(CLOSE_SLOW_CONSUMER, "too slow to receive updates")
            return
        self._queue.append(text)
        self._wake.set()

    def close(self, code: int = WSCloseCode.OK, reason: str = "") -> None:
        """Close the socket after what is queued has been sent. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._queue.append("")  # marks the end of the stream for the writer
        self._wake.set()
        self._close_code = code
        self._close_reason = reason

    async def _drain(self) -> None:
        ws = self.ws
        queue = self._queue
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    text = queue.popleft()
                    if text == "":
                        await ws.close(code=self._close_code, message=self._close_reason.encode())
                        return
                    await ws.send_str(text)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            # The peer went away or the server is stopping: nothing left to deliver.
            pass

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for what is queued to be sent."""
        writer = self._writer
        if writer is None or writer.done():
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(writer), timeout=timeout)

    async def stop(self) -> None:
        """Stop the writer. Safe to call more than once."""
        self.closed = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
