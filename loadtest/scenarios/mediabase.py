"""What the media scenarios share: the clip, staff tokens, bot placement and resource figures."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtest.console import format_number
from loadtest.media import Clip, ClipSettings, encode_clip
from loadtest.runner import Run, ScenarioFailed
from loadtest.stats import percentile, summary_ms
from loadtest.target import podium_command
from loadtest.verdict import Verdict, bot_errors_check, connection_check, websocket_drops

MEDIA_FLEET = "loadtest.media:MediaFleet"
# The spawned server announces loopback ICE candidates (bots connect on 127.0.0.1).
MEDIA_SERVER_ENV = {"PODIUM_MEDIA_ADDRESSES": "127.0.0.1"}


def server_env(workers: int | None) -> dict[str, str]:
    """The spawned server's settings: loopback ICE, and ``workers`` media worker processes
    (None: the server's default, one per core)."""
    env = dict(MEDIA_SERVER_ENV)
    if workers is not None:
        env["PODIUM_MEDIA_WORKERS"] = str(workers)
    return env


BUSY_PERCENT = 85.0


class ServerCounters:
    """The media workers' packet counters over a measuring window (``/api/media/stats``,
    with a moderator token): what arrived at the SFU, what it dropped unwatched, what it
    sent, per worker."""

    def __init__(self) -> None:
        self.before: list[dict[str, Any]] = []
        self.after: list[dict[str, Any]] = []
        self.error = ""

    @staticmethod
    async def read(run: Run, token: str) -> list[dict[str, Any]]:
        import aiohttp

        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(
                f"{run.base_url}/api/media/stats", headers={"Authorization": f"Bearer {token}"}
            ) as resp,
        ):
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{resp.status}: {data}")
            workers: list[dict[str, Any]] = data["workers"]
            return workers

    async def start(self, run: Run, token: str) -> None:
        try:
            self.before = await self.read(run, token)
        except Exception as exc:
            self.error = f"media counters: {exc}"

    async def stop(self, run: Run, token: str) -> None:
        try:
            self.after = await self.read(run, token)
        except Exception as exc:
            self.error = f"media counters: {exc}"

    def figures(self, seconds: float) -> dict[str, Any]:
        """``workers``, ``ingress_packets_per_second`` (every media packet arriving at the SFU
        from publishers, dropped or not), ``dropped_paused_per_second`` and per-worker rates
        over the window."""
        if not self.before or not self.after or seconds <= 0:
            return {"media_counters_error": self.error or "no media counters"}
        before = {w["name"]: w for w in self.before}
        per_worker = []
        for worker in self.after:
            start = before.get(worker["name"], {})

            def rate(
                key: str, worker: dict[str, Any] = worker, start: dict[str, Any] = start
            ) -> float:
                return round((worker.get(key, 0) - start.get(key, 0)) / seconds, 1)

            per_worker.append(
                {
                    "name": worker["name"],
                    "pid": worker.get("pid"),
                    "endpoints": worker.get("endpoints"),
                    "rx_packets_per_second": rate("rx_rtp_packets"),
                    "dropped_paused_per_second": rate("dropped_paused"),
                    "tx_packets_per_second": rate("tx_packets"),
                    "pipe_sent_per_second": rate("pipe_sent"),
                }
            )
        return {
            "workers": len(self.after),
            "ingress_packets_per_second": round(
                sum(w["rx_packets_per_second"] for w in per_worker), 1
            ),
            "dropped_paused_per_second": round(
                sum(w["dropped_paused_per_second"] for w in per_worker), 1
            ),
            "per_worker": per_worker,
        }


def efficiency(metrics: dict[str, Any], phase: str) -> None:
    """Forwarded packets per CPU-second of every server process (SFU workers included), and
    each worker's CPU in the measured phase."""
    forwarded = metrics.get("forwarded_packets_per_s")
    cpu = (metrics.get("server_cpu_percent") or {}).get(phase)
    if forwarded and cpu:
        metrics["forwarded_packets_per_cpu_second"] = round(forwarded / (cpu / 100.0), 1)
    worker_cpu = (metrics.get("worker_cpu_percent") or {}).get(phase) or {}
    for worker in metrics.get("per_worker") or []:
        worker["cpu_percent"] = worker_cpu.get(worker["name"])


def load_clip(settings: ClipSettings) -> Clip:
    """The clip for ``settings``: encoded once, then kept (as JSON) in the temp folder."""
    key = hashlib.sha256(repr(asdict(settings)).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"podium-loadtest-clip-{key}.json"
    try:
        data = json.loads(path.read_text())
        if data.get("settings") == asdict(settings):
            return Clip(
                settings=settings,
                video=[base64.b64decode(frame) for frame in data["video"]],
                audio=[base64.b64decode(frame) for frame in data["audio"]],
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    clip = encode_clip(settings)
    data = {
        "settings": asdict(settings),
        "video": [base64.b64encode(frame).decode() for frame in clip.video],
        "audio": [base64.b64encode(frame).decode() for frame in clip.audio],
    }
    with contextlib.suppress(OSError):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
    return clip


async def share_clip(run: Run, settings: ClipSettings) -> Clip:
    """Encode (or load) the clip and hand it to every bot process."""
    clip = await asyncio.to_thread(load_clip, settings)
    await run.workers.call_all(
        "prepare_clip",
        [
            {"settings": asdict(settings), "video": clip.video, "audio": clip.audio}
            for _ in range(run.workers.count)
        ],
    )
    return clip


def secret_file(run: Run, given: Path | None) -> Path:
    """The token secret of the server under test: the spawned server's, or ``given``."""
    if given is not None:
        return given
    server = run.server
    # SpawnedServer keeps its secret in its temporary folder (PODIUM_SECRET_FILE).
    tmp = getattr(server, "_tmp", None)
    if server is None or tmp is None:
        raise ScenarioFailed("staff tokens need --secret-file (the server's token secret)")
    return Path(tmp.name) / "secret"


async def staff_tokens(run: Run, people: list[tuple[str, str]], secret: Path) -> list[str]:
    """A signed token for each (role, name), made with ``podium token``."""
    if not await asyncio.to_thread(secret.exists):
        raise ScenarioFailed(f"no token secret at {secret}")

    async def one(role: str, name: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *podium_command(),
            "token",
            "--role",
            role,
            "--name",
            name,
            "--secret-file",
            str(secret),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise ScenarioFailed(f"podium token failed: {err.decode(errors='replace')[-300:]}")
        return out.decode().strip().splitlines()[-1]

    return list(await asyncio.gather(*(one(role, name) for role, name in people)))


def by_worker(entries: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """``media_join`` arguments per worker: bot ``index`` runs in worker ``index % workers``."""
    return [{"bots": [e for e in entries if e["index"] % workers == w]} for w in range(workers)]


def merge_joined(parts: list[dict[str, Any]]) -> dict[int, str]:
    joined: dict[int, str] = {}
    for part in parts:
        joined.update({int(k): v for k, v in part["joined"].items()})
    return joined


def chain(parts: list[dict[str, Any]], key: str) -> list[Any]:
    out: list[Any] = []
    for part in parts:
        out.extend(part.get(key, []))
    return out


def loss_figures(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Expected (by RTP sequence numbers) and received packets over the measuring window."""
    expected = sum(r["expected"] for r in results)
    received = sum(r["received"] for r in results)
    lost = max(0, expected - received)
    return {
        "packets_expected": expected,
        "packets_received": received,
        "packets_lost": lost,
        # Lost packets that a retransmission (asked for by the bots' NACKs) brought back.
        "packets_repaired": sum(r.get("repaired", 0) for r in results),
        "rtcp_feedback_packets": sum(r.get("feedback_packets", 0) for r in results),
        # What every bot's publish connection sent (cameras and microphones not paused).
        "sent_packets_per_second": round(
            sum(sum(r.get("published_packets", {}).values()) for r in results) / seconds, 1
        )
        if seconds > 0
        else None,
        "loss_ratio": round(lost / expected, 6) if expected else None,
        "forwarded_packets_per_s": round(expected / seconds, 1) if seconds > 0 else None,
        "received_mbit_per_s": round(8 * sum(r["bytes"] for r in results) / seconds / 1e6, 2)
        if seconds > 0
        else None,
        "receiving_streams": sum(r["slots"] for r in results),
        # Streams with a packet in the last 2 s when the window closed, whoever they show: a
        # stream that stopped (a publisher whose connection failed) loses nothing by sequence
        # numbers.
        "streams_with_recent_packets": sum(r.get("live", 0) for r in results),
        "bots_with_loss": sum(1 for r in results for b in r["per_bot"] if b[1] > b[2]),
    }


def viewer_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the viewers saw at the end of the window and on the way: streams the server said
    a slot carries and whether they flowed, who went silent for how many viewers, failed
    media connections, and frozen tiles per bot."""
    dead: dict[tuple[str, str, str], int] = {}
    for part in results:
        for _index, pid, name, kind in part.get("dead", []):
            dead[(pid, name, kind)] = dead.get((pid, name, kind), 0) + 1
    failures: dict[str, int] = {}
    for part in results:
        for _index, which, why, _when, side in part.get("failures", []):
            key = f"{which} {why}" if side == "client" else f"{which} {why} (server said)"
            failures[key] = failures.get(key, 0) + 1
    frozen = [row[5] for part in results for row in part["per_bot"] if len(row) > 5]
    longest = [row[6] for part in results for row in part["per_bot"] if len(row) > 6]
    return {
        # Slots the server says show someone (for 2 s or more), and those of them that flow.
        "streams_assigned_at_end": sum(r.get("assigned", 0) for r in results),
        "live_streams_at_end": sum(r.get("assigned_live", 0) for r in results),
        "dead_streams": [
            {"participant_id": pid, "name": name, "kind": kind, "viewers": viewers}
            for (pid, name, kind), viewers in sorted(dead.items(), key=lambda kv: -kv[1])
        ],
        "media_connection_failures": failures,
        "frozen_tile_s_per_bot": summary_s(frozen),
        "bots_with_frozen_tiles": sum(1 for v in frozen if v > 0),
        "longest_freeze_s": round(max(longest), 3) if longest else 0.0,
    }


def summary_s(values: list[float]) -> dict[str, float] | None:
    """p50 / p95 / max of per-bot seconds."""
    if not values:
        return None
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 50), 3),
        "p95": round(percentile(ordered, 95), 3),
        "max": round(ordered[-1], 3),
    }


def judge_media(
    verdict: Verdict,
    metrics: dict[str, Any],
    statuses: list[dict[str, Any]],
    *,
    bots_asked: int,
    bots_joined: int,
    max_loss: float,
    max_freeze_s: float,
) -> None:
    """The pass criteria every media scenario shares."""
    verdict.check(
        "bots joined",
        f"{bots_joined:,} / {bots_asked:,}",
        bots_joined >= bots_asked,
        f"{bots_asked - bots_joined:,} of {bots_asked:,} bots could not join",
    )
    expected = metrics.get("live_streams_expected", 0)
    live = metrics.get("live_streams_at_end", 0)
    dead = metrics.get("dead_streams") or []
    named = ", ".join(f"{d['name']} {d['kind']} ({d['viewers']} viewers)" for d in dead[:6])
    if len(dead) > 6:
        named += f" and {len(dead) - 6} more"
    reason = f"{expected - live:,} of {expected:,} streams that should flow at the end did not"
    if named:
        reason += f"; silent: {named}"
    if expected > live and not dead:
        reason += " (the server never routed them)"
    verdict.check("streams flowing at end", f"{live:,} / {expected:,}", live >= expected, reason)
    bot_errors_check(verdict, statuses)
    drops = websocket_drops(statuses)
    metrics["connections"] = drops
    failures = metrics.get("media_connection_failures") or {}
    connection_check(verdict, {"websocket": drops["ws_drops"], **failures})
    logged = (metrics.get("server_log") or {}).get("ice_consent_expired")
    if logged and not verdict.checks[-1].ok:
        verdict.checks[-1].reason += f" (server.log: {logged} ICE consent expiries)"
    loss = metrics.get("loss_ratio")
    verdict.check(
        "packet loss",
        "-" if loss is None else f"{100 * loss:.3f}% (max {100 * max_loss:g}%)",
        loss is not None and loss <= max_loss,
        "no media was measured"
        if loss is None
        else f"packet loss {100 * loss:.3f}% is over --max-loss {100 * max_loss:g}%",
    )
    longest = metrics.get("longest_freeze_s", 0.0)
    frozen = metrics.get("bots_with_frozen_tiles", 0)
    verdict.check(
        "longest frozen tile",
        f"{longest:.1f} s (max {max_freeze_s:g} s)",
        longest <= max_freeze_s,
        f"a tile went {longest:.1f} s without media ({frozen} bots saw frozen tiles); "
        f"over --max-freeze {max_freeze_s:g} s",
    )


def published_by(results: list[dict[str, Any]], bots: set[int], seconds: float) -> float | None:
    """Packets per second sent by the publish connections of ``bots``."""
    if seconds <= 0:
        return None
    total = sum(
        count
        for part in results
        for index, count in (part.get("published_packets") or {}).items()
        if int(index) in bots
    )
    return round(total / seconds, 1)


def unwatched_check(verdict: Verdict, metrics: dict[str, Any]) -> None:
    """Media nobody watches is not sent: what arrives at the SFU stays within 1.2 x what the
    watched publishers (speakers, promoted attendees) send."""
    ingress = metrics.get("ingress_packets_per_second")
    published = metrics.get("publisher_packets_per_second")
    if ingress is None or not published:
        return
    ratio = ingress / published
    verdict.check(
        "unwatched media stays home",
        f"ingress {ingress:,.0f} pkt/s = {ratio:.2f} x what watched publishers send",
        ratio <= 1.2,
        f"the SFU received {ratio:.2f} x the packets watched publishers send: unwatched "
        "cameras and microphones were sent anyway",
    )


def latency_events(results: list[dict[str, Any]], t0: float) -> list[list[Any]]:
    """(seconds after t0, participant, observer bot, slots ms, first packet ms)."""
    rows = []
    for part in results:
        for pid, since, observer, slots_s, packet_s in part["latencies"]:
            rows.append(
                [
                    round(since - t0, 3),
                    pid,
                    observer,
                    None if slots_s is None else round(slots_s * 1000, 2),
                    None if packet_s is None else round(packet_s * 1000, 2),
                ]
            )
    rows.sort(key=lambda row: row[0])
    return rows


def latency_summaries(rows: list[list[Any]]) -> tuple[Any, Any]:
    """(slots message latency, first packet latency) summaries from :func:`latency_events`."""
    slots = [row[3] / 1000 for row in rows if row[3] is not None]
    packets = [row[4] / 1000 for row in rows if row[4] is not None]
    return summary_ms(slots), summary_ms(packets)


def appearance_check(verdict: Verdict, rows: list[list[Any]], what: str) -> None:
    """Everyone told (``media_slots``) that a participant appeared got their video while they
    were shown: a viewer who was told but got no keyframe in time saw an empty tile."""
    told = [row for row in rows if row[3] is not None]
    missing = sum(1 for row in told if row[4] is None)
    verdict.check(
        f"{what}: video reached the viewers",
        f"{len(told) - missing:,} / {len(told):,}",
        missing == 0,
        f"{missing:,} of {len(told):,} viewers told of a {what} got no video of it while it "
        "was shown",
    )


def resource_metrics(run: Run, phases: tuple[str, ...]) -> dict[str, Any]:
    """CPU of server, bots and machine per phase, peaks, and server memory."""
    metrics: dict[str, Any] = {}
    for key in (
        "server_cpu_percent",
        "bot_cpu_percent",
        "bot_cpu_percent_max_worker",
        "machine_cpu_percent",
        "others_cpu_percent",
    ):
        metrics[key] = {phase: run.phase_figure(phase, key) for phase in phases}
    for group, key in (("server", "server_cpu_percent"), ("bots", "bot_cpu_percent")):
        points = run.sampler.series.get(group) or []
        if points:
            metrics[key]["peak"] = round(max(p.cpu_percent for p in points), 1)
    server_points = run.sampler.series.get("server") or []
    metrics["server_rss_mb"] = (
        {
            "start": round(server_points[0].rss_mb, 1),
            "peak": round(run.sampler.peak_rss.get("server", 0) / 2**20, 1),
            "end": round(server_points[-1].rss_mb, 1),
        }
        if server_points
        else None
    )
    metrics["worker_cpu_percent"] = {
        phase: run.phase_figure_map(phase, "worker_cpu_percent") for phase in phases
    }
    metrics["bot_rss_mb_peak"] = (
        round(run.sampler.peak_rss.get("bots", 0) / 2**20, 1)
        if run.sampler.series.get("bots")
        else None
    )
    return metrics


def limit_notes(run: Run, phases: tuple[str, ...]) -> None:
    """Say which side was saturated in each phase."""
    for phase in phases:
        worker = run.phase_figure(phase, "bot_cpu_percent_max_worker")
        server = run.phase_figure(phase, "server_cpu_percent")
        if worker is not None and worker >= BUSY_PERCENT:
            run.report.note(
                f"{phase}: a bot process used {worker:.0f}% of a core: bot CPU limits this run"
            )
        if server is not None and server >= BUSY_PERCENT:
            run.report.note(f"{phase}: the server used {server:.0f}% of a core (saturated)")


def delivery_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Summary rows on forwarded and received media, shared by the media scenarios."""
    return [
        ("SFU workers", format_number(metrics.get("workers"))),
        (
            "packets/s arriving at the SFU / sent by watched publishers",
            f"{format_number(metrics.get('ingress_packets_per_second'), 0)} / "
            f"{format_number(metrics.get('publisher_packets_per_second'), 0)}",
        ),
        (
            "forwarded packets per server CPU-second",
            format_number(metrics.get("forwarded_packets_per_cpu_second"), 0),
        ),
        ("forwarded packets per s", format_number(metrics.get("forwarded_packets_per_s"), 0)),
        ("received Mbit/s", format_number(metrics.get("received_mbit_per_s"), 1)),
        (
            "packets received / expected",
            f"{metrics.get('packets_received', 0):,} / {metrics.get('packets_expected', 0):,}",
        ),
        ("loss ratio", format_number(metrics.get("loss_ratio"), 5)),
        (
            "streams flowing at end / expected",
            f"{metrics.get('live_streams_at_end', 0):,} / "
            f"{metrics.get('live_streams_expected', 0):,}",
        ),
    ]


def cpu_rows(metrics: dict[str, Any], phase: str) -> list[tuple[str, str]]:
    def cpu(key: str, which: str) -> str:
        return format_number((metrics.get(key) or {}).get(which), 0, "%")

    rss = metrics.get("server_rss_mb") or {}
    return [
        (
            f"server CPU {phase} / peak",
            f"{cpu('server_cpu_percent', phase)} / {cpu('server_cpu_percent', 'peak')}",
        ),
        (
            "server RSS MB start / peak",
            f"{format_number(rss.get('start'), 0)} / {format_number(rss.get('peak'), 0)}",
        ),
        (
            f"bot CPU {phase} (all / busiest process)",
            f"{cpu('bot_cpu_percent', phase)} / {cpu('bot_cpu_percent_max_worker', phase)}",
        ),
        (f"machine CPU {phase} (all cores=100%)", cpu("machine_cpu_percent", phase)),
        (f"other programs' CPU {phase}", cpu("others_cpu_percent", phase)),
    ]


def draw_plots(run: Run, scenario: str) -> None:
    """Latency, participants per space and CPU over time, as PNG files in the report folder."""
    from loadtest import plots

    series: dict[str, Any] = dict(run.report.series)
    for name, points in run.sampler.series.items():
        series[name] = {"t": [p.t for p in points], "cpu_percent": [p.cpu_percent for p in points]}
    machine = run.sampler.machine_series
    series["machine"] = {"t": [t for t, _ in machine], "cpu_percent": [v for _, v in machine]}
    others = getattr(run.sampler, "others_series", [])
    series["others"] = {"t": [t for t, _ in others], "cpu_percent": [v for _, v in others]}
    try:
        written = plots.write_plots(series, run.settings.report_dir, scenario)
    except Exception as exc:  # a plot is a convenience: never lose the report for it
        run.report.note(f"plots not drawn: {type(exc).__name__}: {exc}")
        return
    run.report.metrics["plots"] = [path.name for path in written]
