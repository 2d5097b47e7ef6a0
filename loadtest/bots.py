"""Signaling bots: many protocol clients in one process, and what they measure.

A :class:`BotFleet` owns the bots of one worker process. Its public coroutines are the
commands a coordinator sends (see :mod:`loadtest.workers`); each returns plain data that can
be pickled back. Times are ``clock.now()`` values: on Linux that is CLOCK_MONOTONIC,
one clock for every process of the machine, so a chat message sent by a bot in one process
and received by a bot in another gives a true latency.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import random
import time
from array import array
from collections.abc import Sequence
from typing import Any

import aiohttp

from loadtest import browser, clock
from loadtest.client import PodiumClient, RegistrationFailed, RequestFailed
from loadtest.stats import summary_ms
from signaling import protocol as p

log = logging.getLogger(__name__)

# Registration is rate limited per address; a refused bot tries again after a pause.
_REGISTER_BACKOFF = (0.1, 1.0)
_REGISTER_IN_FLIGHT = 4
_MAX_ERRORS = 50
HEALTH_INTERVAL_S = 0.1
_HEALTH_KEPT = 200_000


def chat_text(prefix: str, index: int, sent_ns: int) -> str:
    """The text of a measured chat message: who can tell which message it is and when it left."""
    return f"{prefix}{index}:{sent_ns}"


def parse_chat_text(prefix: str, text: str) -> tuple[int, int] | None:
    """(message index, send time in ns) of a measured message of this run, else None."""
    if not text.startswith(prefix):
        return None
    index, _, sent = text[len(prefix) :].partition(":")
    try:
        return int(index), int(sent)
    except ValueError:
        return None


class Bot:
    """One simulated participant: a protocol client and the receive times it noted.

    Like the web client, a bot pings the server now and then and reconnects by itself when
    its websocket drops (see :mod:`loadtest.browser`); the fleet drives both.
    """

    __slots__ = (
        "attempt",
        "client",
        "dropped_at",
        "final",
        "fleet",
        "index",
        "marks",
        "name",
        "next_ping",
        "offline_s",
        "ping_sent_at",
        "reconnecting",
    )

    def __init__(self, fleet: BotFleet, index: int, name: str, client: PodiumClient) -> None:
        self.fleet = fleet
        self.index = index
        self.name = name
        self.client = client
        # Receive time of the reply to each request id, and of each snapshot by space id.
        self.marks: dict[str, float] = {}
        # Keepalive: when the next ping is due, and when the unanswered one left (0: none).
        self.next_ping = clock.now() + random.random() * browser.KEEPALIVE_EVERY_S
        self.ping_sent_at = 0.0
        # Reconnecting: attempts since the last welcome, when the socket dropped, and the
        # seconds spent without a connection so far.
        self.attempt = 0
        self.reconnecting = False
        self.dropped_at = 0.0
        self.offline_s = 0.0
        self.final = False  # replaced, refused or removed: the page gives up
        client.on_message = self.on_message
        client.on_closed = self.on_closed

    @property
    def connected(self) -> bool:
        ws = self.client.ws
        return ws is not None and not ws.closed

    def on_closed(self, code: int | None, asked: bool) -> None:
        if not asked:
            self.fleet.dropped(self, code)

    def on_message(self, message: p.ServerMessage, received: float) -> None:
        if isinstance(message, p.ChatPosted):
            self.fleet.chat_received(self, message.message, received)
        elif isinstance(message, p.Ack):
            if message.id is not None:
                self.marks[message.id] = received
                if message.id.startswith("chat-"):
                    self.fleet.chat_acked(message.id, received)
        elif isinstance(message, p.ErrorReply):
            if message.id is not None:
                self.marks[message.id] = received
                if message.id.startswith("chat-"):
                    self.fleet.chat_refused(message)
            self.fleet.note_error(f"{self.name}: {message.code}: {message.message}")
        elif isinstance(message, p.Snapshot):
            self.marks[f"snapshot:{message.space.id}"] = received
            self.marks.setdefault("snapshot", received)  # the first one, after hello
        elif (
            isinstance(message, p.HandQueueUpdate)
            and message.position is not None
            and "hand" not in self.marks
        ):
            self.marks["hand"] = received


class BotFleet:
    """The bots of one process, driven phase by phase by a coordinator."""

    def __init__(self, worker_id: int, base_url: str, run_id: str) -> None:
        self.worker_id = worker_id
        self.base_url = base_url
        self.prefix = f"lt:{run_id}:"
        self.bots: dict[int, Bot] = {}
        # One HTTP session per local address the bots connect from (see ``ramp``).
        self.http: dict[str, aiohttp.ClientSession] = {}
        self.counters: dict[str, int] = {
            "registered": 0,
            "register_retries": 0,
            "connected": 0,
            "joined": 0,
            "failed": 0,
            "chat_sent": 0,
            "chat_acked": 0,
            "chat_refused": 0,
            "receipts": 0,
            "echoes": 0,
            "foreign_chat": 0,
            "hands": 0,
            "errors": 0,
            # Websockets the server closed or that died (not closed by the bot), and the
            # reconnections that followed, as the web client makes them.
            "ws_drops": 0,
            "ws_final_closes": 0,
            "reconnects": 0,
            "pings": 0,
            "keepalive_timeouts": 0,
            # Failures of the bots' own code: a run with any is not to be trusted.
            "internal_errors": 0,
        }
        self.drop_codes: dict[str, int] = {}
        self.drops: list[str] = []
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # The process's own health, sampled every HEALTH_INTERVAL_S: run-clock time, how late
        # the event loop woke up (lag) and the CPU time this process had used by then.
        self._health_t = array("d")
        self._health_lag = array("d")
        self._health_cpu = array("d")
        self._spawn(self._monitor())
        self._spawn(self._keepalive())
        self.errors: list[str] = []
        self._receipt_latency = array("d")
        self._receipt_index = array("l")
        self._echo_latency = array("d")
        self._chat_sent_at: dict[str, float] = {}
        self._chat_ack_latency = array("d")
        # The server stamps chat messages with its wall clock (time.time()). On the same
        # machine that clock is ours too, so a latency splits into the way in (bot -> server
        # accepted it) and the way out (server -> every bot).
        self._wall_offset = time.time() - clock.now()
        self._inbound_latency = array("d")
        self._outbound_latency = array("d")
        self._register_cooldown = 0.0
        # A few registrations in flight are enough (each takes milliseconds) and keep a
        # refused burst small.
        self._registering = asyncio.Semaphore(_REGISTER_IN_FLIGHT)

    # ------------------------------------------------------------------ bookkeeping

    def note_error(self, text: str) -> None:
        self.counters["errors"] += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(text)

    def progress(self) -> dict[str, Any]:
        counters = dict(self.counters)
        counters["open"] = sum(1 for bot in self.bots.values() if bot.connected)
        return counters

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        """A background task ended: one that failed is a fault of the bots, and counts."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.counters["internal_errors"] += 1
            self.note_error(f"bot task failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ own health

    async def _monitor(self) -> None:
        """Sample event-loop lag and CPU time: a busy bot process delays what it measures."""
        loop = asyncio.get_running_loop()
        expected = loop.time() + HEALTH_INTERVAL_S
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            if len(self._health_t) >= _HEALTH_KEPT:
                for series in (self._health_t, self._health_lag, self._health_cpu):
                    del series[: _HEALTH_KEPT // 2]
            self._health_t.append(clock.now())
            self._health_lag.append(max(0.0, now - expected))
            self._health_cpu.append(time.process_time())
            expected = max(now, expected) + HEALTH_INTERVAL_S

    async def health(self, since: float, until: float | None = None) -> dict[str, Any]:
        """Event-loop lag (ms) and CPU (percent of a core) of this process between two run
        clock times (``until`` None: now)."""
        end = len(self._health_t) if until is None else bisect.bisect_right(self._health_t, until)
        start = bisect.bisect_left(self._health_t, since)
        lags = self._health_lag[start:end]
        cpu = None
        if end - start >= 2:
            spent = self._health_cpu[end - 1] - self._health_cpu[start]
            elapsed = self._health_t[end - 1] - self._health_t[start]
            cpu = round(100.0 * spent / elapsed, 1) if elapsed > 0 else None
        return {
            "worker": self.worker_id,
            "loop_lag_ms": summary_ms(list(lags)),
            "cpu_percent": cpu,
        }

    # ------------------------------------------------------------------ as a browser does

    async def _keepalive(self) -> None:
        """Ping like the page: every KEEPALIVE_EVERY_S unless a ping is unanswered; a ping
        unanswered for PONG_WAIT_S drops the connection."""
        while True:
            await asyncio.sleep(1.0)
            now = clock.now()
            for bot in list(self.bots.values()):
                if bot.next_ping > now or bot.reconnecting or not bot.connected:
                    continue
                bot.next_ping += browser.KEEPALIVE_EVERY_S * max(
                    1, math.ceil((now - bot.next_ping) / browser.KEEPALIVE_EVERY_S)
                )
                answered = bot.client.last_received >= bot.ping_sent_at
                if bot.ping_sent_at and not answered:
                    if now - bot.ping_sent_at > browser.PONG_WAIT_S:
                        self.counters["keepalive_timeouts"] += 1
                        self._spawn(self._abandon(bot))
                    continue
                bot.ping_sent_at = now
                self.counters["pings"] += 1
                self._spawn(self._ping(bot))

    async def _ping(self, bot: Bot) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, AssertionError):
            await bot.client.send(p.Ping())

    async def _abandon(self, bot: Bot) -> None:
        """The server stopped answering: give the socket up as the page does, and reconnect."""
        ws = bot.client.ws
        self.dropped(bot, None, "no answer to ping")
        if ws is not None and not ws.closed:
            bot.client.closing = True  # this close is ours; the drop is counted above
            with contextlib.suppress(Exception):
                await ws.close(code=p.CLOSE_REPLACED, message=b"reconnecting")

    def dropped(self, bot: Bot, code: int | None, why: str = "") -> None:
        """A bot's websocket closed without the bot asking: reconnect as the page would."""
        if self._closing:
            return
        self.counters["ws_drops"] += 1
        key = why or str(code)
        self.drop_codes[key] = self.drop_codes.get(key, 0) + 1
        if len(self.drops) < _MAX_ERRORS:
            self.drops.append(f"{bot.name}: websocket lost ({key}) at {clock.now():.3f}")
        if bot.reconnecting:
            return
        if code in browser.FINAL_CLOSE_CODES:
            bot.final = True
            self.counters["ws_final_closes"] += 1
            return
        bot.dropped_at = clock.now()
        bot.reconnecting = True
        self._spawn(self._reconnect(bot))

    async def _reconnect(self, bot: Bot) -> None:
        try:
            while not self._closing:
                await asyncio.sleep(browser.retry_delay(bot.attempt))
                bot.attempt += 1
                try:
                    await bot.client.connect(timeout=browser.HELLO_WAIT_S)
                except Exception as exc:
                    self.note_error(f"{bot.name}: reconnect {bot.attempt}: {exc!r}")
                    with contextlib.suppress(Exception):
                        await bot.client.close()
                    continue
                bot.attempt = 0
                bot.ping_sent_at = 0.0
                bot.offline_s += clock.now() - bot.dropped_at
                self.counters["reconnects"] += 1
                await self.reconnected(bot)
                return
        finally:
            bot.reconnecting = False

    async def reconnected(self, bot: Bot) -> None:
        """Called after a bot signed in again; media bots renegotiate what broke."""

    def connection_figures(self) -> dict[str, Any]:
        """Drops, reconnections and the time each bot spent without its websocket."""
        now = clock.now()
        offline = [
            bot.offline_s + (now - bot.dropped_at if bot.reconnecting else 0.0)
            for bot in self.bots.values()
        ]
        return {
            "ws_drops": self.counters["ws_drops"],
            "ws_final_closes": self.counters["ws_final_closes"],
            "reconnects": self.counters["reconnects"],
            "still_reconnecting": sum(1 for bot in self.bots.values() if bot.reconnecting),
            "drop_codes": dict(self.drop_codes),
            "drops": list(self.drops),
            "offline_s": [round(v, 3) for v in offline if v > 0],
        }

    def chat_received(self, bot: Bot, info: p.ChatInfo, received: float) -> None:
        parsed = parse_chat_text(self.prefix, info.text)
        if parsed is None:
            self.counters["foreign_chat"] += 1
            return
        index, sent_ns = parsed
        latency = received - sent_ns / 1e9
        if info.sender_id == bot.client.participant_id:
            self._echo_latency.append(latency)
            self._inbound_latency.append(info.sent_at - (sent_ns / 1e9 + self._wall_offset))
            self.counters["echoes"] += 1
        else:
            self._receipt_latency.append(latency)
            self._receipt_index.append(index)
            self._outbound_latency.append(received + self._wall_offset - info.sent_at)
            self.counters["receipts"] += 1

    def chat_acked(self, request_id: str, received: float) -> None:
        sent = self._chat_sent_at.pop(request_id, None)
        if sent is not None:
            self._chat_ack_latency.append(received - sent)
            self.counters["chat_acked"] += 1

    def chat_refused(self, reply: p.ErrorReply) -> None:
        if reply.id is not None and self._chat_sent_at.pop(reply.id, None) is not None:
            self.counters["chat_refused"] += 1

    # ------------------------------------------------------------------ commands

    async def ramp(
        self,
        clients: Sequence[tuple[int, str]],
        space_id: str,
        concurrency: int,
        start_at: float | None = None,
        interval: float = 0.0,
        timeout: float = 30.0,
        source_addresses: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Register, connect and join ``space_id`` with every bot in ``clients``.

        ``clients`` lists (global index, name). At most ``concurrency`` bots are between
        starting and joined at any time; with ``interval`` > 0 bot ``i`` starts no earlier than
        ``start_at + i * interval`` (an arrival rate shared by all processes). Bot ``i``
        connects from ``source_addresses[i % len(source_addresses)]`` when given (loopback
        addresses such as 127.0.0.2: participants come from many addresses, not one).
        """
        addresses = list(source_addresses or [""])
        gate = asyncio.Semaphore(max(1, concurrency))
        register_s = array("d")
        connect_s = array("d")
        join_ack_s = array("d")
        join_snapshot_s = array("d")
        joined: list[int] = []

        async def one(index: int, name: str) -> None:
            if interval > 0 and start_at is not None:
                delay = start_at + index * interval - clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with gate:
                http = self._session(addresses[index % len(addresses)])
                client = PodiumClient(self.base_url, http, keep=16, keep_chat=0)
                bot = Bot(self, index, name, client)
                self.bots[index] = bot
                try:
                    async with asyncio.timeout(timeout):
                        register_s.append(await self._register(bot))
                        self.counters["registered"] += 1
                        started = clock.now()
                        await client.connect()
                        connected = bot.marks.get("snapshot", clock.now())
                        connect_s.append(connected - started)
                        self.counters["connected"] += 1
                        ack_s, snapshot_s = await self._join(bot, space_id)
                        join_ack_s.append(ack_s)
                        join_snapshot_s.append(snapshot_s)
                        joined.append(index)
                        self.counters["joined"] += 1
                except Exception as exc:
                    self.counters["failed"] += 1
                    self.note_error(f"{name}: ramp: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(index, name) for index, name in clients))
        return {
            "register_s": register_s,
            "connect_s": connect_s,
            "join_ack_s": join_ack_s,
            "join_snapshot_s": join_snapshot_s,
            "joined": sorted(joined),
        }

    def _session(self, address: str) -> aiohttp.ClientSession:
        session = self.http.get(address)
        if session is None:
            # No connection limit: every bot holds its websocket's connection for the run.
            connector = aiohttp.TCPConnector(limit=0, local_addr=(address, 0) if address else None)
            session = self.http[address] = aiohttp.ClientSession(connector=connector)
        return session

    async def _register(self, bot: Bot) -> float:
        """Register ``bot``; returns the latency of the successful request.

        Registrations are rate limited per address. A refusal pauses every bot of this
        process (not only the refused one), so the ramp follows the server's pace instead
        of piling retries onto it.
        """
        pause = _REGISTER_BACKOFF[0]
        while True:
            wait = self._register_cooldown - clock.now()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._registering:
                    started = clock.now()
                    await bot.client.register(bot.name)
            except RegistrationFailed as exc:
                if exc.status != 429:
                    raise
                self.counters["register_retries"] += 1
                until = clock.now() + pause * (0.5 + random.random())
                self._register_cooldown = max(self._register_cooldown, until)
                pause = min(pause * 2, _REGISTER_BACKOFF[1])
                continue
            return clock.now() - started

    async def _join(self, bot: Bot, space_id: str) -> tuple[float, float]:
        """Join ``space_id``; returns the latency of the ack and of the space's snapshot."""
        key = f"snapshot:{space_id}"
        bot.marks.pop(key, None)
        started = clock.now()
        ack = await bot.client.request(p.Join(space_id=space_id))
        await bot.client.until(lambda: key in bot.marks)
        acked = bot.marks.get(ack.id or "", clock.now())
        return acked - started, bot.marks[key] - started

    async def chat(self, schedule: Sequence[tuple[int, int, float]]) -> dict[str, Any]:
        """Post event-wide chat messages: (message index, bot index, send time on the run clock).

        The send time written into the text is the moment the message was handed to the
        socket, so a late start (a busy bot process) does not count as server latency; how
        late each send was is returned as ``lag_s``.
        """
        lag_s = array("d")
        sent_index = array("l")
        sent_at = array("d")
        for index, bot_index, send_at in sorted(schedule, key=lambda item: item[2]):
            delay = send_at - clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
            bot = self.bots.get(bot_index)
            if bot is None or not bot.connected:
                self.note_error(f"chat {index}: sender {bot_index} is not connected")
                continue
            request_id = f"chat-{index}"
            sent_ns = clock.now_ns()
            self._chat_sent_at[request_id] = sent_ns / 1e9
            lag_s.append(sent_ns / 1e9 - send_at)
            sent_index.append(index)
            sent_at.append(sent_ns / 1e9)
            self.counters["chat_sent"] += 1
            try:
                await bot.client.send(
                    p.Chat(
                        id=request_id, text=chat_text(self.prefix, index, sent_ns), scope="event"
                    )
                )
            except (ConnectionError, RuntimeError) as exc:
                self.note_error(f"chat {index}: {type(exc).__name__}: {exc}")
        return {"lag_s": lag_s, "sent_index": sent_index, "sent_at": sent_at}

    async def chat_results(self) -> dict[str, Any]:
        """Receipts so far (latency and message index of each), echoes and ack latencies."""
        return {
            "receipt_latency_s": self._receipt_latency,
            "receipt_index": self._receipt_index,
            "echo_latency_s": self._echo_latency,
            "ack_latency_s": self._chat_ack_latency,
            "inbound_latency_s": self._inbound_latency,
            "outbound_latency_s": self._outbound_latency,
            "unanswered": len(self._chat_sent_at),
        }

    async def hands(self, bot_indices: Sequence[int], timeout: float = 10.0) -> dict[str, Any]:
        """Raise and lower a hand with each listed bot, all at once.

        Measures the ``raise_hand`` ack and the ``hand_queue`` update that shows the bot its
        own place in the queue (the round trip a participant sees).
        """
        ack_s = array("d")
        position_s = array("d")

        async def one(bot: Bot) -> None:
            bot.marks.pop("hand", None)
            started = clock.now()
            try:
                async with asyncio.timeout(timeout):
                    ack = await bot.client.request(p.RaiseHand())
                    await bot.client.until(lambda: "hand" in bot.marks)
                    ack_s.append(bot.marks.get(ack.id or "", clock.now()) - started)
                    position_s.append(bot.marks["hand"] - started)
                    self.counters["hands"] += 1
            except (RequestFailed, ConnectionError, TimeoutError) as exc:
                self.note_error(f"{bot.name}: hand: {type(exc).__name__}: {exc}")

        bots = [self.bots[i] for i in bot_indices if i in self.bots and self.bots[i].connected]
        await asyncio.gather(*(one(bot) for bot in bots))
        for bot in bots:
            with contextlib.suppress(RequestFailed, ConnectionError, TimeoutError):
                await bot.client.request(p.LowerHand(), timeout=timeout)
        return {"ack_s": ack_s, "position_s": position_s}

    async def status(self) -> dict[str, Any]:
        """Counters, the first errors, and the close codes of sockets the server closed."""
        closed: dict[str, int] = {}
        for bot in self.bots.values():
            if bot.client.ws is not None and bot.client.ws.closed:
                code = str(bot.client.ws.close_code)
                closed[code] = closed.get(code, 0) + 1
        return {
            "counters": self.progress(),
            "errors": list(self.errors),
            "closed": closed,
            "connections": self.connection_figures(),
        }

    async def close(self) -> dict[str, Any]:
        """Close every socket and the HTTP session."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        bots = list(self.bots.values())
        for start in range(0, len(bots), 100):
            await asyncio.gather(
                *(bot.client.close() for bot in bots[start : start + 100]),
                return_exceptions=True,
            )
        sessions = list(self.http.values())
        self.http.clear()
        for session in sessions:
            await session.close()
        return {"closed": len(bots)}
