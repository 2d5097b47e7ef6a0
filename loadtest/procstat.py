"""CPU time and memory of processes, read from Linux's /proc.

A load test watches two groups: the server's processes (to see whether the server is the
limit) and its own bot processes (so a starved client is told apart from an overloaded
server). CPU is given in percent of one core, so 100 means one core fully busy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One process at one moment."""

    pid: int
    ppid: int
    cpu_s: float  # user + system time so far
    rss_bytes: int


def read_process(pid: int, proc: Path = PROC) -> ProcSample | None:
    """CPU time and resident memory of ``pid``; None when it does not exist (any more)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        statm = (proc / str(pid) / "statm").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return parse_stat(pid, stat, statm)


def read_run_delay(pid: int, proc: Path = PROC) -> float | None:
    """Seconds ``pid`` has spent runnable but waiting for a CPU (``/proc/PID/schedstat``).

    CPU time says how much a process worked; this says how long it wanted to and could not,
    which is what other busy programs on the machine cost it.
    """
    try:
        fields = (proc / str(pid) / "schedstat").read_text().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]) / 1e9 if len(fields) >= 2 else None


def parse_stat(pid: int, stat: str, statm: str) -> ProcSample:
    """Parse ``/proc/PID/stat`` and ``/proc/PID/statm``.

    The command name (field 2) may contain spaces and parentheses, so fields are counted
    from the last closing parenthesis.
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    ppid = int(rest[1])
    utime, stime = int(rest[11]), int(rest[12])
    resident_pages = int(statm.split()[1])
    return ProcSample(
        pid=pid, ppid=ppid, cpu_s=(utime + stime) / _TICKS, rss_bytes=resident_pages * _PAGE
    )


def _all_pids(proc: Path = PROC) -> list[int]:
    return [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit()]


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """Every living process below ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for other in _all_pids(proc):
        sample = read_process(other, proc)
        if sample is not None:
            children.setdefault(sample.ppid, []).append(other)
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def listening_pids(port: int, proc: Path = PROC) -> list[int]:
    """Processes holding a TCP socket that listens on ``port`` (any local address)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return []
    pids: list[int] = []
    for pid in _all_pids(proc):
        try:
            fds = list((proc / str(pid) / "fd").iterdir())
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    pids.append(pid)
                    break
            except OSError:
                continue
    return pids


def boot_id(proc: Path = PROC) -> str:
    """This boot of the machine's kernel ("" when unknown).

    Processes that read the same id run on one machine and share its CLOCK_MONOTONIC and its
    /proc, so one of them can sample the others.
    """
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return (total - idle) / _TICKS, total / _TICKS


@dataclass(slots=True)
class ProcessGroup:
    """A named set of processes whose CPU time and memory are added up.

    With ``follow_children`` the descendants of the roots count too (a server that forks
    workers). CPU time of a process that has exited stays counted at its last value, so the
    group's total never goes backwards.
    """

    name: str
    roots: list[int]
    follow_children: bool = False
    # False for a group whose processes another group counts already (one bot worker of
    # "bots"), so the machine's other programs are not underestimated.
    part_of_total: bool = True
    _cpu: dict[int, float] = field(default_factory=dict)
    _wait: dict[int, float] = field(default_factory=dict)

    def pids(self) -> list[int]:
        pids = list(self.roots)
        if self.follow_children:
            for root in self.roots:
                pids.extend(descendants(root))
        return pids

    def sample(self) -> tuple[float, int, int]:
        """(cpu seconds so far, resident bytes now, living processes)."""
        rss = 0
        alive = 0
        for pid in self.pids():
            sample = read_process(pid)
            if sample is None:
                continue
            alive += 1
            rss += sample.rss_bytes
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), sample.cpu_s)
            delay = read_run_delay(pid)
            if delay is not None:
                self._wait[pid] = max(self._wait.get(pid, 0.0), delay)
        return sum(self._cpu.values()), rss, alive

    def run_delay(self) -> float:
        """Seconds the group's processes waited for a CPU, as of the last :meth:`sample`."""
        return sum(self._wait.values())

    def cpu_by_process(self) -> dict[int, float]:
        return dict(self._cpu)


@dataclass(slots=True)
class Point:
    """Figures of one group between two samples."""

    t: float  # seconds since the sampler started
    cpu_percent: float
    rss_mb: float


class ResourceSampler:
    """Samples process groups and the machine, and remembers marks for per-phase figures."""

    def __init__(self, groups: Iterable[ProcessGroup]) -> None:
        self.groups = {group.name: group for group in groups}
        self.started = time.monotonic()
        self.series: dict[str, list[Point]] = {name: [] for name in self.groups}
        self.machine_series: list[tuple[float, float]] = []
        # CPU used by every other program of the machine, in percent of one core.
        self.others_series: list[tuple[float, float]] = []
        self.cores = os.cpu_count() or 1
        self._last: dict[str, tuple[float, float]] = {}
        self._last_machine: tuple[float, float, float] | None = None
        self._marks: dict[str, tuple[float, dict[str, float]]] = {}
        self.peak_rss: dict[str, int] = {name: 0 for name in self.groups}

    def add(self, group: ProcessGroup) -> None:
        self.groups[group.name] = group
        self.series.setdefault(group.name, [])
        self.peak_rss.setdefault(group.name, 0)

    def sample(self) -> dict[str, float]:
        """Take one sample of every group; returns their CPU percent since the previous one."""
        now = time.monotonic()
        t = now - self.started
        latest: dict[str, float] = {}
        for name, group in self.groups.items():
            cpu, rss, _ = group.sample()
            self.peak_rss[name] = max(self.peak_rss[name], rss)
            previous = self._last.get(name)
            self._last[name] = (now, cpu)
            if previous is None or now <= previous[0]:
                continue
            percent = 100.0 * (cpu - previous[1]) / (now - previous[0])
            latest[name] = percent
            self.series[name].append(Point(t=t, cpu_percent=percent, rss_mb=rss / 2**20))
        busy, total = machine_cpu()
        if self._last_machine is not None and total > self._last_machine[2]:
            share = min(
                1.0, max(0.0, (busy - self._last_machine[1]) / (total - self._last_machine[2]))
            )
            self.machine_series.append((t, 100.0 * share))
            self.others_series.append((t, self._others(100.0 * share, latest)))
        self._last_machine = (now, busy, total)
        return latest

    def _others(self, machine_percent: float, groups: dict[str, float]) -> float:
        """CPU of the rest of the machine, from its total and our groups' figures."""
        ours = sum(
            value
            for name, value in groups.items()
            if name in self.groups and self.groups[name].part_of_total
        )
        return max(0.0, machine_percent * self.cores - ours)

    def others_at(self, t: float) -> float | None:
        """Other programs' CPU (percent of one core) in the sample interval holding ``t``."""
        for end, value in self.others_series:
            if end >= t:
                return value
        return None

    def mark(self, label: str) -> None:
        """Remember the CPU totals now, to compute a phase's figures with :meth:`between`."""
        now = time.monotonic()
        totals = {name: group.sample()[0] for name, group in self.groups.items()}
        for name, group in self.groups.items():
            totals[f"wait:{name}"] = group.run_delay()
        busy, total = machine_cpu()
        totals["machine:busy"] = busy
        totals["machine:total"] = total
        self._marks[label] = (now, totals)

    def between(self, start: str, end: str) -> dict[str, float]:
        """CPU percent (of one core) of each group between two marks; ``machine`` in percent
        of all cores; ``others`` what the machine's other programs used (percent of one core);
        ``wait:GROUP`` the time the group waited for a CPU, in percent of the phase (summed
        over its processes)."""
        t0, a = self._marks[start]
        t1, b = self._marks[end]
        if t1 <= t0:
            return {}
        figures = {
            name: 100.0 * (b[name] - a.get(name, 0.0)) / (t1 - t0)
            for name in b
            if not name.startswith("machine:")
        }
        total = b["machine:total"] - a["machine:total"]
        if total > 0:
            share = (b["machine:busy"] - a["machine:busy"]) / total
            figures["machine"] = 100.0 * min(1.0, max(0.0, share))
            figures["others"] = self._others(figures["machine"], figures)
        return figures

    def has_mark(self, label: str) -> bool:
        return label in self._marks
