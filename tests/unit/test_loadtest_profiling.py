"""Ranking the server's functions from py-spy's collapsed stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.profiling import profile_summary, top_frames

RUN = 'process 1:"podium serve";run (asyncio/runners.py:118)'
COLLAPSED = "\n".join(
    [
        f"{RUN};send_many (server/hub.py:300);send (server/session.py:80) 30",
        f"{RUN};_drain (server/session.py:100);_write_frame (_websocket/writer.py:90) 60",
        f"{RUN};_drain (server/session.py:101);_write_frame (_websocket/writer.py:95) 10",
        "not a stack line",
    ]
)


def test_functions_are_ranked_by_self_time_lines_merged() -> None:
    samples, shares = top_frames(COLLAPSED)
    assert samples == 100
    first = shares[0]
    assert first.frame == "_write_frame (_websocket/writer.py)"
    assert first.self_percent == pytest.approx(70.0)
    assert first.total_percent == pytest.approx(70.0)
    send = next(s for s in shares if s.frame.startswith("send "))
    assert send.self_percent == pytest.approx(30.0)


def test_total_time_counts_every_stack_a_function_is_on() -> None:
    _, shares = top_frames(COLLAPSED, by_total=True)
    by_frame = {s.frame: s for s in shares}
    assert by_frame["run (asyncio/runners.py)"].total_percent == pytest.approx(100.0)
    assert by_frame["run (asyncio/runners.py)"].self_percent == 0.0
    assert by_frame["_drain (server/session.py)"].total_percent == pytest.approx(70.0)


def test_an_empty_profile_has_no_frames(tmp_path: Path) -> None:
    assert top_frames("") == (0, [])
    path = tmp_path / "profile.txt"
    path.write_text(COLLAPSED)
    summary = profile_summary(path, limit=2)
    assert summary["samples"] == 100
    assert len(summary["top_self"]) == 2 and len(summary["top_total"]) == 2
