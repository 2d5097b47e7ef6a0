"""What a run shows on the terminal: a live progress display and a summary table."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text


class _StatusLine:
    """A line of text under the bars, re-read at every refresh."""

    def __init__(self) -> None:
        self.text = ""

    def __rich__(self) -> Text:
        return Text(self.text, style="dim")


class ProgressView:
    """Named progress bars (one per phase) and a status line (CPU and memory figures).

    With ``enabled=False`` nothing is drawn (for tests and logs); the calls still work.
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description:<15}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self._status = _StatusLine()
        self._live = Live(
            Group(self._progress, self._status), console=console, refresh_per_second=4
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressView:
        if self.enabled:
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._live.stop()

    def add(self, name: str, total: float, info: str = "") -> None:
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total, info=info)

    def update(
        self, name: str, completed: float, *, total: float | None = None, info: str | None = None
    ) -> None:
        task = self._tasks.get(name)
        if task is None:
            return
        if info is None:
            self._progress.update(task, completed=completed, total=total)
        else:
            self._progress.update(task, completed=completed, total=total, info=info)

    def status(self, text: str) -> None:
        self._status.text = text

    def log(self, text: str) -> None:
        """A line above the bars (kept in the scrollback)."""
        if self.enabled:
            self.console.print(text)


def summary_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    """A two-column table: figure, value."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in rows:
        if label.startswith("--"):
            table.add_section()
            continue
        table.add_row(label, value)
    return table


def format_ms(summary: dict[str, float] | None) -> str:
    """``p50 / p95 / p99 / max`` of a latency summary in milliseconds."""
    if not summary:
        return "-"
    return " / ".join(f"{summary[key]:.1f}" for key in ("p50", "p95", "p99", "max"))


def format_number(value: float | int | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value:,.{digits}f}{unit}"
