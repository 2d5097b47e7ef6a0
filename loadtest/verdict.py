"""Whether a run held, and if not, why: the first thing a report and its summary say.

A run passes only when every check of its scenario holds: everyone joined, every stream that
should flow at the end flows, no connection dropped, loss stays under ``--max-loss``, no tile
froze for long, and the load generator itself had CPU to spare. A figure from a run that
failed one of these is not a figure of the server: the run exits non-zero and says which
check failed and which side ran out of CPU (the server, the bots, or the machine they share).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# The load generator is out of CPU when its event loop wakes this late (p99 within a measured
# phase), stalls once for this long (max), or a bot process uses this much of a core: its
# timers (a replayed camera's pace, keepalives, ICE consent) then run late, and what it
# measures includes its own queueing.
GENERATOR_LAG_P99_MS = 50.0
GENERATOR_STALL_MS = 500.0
SATURATED_PERCENT = 95.0
# Bots lagging while they used less than this of a core, on a machine other programs kept
# this busy (percent of a core), were starved rather than overloaded.
BOTS_BUSY_PERCENT = 80.0
OTHERS_BUSY_PERCENT = 50.0
# The machine is full when all its cores together are this busy.
MACHINE_SATURATED_PERCENT = 90.0
# Processes runnable but waiting this share of the time for a CPU (summed over a group's
# processes) are named when the machine is saturated.
WAITING_PERCENT = 30.0
# Defaults of the media checks (options of the media scenarios).
MAX_LOSS = 0.005
MAX_FREEZE_S = 2.0

EXIT_VERDICT_FAILED = 3


@dataclass(slots=True)
class Check:
    """One pass criterion: what was measured against what it should be."""

    name: str
    value: str
    ok: bool
    reason: str = ""  # why it failed, in a sentence

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "ok": self.ok, "reason": self.reason}


@dataclass(slots=True)
class Verdict:
    checks: list[Check] = field(default_factory=list)
    # Which side ran out of CPU: "server", "load generator", "machine", or None.
    bottleneck: str | None = None
    bottleneck_detail: str = ""
    warnings: list[str] = field(default_factory=list)

    def check(self, name: str, value: str, ok: bool, reason: str = "") -> None:
        self.checks.append(Check(name, value, ok, "" if ok else reason or f"{name}: {value}"))

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [check.reason for check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "bottleneck": self.bottleneck,
            "bottleneck_detail": self.bottleneck_detail,
            "warnings": self.warnings,
            "checks": [check.to_dict() for check in self.checks],
        }

    def rows(self) -> list[tuple[str, str]]:
        """The summary's first rows: the verdict, then each check, red where it failed."""
        head = "[bold green]PASS[/]" if self.passed else "[bold red]FAIL[/]"
        rows = [("verdict", head)]
        for check in self.checks:
            value = check.value if check.ok else f"[red]{check.value}[/]"
            label = check.name if check.ok else f"[red]{check.name}[/]"
            rows.append((label, value))
        if self.bottleneck:
            rows.append(("ran out of CPU", f"[yellow]{self.bottleneck}[/]"))
        rows.append(("--", ""))
        return rows


def _figure(phase: dict[str, Any], key: str) -> float | None:
    value = phase.get(key)
    return float(value) if isinstance(value, int | float) else None


def judge_cpu(verdict: Verdict, phases: list[dict[str, Any]], measured: tuple[str, ...]) -> None:
    """Tell a saturated load generator from a saturated server, and both from a machine
    busy with other programs, in the measured phases.

    The generator's own figures (event-loop lag and CPU each bot process measured of itself)
    count first: they hold for bots on other machines too. Bots that lag fail the run
    whatever the cause, since what they measured includes their own waiting; the cause is
    named: the bots' own CPU, or other programs taking the machine. A saturated server is
    what a load test is for, and only named.
    """
    generator: list[str] = []  # the bots themselves were too busy
    starved: list[str] = []  # the bots lagged on a machine other programs kept busy
    server: list[str] = []
    machine: list[str] = []
    for phase in phases:
        if phase.get("name") not in measured:
            continue
        name = phase["name"]
        lag = phase.get("bot_loop_lag_ms") or {}
        lag_p99 = lag.get("p99") if isinstance(lag, dict) else None
        lag_max = lag.get("max") if isinstance(lag, dict) else None
        busiest = max(
            (
                v
                for v in (
                    _figure(phase, "bot_self_cpu_percent_max_worker"),
                    _figure(phase, "bot_cpu_percent_max_worker"),
                )
                if v is not None
            ),
            default=None,
        )
        others = _figure(phase, "others_cpu_percent")
        machine_cpu = _figure(phase, "machine_cpu_percent")
        lagging = ""
        if lag_p99 is not None and lag_p99 >= GENERATOR_LAG_P99_MS:
            lagging = f"{name}: bot event loops lagged p99 {lag_p99:.0f} ms"
        elif lag_max is not None and lag_max >= GENERATOR_STALL_MS:
            lagging = f"{name}: a bot event loop stalled for {lag_max:.0f} ms"
        busy_bots = busiest is not None and busiest >= BOTS_BUSY_PERCENT
        crowded = others is not None and others >= OTHERS_BUSY_PERCENT
        if lagging and not busy_bots and crowded:
            starved.append(
                f"{lagging} with the bots at {busiest or 0:.0f}% of a core: other programs "
                f"used {others or 0:.0f}% of a core"
            )
        elif lagging:
            generator.append(lagging)
        if busiest is not None and busiest >= SATURATED_PERCENT:
            generator.append(f"{name}: a bot process used {busiest:.0f}% of a core")
        bot_wait = _figure(phase, "bot_cpu_wait_percent")
        server_cpu = _figure(phase, "server_cpu_percent")
        server_wait = _figure(phase, "server_cpu_wait_percent")
        if server_cpu is not None and server_cpu >= SATURATED_PERCENT:
            server.append(f"{name}: the server used {server_cpu:.0f}% of a core")
        waits = [
            f"{who} waited for a CPU {wait:.0f}% of the time"
            for who, wait in (("the server", server_wait), ("the bots", bot_wait))
            if wait is not None and wait >= WAITING_PERCENT
        ]
        if machine_cpu is not None and machine_cpu >= MACHINE_SATURATED_PERCENT:
            text = f"{name}: all {os.cpu_count()} cores {machine_cpu:.0f}% busy"
            if others:
                text += f" (other programs {others:.0f}% of a core)"
            machine.append("; ".join([text, *waits]))
    if starved and not generator:
        verdict.bottleneck = "machine (other programs)"
    elif generator and (server or machine):
        verdict.bottleneck = "machine (server and bots together)"
    elif generator:
        verdict.bottleneck = "load generator"
    elif server:
        verdict.bottleneck = "server"
    elif machine:
        verdict.bottleneck = "machine (server and bots together)"
    verdict.bottleneck_detail = "; ".join(generator + starved + server + machine)
    why = "; ".join(generator + starved)
    cause = (
        "the load generator ran out of CPU"
        if generator
        else "other programs on the machine starved the load generator"
    )
    verdict.check(
        "load generator kept up",
        "no" if why else "yes",
        not why,
        f"{cause}, so its figures are not the server's: {why}"
        + (" (the server too: " + "; ".join(server) + ")" if server else ""),
    )


def connection_check(verdict: Verdict, drops: dict[str, int]) -> None:
    """Connections lost without the bot asking: each one is a participant who dropped."""
    total = sum(drops.values())
    detail = ", ".join(f"{count} {what}" for what, count in sorted(drops.items()) if count)
    verdict.check(
        "connections dropped",
        f"{total}" + (f" ({detail})" if detail else ""),
        total == 0,
        f"{total} connections dropped during the run: {detail}",
    )


def websocket_drops(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """Websocket drops over every bot process (from their ``status``): by close code or
    cause, the reconnections, and each bot's seconds without a connection."""
    codes: dict[str, int] = {}
    merged: dict[str, Any] = {"ws_drops": 0, "reconnects": 0, "still_reconnecting": 0}
    offline: list[float] = []
    examples: list[str] = []
    for status in statuses:
        figures = status.get("connections") or {}
        for key in merged:
            merged[key] += int(figures.get(key, 0))
        for code, count in (figures.get("drop_codes") or {}).items():
            codes[code] = codes.get(code, 0) + int(count)
        offline.extend(figures.get("offline_s") or [])
        examples.extend((figures.get("drops") or [])[:5])
    merged["drop_codes"] = codes
    merged["offline_s_total"] = round(sum(offline), 3)
    merged["offline_s_max"] = round(max(offline), 3) if offline else 0.0
    merged["examples"] = examples[:10]
    return merged


def bot_errors_check(verdict: Verdict, statuses: list[dict[str, Any]]) -> None:
    """The bots' own code failed somewhere: what they measured may be incomplete."""
    errors = sum(int((s.get("counters") or {}).get("internal_errors", 0)) for s in statuses)
    verdict.check(
        "bot faults",
        f"{errors}",
        errors == 0,
        f"{errors} background tasks of the bots failed (see errors in the report)",
    )
