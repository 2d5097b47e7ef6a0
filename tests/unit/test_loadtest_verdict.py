"""The verdict of a run: what fails it, and which side is named as out of CPU."""

from __future__ import annotations

import struct
from typing import Any

from loadtest import clock
from loadtest.client import PodiumClient
from loadtest.media import LIVE_WITHIN_S, MediaPeer
from loadtest.scenarios import mediabase as mb
from loadtest.verdict import Verdict, connection_check, judge_cpu, websocket_drops
from signaling import protocol as p


def _phase(name: str = "stage", **figures: Any) -> dict[str, Any]:
    return {"name": name, **figures}


def test_a_saturated_generator_fails_the_run_and_is_named() -> None:
    verdict = Verdict()
    phases = [
        _phase(
            bot_loop_lag_ms={"p50": 20, "p95": 90, "p99": 140, "max": 400},
            bot_self_cpu_percent_max_worker=99.0,
            server_cpu_percent=40.0,
        )
    ]
    judge_cpu(verdict, phases, ("stage",))
    assert not verdict.passed
    assert verdict.bottleneck == "load generator"
    assert "ran out of CPU" in verdict.reasons[0]
    assert "140 ms" in verdict.reasons[0] and "99%" in verdict.reasons[0]


def test_a_saturated_server_is_named_but_does_not_fail_by_itself() -> None:
    verdict = Verdict()
    phases = [
        _phase(
            bot_loop_lag_ms={"p50": 0, "p95": 1, "p99": 2, "max": 5},
            bot_self_cpu_percent_max_worker=30.0,
            server_cpu_percent=99.0,
        )
    ]
    judge_cpu(verdict, phases, ("stage",))
    assert verdict.passed
    assert verdict.bottleneck == "server"
    assert "99% of a core" in verdict.bottleneck_detail


def test_both_saturated_names_the_machine_and_unmeasured_phases_do_not_count() -> None:
    verdict = Verdict()
    phases = [
        _phase("join", bot_self_cpu_percent_max_worker=100.0),
        _phase(
            bot_loop_lag_ms={"p50": 30, "p95": 80, "p99": 120, "max": 300},
            server_cpu_percent=98.0,
            machine_cpu_percent=99.0,
            others_cpu_percent=3.0,
        ),
    ]
    judge_cpu(verdict, phases, ("stage",))
    assert verdict.bottleneck == "machine (server and bots together)"
    assert "join" not in verdict.bottleneck_detail
    assert not verdict.passed


def test_a_quiet_run_names_no_bottleneck() -> None:
    verdict = Verdict()
    judge_cpu(verdict, [_phase(server_cpu_percent=10.0, machine_cpu_percent=20.0)], ("stage",))
    assert verdict.passed and verdict.bottleneck is None


def test_dropped_connections_fail_with_their_causes() -> None:
    verdict = Verdict()
    connection_check(verdict, {"websocket": 2, "subscribe ice": 3, "publish dtls": 0})
    assert not verdict.passed
    assert verdict.checks[0].value == "5 (3 subscribe ice, 2 websocket)"
    ok = Verdict()
    connection_check(ok, {"websocket": 0})
    assert ok.passed


def test_websocket_drops_add_up_over_bot_processes() -> None:
    statuses = [
        {"connections": {"ws_drops": 2, "reconnects": 2, "drop_codes": {"1006": 2}}},
        {
            "connections": {
                "ws_drops": 1,
                "reconnects": 0,
                "still_reconnecting": 1,
                "drop_codes": {"1006": 1},
                "offline_s": [4.5],
            }
        },
        {},
    ]
    drops = websocket_drops(statuses)
    assert drops["ws_drops"] == 3
    assert drops["drop_codes"] == {"1006": 3}
    assert drops["still_reconnecting"] == 1
    assert drops["offline_s_max"] == 4.5


def _media_metrics(**overrides: Any) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "live_streams_expected": 40,
        "live_streams_at_end": 40,
        "dead_streams": [],
        "media_connection_failures": {},
        "loss_ratio": 0.0001,
        "longest_freeze_s": 0.3,
        "bots_with_frozen_tiles": 0,
    }
    metrics.update(overrides)
    return metrics


def _judge(metrics: dict[str, Any], joined: int = 21) -> Verdict:
    verdict = Verdict()
    mb.judge_media(
        verdict,
        metrics,
        [],
        bots_asked=21,
        bots_joined=joined,
        max_loss=0.005,
        max_freeze_s=2.0,
    )
    return verdict


def test_a_clean_media_run_passes() -> None:
    assert _judge(_media_metrics()).passed


def test_dead_streams_fail_and_are_named_by_publisher() -> None:
    metrics = _media_metrics(
        live_streams_at_end=2,
        loss_ratio=0.0,  # a stopped stream loses nothing by sequence numbers
        dead_streams=[
            {"participant_id": "p1", "name": "Speaker 1", "kind": "video", "viewers": 19},
            {"participant_id": "p1", "name": "Speaker 1", "kind": "audio", "viewers": 19},
        ],
    )
    verdict = _judge(metrics)
    assert not verdict.passed
    (reason,) = verdict.reasons
    assert reason.startswith("38 of 40 streams")
    assert "Speaker 1 video (19 viewers)" in reason


def test_streams_never_routed_are_told_apart_from_silent_ones() -> None:
    verdict = _judge(_media_metrics(live_streams_at_end=30))
    assert "never routed" in verdict.reasons[0]


def test_loss_over_the_threshold_freezes_and_missing_bots_fail() -> None:
    verdict = _judge(_media_metrics(loss_ratio=0.02, longest_freeze_s=4.2), joined=20)
    names = [check.name for check in verdict.checks if not check.ok]
    assert names == ["bots joined", "packet loss", "longest frozen tile"]
    assert any("2.000%" in reason for reason in verdict.reasons)


def test_no_media_at_all_is_no_pass() -> None:
    assert not _judge(_media_metrics(loss_ratio=None)).passed


# ------------------------------------------------------------- what one viewer sees


def _rtp(ssrc: int, seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq, seq * 960, ssrc) + b"\x00" * 20


def _peer() -> MediaPeer:
    from loadtest.bots import Bot

    client = PodiumClient("http://127.0.0.1:1", None)  # type: ignore[arg-type]
    bot = Bot(None, 0, "viewer", client)  # type: ignore[arg-type]
    peer = MediaPeer(bot, None, publish=False)
    peer.ssrc_mid = {1001: "0", 1002: "1"}
    peer.mid_ssrc = {"0": 1001, "1": 1002}
    return peer


def _slots(peer: MediaPeer, at: float, **mids: str | None) -> None:
    message = p.MediaSlots(
        slots=[
            p.MediaSlotInfo(slot_id=f"a{mid}", kind="audio", mid=mid, participant_id=who, name=who)
            for mid, who in mids.items()
        ]
    )
    peer._slots(message, at)


def test_a_slot_that_shows_someone_and_stops_is_dead_and_frozen(monkeypatch: Any) -> None:
    peer = _peer()
    now = 1000.0
    monkeypatch.setattr(clock, "now", lambda: now)
    _slots(peer, now, **{"0": "alice", "1": "bob"})
    for seq in range(50):
        now = 1000.0 + seq * 0.02
        peer._count(_rtp(1001, seq), decrypted=False)
        peer._count(_rtp(1002, seq), decrypted=False)
    # Bob's stream stops; Alice's goes on for 5 s.
    for seq in range(50, 300):
        now = 1000.0 + seq * 0.02
        peer._count(_rtp(1001, seq), decrypted=False)
    seen = peer.streams_at(now)
    assert seen["assigned"] == 2 and seen["live"] == 1
    assert seen["dead"] == [["bob", "bob", "audio"]]
    assert seen["longest_freeze_s"] > 4.0
    assert seen["frozen_s"] > 4.0


def test_an_empty_slot_and_a_fresh_re_point_are_not_frozen(monkeypatch: Any) -> None:
    peer = _peer()
    now = 1000.0
    monkeypatch.setattr(clock, "now", lambda: now)
    _slots(peer, now, **{"0": "alice"})
    for seq in range(100):
        now = 1000.0 + seq * 0.02
        peer._count(_rtp(1001, seq), decrypted=False)
    # Alice is taken off (an empty slot says nothing), then the slot shows Carol 0.5 s later.
    _slots(peer, now, **{"0": None})
    now += 3.0
    _slots(peer, now, **{"0": "carol"})
    for seq in range(100, 110):
        now += 0.02
        if seq == 100:
            now += 0.5  # her keyframe arrives half a second after the switch
        peer._count(_rtp(1001, seq), decrypted=False)
    seen = peer.streams_at(now)
    assert seen["frozen_s"] == 0.0
    # Shown for less than LIVE_WITHIN_S: not yet counted either way.
    assert seen["assigned"] == 0 and seen["dead"] == []
    seen = peer.streams_at(now + LIVE_WITHIN_S + 0.1)
    assert seen["dead"] == [["carol", "carol", "audio"]]


def test_viewer_figures_count_silent_publishers_per_viewer() -> None:
    results = [
        {
            "assigned": 4,
            "assigned_live": 2,
            "dead": [[1, "p1", "Speaker 1", "video"], [1, "p1", "Speaker 1", "audio"]],
            "failures": [[1, "subscribe", "ice", 12.0, "client"]],
            "per_bot": [[1, 100, 100, 4, 2, 3.5, 3.5]],
        },
        {
            "assigned": 4,
            "assigned_live": 3,
            "dead": [[2, "p1", "Speaker 1", "video"]],
            "failures": [[2, "subscribe", "failed", 12.5, "server"]],
            "per_bot": [[2, 100, 100, 4, 3, 0.0, 0.0]],
        },
    ]
    figures = mb.viewer_figures(results)
    assert figures["live_streams_at_end"] == 5
    assert figures["streams_assigned_at_end"] == 8
    assert figures["dead_streams"][0] == {
        "participant_id": "p1",
        "name": "Speaker 1",
        "kind": "video",
        "viewers": 2,
    }
    assert figures["media_connection_failures"] == {
        "subscribe ice": 1,
        "subscribe failed (server said)": 1,
    }
    assert figures["bots_with_frozen_tiles"] == 1
    assert figures["longest_freeze_s"] == 3.5


async def test_a_failing_bot_task_is_a_fault_that_fails_the_run() -> None:
    import asyncio

    from loadtest.bots import BotFleet
    from loadtest.verdict import bot_errors_check

    fleet = BotFleet(0, "http://127.0.0.1:1", "t")
    try:

        async def broken() -> None:
            raise IndexError("list index out of range")

        fleet._spawn(broken())
        await asyncio.sleep(0.01)
        status = await fleet.status()
        assert status["counters"]["internal_errors"] == 1
        assert any("IndexError" in error for error in status["errors"])
        verdict = Verdict()
        bot_errors_check(verdict, [status])
        assert not verdict.passed
    finally:
        await fleet.close()


def test_bots_starved_by_other_programs_fail_the_run_and_name_the_machine() -> None:
    verdict = Verdict()
    phases = [
        _phase(
            bot_loop_lag_ms={"p50": 0, "p95": 18, "p99": 69, "max": 129},
            bot_self_cpu_percent_max_worker=3.5,
            server_cpu_percent=20.0,
            others_cpu_percent=175.0,
            machine_cpu_percent=92.0,
        )
    ]
    judge_cpu(verdict, phases, ("stage",))
    assert not verdict.passed
    assert verdict.bottleneck == "machine (other programs)"
    assert "other programs" in verdict.reasons[0] and "175%" in verdict.reasons[0]
