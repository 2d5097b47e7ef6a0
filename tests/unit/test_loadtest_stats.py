"""Percentiles and distribution summaries of the load-test reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadtest.stats import percentile, ratio, summarize, summary_ms


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.3]
    ordered = sorted(values)
    for q in (0, 1, 25, 50, 90, 95, 99, 100):
        assert percentile(ordered, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_an_even_sample_is_the_mean_of_the_middle_pair() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 0) == percentile([7.0], 99) == 7.0


def test_percentile_refuses_empty_samples_and_bad_ranks() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_a_uniform_sample() -> None:
    summary = summarize(float(v) for v in range(1, 101))
    assert summary is not None
    assert summary.count == 100
    assert summary.min == 1.0 and summary.max == 100.0
    assert summary.mean == pytest.approx(50.5)
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summary.p99 == pytest.approx(99.01)


def test_summary_of_nothing_is_none() -> None:
    assert summarize([]) is None
    assert summary_ms([]) is None


def test_summary_ms_converts_seconds_and_keeps_the_count() -> None:
    entry = summary_ms([0.001, 0.002, 0.003])
    assert entry is not None
    assert entry["count"] == 3
    assert entry["p50"] == pytest.approx(2.0)
    assert entry["max"] == pytest.approx(3.0)
    assert set(entry) == {"count", "mean", "min", "p50", "p95", "p99", "max"}


def test_ratio_is_none_when_nothing_was_expected() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(0, 0) is None
    assert not math.isnan(ratio(0, 5) or 0.0)
