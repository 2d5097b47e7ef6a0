"""The ``signaling`` scenario: many participants join a stage, chat and raise hands.

1. ramp: N bots register, connect and join the stage (bounded concurrency, optionally at a
   fixed arrival rate). Measured: registration, connection (hello -> welcome and snapshot)
   and join latency (join request -> ack, and -> the stage's snapshot).
2. chat: M event-wide chat messages spread evenly over S seconds, sent by many bots so no
   one exceeds the server's per-participant chat rate. Every message carries its send time;
   every other bot notes when it arrived. Measured: fan-out latency over all receipts,
   delivery completeness (received / expected), the sender's ack latency.
3. hands: H bots raise a hand at once and wait to see their place in the queue, then lower it.

Server, bot and machine CPU are measured per phase, so a starved bot process is told apart
from an overloaded server.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from loadtest import clock
from loadtest.capacity import Demand
from loadtest.console import format_ms, format_number
from loadtest.runner import Run, ScenarioFailed
from loadtest.stats import ratio, summary_ms
from loadtest.verdict import Verdict, bot_errors_check, connection_check, websocket_drops

# The server allows 5 chat messages per second per participant, with bursts of 10.
SERVER_CHAT_RATE = 5.0
SERVER_CHAT_BURST = 10
# Plans stay well inside that limit so the benchmark never measures its own rejections.
SAFE_CHAT_RATE = 4.0
SAFE_CHAT_BURST = 5
# A process above this share of a core is busy enough to delay what it measures.
BUSY_PERCENT = 85.0
# On a shared machine, a message counts as sent "undisturbed" when the machine's other
# programs used less than this share of a core (percent) while it fanned out.
QUIET_OTHERS_PERCENT = 25.0


@dataclass(frozen=True, slots=True)
class SignalingOptions:
    clients: int = 1400
    chat_messages: int = 300
    seconds: float = 30.0
    senders: int | None = None
    hands: int = 20
    concurrency: int = 100
    ramp_rate: float | None = None
    # Loopback addresses the bots connect from (127.0.0.2, 127.0.0.3, ...), so the server
    # sees many participants' addresses as it would in production, not one.
    source_addresses: int = 8
    space: str = "main-stage"
    join_timeout: float = 60.0
    drain_timeout: float = 20.0
    settle_s: float = 1.0

    def sender_count(self) -> int:
        """Bots that post chat messages: by default every message has its own sender."""
        if self.senders is not None:
            return self.senders
        return max(1, min(self.clients, self.chat_messages))

    def check(self) -> None:
        """Refuse plans that cannot measure what they claim; raises ValueError."""
        if self.clients < 2:
            raise ValueError("--clients must be at least 2 (someone has to receive the chat)")
        if self.chat_messages < 0 or self.hands < 0:
            raise ValueError("--chat-messages and --hands cannot be negative")
        if self.seconds <= 0:
            raise ValueError("--seconds must be positive")
        if self.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        if self.ramp_rate is not None and self.ramp_rate <= 0:
            raise ValueError("--ramp-rate must be positive")
        if not 1 <= self.source_addresses <= 250:
            raise ValueError("--source-addresses must be between 1 and 250")
        senders = self.sender_count()
        if not 1 <= senders <= self.clients:
            raise ValueError("--senders must be between 1 and --clients")
        if self.chat_messages:
            per_sender = math.ceil(self.chat_messages / senders)
            gap = senders * self.seconds / self.chat_messages
            if per_sender > SAFE_CHAT_BURST and gap < 1.0 / SAFE_CHAT_RATE:
                raise ValueError(
                    f"each sender would post {per_sender} messages {gap:.2f} s apart, over "
                    f"the server's chat limit ({SERVER_CHAT_RATE:g}/s, bursts of "
                    f"{SERVER_CHAT_BURST}): use more --senders or more --seconds"
                )


def spread(items: Sequence[int], count: int, offset: float = 0.0) -> list[int]:
    """``count`` items picked evenly across ``items`` (so across every worker process)."""
    if count <= 0 or not items:
        return []
    count = min(count, len(items))
    step = len(items) / count
    return [items[min(len(items) - 1, int((i + offset) * step))] for i in range(count)]


def source_addresses(base_url: str, count: int) -> list[str]:
    """Local addresses for the bots: 127.0.0.2 .. for an IPv4 loopback server, else none.

    Linux routes all of 127.0.0.0/8 to the loopback interface, so these need no setup. With
    ``count`` 1, or a server on ::1 or named localhost, bots use the default address.
    """
    host = urlsplit(base_url).hostname or ""
    if count <= 1 or not host.startswith("127."):
        return []
    return [f"127.0.0.{2 + i}" for i in range(count)]


def chat_plan(
    senders: Sequence[int], messages: int, seconds: float, start: float
) -> list[tuple[int, int, float]]:
    """(message index, sender, send time): messages evenly spaced, senders taking turns."""
    if not senders:
        return []
    interval = seconds / messages if messages else 0.0
    return [(k, senders[k % len(senders)], start + k * interval) for k in range(messages)]


def _chain(parts: Iterable[Any], key: str) -> list[Any]:
    return list(itertools.chain.from_iterable(part[key] for part in parts if part))


class SignalingScenario:
    name = "signaling"

    def __init__(self, options: SignalingOptions) -> None:
        options.check()
        self.opts = options
        self.ramp: list[dict[str, Any]] = []
        self.joined: list[int] = []
        self.open_at_chat = 0
        self.sends: list[dict[str, Any]] = []
        self.chat: list[dict[str, Any]] = []
        self.chat_started = 0.0
        self.chat_receipts_time = 0.0
        self.hand_results: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.health: dict[str, Any] | None = None
        self._expected = 0

    def options(self) -> dict[str, Any]:
        return {**asdict(self.opts), "senders": self.opts.sender_count()}

    # ------------------------------------------------------------------ the run

    async def run(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        view = run.view
        view.add("ramp", opts.clients)

        def on_progress() -> None:
            totals = pool.totals()
            joined, failed = totals.get("joined", 0), totals.get("failed", 0)
            view.update("ramp", joined + failed, info=f"{failed} failed" if failed else "")
            refused = totals.get("chat_refused", 0)
            view.update("chat sent", totals.get("chat_sent", 0), info=f"{refused} refused")
            view.update("chat delivered", totals.get("receipts", 0))
            view.update("hands", totals.get("hands", 0))

        pool.on_progress = on_progress

        async with run.phase("ramp") as entry:
            start_at = clock.now() + 0.5
            interval = 1.0 / opts.ramp_rate if opts.ramp_rate else 0.0
            per_worker_concurrency = max(1, math.ceil(opts.concurrency / workers))
            self.ramp = await pool.call_all(
                "ramp",
                [
                    {
                        "clients": [
                            (i, f"bot-{i:05d}") for i in range(opts.clients) if i % workers == w
                        ],
                        "space_id": opts.space,
                        "concurrency": per_worker_concurrency,
                        "start_at": start_at,
                        "interval": interval,
                        "timeout": opts.join_timeout,
                        "source_addresses": source_addresses(run.base_url, opts.source_addresses),
                    }
                    for w in range(workers)
                ],
            )
            self.joined = sorted(_chain(self.ramp, "joined"))
            entry["joined"] = len(self.joined)
        if not self.joined:
            raise ScenarioFailed("no bot could join; see the errors in the report")
        await asyncio.sleep(opts.settle_s)
        self.statuses = await pool.call_all("status")
        self.open_at_chat = sum(s["counters"]["open"] for s in self.statuses)
        self.health = await _health(run.base_url)

        if opts.chat_messages:
            await self._chat(run)
        if opts.hands:
            # At most one hand per joined bot.
            hand_bots = spread(self.joined, opts.hands, offset=0.5)
            view.add("hands", len(hand_bots))
            async with run.phase("hands"):
                self.hand_results = await pool.call_all(
                    "hands",
                    [
                        {"bot_indices": [i for i in hand_bots if i % workers == w]}
                        for w in range(workers)
                    ],
                )
        self.statuses = await pool.call_all("status")

    async def _chat(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        senders = spread(self.joined, opts.sender_count())
        receivers = self.open_at_chat - 1
        run.view.add("chat sent", opts.chat_messages)
        run.view.add("chat delivered", opts.chat_messages * receivers)
        async with run.phase("chat") as entry:
            self.chat_started = clock.now() + 1.0
            plan = chat_plan(senders, opts.chat_messages, opts.seconds, self.chat_started)
            self.sends = await pool.call_all(
                "chat",
                [
                    {"schedule": [item for item in plan if item[1] % workers == w]}
                    for w in range(workers)
                ],
            )
            sent = sum(len(part["sent_index"]) for part in self.sends)
            self._expected = sent * receivers
            run.view.update(
                "chat delivered", pool.totals().get("receipts", 0), total=self._expected
            )
            # Wait for every receipt and every ack (or the drain timeout).
            deadline = time.monotonic() + opts.drain_timeout
            while time.monotonic() < deadline:
                totals = pool.totals()
                answered = totals.get("chat_acked", 0) + totals.get("chat_refused", 0)
                if totals.get("receipts", 0) >= self._expected and answered >= sent:
                    break
                await asyncio.sleep(0.1)
            self.chat = await pool.call_all("chat_results")
            self.chat_receipts_time = clock.now()
            entry["messages"] = sent
            entry["senders"] = len(senders)
            entry["receivers_per_message"] = receivers

    # ------------------------------------------------------------------ figures

    def finish(self, run: Run) -> None:
        report = run.report
        metrics = report.metrics
        opts = self.opts
        totals = self._counters()
        ramp = self.ramp
        metrics["clients"] = opts.clients
        metrics["clients_joined"] = len(self.joined)
        metrics["clients_failed"] = totals.get("failed", 0)
        metrics["clients_open_at_end"] = totals.get("open", 0)
        metrics["register_rate_limited"] = totals.get("register_retries", 0)
        metrics["register_latency_ms"] = summary_ms(_chain(ramp, "register_s"))
        metrics["connect_latency_ms"] = summary_ms(_chain(ramp, "connect_s"))
        metrics["join_latency_ms"] = summary_ms(_chain(ramp, "join_ack_s"))
        metrics["join_snapshot_latency_ms"] = summary_ms(_chain(ramp, "join_snapshot_s"))
        ramp_s = run.phase_figure("ramp", "duration_s")
        metrics["ramp_duration_s"] = ramp_s
        metrics["ramp_joins_per_s"] = (
            round(len(self.joined) / ramp_s, 1) if ramp_s and self.joined else None
        )
        if self.health is not None:
            metrics["server_sessions_after_ramp"] = self.health.get("sessions")

        sent = sum(len(part["sent_index"]) for part in self.sends)
        receipts = _chain(self.chat, "receipt_latency_s")
        metrics["chat_messages_sent"] = sent
        metrics["chat_senders"] = len(spread(self.joined, opts.sender_count()))
        metrics["chat_rate_per_s"] = round(opts.chat_messages / opts.seconds, 2)
        metrics["chat_refused"] = totals.get("chat_refused", 0)
        metrics["chat_receivers_per_message"] = max(0, self.open_at_chat - 1)
        metrics["chat_receipts"] = len(receipts)
        metrics["chat_receipts_expected"] = self._expected
        delivery = ratio(len(receipts), self._expected)
        metrics["chat_delivery_ratio"] = None if delivery is None else round(delivery, 6)
        metrics["chat_fanout_latency_ms"] = summary_ms(receipts)
        per_message = self._per_message()
        metrics["chat_fanout_complete_ms"] = summary_ms(m["max_s"] for m in per_message)
        quiet = self._quiet_messages(run, per_message)
        metrics["chat_quiet_messages"] = len(quiet)
        metrics["chat_fanout_latency_ms_quiet"] = summary_ms(self._receipts_of(quiet))
        metrics["chat_ack_latency_ms"] = summary_ms(_chain(self.chat, "ack_latency_s"))
        metrics["chat_echo_latency_ms"] = summary_ms(_chain(self.chat, "echo_latency_s"))
        # The two legs of a fan-out, split by the server's time stamp (same machine, same
        # wall clock): sender -> server accepted it, and server -> each receiver.
        metrics["chat_inbound_latency_ms"] = summary_ms(_chain(self.chat, "inbound_latency_s"))
        metrics["chat_outbound_latency_ms"] = summary_ms(_chain(self.chat, "outbound_latency_s"))
        metrics["chat_send_lag_ms"] = summary_ms(_chain(self.sends, "lag_s"))
        # The messages are spread over --seconds: deliveries per second while they flow.
        metrics["chat_deliveries_per_s"] = round(len(receipts) / opts.seconds, 1)

        metrics["hands"] = totals.get("hands", 0)
        metrics["hand_raise_ack_ms"] = summary_ms(_chain(self.hand_results, "ack_s"))
        metrics["hand_raise_position_ms"] = summary_ms(_chain(self.hand_results, "position_s"))

        phases = ("ramp", "chat", "hands")
        for key, figure in (
            ("server_cpu_percent", "server_cpu_percent"),
            ("bot_cpu_percent", "bot_cpu_percent"),
            ("bot_cpu_percent_max_worker", "bot_cpu_percent_max_worker"),
            ("machine_cpu_percent", "machine_cpu_percent"),
            ("others_cpu_percent", "others_cpu_percent"),
            ("server_cpu_wait_percent", "server_cpu_wait_percent"),
            ("bot_cpu_wait_percent", "bot_cpu_wait_percent"),
        ):
            metrics[key] = {phase: run.phase_figure(phase, figure) for phase in phases}
        for group, key in (("server", "server_cpu_percent"), ("bots", "bot_cpu_percent")):
            points = run.sampler.series.get(group) or []
            if points and isinstance(metrics[key], dict):
                metrics[key]["peak"] = round(max(p.cpu_percent for p in points), 1)
        server_points = run.sampler.series.get("server") or []
        if server_points:
            metrics["server_rss_mb"] = {
                "start": round(server_points[0].rss_mb, 1),
                "peak": round(run.sampler.peak_rss.get("server", 0) / 2**20, 1),
                "end": round(server_points[-1].rss_mb, 1),
            }
        else:
            metrics["server_rss_mb"] = None
        bot_points = run.sampler.series.get("bots") or []
        metrics["bot_rss_mb_peak"] = (
            round(run.sampler.peak_rss.get("bots", 0) / 2**20, 1) if bot_points else None
        )
        closed: dict[str, int] = {}
        for status in self.statuses:
            for code, count in status.get("closed", {}).items():
                closed[code] = closed.get(code, 0) + count
        metrics["sockets_closed_by_server"] = closed
        metrics["connections"] = websocket_drops(self.statuses)
        for status in self.statuses:
            for error in status.get("errors", []):
                report.error(error)
        report.series["chat_messages"] = per_message_series(per_message, self.chat_started)
        self._notes(run)

    measured_phases = ("ramp", "chat", "hands")

    def demand(self) -> Demand:
        return Demand(clients=self.opts.clients)

    def judge(self, run: Run, verdict: Verdict) -> None:
        """Everyone joined, every chat message reached everyone, every hand saw its place,
        and no websocket dropped."""
        metrics = run.report.metrics
        opts = self.opts
        joined = metrics.get("clients_joined", 0)
        verdict.check(
            "clients joined",
            f"{joined:,} / {opts.clients:,}",
            joined == opts.clients,
            f"{opts.clients - joined:,} of {opts.clients:,} clients could not join",
        )
        if opts.chat_messages:
            receipts = metrics.get("chat_receipts", 0)
            expected = metrics.get("chat_receipts_expected", 0)
            verdict.check(
                "chat receipts",
                f"{receipts:,} / {expected:,}",
                expected > 0 and receipts >= expected,
                f"chat messages were lost: {receipts:,} of {expected:,} receipts",
            )
            refused = metrics.get("chat_refused", 0)
            verdict.check(
                "chat messages refused",
                f"{refused:,}",
                refused == 0,
                f"the server refused {refused:,} chat messages",
            )
        if opts.hands:
            asked = len(spread(self.joined, opts.hands, offset=0.5))
            hands = metrics.get("hands", 0)
            verdict.check(
                "hands that saw their place",
                f"{hands} / {asked}",
                hands == asked,
                f"{asked - hands} of {asked} raised hands never saw their place in the queue",
            )
        drops = metrics.get("connections") or {}
        connection_check(verdict, {"websocket": drops.get("ws_drops", 0)})
        bot_errors_check(verdict, self.statuses)

    def _counters(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for status in self.statuses:
            for key, value in status["counters"].items():
                totals[key] = totals.get(key, 0) + value
        return totals

    def _per_message(self) -> list[dict[str, float]]:
        """Fan-out of each message: receipts, median and slowest latency, send time."""
        indices = np.array(_chain(self.chat, "receipt_index"), dtype=np.int64)
        latencies = np.array(_chain(self.chat, "receipt_latency_s"), dtype=np.float64)
        sent_at = dict(
            zip(_chain(self.sends, "sent_index"), _chain(self.sends, "sent_at"), strict=True)
        )
        if indices.size == 0:
            return []
        order = np.argsort(indices, kind="stable")
        indices, latencies = indices[order], latencies[order]
        keys, starts = np.unique(indices, return_index=True)
        bounds = [*starts[1:], indices.size]
        messages = []
        for key, start, end in zip(keys, starts, bounds, strict=True):
            chunk = latencies[start:end]
            messages.append(
                {
                    "index": int(key),
                    "sent_at": sent_at.get(int(key), math.nan),
                    "receipts": int(chunk.size),
                    "p50_s": float(np.percentile(chunk, 50)),
                    "p99_s": float(np.percentile(chunk, 99)),
                    "max_s": float(chunk.max()),
                }
            )
        return messages

    def _quiet_messages(self, run: Run, messages: list[dict[str, float]]) -> set[int]:
        """Messages that fanned out while the machine's other programs were nearly idle.

        Send and receive times are CLOCK_MONOTONIC, as are the sampler's, so a message's
        fan-out is placed among the CPU samples directly.
        """
        started = run.sampler.started
        quiet: set[int] = set()
        for message in messages:
            if not math.isfinite(message["sent_at"]):
                continue
            begin = message["sent_at"] - started
            end = begin + message["max_s"]
            others = [run.sampler.others_at(begin), run.sampler.others_at(end)]
            if all(v is not None and v < QUIET_OTHERS_PERCENT for v in others):
                quiet.add(int(message["index"]))
        return quiet

    def _receipts_of(self, indices: set[int]) -> list[float]:
        if not indices:
            return []
        index = np.array(_chain(self.chat, "receipt_index"), dtype=np.int64)
        latency = np.array(_chain(self.chat, "receipt_latency_s"), dtype=np.float64)
        chosen = np.isin(index, np.fromiter(indices, dtype=np.int64))
        return [float(v) for v in latency[chosen]]

    def _notes(self, run: Run) -> None:
        report = run.report
        metrics = report.metrics
        for phase in ("ramp", "chat", "hands"):
            worker = run.phase_figure(phase, "bot_cpu_percent_max_worker")
            server = run.phase_figure(phase, "server_cpu_percent")
            if worker is not None and worker >= BUSY_PERCENT:
                report.note(
                    f"{phase}: a bot process used {worker:.0f}% of a core; its receive times "
                    "include client-side queuing (use more --processes or fewer clients)"
                )
            if server is not None and server >= BUSY_PERCENT:
                report.note(f"{phase}: the server used {server:.0f}% of a core (saturated)")
        delivery = metrics.get("chat_delivery_ratio")
        if delivery is not None and delivery < 1.0:
            report.note(
                f"chat delivery incomplete: {metrics['chat_receipts']:,} of "
                f"{metrics['chat_receipts_expected']:,} receipts"
            )
        if metrics.get("chat_refused"):
            report.note(f"the server refused {metrics['chat_refused']} chat messages")
        if metrics.get("register_rate_limited"):
            report.note(
                f"registration was rate limited {metrics['register_rate_limited']} times "
                "(the server limits registrations per address); the ramp waited and retried"
            )

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, str]]:
        def cpu(key: str, phase: str) -> str:
            figures = metrics.get(key) or {}
            return format_number(figures.get(phase), 0, "%")

        rss = metrics.get("server_rss_mb") or {}
        return [
            (
                "clients joined / asked",
                f"{metrics.get('clients_joined', 0):,} / {self.opts.clients:,}",
            ),
            (
                "ramp (s) / joins per s",
                f"{format_number(metrics.get('ramp_duration_s'))} / "
                f"{format_number(metrics.get('ramp_joins_per_s'))}",
            ),
            ("--", ""),
            ("latency, ms", "p50 / p95 / p99 / max"),
            ("register", format_ms(metrics.get("register_latency_ms"))),
            ("connect (hello -> snapshot)", format_ms(metrics.get("connect_latency_ms"))),
            ("join -> ack", format_ms(metrics.get("join_latency_ms"))),
            ("join -> snapshot", format_ms(metrics.get("join_snapshot_latency_ms"))),
            ("chat fan-out (every receipt)", format_ms(metrics.get("chat_fanout_latency_ms"))),
            ("  of which bot -> server", format_ms(metrics.get("chat_inbound_latency_ms"))),
            ("  of which server -> bots", format_ms(metrics.get("chat_outbound_latency_ms"))),
            ("chat fan-out complete (per msg)", format_ms(metrics.get("chat_fanout_complete_ms"))),
            (
                f"chat fan-out, quiet machine ({metrics.get('chat_quiet_messages', 0)} msgs)",
                format_ms(metrics.get("chat_fanout_latency_ms_quiet")),
            ),
            ("chat ack (sender)", format_ms(metrics.get("chat_ack_latency_ms"))),
            ("hand raise -> ack", format_ms(metrics.get("hand_raise_ack_ms"))),
            ("hand raise -> own position", format_ms(metrics.get("hand_raise_position_ms"))),
            ("--", ""),
            (
                "chat messages sent / refused",
                f"{metrics.get('chat_messages_sent', 0):,} / {metrics.get('chat_refused', 0):,}",
            ),
            (
                "chat receipts / expected",
                f"{metrics.get('chat_receipts', 0):,} / "
                f"{metrics.get('chat_receipts_expected', 0):,}",
            ),
            ("chat delivery ratio", format_number(metrics.get("chat_delivery_ratio"), 4)),
            ("chat deliveries per s", format_number(metrics.get("chat_deliveries_per_s"), 0)),
            ("--", ""),
            (
                "server CPU ramp / chat / peak",
                f"{cpu('server_cpu_percent', 'ramp')} / {cpu('server_cpu_percent', 'chat')} / "
                f"{cpu('server_cpu_percent', 'peak')}",
            ),
            (
                "server RSS MB start / peak",
                f"{format_number(rss.get('start'), 0)} / {format_number(rss.get('peak'), 0)}",
            ),
            (
                "bot CPU ramp / chat (all)",
                f"{cpu('bot_cpu_percent', 'ramp')} / {cpu('bot_cpu_percent', 'chat')}",
            ),
            ("busiest bot process chat", cpu("bot_cpu_percent_max_worker", "chat")),
            ("machine CPU chat (all cores=100%)", cpu("machine_cpu_percent", "chat")),
            ("other programs' CPU chat", cpu("others_cpu_percent", "chat")),
            (
                "waiting for a CPU chat: server / bots",
                f"{cpu('server_cpu_wait_percent', 'chat')} / {cpu('bot_cpu_wait_percent', 'chat')}",
            ),
        ]


def per_message_series(messages: list[dict[str, float]], chat_started: float) -> dict[str, Any]:
    """Per chat message: when it was sent (s after the chat phase began) and its fan-out."""
    rows = [
        [
            m["index"],
            round(m["sent_at"] - chat_started, 4) if math.isfinite(m["sent_at"]) else None,
            m["receipts"],
            round(m["p50_s"] * 1000, 2),
            round(m["p99_s"] * 1000, 2),
            round(m["max_s"] * 1000, 2),
        ]
        for m in messages
    ]
    return {"columns": ["index", "sent_s", "receipts", "p50_ms", "p99_ms", "max_ms"], "rows": rows}


async def _health(base_url: str) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"{base_url}/healthz") as resp,
        ):
            data: dict[str, Any] = await resp.json()
            return data
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
