"""Bots come back as the web client does when the server goes away and returns."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from loadtest import browser
from loadtest.bots import BotFleet
from loadtest.target import SpawnedServer, free_port

SECRET = "reconnect-test-secret-0123456789abcdef"


async def test_dropped_bots_reconnect_with_the_pages_backoff_and_count_the_drop(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {"PODIUM_SECRET": SECRET}
    first = SpawnedServer(tmp_path / "first.log", port=port, env=env)
    await first.start()
    fleet = BotFleet(0, first.url, "t")
    second: SpawnedServer | None = None
    try:
        ramp = await fleet.ramp([(i, f"bot-{i}") for i in range(4)], "main-stage", 4)
        assert ramp["joined"] == [0, 1, 2, 3]
        # The server dies; a new one takes its port (and its signing secret) a moment later.
        assert first.process is not None
        first.process.kill()
        first.process.wait(timeout=10)
        await asyncio.sleep(0.5)
        second = SpawnedServer(tmp_path / "second.log", port=port, env=env)
        await second.start()
        deadline = asyncio.get_running_loop().time() + 20
        while fleet.counters["reconnects"] < 4:
            assert asyncio.get_running_loop().time() < deadline, fleet.connection_figures()
            await asyncio.sleep(0.1)
        figures = fleet.connection_figures()
        assert figures["ws_drops"] == 4
        assert figures["still_reconnecting"] == 0
        # Each waited at least the page's first delay (jittered) before it came back.
        assert len(figures["offline_s"]) == 4
        assert min(figures["offline_s"]) >= browser.RETRY_DELAYS_S[0] * browser.RETRY_JITTER[0]
        assert all(bot.connected for bot in fleet.bots.values())
        assert {bot.client.participant_id for bot in fleet.bots.values()} == {
            bot.client.welcome.participant.id
            for bot in fleet.bots.values()
            if bot.client.welcome is not None
        }
    finally:
        await fleet.close()
        first.stop()
        if second is not None:
            second.stop()


async def test_a_server_that_stops_answering_is_given_up_after_the_pages_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A silent server (frozen, not closed) is noticed by the keepalive, as in the page."""
    monkeypatch.setattr(browser, "KEEPALIVE_EVERY_S", 0.5)
    monkeypatch.setattr(browser, "PONG_WAIT_S", 1.0)
    server = SpawnedServer(tmp_path / "server.log", env={"PODIUM_SECRET": SECRET})
    await server.start()
    fleet = BotFleet(0, server.url, "t")
    try:
        ramp = await fleet.ramp([(0, "bot-0")], "main-stage", 1)
        assert ramp["joined"] == [0]
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        deadline = asyncio.get_running_loop().time() + 15
        while fleet.counters["keepalive_timeouts"] < 1:
            assert asyncio.get_running_loop().time() < deadline, fleet.counters
            await asyncio.sleep(0.1)
        os.kill(server.pid, signal.SIGCONT)
        while fleet.counters["reconnects"] < 1:
            assert asyncio.get_running_loop().time() < deadline, fleet.connection_figures()
            await asyncio.sleep(0.1)
        figures = fleet.connection_figures()
        assert figures["drop_codes"] == {"no answer to ping": 1}
        assert fleet.counters["pings"] >= 1
    finally:
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        await fleet.close()
        server.stop()
