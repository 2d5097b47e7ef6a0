"""A protocol client for bots, scripts and tests: register, sign in, send requests, await
updates. It speaks only the public wire protocol, as a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec

from loadtest import clock
from signaling import protocol as p

M = TypeVar("M", bound=msgspec.Struct)


class RequestFailed(Exception):
    """The server answered a request with an ``error``."""

    def __init__(self, reply: p.ErrorReply) -> None:
        super().__init__(f"{reply.code}: {reply.message}")
        self.reply = reply
        self.code = reply.code


class RegistrationFailed(RuntimeError):
    """``POST /api/register`` did not succeed; ``status`` 429 means "try again later"."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"registration failed: {status} {body}")
        self.status = status
        self.body = body


class PodiumClient:
    """One participant's websocket connection.

    Every server message is kept in ``inbox`` (bounded) and offered to waiters; the latest
    snapshot and the state that follows from deltas are tracked for convenience.
    """

    def __init__(
        self,
        base_url: str,
        http: aiohttp.ClientSession,
        *,
        keep: int = 2000,
        keep_chat: int = 500,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.token = ""
        self.participant_id = ""
        self.inbox: list[p.ServerMessage] = []
        self._keep = keep
        # Bots with many sockets keep little history: every kept message costs memory.
        self._keep_chat = keep_chat
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._waiters: list[tuple[Callable[[Any], bool], asyncio.Future[Any]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.welcome: p.Welcome | None = None
        self.snapshot: p.Snapshot | None = None
        self.space_id = ""
        self.member_count = 0
        self.members: dict[str, p.ParticipantInfo] = {}
        self.hand_position: int | None = None
        self.slots: p.SlotsUpdate | None = None
        self.round: p.RoundInfo | None = None
        self.chat: list[p.ChatInfo] = []
        self.close_code: int | None = None
        # Whether the latest close was ours (``close()``); a close the client did not ask for
        # is a dropped connection.
        self.closing = False
        # When the latest message arrived (run clock), for keepalive checks.
        self.last_received = 0.0
        # Called once per socket when it closes: (close code, whether ``close()`` asked).
        self.on_closed: Callable[[int | None, bool], None] | None = None
        # Called with every message and its receive time (clock.now(), which is
        # CLOCK_MONOTONIC on Linux and so comparable between processes), for latency figures.
        self.on_message: Callable[[p.ServerMessage, float], None] | None = None

    # ------------------------------------------------------------------ connection

    async def register(self, name: str, interests: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if interests:
            body["interests"] = interests
        async with self.http.post(f"{self.base_url}/api/register", json=body) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RegistrationFailed(resp.status, data)
        self.token = data["token"]
        self.participant_id = data["participant_id"]
        return self.token

    async def connect(self, token: str | None = None, *, timeout: float = 10.0) -> p.Welcome:
        """Open the websocket, send ``hello`` and wait for ``welcome`` and the first snapshot."""
        if token is not None:
            self.token = token
        ws_url = self.base_url.replace("http", "ws", 1) + "/ws"
        self.closing = False
        self.ws = await self.http.ws_connect(ws_url, max_msg_size=0, autoping=True)
        self._reader = asyncio.get_running_loop().create_task(self._read(self.ws))
        # Both waiters exist before `hello` leaves, so neither can miss its message, and a
        # reconnecting client never takes the previous connection's welcome for this one's.
        snap = self.wait_for(p.Snapshot, timeout=timeout)
        welcome_wait = self.wait_for(p.Welcome, timeout=timeout)
        await self.send(p.Hello(token=self.token))
        welcome = await welcome_wait
        self.participant_id = welcome.participant.id
        await snap
        return welcome

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def send(self, message: msgspec.Struct) -> None:
        assert self.ws is not None, "connect first"
        await self.ws.send_str(p.encode_text(message))

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None, "connect first"
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    # ------------------------------------------------------------------ requests

    async def request(self, message: msgspec.Struct, *, timeout: float = 10.0) -> p.Ack:
        """Send a request with a fresh id and return its ``ack``; raise on ``error``.

        A ``ping`` is answered by ``pong``, which is returned as an ``ack`` without a result.
        """
        request_id = f"r{next(self._ids)}"
        message = msgspec.structs.replace(message, id=request_id)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.send(message)
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, p.ErrorReply):
            raise RequestFailed(reply)
        if isinstance(reply, p.Pong):
            return p.Ack(id=reply.id)
        assert isinstance(reply, p.Ack)
        return reply

    async def try_request(
        self, message: msgspec.Struct, *, timeout: float = 10.0
    ) -> p.Ack | p.ErrorReply:
        try:
            return await self.request(message, timeout=timeout)
        except RequestFailed as exc:
            return exc.reply

    # ------------------------------------------------------------------ waiting

    def wait_for(
        self,
        kind: type[M],
        predicate: Callable[[M], bool] | None = None,
        *,
        timeout: float = 10.0,
        seen: bool = False,
    ) -> asyncio.Future[M]:
        """A future for the next message of ``kind`` matching ``predicate``.

        With ``seen=True`` a message already in the inbox also counts.
        """

        def match(msg: Any) -> bool:
            return isinstance(msg, kind) and (predicate is None or predicate(msg))

        loop = asyncio.get_running_loop()
        future: asyncio.Future[M] = loop.create_future()
        if seen:
            for msg in reversed(self.inbox):
                if match(msg):
                    future.set_result(msg)  # type: ignore[arg-type]
                    return future
        self._waiters.append((match, future))
        return _with_timeout(future, timeout, f"{kind.__name__} for {self.participant_id}")

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checking after every received message."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met for {self.participant_id}")
            fut = self.wait_for(msgspec.Struct, timeout=remaining)  # any message
            try:
                await fut
            except TimeoutError:
                continue
            except ConnectionError:
                if condition():
                    return
                raise

    # ------------------------------------------------------------------ reading

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                received = clock.now()
                self.last_received = received
                message = p.decode_server(msg.data)
                self._track(message)
                if self.on_message is not None:
                    self.on_message(message, received)
                self.inbox.append(message)
                if len(self.inbox) > self._keep:
                    del self.inbox[: len(self.inbox) - self._keep]
                if (
                    isinstance(message, p.Ack | p.ErrorReply | p.Pong)
                    and message.id in self._pending
                ):
                    future = self._pending.pop(message.id or "")
                    if not future.done():
                        future.set_result(message)
                still: list[tuple[Callable[[Any], bool], asyncio.Future[Any]]] = []
                for match, waiter in self._waiters:
                    if waiter.done():
                        continue
                    if match(message):
                        waiter.set_result(message)
                    else:
                        still.append((match, waiter))
                self._waiters = still
        finally:
            self.close_code = ws.close_code
            for _, waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError(f"socket closed ({self.close_code})"))
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"socket closed ({self.close_code})"))
            if self.on_closed is not None and ws is self.ws:
                self.on_closed(self.close_code, self.closing)

    def _track(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.Welcome):
            self.welcome = message
        elif isinstance(message, p.Snapshot):
            self.snapshot = message
            self.space_id = message.space.id
            self.member_count = message.member_count
            self.members = {m.id: m for m in message.members or []}
            self.hand_position = message.you.hand_position
            self.round = message.round
            if message.slots is not None:
                self.slots = p.SlotsUpdate(
                    stage_id=message.slots.stage_id,
                    slots=message.slots.slots,
                    speakers=message.slots.speakers,
                )
            self.chat.extend(message.chat)
        elif isinstance(message, p.SpaceDelta) and message.space_id == self.space_id:
            self.member_count = message.member_count
            for info in message.joined:
                self.members[info.id] = info
            for pid in message.left:
                self.members.pop(pid, None)
        elif isinstance(message, p.Counts):
            self.member_count = message.counts.get(self.space_id, self.member_count)
        elif isinstance(message, p.HandQueueUpdate):
            self.hand_position = message.position
        elif isinstance(message, p.SlotsUpdate):
            self.slots = message
        elif isinstance(message, p.RoundUpdate):
            self.round = message.round
        elif isinstance(message, p.RoundClosed):
            self.round = None
        elif isinstance(message, p.ChatPosted) and self._keep_chat > 0:
            self.chat.append(message.message)
            if len(self.chat) > self._keep_chat:
                del self.chat[: -self._keep_chat]

    def slot_occupants(self) -> list[str | None]:
        if self.slots is None:
            return []
        return [s.participant.id if s.participant else None for s in self.slots.slots]


def _with_timeout(future: asyncio.Future[M], timeout: float, what: str) -> asyncio.Future[M]:
    loop = asyncio.get_running_loop()

    def expire() -> None:
        if not future.done():
            future.set_exception(TimeoutError(f"timed out waiting for {what}"))

    handle = loop.call_later(timeout, expire)
    future.add_done_callback(lambda _: handle.cancel())
    return future
