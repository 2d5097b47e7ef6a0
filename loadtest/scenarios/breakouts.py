"""The ``breakouts`` scenario: R rooms x P media participants, everyone seeing everyone.

1. join: R x P bots join the booths ``booth-01`` ... (every bot publishes the replayed clip
   and subscribes). Measured: join ack latency and subscribe -> first RTP packet.
2. rooms: for S seconds everyone receives the others of their room; every few seconds one
   participant moves to the next room. Measured: move request -> first packet of the
   newcomer's video at each member of the room they entered (p50/p95/p99); packets
   expected (RTP sequence numbers) vs received per slot (loss); forwarded packets per
   second; server and bot CPU.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest import clock
from loadtest.capacity import Demand
from loadtest.console import format_ms, format_number
from loadtest.media import LIVE_WITHIN_S, ClipSettings
from loadtest.runner import Run, ScenarioFailed
from loadtest.scenarios import mediabase as mb
from loadtest.stats import summary_ms
from loadtest.verdict import MAX_FREEZE_S, MAX_LOSS, Verdict
from loadtest.workers import use_fleet

BOOTHS = 20
BOOTH_CAPACITY = 12


@dataclass(frozen=True, slots=True)
class BreakoutOptions:
    rooms: int = 4
    per_room: int = 4
    seconds: float = 30.0
    move_every: float = 3.0
    concurrency: int = 6
    max_loss: float = MAX_LOSS
    max_freeze_s: float = MAX_FREEZE_S
    workers: int | None = None  # the spawned server's media worker processes
    secret_file: Path | None = None
    clip: ClipSettings = field(default_factory=ClipSettings)

    def check(self) -> None:
        if not 1 <= self.rooms <= BOOTHS:
            raise ValueError(f"--rooms: the demo event has {BOOTHS} booths")
        if not 1 <= self.per_room < BOOTH_CAPACITY:
            raise ValueError(f"--per-room must be 1..{BOOTH_CAPACITY - 1} (moves add one)")

    def room(self, index: int) -> str:
        return f"booth-{index % self.rooms + 1:02d}"


class BreakoutScenario:
    name = "breakouts"

    def __init__(self, options: BreakoutOptions) -> None:
        options.check()
        self.opts = options
        self.server_env = mb.server_env(options.workers)
        self.counters = mb.ServerCounters()
        self.token = ""
        use_fleet(mb.MEDIA_FLEET)
        self.joins: list[dict[str, Any]] = []
        self.joined: dict[int, str] = {}
        self.moves: list[tuple[str, float]] = []
        self.move_acks: list[float] = []
        self.results: list[dict[str, Any]] = []
        self.window_s = 0.0
        self.t0 = 0.0
        self.statuses: list[dict[str, Any]] = []
        self.clip_info: dict[str, Any] = {}
        self.occupancy: list[list[Any]] = []

    def options(self) -> dict[str, Any]:
        data = asdict(self.opts)
        data["secret_file"] = str(self.opts.secret_file) if self.opts.secret_file else None
        return data

    async def run(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        view = run.view
        self.t0 = clock.now()
        clip = await mb.share_clip(run, opts.clip)
        self.clip_info = {
            **asdict(opts.clip),
            "measured_video_kbps": round(clip.video_kbps_measured, 1),
        }
        where: dict[int, int] = {}
        bots = []
        for r in range(opts.rooms):
            for k in range(opts.per_room):
                index = r * opts.per_room + k
                where[index] = r
                bots.append(
                    {
                        "index": index,
                        "name": f"room{r + 1:02d}-{k + 1:02d}",
                        "space": opts.room(r),
                        "publish": True,
                        "expect_media": opts.per_room > 1,
                    }
                )
        view.add("join", len(bots))
        self._start = float("inf")

        def on_progress() -> None:
            totals = pool.totals()
            done = totals.get("joined", 0) + totals.get("media_failed", 0)
            view.update("join", done, info=f"{totals.get('media_packets', 0):,} packets")
            view.update("rooms", min(opts.seconds, clock.now() - self._start))

        pool.on_progress = on_progress
        async with run.phase("join") as entry:
            self.joins = await pool.call_all(
                "media_join",
                [
                    {**args, "concurrency": max(1, opts.concurrency // workers)}
                    for args in mb.by_worker(bots, workers)
                ],
            )
            self.joined = mb.merge_joined(self.joins)
            entry["joined"] = len(self.joined)
        if not self.joined:
            raise ScenarioFailed("no bot could join; see the errors in the report")
        if len(self.joined) < len(bots):
            run.report.note(f"{len(bots) - len(self.joined)} of {len(bots)} bots could not join")
        await asyncio.sleep(2.0)

        view.add("rooms", opts.seconds)
        await pool.call_all("media_reset")
        (self.token,) = await mb.staff_tokens(
            run, [("moderator", "Load test")], mb.secret_file(run, self.opts.secret_file)
        )
        await self.counters.start(run, self.token)
        self._record(where)
        observers: list[list[int]] = []
        async with run.phase("rooms") as entry:
            self._start = start = clock.now()
            turn = 0
            # The last move leaves the newcomer time to be seen before the window closes.
            last_move = opts.seconds - LIVE_WITHIN_S - 1.0
            while opts.rooms > 1 and (turn + 0.5) * opts.move_every <= last_move:
                tick = start + (turn + 0.5) * opts.move_every
                await asyncio.sleep(max(0.0, tick - clock.now()))
                source = turn % opts.rooms
                members = sorted(i for i, r in where.items() if r == source and i in self.joined)
                if members:
                    mover = members[turn // opts.rooms % len(members)]
                    target = (source + 1) % opts.rooms
                    sent = await pool.call(
                        mover % workers,
                        "act_many",
                        actions=[(mover, {"type": "move", "space_id": opts.room(target)})],
                    )
                    if sent and sent[0] is not None:
                        self.moves.append((self.joined[mover], sent[0]))
                        observers.append([i for i, r in where.items() if r == target])
                        where[mover] = target
                        self._record(where)
                turn += 1
            await asyncio.sleep(max(0.0, start + opts.seconds - clock.now()))
            self.window_s = clock.now() - start
            await self.counters.stop(run, self.token)
            results = []
            for w in range(workers):
                results.append(
                    pool.call(
                        w,
                        "media_results",
                        appearances=[],
                    )
                )
            self.results = list(await asyncio.gather(*results))
            # Move latency: seen only by the members of the room entered.
            for move, watchers in zip(self.moves, observers, strict=True):
                parts = await asyncio.gather(
                    *(
                        pool.call(
                            w,
                            "media_results",
                            appearances=[move],
                            within=opts.move_every,
                            observers=[i for i in watchers if i % workers == w],
                        )
                        for w in range(workers)
                    )
                )
                for part in parts:
                    self.results[0]["latencies"].extend(part["latencies"])
            entry["moves"] = len(self.moves)
        self.statuses = await pool.call_all("status")

    def _record(self, where: dict[int, int]) -> None:
        counts = [0] * self.opts.rooms
        for index, room in where.items():
            if index in self.joined:
                counts[room] += 1
        self.occupancy.append([round(clock.now() - self.t0, 3), *counts])

    def finish(self, run: Run) -> None:
        metrics = run.report.metrics
        opts = self.opts
        metrics["clip"] = self.clip_info
        metrics["bots"] = opts.rooms * opts.per_room
        metrics["bots_joined"] = len(self.joined)
        metrics["join_latency_ms"] = summary_ms(mb.chain(self.joins, "join_ack_s"))
        metrics["media_first_packet_ms"] = summary_ms(mb.chain(self.joins, "media_s"))
        metrics["moves"] = len(self.moves)
        rows = mb.latency_events(self.results, self.t0)
        slots, packets = mb.latency_summaries(rows)
        metrics["move_slots_latency_ms"] = slots
        metrics["move_first_packet_ms"] = packets
        metrics["measure_seconds"] = round(self.window_s, 2)
        if self.results:
            metrics.update(mb.loss_figures(self.results, self.window_s))
            metrics.update(mb.viewer_figures(self.results))
        # Everyone should still receive every other member of their room (up to 9 tiles).
        sizes = self.occupancy[-1][1:] if self.occupancy else []
        metrics["live_streams_expected"] = sum(2 * n * min(9, n - 1) for n in sizes if n > 1)
        metrics.update(mb.resource_metrics(run, ("join", "rooms")))
        metrics.update(self.counters.figures(self.window_s))
        metrics["publisher_packets_per_second"] = metrics.get("sent_packets_per_second")
        mb.efficiency(metrics, "rooms")
        run.report.series["latency_events"] = {
            "columns": ["t", "participant", "observer", "slots_ms", "first_packet_ms"],
            "rows": rows,
        }
        run.report.series["spaces"] = {
            "columns": ["t", *(opts.room(r) for r in range(opts.rooms))],
            "rows": self.occupancy,
        }
        for status in self.statuses:
            for error in status.get("errors", []):
                run.report.error(error)
        mb.limit_notes(run, ("rooms",))
        mb.draw_plots(run, self.name)

    measured_phases = ("rooms",)

    def demand(self) -> Demand:
        opts = self.opts
        n = opts.per_room
        return Demand(
            publishers=opts.rooms * n,
            streams=opts.rooms * 2 * n * min(9, n - 1),
            clients=opts.rooms * n,
        )

    def judge(self, run: Run, verdict: Verdict) -> None:
        opts = self.opts
        mb.judge_media(
            verdict,
            run.report.metrics,
            self.statuses,
            bots_asked=opts.rooms * opts.per_room,
            bots_joined=len(self.joined),
            max_loss=opts.max_loss,
            max_freeze_s=opts.max_freeze_s,
        )
        mb.appearance_check(
            verdict, run.report.series.get("latency_events", {}).get("rows", []), "move"
        )

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            ("bots joined / asked", f"{metrics.get('bots_joined', 0)} / {metrics.get('bots', 0)}"),
            ("rooms x per room", f"{self.opts.rooms} x {self.opts.per_room}"),
            ("--", ""),
            ("latency, ms", "p50 / p95 / p99 / max"),
            ("join -> ack", format_ms(metrics.get("join_latency_ms"))),
            ("subscribe -> first packet", format_ms(metrics.get("media_first_packet_ms"))),
            ("move -> media_slots (new room)", format_ms(metrics.get("move_slots_latency_ms"))),
            ("move -> first packet (new room)", format_ms(metrics.get("move_first_packet_ms"))),
            ("--", ""),
            ("moves", format_number(metrics.get("moves"))),
            *mb.delivery_rows(metrics),
            ("--", ""),
            *mb.cpu_rows(metrics, "rooms"),
        ]
