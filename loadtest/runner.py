"""One load-test run: the target server, the bot workers, resource sampling and the report.

:func:`execute` owns everything a run starts and stops it again whatever happens: the
scenario finishing, failing, running past ``--timeout`` or being interrupted. The report is
written in every case, with ``status`` saying how the run ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from rich.console import Console

from loadtest import clock
from loadtest.agenthub import AgentHub
from loadtest.agentwire import DEFAULT_PORT
from loadtest.capacity import Demand, shared_machine_warning
from loadtest.console import ProgressView, summary_table
from loadtest.procstat import (
    ProcessGroup,
    ResourceSampler,
    descendants,
    listening_pids,
    machine_cpu,
    read_process,
)
from loadtest.profiling import ProfilerUnavailable, SamplingProfiler, profile_summary
from loadtest.report import Report, environment, write_report
from loadtest.target import (
    SpawnedServer,
    TargetError,
    is_loopback_url,
    target_url,
    wait_healthy,
)
from loadtest.verdict import EXIT_VERDICT_FAILED, Verdict, judge_cpu
from loadtest.workers import WorkerFailed, WorkerPool, fleet_spec

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class ScenarioFailed(Exception):
    """A scenario cannot go on (for instance: no bot could join)."""


@dataclass(slots=True)
class RunSettings:
    """Options every scenario shares."""

    report_dir: Path
    url: str | None = None  # target a running server ...
    spawn: bool = False  # ... or start one for the run
    processes: int = 2
    timeout: float = 600.0
    progress: bool = True
    server_env: dict[str, str] = field(default_factory=dict)
    server_pid: int | None = None
    sample_interval: float = 0.5
    # Phases during which the server is sampled with py-spy (DIR/server-profile-PHASE.txt).
    profile_phases: frozenset[str] = frozenset()
    # Bot workers on other machines (see loadtest.agent): how many agents to wait for, where
    # they connect, the token they must present ("": a random one, printed with the agent
    # command line) and how long to wait for them.
    agents: int = 0
    agent_listen: tuple[str, int] = ("127.0.0.1", DEFAULT_PORT)
    agent_token: str = ""
    agent_wait: float = 120.0


class Scenario(Protocol):
    """What :func:`execute` needs from a scenario."""

    name: str

    def options(self) -> dict[str, Any]:
        """The scenario's options, for the report."""
        ...

    async def run(self, run: Run) -> None:
        """Drive the bots; keep what is measured for :meth:`finish`."""
        ...

    def finish(self, run: Run) -> None:
        """Fill ``run.report.metrics`` from what was measured, even after a failed run."""
        ...

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, str]]:
        """Rows of the terminal summary table."""
        ...

    def judge(self, run: Run, verdict: Verdict) -> None:
        """Add the scenario's pass criteria to ``verdict`` (after :meth:`finish`)."""
        ...

    @property
    def measured_phases(self) -> tuple[str, ...]:
        """The phases whose figures the run reports: the load generator must keep up there."""
        ...

    def demand(self) -> Demand:
        """What the run asks of bots and server at its busiest (for the core estimate)."""
        ...


class Run:
    """The parts of a run a scenario uses: the server URL, the bot pool, display, report."""

    def __init__(self, settings: RunSettings, report: Report, console: Console) -> None:
        self.settings = settings
        self.report = report
        self.console = console
        self.view = ProgressView(console, enabled=settings.progress)
        self.run_id = secrets.token_hex(4)
        self.base_url = ""
        self.server: SpawnedServer | None = None
        self.server_pid: int | None = None
        self.pool: WorkerPool | None = None
        self.sampler = ResourceSampler([])
        self.progress_series: list[list[float]] = []
        self._phase_index = 0
        self._started = time.monotonic()

    @property
    def workers(self) -> WorkerPool:
        if self.pool is None:
            raise RuntimeError("the bot workers have not been started")
        return self.pool

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[dict[str, Any]]:
        """Time a phase and measure the CPU of server, bots and machine while it runs.

        The phase's entry in ``report.phases`` is yielded so a scenario can add figures.
        """
        self._phase_index += 1
        start, end = f"{self._phase_index}:{name}:start", f"{self._phase_index}:{name}:end"
        entry: dict[str, Any] = {"name": name, "start_s": round(self.elapsed(), 3)}
        self.report.phases.append(entry)
        profiler = self._start_profiler(name)
        self.sampler.mark(start)
        t0 = time.monotonic()
        since = clock.now()
        try:
            yield entry
        finally:
            entry["duration_s"] = round(time.monotonic() - t0, 3)
            self.sampler.mark(end)
            await self._bot_health(entry, since)
            if profiler is not None:
                # py-spy writes its file when stopped: off the event loop, it takes a moment.
                written = await asyncio.to_thread(profiler.stop)
                if written:
                    entry["server_profile"] = profile_summary(profiler.output)
            cpu = self.sampler.between(start, end)
            entry["server_cpu_percent"] = _round(cpu.get("server"))
            entry["bot_cpu_percent"] = _round(cpu.get("bots"))
            workers = [v for k, v in cpu.items() if k.startswith("bot-")]
            entry["bot_cpu_percent_max_worker"] = _round(max(workers) if workers else None)
            entry["coordinator_cpu_percent"] = _round(cpu.get("coordinator"))
            # Runnable but not running: the share of the phase spent waiting for a CPU.
            entry["server_cpu_wait_percent"] = _round(cpu.get("wait:server"))
            entry["bot_cpu_wait_percent"] = _round(cpu.get("wait:bots"))
            entry["machine_cpu_percent"] = _round(cpu.get("machine"))
            # What the rest of the machine used (other programs), in percent of one core: a
            # busy neighbour takes CPU from server and bots alike.
            entry["others_cpu_percent"] = _round(cpu.get("others"))
            # Each media worker process of the server (part of server_cpu_percent).
            entry["worker_cpu_percent"] = {
                key.removeprefix("worker-"): _round(value)
                for key, value in cpu.items()
                if key.startswith("worker-")
            }

    async def _bot_health(self, entry: dict[str, Any], since: float) -> None:
        """What the bot processes measured of themselves in a phase: event-loop lag and CPU.

        These hold wherever the bots run (on other machines too), unlike /proc figures.
        """
        if self.pool is None:
            return
        try:
            async with asyncio.timeout(10.0):
                parts = await self.pool.call_all("health", [{"since": since}] * self.pool.count)
        except (WorkerFailed, TimeoutError) as exc:
            self.report.note(f"{entry['name']}: no bot health figures: {exc}")
            return
        lags = [part["loop_lag_ms"] for part in parts if part.get("loop_lag_ms")]
        if lags:
            entry["bot_loop_lag_ms"] = {
                key: max(lag[key] for lag in lags) for key in ("p50", "p95", "p99", "max")
            }
        cpu = [part["cpu_percent"] for part in parts if part.get("cpu_percent") is not None]
        entry["bot_self_cpu_percent_max_worker"] = max(cpu) if cpu else None

    def _start_profiler(self, phase: str) -> SamplingProfiler | None:
        if phase not in self.settings.profile_phases or self.server_pid is None:
            return None
        output = self.settings.report_dir / f"server-profile-{phase}.txt"
        profiler = SamplingProfiler(self.server_pid, output)
        try:
            profiler.start()
        except (ProfilerUnavailable, OSError) as exc:
            self.report.note(f"no server profile of {phase}: {exc}")
            return None
        if profiler.process is not None:
            # The profiler's own CPU is ours, not the machine's other programs'.
            self.sampler.add(ProcessGroup(f"profiler-{phase}", [profiler.process.pid]))
        return profiler

    def phase_figure_map(self, phase: str, key: str) -> dict[str, Any]:
        """A figure of the last phase called ``phase`` that is a mapping (per worker)."""
        for entry in reversed(self.report.phases):
            if entry["name"] == phase:
                value = entry.get(key)
                return dict(value) if isinstance(value, dict) else {}
        return {}

    def phase_figure(self, phase: str, key: str) -> float | None:
        """A figure of the last phase called ``phase``."""
        for entry in reversed(self.report.phases):
            if entry["name"] == phase:
                value = entry.get(key)
                return value if isinstance(value, int | float) else None
        return None

    def resources_line(self) -> str:
        """A short live line of CPU figures for the progress display."""
        parts = []
        for name in ("server", "bots"):
            series = self.sampler.series.get(name)
            if series:
                point = series[-1]
                parts.append(f"{name} CPU {point.cpu_percent:3.0f}% RSS {point.rss_mb:4.0f} MB")
        if self.sampler.machine_series:
            parts.append(f"machine CPU {self.sampler.machine_series[-1][1]:3.0f}%")
        return "  |  ".join(parts)

    async def _sample_forever(self) -> None:
        while True:
            self.sampler.sample()
            self.view.status(self.resources_line())
            pool = self.pool
            if pool is not None:
                totals = pool.totals()
                self.progress_series.append(
                    [
                        round(self.sampler_elapsed(), 3),
                        totals.get("open", 0),
                        totals.get("joined", 0),
                        totals.get("receipts", 0),
                    ]
                )
            await asyncio.sleep(self.settings.sample_interval)

    def sampler_elapsed(self) -> float:
        return time.monotonic() - self.sampler.started

    async def _machine_before(self, seconds: float = 1.0) -> None:
        """How busy the machine was just before the run: other programs skew every figure."""
        busy0, total0 = machine_cpu()
        await asyncio.sleep(seconds)
        busy1, total1 = machine_cpu()
        if total1 <= total0:
            return
        percent = 100.0 * (busy1 - busy0) / (total1 - total0)
        self.report.environment["machine_cpu_percent_before_run"] = round(percent, 1)
        if percent >= 25.0:
            self.report.note(
                f"the machine was {percent:.0f}% busy before the run started (other programs): "
                "latencies include waiting for a CPU"
            )

    async def _start(self) -> None:
        settings = self.settings
        await self._machine_before()
        server_pids: list[int] = []
        if settings.spawn:
            self.server = SpawnedServer(settings.report_dir / "server.log", env=settings.server_env)
            await self.server.start()
            self.base_url = self.server.url
            assert self.server.pid is not None
            server_pids = [self.server.pid]
            self.report.target = {
                "url": self.base_url,
                "spawned": True,
                "command": self.server.command,
                "env": settings.server_env,
                "log": str(settings.report_dir / "server.log"),
            }
        else:
            assert settings.url is not None
            self.base_url = target_url(settings.url)
            await wait_healthy(self.base_url, 10.0, None)
            parts = urlsplit(self.base_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if settings.server_pid:
                server_pids = [settings.server_pid]
            elif is_loopback_url(self.base_url):
                server_pids = listening_pids(port)
            self.report.target = {"url": self.base_url, "spawned": False, "pids": server_pids}
            if not server_pids:
                self.report.note(
                    "the server's process was not found (on this machine, pass --server-pid): "
                    "no server CPU or memory figures"
                )
        self.server_pid = server_pids[0] if server_pids else None
        self.sampler = ResourceSampler([ProcessGroup("coordinator", [os.getpid()])])
        if server_pids:
            self.sampler.add(ProcessGroup("server", server_pids, follow_children=True))
            for name, pid in (await _media_workers(self.base_url)).items():
                if pid in descendants(server_pids[0]):
                    self.sampler.add(ProcessGroup(f"worker-{name}", [pid], part_of_total=False))
        hub: AgentHub | None = None
        token = settings.agent_token or secrets.token_urlsafe(18)
        if settings.agents:
            if settings.spawn:
                self.console.print(
                    "[yellow]warning:[/] --spawn serves on 127.0.0.1, which agents on other "
                    "machines cannot reach: give them a server they can reach with --url "
                    "(agents on this machine are fine)"
                )
            hub = AgentHub(
                *settings.agent_listen,
                token=token,
                expected=settings.agents,
                base_url=self.base_url,
                run_id=self.run_id,
                fleet=fleet_spec(),
                first_worker=settings.processes,
                announce=lambda text: self.console.print(
                    text, markup=False, highlight=False, soft_wrap=True
                ),
            )
        self.pool = WorkerPool(settings.processes, self.base_url, self.run_id, agents=hub)
        if hub is not None:
            await hub.start()
            self.console.print(
                _agent_instructions(
                    hub, settings.agent_wait, None if settings.agent_token else token
                ),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        await self.pool.start(agent_wait=settings.agent_wait)
        # The bots' processes on this machine: the local workers, and those of agents running
        # here too (so their CPU is not taken for other programs').
        local = self.pool.pids[: settings.processes]
        bot_pids = dict(enumerate(local))
        agents: list[dict[str, Any]] = []
        for agent in hub.agents if hub is not None else []:
            first = agent.first_worker
            pids = self.pool.pids[first : first + agent.processes]
            agents.append({**agent.describe(), "pids": pids})
            if agent.same_machine:
                # A pid names the same process here only if it is the agent's child (an agent
                # in a container has pids of its own).
                children = [_parent(pid) == agent.pid for pid in pids]
                if all(children):
                    bot_pids.update((first + i, pid) for i, pid in enumerate(pids))
                    self.sampler.add(ProcessGroup(f"agent-{agent.pid}", [agent.pid]))
                else:
                    self.report.note(
                        f"agent {agent.name}: its worker pids are not this machine's; "
                        "its bots' CPU counts as other programs'"
                    )
            elif agent.clock_uncertainty is not None and agent.clock_uncertainty > 0.0005:
                self.report.note(
                    f"agent {agent.name}: its clock is the coordinator's within "
                    f"{agent.clock_uncertainty * 1e3:.1f} ms; latencies between its bots and "
                    "other machines carry that uncertainty"
                )
        self.sampler.add(ProcessGroup("bots", list(bot_pids.values())))
        for worker_id, pid in bot_pids.items():
            self.sampler.add(ProcessGroup(f"bot-{worker_id}", [pid], part_of_total=False))
        self.report.target["bot_pids"] = list(local)
        if hub is not None:
            self.report.target["agents"] = agents

    async def _stop(self) -> None:
        if self.pool is not None:
            try:
                await self.pool.stop()
            except Exception as exc:
                self.report.error(f"stopping the bot workers: {exc}")
        if self.server is not None:
            status = self.server.stop()
            self.report.target["exit_status"] = status
            self.server = None

    def _series(self) -> dict[str, Any]:
        series: dict[str, Any] = {}
        for name, points in self.sampler.series.items():
            series[name] = {
                "t": [round(p.t, 3) for p in points],
                "cpu_percent": [round(p.cpu_percent, 1) for p in points],
                "rss_mb": [round(p.rss_mb, 1) for p in points],
            }
        series["machine"] = {
            "t": [round(t, 3) for t, _ in self.sampler.machine_series],
            "cpu_percent": [round(v, 1) for _, v in self.sampler.machine_series],
            "others_cpu_percent": [round(v, 1) for _, v in self.sampler.others_series],
        }
        series["progress"] = {
            "columns": ["t", "open", "joined", "chat_receipts"],
            "rows": self.progress_series,
        }
        return series


async def execute(settings: RunSettings, scenario: Scenario, report: Report) -> int:
    """Run ``scenario`` within ``settings.timeout``, write the report, print the summary."""
    console = Console(stderr=False)
    report.environment = environment()
    # SIGTERM (as from `timeout` or a CI runner) ends the run like Ctrl-C: cleanly.
    main_task = asyncio.current_task()
    if main_task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    run = Run(settings, report, console)
    crowded = shared_machine_warning(scenario.demand()) if settings.spawn else None
    if crowded:
        console.print(f"[yellow]warning:[/] {crowded}")
    sampling: asyncio.Task[None] | None = None
    status = "error"
    code = EXIT_FAILED
    try:
        async with asyncio.timeout(settings.timeout):
            await run._start()
            sampling = asyncio.get_running_loop().create_task(run._sample_forever())
            with run.view:
                await scenario.run(run)
        status, code = "ok", EXIT_OK
    except TimeoutError:
        status = "timeout"
        report.error(f"the run was stopped by --timeout {settings.timeout:g} s")
    except (TargetError, WorkerFailed, ScenarioFailed) as exc:
        report.error(str(exc))
    except asyncio.CancelledError:
        status, code = "interrupted", EXIT_INTERRUPTED
    finally:
        if sampling is not None:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        with contextlib.suppress(Exception):
            run.sampler.sample()
        try:
            scenario.finish(run)
        except Exception as exc:
            log.exception("computing the figures failed")
            report.error(f"computing the figures failed: {exc}")
        await run._stop()
        if run.report.target.get("log"):
            report.metrics["server_log"] = server_log_events(Path(run.report.target["log"]))
        verdict = _judge(run, scenario, status)
        if crowded:
            verdict.warnings.append(crowded)
        report.verdict = verdict.to_dict()
        report.series = {**run._series(), **report.series}
        report.finish(status)
        path = write_report(report, settings.report_dir)
    console.print(
        summary_table(
            f"{scenario.name}: {status}",
            verdict.rows() + scenario.summary_rows(report.metrics),
        )
    )
    for phase in report.phases:
        profile = phase.get("server_profile")
        if profile:
            rows = [
                (row["frame"], f"{row['self_percent']:.1f}% / {row['total_percent']:.1f}%")
                for row in profile["top_self"][:12]
            ]
            title = f"server CPU in {phase['name']}: self / total of {profile['samples']} samples"
            console.print(summary_table(title, rows))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for error in report.errors[:10]:
        console.print(f"[red]error:[/] {error}")
    for warning in verdict.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for reason in verdict.reasons:
        console.print(f"[bold red]failed:[/] {reason}")
    if verdict.bottleneck:
        console.print(
            f"[yellow]ran out of CPU:[/] {verdict.bottleneck}: {verdict.bottleneck_detail}"
        )
    console.print(f"report: {path}")
    if code == EXIT_OK and not verdict.passed:
        return EXIT_VERDICT_FAILED
    return code


# What a server's log says about connections that broke (aioice and aiortc's own words).
_LOG_EVENTS = {
    "ice_consent_expired": "onsent to send expired",
    "dtls_failed": "DTLS handshake failed",
    "errors": " ERROR ",
}


def server_log_events(path: Path) -> dict[str, int]:
    """How often the spawned server logged that a connection broke, or an error."""
    counts = dict.fromkeys(_LOG_EVENTS, 0)
    try:
        with path.open(errors="replace") as log_file:
            for line in log_file:
                for key, text in _LOG_EVENTS.items():
                    if text in line:
                        counts[key] += 1
    except OSError:
        pass
    return counts


def _judge(run: Run, scenario: Scenario, status: str) -> Verdict:
    """The run's verdict: it ended normally, the scenario's criteria, the generator's CPU."""
    verdict = Verdict()
    verdict.check("run completed", status, status == "ok", f"the run ended with status {status}")
    try:
        scenario.judge(run, verdict)
        judge_cpu(verdict, run.report.phases, scenario.measured_phases)
    except Exception as exc:
        log.exception("judging the run failed")
        verdict.check("figures complete", "no", False, f"judging the run failed: {exc}")
    return verdict


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _parent(pid: int) -> int | None:
    sample = read_process(pid)
    return None if sample is None else sample.ppid


def _agent_instructions(hub: AgentHub, wait: float, token: str | None) -> str:
    """What the operator runs on each agent machine; ``token`` only when we made it up."""
    command = f"python -m loadtest agent --connect {hub.url}"
    if token is not None:
        command += f" --token {token}"
    lines = [
        f"waiting up to {wait:g} s for {hub.expected} agent(s); on each of their machines run:",
        f"  {command}",
    ]
    if token is None:
        lines.append("  with the token given by --agent-token or $PODIUM_LOADTEST_TOKEN")
    if hub.host.startswith("127.") or hub.host in ("localhost", "::1"):
        lines.append(
            "  (listening on loopback: only agents on this machine can connect; "
            "--agent-listen 0.0.0.0:PORT lets others in)"
        )
    return "\n".join(lines)


async def _media_workers(base_url: str) -> dict[str, int]:
    """The server's media worker processes by name, from ``/healthz``."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"{base_url}/healthz") as resp,
        ):
            data = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}
    return {
        str(w["name"]): int(w["pid"])
        for w in data.get("media_workers") or []
        if isinstance(w, dict) and isinstance(w.get("pid"), int)
    }
