"""PNG plots of a run: latency over time, participants per space over time, CPU over time.

Scenarios call :func:`write_plots` with the report's series when they finish; the same plots
can be drawn again from a report: ``python -m loadtest.plots DIR`` (reads DIR/report.json).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

_DPI = 80
_SIZE = (9, 4)


def _table(series: dict[str, Any] | None) -> tuple[list[str], list[list[Any]]]:
    if not series:
        return [], []
    return list(series.get("columns", [])), list(series.get("rows", []))


def plot_latency(series: dict[str, dict[str, Any]], path: Path, title: str) -> Path | None:
    """Latency events over time: media (promotion or move -> first packet), booth moves,
    chat fan-out per message. Nothing is drawn when there is no event."""
    fig, ax = plt.subplots(figsize=_SIZE)
    drawn = False
    columns, rows = _table(series.get("latency_events"))
    if rows and "first_packet_ms" in columns:
        t, v = columns.index("t"), columns.index("first_packet_ms")
        points = [(r[t], r[v]) for r in rows if r[v] is not None]
        if points:
            ax.scatter(
                [x for x, _ in points],
                [y for _, y in points],
                s=10,
                label="-> first video packet",
                alpha=0.7,
            )
            drawn = True
    columns, rows = _table(series.get("moves"))
    if rows:
        t, v = columns.index("t"), columns.index("snapshot_ms")
        ax.scatter([r[t] for r in rows], [r[v] for r in rows], s=6, label="move -> snapshot")
        drawn = True
    columns, rows = _table(series.get("chat_messages"))
    if rows and "p99_ms" in columns:
        t, v = columns.index("sent_s"), columns.index("p99_ms")
        points = [(r[t], r[v]) for r in rows if r[t] is not None]
        if points:
            ax.plot(
                [x for x, _ in points],
                [y for _, y in points],
                lw=0.8,
                label="chat fan-out p99 per message",
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)


def plot_spaces(series: dict[str, Any] | None, path: Path, title: str) -> Path | None:
    """Participants per space (or kind of space) over time."""
    columns, rows = _table(series)
    if not rows or len(columns) < 2:
        return None
    fig, ax = plt.subplots(figsize=_SIZE)
    times = [row[0] for row in rows]
    for k, name in enumerate(columns[1:], start=1):
        values = [row[k] for row in rows]
        if any(values):
            ax.step(times, values, where="post", label=name)
    ax.set_xlabel("seconds")
    ax.set_ylabel("participants")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", ncol=2)
    return _save(fig, path)


def plot_cpu(groups: dict[str, dict[str, Sequence[float]]], path: Path, title: str) -> Path | None:
    """CPU over time (percent of one core) of the server, the bots and the machine."""
    fig, ax = plt.subplots(figsize=_SIZE)
    drawn = False
    for name in ("server", "bots", "coordinator", "others", "machine"):
        group = groups.get(name)
        if not group or not group.get("t"):
            continue
        values = list(group["cpu_percent"])
        label = name
        if name == "machine":
            label = "machine (all cores = 100%)"
        ax.plot(list(group["t"]), values, lw=1, label=label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("seconds")
    ax.set_ylabel("CPU, % of one core")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def write_plots(series: dict[str, Any], directory: Path, scenario: str) -> list[Path]:
    """Every plot the series allow, as PNG files in ``directory``."""
    written = [
        plot_latency(series, directory / "latency.png", f"{scenario}: latency over time"),
        plot_spaces(
            series.get("spaces"), directory / "spaces.png", f"{scenario}: participants per space"
        ),
        plot_cpu(series, directory / "cpu.png", f"{scenario}: CPU over time"),
    ]
    return [path for path in written if path is not None]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m loadtest.plots DIR", file=sys.stderr)
        return 2
    directory = Path(args[0])
    report = json.loads((directory / "report.json").read_text())
    for path in write_plots(report.get("series", {}), directory, report.get("scenario", "")):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
