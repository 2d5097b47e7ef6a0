"""Summaries of measured distributions: percentiles, mean and extremes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``ordered`` (sorted ascending).

    Linear interpolation between the two closest ranks, as numpy's default method, so the
    50th percentile of an even-sized sample is the mean of the two middle values.
    """
    if not ordered:
        raise ValueError("the percentile of an empty sample is undefined")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"a percentile lies between 0 and 100, not {q}")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class Summary:
    """A distribution in a few figures, in the unit of the sample."""

    count: int
    mean: float
    min: float
    p50: float
    p95: float
    p99: float
    max: float

    def scaled(self, factor: float) -> Summary:
        """The same figures multiplied by ``factor`` (for instance seconds -> milliseconds)."""
        return Summary(
            count=self.count,
            mean=self.mean * factor,
            min=self.min * factor,
            p50=self.p50 * factor,
            p95=self.p95 * factor,
            p99=self.p99 * factor,
            max=self.max * factor,
        )

    def as_dict(self, digits: int = 3) -> dict[str, Any]:
        return {
            key: value if isinstance(value, int) else round(value, digits)
            for key, value in asdict(self).items()
        }


def summarize(values: Iterable[float]) -> Summary | None:
    """Percentiles, mean and extremes of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return Summary(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        min=ordered[0],
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1],
    )


def summary_ms(seconds: Iterable[float]) -> dict[str, Any] | None:
    """A report entry for latencies measured in seconds, given in milliseconds."""
    summary = summarize(seconds)
    return None if summary is None else summary.scaled(1000.0).as_dict()


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or None when nothing was expected."""
    return None if whole <= 0 else part / whole
