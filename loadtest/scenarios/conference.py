"""The ``conference`` scenario: the 1,400-person summit, from arrival to a discussion round.

Every participant behaves as a browser does (``--browser-like``, the default): from its
welcome on it publishes camera and microphone and receives the slots of its space, pings,
and reconnects as the web client does. ``--media-bots N`` gives media to N of them only (the
rest are websocket clients), which is kinder to the server than browsers are: the verdict
says so.

1. ramp: a moderator and S speakers (speaker tokens, publishing on the stage's seats), then
   the crowd arrives at a fixed rate and joins the main stage. Measured: join latency.
2. activity (S seconds, all at once): booth visits (a bot moves to one of the 20 booths,
   stays a while and comes back; move latency), event-wide chat messages spread over the
   period (fan-out latency to every other participant), a wave of hand raises from the
   crowd, and Q&A promotions of media bots (promotion -> first packet of the promoted
   video at the other media bots).
3. round: the moderator opens a discussion round of R rooms in random mode, it counts down
   and closes by its timer; everyone goes back to the stage.

At the end everyone is on the stage again and every media bot should receive every
speaker: the streams flowing then, packet loss over activity and round, frozen tiles and
dropped connections decide the verdict. Participants per space are sampled all along from
the ``counts`` messages the moderator receives; server, bot and machine CPU per phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest import clock
from loadtest.capacity import Demand
from loadtest.console import format_ms, format_number
from loadtest.media import LIVE_WITHIN_S, ClipSettings
from loadtest.runner import Run, ScenarioFailed
from loadtest.scenarios import mediabase as mb
from loadtest.scenarios.signaling import chat_plan, source_addresses, spread
from loadtest.stats import percentile, ratio, summary_ms
from loadtest.verdict import MAX_FREEZE_S, MAX_LOSS, Verdict
from loadtest.workers import use_fleet

STAGE = "main-stage"
BOOTHS = [f"booth-{i:02d}" for i in range(1, 21)]


@dataclass(frozen=True, slots=True)
class ConferenceOptions:
    participants: int = 1400
    # Participants with media; None: every one of them when browser-like, else 4.
    media_bots: int | None = None
    browser_like: bool = True
    speakers: int = 2
    chat_messages: int = 500
    booth_visits: int = 300
    booth_stay: float = 8.0
    hands: int = 30
    promotions: int = 6
    rooms: int = 50
    round_seconds: float = 20.0
    seconds: float = 60.0
    ramp_rate: float = 100.0
    concurrency: int = 100
    source_addresses: int = 8
    max_loss: float = MAX_LOSS
    max_freeze_s: float = MAX_FREEZE_S
    workers: int | None = None  # the spawned server's media worker processes
    secret_file: Path | None = None
    clip: ClipSettings = field(default_factory=ClipSettings)

    @property
    def crowd(self) -> int:
        """Participants other than the moderator and the speakers."""
        return self.participants - 1 - self.speakers

    @property
    def media_crowd(self) -> int:
        """Participants of the crowd who publish and receive media."""
        if self.media_bots is None:
            return self.crowd if self.browser_like else min(4, self.crowd)
        return min(self.media_bots, self.crowd)

    def check(self) -> None:
        if not 0 <= self.speakers <= 4:
            raise ValueError("--speakers: the demo stage has 4 speaker seats (0..4)")
        if self.crowd < 2:
            raise ValueError("--participants must exceed --speakers + 2")
        if self.media_bots is not None and self.media_bots > self.crowd:
            raise ValueError("--media-bots cannot exceed the participants besides staff")
        if not 1 <= self.rooms <= 50:
            raise ValueError("--rooms must be 1..50")
        if self.round_seconds < 10:
            raise ValueError("--round-seconds must be at least 10 (the server's minimum)")
        if self.chat_messages and self.chat_messages / self.seconds > 0.8 * self.crowd:
            raise ValueError("too many chat messages per second for the bots")


def space_kind(space_id: str) -> str:
    if space_id == STAGE:
        return "stage"
    if space_id.startswith("booth-"):
        return "booths"
    if space_id == "lobby":
        return "lobby"
    return "rooms" if "-room-" in space_id else "other"


class ConferenceScenario:
    name = "conference"
    measured_phases = ("ramp", "activity", "round")

    def __init__(self, options: ConferenceOptions) -> None:
        options.check()
        self.opts = options
        self.server_env = mb.server_env(options.workers)
        self.counters = mb.ServerCounters()
        use_fleet(mb.MEDIA_FLEET)
        # Bot indices: the crowd 0..C-1 (media bots spread evenly among them), then the
        # speakers, then the moderator.
        crowd = list(range(options.crowd))
        self.media_crowd = set(spread(crowd, options.media_crowd))
        self.speaker_indices = [options.crowd + i for i in range(options.speakers)]
        self.moderator = options.crowd + options.speakers
        self.ramp: list[dict[str, Any]] = []
        self.media_joins: list[dict[str, Any]] = []
        self.joined: list[int] = []  # crowd members without media who joined
        self.media_joined: dict[int, str] = {}  # crowd members with media: participant ids
        self.staff_joined: dict[int, str] = {}  # the moderator and the speakers
        self.visits: list[dict[str, Any]] = []
        self.sends: list[dict[str, Any]] = []
        self.chat: list[dict[str, Any]] = []
        self.hand_results: list[dict[str, Any]] = []
        self.hands_asked = 0
        self.promotions: list[tuple[str, float]] = []
        self.promotion_hold = 3.0  # a promoted attendee is shown this long, then demoted
        self.media_results: list[dict[str, Any]] = []
        self.counts: list[list[Any]] = []
        self.round: dict[str, Any] = {}
        self.statuses: list[dict[str, Any]] = []
        self.expected_receipts = 0
        self.t0 = 0.0
        self.window_start = 0.0
        self.window_s = 0.0
        self.clip_info: dict[str, Any] = {}
        self.token = ""

    def options(self) -> dict[str, Any]:
        data = asdict(self.opts)
        data["secret_file"] = str(self.opts.secret_file) if self.opts.secret_file else None
        data["media_crowd"] = self.opts.media_crowd
        return data

    @property
    def crowd_joined(self) -> list[int]:
        """Every crowd member who joined, with or without media."""
        return sorted([*self.joined, *self.media_joined])

    @property
    def everyone_joined(self) -> int:
        return len(self.joined) + len(self.media_joined) + len(self.staff_joined)

    # ------------------------------------------------------------------ the run

    async def run(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        view = run.view
        self.t0 = clock.now()
        clip = await mb.share_clip(run, opts.clip)
        self.clip_info = {
            **asdict(opts.clip),
            "measured_video_kbps": round(clip.video_kbps_measured, 1),
        }
        people = [("moderator", "Moderator")] + [
            ("speaker", f"Speaker {i + 1}") for i in range(opts.speakers)
        ]
        tokens = await mb.staff_tokens(run, people, mb.secret_file(run, opts.secret_file))
        self.token = tokens[0]
        # The moderator's page is the web client too: with browser-like bots it publishes.
        staff = [
            {
                "index": self.moderator,
                "name": "moderator",
                "token": tokens[0],
                "space": STAGE,
                "media": opts.browser_like,
                "publish": True,
                "watch_counts": True,
            }
        ] + [
            {
                "index": index,
                "name": f"speaker-{i + 1}",
                "token": tokens[1 + i],
                "space": STAGE,
                "publish": True,
            }
            for i, index in enumerate(self.speaker_indices)
        ]
        parts = await pool.call_all("media_join", mb.by_worker(staff, pool.count))
        self.staff_joined = mb.merge_joined(parts)
        if self.moderator not in self.staff_joined:
            raise ScenarioFailed("the moderator could not join; see the errors in the report")
        sampler = asyncio.get_running_loop().create_task(self._sample_counts(run))
        try:
            await self._ramp(run)
            await asyncio.sleep(1.0)
            await pool.call_all("media_reset")
            await self.counters.start(run, self.token)
            self.window_start = clock.now()
            await self._activity(run)
            await self._round(run)
            await self._media_results(run)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        self.statuses = await pool.call_all("status")
        view.log("done")

    async def _sample_counts(self, run: Run) -> None:
        worker = self.moderator % run.workers.count
        while True:
            counts = await run.workers.call(worker, "latest_counts")
            kinds: dict[str, int] = {"stage": 0, "booths": 0, "rooms": 0, "lobby": 0, "other": 0}
            for space, count in counts.items():
                kinds[space_kind(space)] += count
            self.counts.append([round(clock.now() - self.t0, 3), *(kinds[k] for k in kinds)])
            await asyncio.sleep(1.0)

    async def _ramp(self, run: Run) -> None:
        """The crowd arrives at --ramp-rate, in index order, with media or without."""
        opts = self.opts
        pool = run.workers
        workers = pool.count
        view = run.view
        view.add("ramp", opts.crowd)
        staff = len(self.staff_joined)

        def on_progress() -> None:
            totals = pool.totals()
            failed = totals.get("failed", 0) + totals.get("media_failed", 0)
            view.update("ramp", totals.get("joined", 0) - staff + failed, info=f"{failed} failed")
            view.update("chat delivered", totals.get("receipts", 0))
            view.update("booth moves", totals.get("moves", 0))

        pool.on_progress = on_progress
        async with run.phase("ramp") as entry:
            start_at = clock.now() + 0.5
            interval = 1.0 / opts.ramp_rate
            per_worker = max(1, math.ceil(opts.concurrency / workers))
            plain = [i for i in range(opts.crowd) if i not in self.media_crowd]
            ramp = pool.call_all(
                "ramp",
                [
                    {
                        "clients": [(i, f"bot-{i:05d}") for i in plain if i % workers == w],
                        "space_id": STAGE,
                        "concurrency": per_worker,
                        "start_at": start_at,
                        "interval": interval,
                        "timeout": 60.0,
                        "source_addresses": source_addresses(run.base_url, opts.source_addresses),
                    }
                    for w in range(workers)
                ],
            )
            media = [
                {
                    "index": i,
                    "name": f"camera-{i:05d}",
                    "space": STAGE,
                    "publish": True,
                    "at": start_at + i * interval,
                }
                for i in sorted(self.media_crowd)
            ]
            media_join = pool.call_all(
                "media_join",
                [{**args, "concurrency": per_worker} for args in mb.by_worker(media, workers)],
            )
            self.ramp, self.media_joins = await asyncio.gather(ramp, media_join)
            self.joined = sorted(mb.chain(self.ramp, "joined"))
            self.media_joined = mb.merge_joined(self.media_joins)
            entry["joined"] = len(self.joined) + len(self.media_joined)
        if not self.crowd_joined:
            raise ScenarioFailed("no bot could join; see the errors in the report")

    async def _activity(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        view = run.view
        rng = random.Random(7)
        start = clock.now() + 1.0
        crowd = self.crowd_joined
        # Promotions go to media bots, which raise their hand first.
        self.candidates = sorted(self.media_joined)[: opts.promotions]
        # Booth visits: evenly spread, booths taken in turn, visitors drawn from the crowd.
        pool_of_visitors = [b for b in crowd if b not in set(self.candidates)]
        visitors = rng.sample(pool_of_visitors, min(opts.booth_visits, len(pool_of_visitors)))
        visit_gap = max(0.0, opts.seconds - opts.booth_stay - 2.0) / max(1, len(visitors))
        visits = [
            (bot, BOOTHS[k % len(BOOTHS)], start + k * visit_gap, opts.booth_stay, STAGE)
            for k, bot in enumerate(visitors)
        ]
        # Chat: one sender per message where possible.
        senders = spread(crowd, min(opts.chat_messages, len(crowd)))
        plan = chat_plan(senders, opts.chat_messages, opts.seconds - 2.0, start)
        busy = set(visitors) | set(self.candidates)
        hand_bots = spread([b for b in crowd if b not in busy], opts.hands, 0.5)
        self.hands_asked = len(hand_bots)
        view.add("booth moves", 2 * len(visits))
        view.add("chat delivered", opts.chat_messages * (self.everyone_joined - 1))
        async with run.phase("activity") as entry:
            visiting = pool.call_all(
                "visit",
                [{"schedule": [v for v in visits if v[0] % workers == w]} for w in range(workers)],
            )
            chatting = pool.call_all(
                "chat",
                [{"schedule": [m for m in plan if m[1] % workers == w]} for w in range(workers)],
            )
            hands = self._hands_later(run, hand_bots, start + opts.seconds / 3)
            promoting = self._promotions(run, start)
            self.visits, self.sends, self.hand_results, _ = await asyncio.gather(
                visiting, chatting, hands, promoting
            )
            sent = sum(len(part["sent_index"]) for part in self.sends)
            # Every message reaches everyone but its sender.
            self.expected_receipts = sent * (self.everyone_joined - 1)
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                if pool.totals().get("receipts", 0) >= self.expected_receipts:
                    break
                await asyncio.sleep(0.2)
            self.chat = await pool.call_all("chat_results")
            entry["chat_messages"] = sent
            entry["booth_visits"] = len(visits)
            entry["promotions"] = len(self.promotions)

    async def _media_results(self, run: Run) -> None:
        """Media over activity and round, taken once everyone is back on the stage."""
        pool = run.workers
        await asyncio.sleep(LIVE_WITHIN_S)  # the stage's slots settle after the round
        self.window_s = clock.now() - self.window_start
        await self.counters.stop(run, self.token)
        self.media_results = await pool.call_all(
            "media_results",
            [
                {"appearances": self.promotions, "within": self.promotion_hold}
                for _ in range(pool.count)
            ],
        )

    async def _hands_later(self, run: Run, bots: list[int], at: float) -> list[dict[str, Any]]:
        await asyncio.sleep(max(0.0, at - clock.now()))
        workers = run.workers.count
        result: list[dict[str, Any]] = await run.workers.call_all(
            "hands",
            [{"bot_indices": [i for i in bots if i % workers == w]} for w in range(workers)],
        )
        return result

    async def _promotions(self, run: Run, start: float) -> None:
        opts = self.opts
        pool = run.workers
        workers = pool.count
        cameras = self.candidates
        if not cameras or not opts.promotions:
            return
        every = (opts.seconds - 2.0) / opts.promotions
        hold = self.promotion_hold = min(3.0, every * 0.6)
        mod = self.moderator
        for turn in range(opts.promotions):
            await asyncio.sleep(max(0.0, start + turn * every - clock.now()))
            who = cameras[turn % len(cameras)]
            pid = self.media_joined[who]
            await pool.call(who % workers, "act_many", actions=[(who, {"type": "raise_hand"})])
            sent = await pool.call(
                mod % workers,
                "act_many",
                actions=[(mod, {"type": "promote", "participant_id": pid})],
            )
            if sent and sent[0] is not None:
                self.promotions.append((pid, sent[0]))
            await asyncio.sleep(hold)
            await pool.call(
                mod % workers,
                "act_many",
                actions=[(mod, {"type": "demote", "participant_id": pid})],
            )

    async def _round(self, run: Run) -> None:
        opts = self.opts
        pool = run.workers
        worker = self.moderator % pool.count
        capacity = math.ceil(self.everyone_joined / opts.rooms) + 10
        async with run.phase("round") as entry:
            before = await pool.call(worker, "latest_counts")
            sent = await pool.call(
                worker,
                "act_many",
                actions=[
                    (
                        self.moderator,
                        {
                            "type": "open_round",
                            "title": "Discussion round",
                            "room_count": opts.rooms,
                            "duration_s": opts.round_seconds,
                            "mode": "random",
                            "home_space_id": STAGE,
                            "room_capacity": capacity,
                        },
                    )
                ],
            )
            opened = clock.now()
            entry["opened"] = sent[0] is not None
            if sent[0] is None:
                run.report.error("the round could not be opened")
                return
            # Everyone spread over the rooms, then back on the stage when the timer closes it.
            in_rooms_at = back_at = None
            peak_rooms = 0
            deadline = opened + opts.round_seconds + 30.0
            stage_before = before.get(STAGE, 0)
            while clock.now() < deadline:
                counts = await pool.call(worker, "latest_counts")
                rooms = sum(c for s, c in counts.items() if space_kind(s) == "rooms")
                peak_rooms = max(peak_rooms, rooms)
                if in_rooms_at is None and rooms >= 0.95 * stage_before:
                    in_rooms_at = clock.now()
                if (
                    in_rooms_at is not None
                    and rooms == 0
                    and counts.get(STAGE, 0) >= 0.95 * stage_before
                ):
                    back_at = clock.now()
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(2.0)  # a few more samples of the spaces after the round
            self.round = {
                "rooms": opts.rooms,
                "room_capacity": capacity,
                "stage_before": stage_before,
                "peak_in_rooms": peak_rooms,
                "open_to_rooms_filled_s": None
                if in_rooms_at is None
                else round(in_rooms_at - sent[0], 3),
                "open_to_back_on_stage_s": None if back_at is None else round(back_at - sent[0], 3),
            }
            entry.update(self.round)

    # ------------------------------------------------------------------ figures

    def finish(self, run: Run) -> None:
        metrics = run.report.metrics
        opts = self.opts
        totals: dict[str, int] = {}
        for status in self.statuses:
            for key, value in status["counters"].items():
                totals[key] = totals.get(key, 0) + value
        metrics["clip"] = self.clip_info
        metrics["participants"] = opts.participants
        metrics["joined"] = self.everyone_joined
        metrics["media_bots"] = len(self.media_crowd) + opts.speakers + int(opts.browser_like)
        metrics["media_bots_joined"] = len(self.media_joined) + sum(
            1 for i in self.staff_joined if i != self.moderator or opts.browser_like
        )
        metrics["join_latency_ms"] = summary_ms(
            mb.chain(self.ramp, "join_ack_s") + mb.chain(self.media_joins, "join_ack_s")
        )
        metrics["join_snapshot_latency_ms"] = summary_ms(mb.chain(self.ramp, "join_snapshot_s"))
        metrics["connect_latency_ms"] = summary_ms(mb.chain(self.ramp, "connect_s"))
        ramp_s = run.phase_figure("ramp", "duration_s")
        metrics["ramp_duration_s"] = ramp_s
        moves = [x for part in self.visits for x in part["moves"]]
        sent_at, ack_s, snap_s = moves[0::3], moves[1::3], moves[2::3]
        metrics["moves"] = len(ack_s)
        metrics["moves_failed"] = totals.get("move_failed", 0)
        metrics["move_latency_ms"] = summary_ms(ack_s)
        metrics["move_snapshot_latency_ms"] = summary_ms(snap_s)
        receipts = mb.chain(self.chat, "receipt_latency_s")
        sent = sum(len(part["sent_index"]) for part in self.sends)
        metrics["chat_messages_sent"] = sent
        metrics["chat_refused"] = totals.get("chat_refused", 0)
        metrics["chat_receipts"] = len(receipts)
        metrics["chat_receipts_expected"] = self.expected_receipts
        delivery = ratio(len(receipts), self.expected_receipts)
        metrics["chat_delivery_ratio"] = None if delivery is None else round(delivery, 6)
        metrics["chat_fanout_latency_ms"] = summary_ms(receipts)
        metrics["hands"] = totals.get("hands", 0)
        metrics["hand_raise_position_ms"] = summary_ms(mb.chain(self.hand_results, "position_s"))
        metrics["promotions"] = len(self.promotions)
        rows = mb.latency_events(self.media_results, self.t0)
        slots, packets = mb.latency_summaries(rows)
        metrics["promotion_slots_latency_ms"] = slots
        metrics["promotion_first_packet_ms"] = packets
        if self.media_results:
            metrics.update(mb.loss_figures(self.media_results, self.window_s))
            metrics.update(mb.viewer_figures(self.media_results))
        # Back on the stage, every media bot receives every speaker (a speaker the others).
        viewers = len(self.media_joined) + int(
            opts.browser_like and self.moderator in self.staff_joined
        )
        speakers = sum(1 for i in self.speaker_indices if i in self.staff_joined)
        metrics["live_streams_expected"] = 2 * speakers * (viewers + speakers - 1)
        metrics["round"] = self.round
        metrics.update(mb.resource_metrics(run, ("ramp", "activity", "round")))
        metrics.update(self.counters.figures(self.window_s))
        mb.efficiency(metrics, "activity")
        run.report.series["latency_events"] = {
            "columns": ["t", "participant", "observer", "slots_ms", "first_packet_ms"],
            "rows": rows,
        }
        run.report.series["moves"] = {
            "columns": ["t", "ack_ms", "snapshot_ms"],
            "rows": [
                [round(t - self.t0, 3), round(a * 1000, 2), round(s * 1000, 2)]
                for t, a, s in zip(sent_at, ack_s, snap_s, strict=True)
            ],
        }
        run.report.series["chat_messages"] = chat_series(self.chat, self.sends, self.t0)
        run.report.series["spaces"] = {
            "columns": ["t", "stage", "booths", "rooms", "lobby", "other"],
            "rows": self.counts,
        }
        for status in self.statuses:
            for error in status.get("errors", [])[:10]:
                run.report.error(error)
        mb.limit_notes(run, ("ramp", "activity", "round"))
        mb.draw_plots(run, self.name)

    def demand(self) -> Demand:
        opts = self.opts
        viewers = opts.media_crowd + int(opts.browser_like)
        speakers = opts.speakers
        stage = 2 * speakers * (viewers + speakers - 1)
        per_room = math.ceil((viewers + speakers) / opts.rooms)
        rooms = opts.rooms * 2 * per_room * min(9, per_room - 1)
        return Demand(
            publishers=viewers + speakers,
            streams=max(stage, rooms),
            clients=opts.participants,
        )

    def judge(self, run: Run, verdict: Verdict) -> None:
        opts = self.opts
        metrics = run.report.metrics
        mb.judge_media(
            verdict,
            metrics,
            self.statuses,
            bots_asked=opts.participants,
            bots_joined=self.everyone_joined,
            max_loss=opts.max_loss,
            max_freeze_s=opts.max_freeze_s,
        )
        mb.appearance_check(
            verdict, run.report.series.get("latency_events", {}).get("rows", []), "promotion"
        )
        receipts = metrics.get("chat_receipts", 0)
        expected = metrics.get("chat_receipts_expected", 0)
        if opts.chat_messages:
            verdict.check(
                "chat receipts",
                f"{receipts:,} / {expected:,}",
                expected > 0 and receipts >= expected,
                f"chat messages were lost: {receipts:,} of {expected:,} receipts",
            )
        moves, failed = metrics.get("moves", 0), metrics.get("moves_failed", 0)
        verdict.check(
            "booth moves failed",
            f"{failed} of {moves + failed}",
            failed == 0,
            f"{failed} booth moves failed",
        )
        hands = metrics.get("hands", 0)
        verdict.check(
            "hands that saw their place",
            f"{hands} / {self.hands_asked}",
            hands >= self.hands_asked,
            f"{self.hands_asked - hands} raised hands never saw their place in the queue",
        )
        promoted = metrics.get("promotions", 0)
        wanted = min(opts.promotions, len(self.media_joined)) if opts.promotions else 0
        verdict.check(
            "promotions",
            f"{promoted} / {wanted}",
            promoted >= wanted,
            f"only {promoted} of {wanted} promotions went through",
        )
        rnd = metrics.get("round") or {}
        back = rnd.get("open_to_back_on_stage_s")
        verdict.check(
            "round: everyone back on the stage",
            "-" if back is None else f"after {back:.1f} s",
            back is not None,
            "the round did not bring everyone back to the stage",
        )
        if opts.media_crowd < opts.crowd:
            verdict.warnings.append(
                f"{opts.crowd - opts.media_crowd:,} of {opts.participants:,} participants had "
                "no media: browsers publish camera and microphone and receive their space's "
                "slots, so this run was kinder to the server than they are"
            )

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, str]]:
        rnd = metrics.get("round") or {}
        return [
            (
                "participants joined / asked",
                f"{metrics.get('joined', 0):,} / {self.opts.participants:,}",
            ),
            (
                "media bots joined / asked",
                f"{metrics.get('media_bots_joined', 0):,} / {metrics.get('media_bots', 0):,}",
            ),
            ("ramp (s)", format_number(metrics.get("ramp_duration_s"))),
            ("--", ""),
            ("latency, ms", "p50 / p95 / p99 / max"),
            ("join -> ack", format_ms(metrics.get("join_latency_ms"))),
            ("booth move -> ack", format_ms(metrics.get("move_latency_ms"))),
            ("booth move -> snapshot", format_ms(metrics.get("move_snapshot_latency_ms"))),
            ("chat fan-out (every receipt)", format_ms(metrics.get("chat_fanout_latency_ms"))),
            ("hand raise -> own position", format_ms(metrics.get("hand_raise_position_ms"))),
            ("promotion -> first packet", format_ms(metrics.get("promotion_first_packet_ms"))),
            ("--", ""),
            (
                "booth moves (failed)",
                f"{metrics.get('moves', 0):,} ({metrics.get('moves_failed', 0)})",
            ),
            (
                "chat receipts / expected",
                f"{metrics.get('chat_receipts', 0):,} / "
                f"{metrics.get('chat_receipts_expected', 0):,}",
            ),
            ("promotions", format_number(metrics.get("promotions"))),
            ("media loss ratio", format_number(metrics.get("loss_ratio"), 5)),
            (
                "round: rooms / in rooms at peak",
                f"{rnd.get('rooms', '-')} / {rnd.get('peak_in_rooms', '-')}",
            ),
            (
                "round: open -> rooms filled / back (s)",
                f"{format_number(rnd.get('open_to_rooms_filled_s'), 2)} / "
                f"{format_number(rnd.get('open_to_back_on_stage_s'), 2)}",
            ),
            ("--", ""),
            *mb.cpu_rows(metrics, "activity"),
        ]


def chat_series(
    chat: list[dict[str, Any]], sends: list[dict[str, Any]], t0: float
) -> dict[str, Any]:
    """Per chat message: send time (s after t0), receipts, p50 and p99 fan-out latency."""
    by_message: dict[int, list[float]] = {}
    for part in chat:
        for index, latency in zip(part["receipt_index"], part["receipt_latency_s"], strict=True):
            by_message.setdefault(int(index), []).append(latency)
    sent_at: dict[int, float] = {}
    for part in sends:
        sent_at.update(zip(part["sent_index"], part["sent_at"], strict=True))
    rows = []
    for index in sorted(by_message):
        ordered = sorted(by_message[index])
        sent = sent_at.get(index)
        rows.append(
            [
                index,
                None if sent is None else round(sent - t0, 3),
                len(ordered),
                round(1000 * percentile(ordered, 50), 2),
                round(1000 * percentile(ordered, 99), 2),
                round(1000 * ordered[-1], 2),
            ]
        )
    return {"columns": ["index", "sent_s", "receipts", "p50_ms", "p99_ms", "max_ms"], "rows": rows}
