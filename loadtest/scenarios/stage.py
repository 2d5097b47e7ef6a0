"""The ``stage`` scenario: speakers publish on the main stage to N audience media bots.

1. join: a moderator (signaling only) and P speakers (speaker tokens, publishing the replayed
   clip) join the stage; then N audience bots join and subscribe, H of them with their camera
   on (the hand raisers). Measured: join ack latency and subscribe -> first RTP packet.
2. stage: for S seconds every audience bot receives the speakers; every few seconds a hand
   raiser raises a hand, the moderator promotes them into a Q&A slot and demotes them a
   little later. Measured: promotion -> ``media_slots`` and promotion -> first packet of the
   promoted video at each audience bot (p50/p95/p99); packets expected (RTP sequence
   numbers) vs received per slot (loss); forwarded packets per second; server and bot CPU.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest import clock
from loadtest.capacity import Demand
from loadtest.console import format_ms, format_number
from loadtest.media import ClipSettings
from loadtest.runner import Run, ScenarioFailed
from loadtest.scenarios import mediabase as mb
from loadtest.stats import summary_ms
from loadtest.verdict import MAX_FREEZE_S, MAX_LOSS, Verdict
from loadtest.workers import use_fleet


@dataclass(frozen=True, slots=True)
class StageOptions:
    publishers: int = 2
    audience: int = 20
    hand_raisers: int = 3
    seconds: float = 30.0
    promote_every: float = 4.0
    hold: float = 2.5
    space: str = "main-stage"
    concurrency: int = 6
    # As browsers do, every audience member publishes camera and microphone; without it
    # only the hand raisers do (kinder to the server than browsers are).
    audience_publish: bool = True
    workers: int | None = None  # the spawned server's media worker processes
    max_loss: float = MAX_LOSS
    max_freeze_s: float = MAX_FREEZE_S
    secret_file: Path | None = None
    clip: ClipSettings = field(default_factory=ClipSettings)

    def check(self) -> None:
        if not 0 <= self.publishers <= 4:
            raise ValueError("--publishers: the demo stage has 4 speaker seats (0..4)")
        if self.audience < 1:
            raise ValueError("--audience must be at least 1")
        if not 0 <= self.hand_raisers <= self.audience:
            raise ValueError("--hand-raisers must be between 0 and --audience")
        if self.hold >= self.promote_every:
            raise ValueError("--hold must be shorter than --promote-every")


class StageScenario:
    name = "stage"

    def __init__(self, options: StageOptions) -> None:
        options.check()
        self.opts = options
        self.server_env = mb.server_env(options.workers)
        self.counters = mb.ServerCounters()
        self.token = ""
        self.raisers: list[int] = []
        use_fleet(mb.MEDIA_FLEET)
        self.joins: list[dict[str, Any]] = []
        self.joined: dict[int, str] = {}
        self.promotions: list[tuple[str, float]] = []
        self.results: list[dict[str, Any]] = []
        self.window_s = 0.0
        self.t0 = 0.0
        self.statuses: list[dict[str, Any]] = []
        self.clip_info: dict[str, Any] = {}

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
        secret = mb.secret_file(run, opts.secret_file)
        people = [("moderator", "Moderator")] + [
            ("speaker", f"Speaker {i + 1}") for i in range(opts.publishers)
        ]
        tokens = await mb.staff_tokens(run, people, secret)
        self.token = tokens[0]
        staff = [
            {
                "index": 0,
                "name": "moderator",
                "token": tokens[0],
                "space": opts.space,
                "media": False,
            }
        ] + [
            {
                "index": 1 + i,
                "name": f"speaker-{i + 1}",
                "token": tokens[1 + i],
                "space": opts.space,
                "publish": True,
            }
            for i in range(opts.publishers)
        ]
        first = 1 + opts.publishers
        self.raisers = list(range(first, first + opts.hand_raisers))
        audience = [
            {
                "index": first + i,
                "name": f"audience-{i + 1:04d}",
                "space": opts.space,
                "publish": opts.audience_publish or i < opts.hand_raisers,
                "expect_media": opts.publishers > 0,
            }
            for i in range(opts.audience)
        ]
        total = len(staff) + len(audience)
        view.add("join", total)

        def on_progress() -> None:
            totals = pool.totals()
            done = totals.get("joined", 0) + totals.get("media_failed", 0)
            view.update("join", done, info=f"{totals.get('media_packets', 0):,} packets")
            view.update("stage", min(opts.seconds, clock.now() - self._stage_start))

        self._stage_start = float("inf")
        pool.on_progress = on_progress
        async with run.phase("join") as entry:
            parts = await pool.call_all("media_join", mb.by_worker(staff, workers))
            parts += await pool.call_all(
                "media_join",
                [
                    {**args, "concurrency": max(1, opts.concurrency // workers)}
                    for args in mb.by_worker(audience, workers)
                ],
            )
            self.joins = parts
            self.joined = mb.merge_joined(parts)
            entry["joined"] = len(self.joined)
        if 0 not in self.joined:
            raise ScenarioFailed("the moderator could not join; see the errors in the report")
        if len(self.joined) < total:
            run.report.note(f"{total - len(self.joined)} of {total} bots could not join")
        await asyncio.sleep(2.0)

        view.add("stage", opts.seconds)
        await pool.call_all("media_reset")
        await self.counters.start(run, self.token)
        async with run.phase("stage") as entry:
            self._stage_start = start = clock.now()
            turn = 0
            raisers = [i for i in self.raisers if i in self.joined]
            while clock.now() - start + opts.promote_every <= opts.seconds + 0.01:
                tick = start + turn * opts.promote_every
                await asyncio.sleep(max(0.0, tick - clock.now()))
                if raisers:
                    who = raisers[turn % len(raisers)]
                    await self._promote(run, who)
                turn += 1
            await asyncio.sleep(max(0.0, start + opts.seconds - clock.now()))
            self.window_s = clock.now() - start
            await self.counters.stop(run, self.token)
            self.results = await pool.call_all(
                "media_results",
                [{"appearances": self.promotions, "within": opts.hold} for _ in range(workers)],
            )
            entry["promotions"] = len(self.promotions)
        self.statuses = await pool.call_all("status")

    async def _promote(self, run: Run, who: int) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        pid = self.joined[who]
        await pool.call(who % workers, "act_many", actions=[(who, {"type": "raise_hand"})])
        sent = await pool.call(
            0, "act_many", actions=[(0, {"type": "promote", "participant_id": pid})]
        )
        if sent and sent[0] is not None:
            self.promotions.append((pid, sent[0]))
        await asyncio.sleep(opts.hold)
        await pool.call(0, "act_many", actions=[(0, {"type": "demote", "participant_id": pid})])

    # ------------------------------------------------------------------ figures

    def finish(self, run: Run) -> None:
        metrics = run.report.metrics
        opts = self.opts
        metrics["clip"] = self.clip_info
        metrics["bots"] = 1 + opts.publishers + opts.audience
        metrics["bots_joined"] = len(self.joined)
        metrics["join_latency_ms"] = summary_ms(mb.chain(self.joins, "join_ack_s"))
        metrics["media_first_packet_ms"] = summary_ms(mb.chain(self.joins, "media_s"))
        metrics["promotions"] = len(self.promotions)
        rows = mb.latency_events(self.results, self.t0)
        slots, packets = mb.latency_summaries(rows)
        metrics["promotion_slots_latency_ms"] = slots
        metrics["promotion_first_packet_ms"] = packets
        metrics["measure_seconds"] = round(self.window_s, 2)
        metrics.update(mb.loss_figures(self.results, self.window_s))
        metrics.update(mb.viewer_figures(self.results))
        # Every audience bot still receives every speaker's video and audio, and each
        # speaker the other speakers'.
        speakers = opts.publishers
        metrics["live_streams_expected"] = 2 * speakers * (opts.audience + speakers - 1)
        metrics.update(mb.resource_metrics(run, ("join", "stage")))
        metrics.update(self.counters.figures(self.window_s))
        # What the only publishers anyone watches send: the speakers and the hand raisers
        # (while promoted; paused otherwise, when the server says nobody watches them).
        metrics["publisher_packets_per_second"] = mb.published_by(
            self.results, {1 + i for i in range(opts.publishers)} | set(self.raisers), self.window_s
        )
        mb.efficiency(metrics, "stage")
        run.report.series["latency_events"] = {
            "columns": ["t", "participant", "observer", "slots_ms", "first_packet_ms"],
            "rows": rows,
        }
        for status in self.statuses:
            for error in status.get("errors", []):
                run.report.error(error)
        mb.limit_notes(run, ("stage",))
        mb.draw_plots(run, self.name)

    measured_phases = ("stage",)

    def demand(self) -> Demand:
        opts = self.opts
        audience_publishing = opts.audience if opts.audience_publish else opts.hand_raisers
        speakers = opts.publishers
        return Demand(
            publishers=speakers + audience_publishing,
            # The speakers and one promoted attendee, to everyone else.
            streams=2 * speakers * (opts.audience + speakers - 1) + 2 * (opts.audience - 1),
            clients=1 + speakers + opts.audience,
        )

    def judge(self, run: Run, verdict: Verdict) -> None:
        opts = self.opts
        mb.judge_media(
            verdict,
            run.report.metrics,
            self.statuses,
            bots_asked=1 + opts.publishers + opts.audience,
            bots_joined=len(self.joined),
            max_loss=opts.max_loss,
            max_freeze_s=opts.max_freeze_s,
        )
        mb.appearance_check(
            verdict, run.report.series.get("latency_events", {}).get("rows", []), "promotion"
        )
        mb.unwatched_check(verdict, run.report.metrics)
        if not opts.audience_publish:
            verdict.warnings.append(
                "the audience published nothing (--no-audience-publish): browsers publish "
                "camera and microphone, so this run was kinder to the server than they are"
            )

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            ("bots joined / asked", f"{metrics.get('bots_joined', 0)} / {metrics.get('bots', 0)}"),
            ("publishers / audience", f"{self.opts.publishers} / {self.opts.audience}"),
            ("--", ""),
            ("latency, ms", "p50 / p95 / p99 / max"),
            ("join -> ack", format_ms(metrics.get("join_latency_ms"))),
            ("subscribe -> first packet", format_ms(metrics.get("media_first_packet_ms"))),
            ("promotion -> media_slots", format_ms(metrics.get("promotion_slots_latency_ms"))),
            ("promotion -> first packet", format_ms(metrics.get("promotion_first_packet_ms"))),
            ("--", ""),
            ("promotions", format_number(metrics.get("promotions"))),
            *mb.delivery_rows(metrics),
            ("--", ""),
            *mb.cpu_rows(metrics, "stage"),
        ]
