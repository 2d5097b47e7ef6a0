"""Consent freshness (RFC 7675) on the worker's connections: a busy worker keeps its
publishers, a vanished publisher loses consent after the timeout.

Real aiortc peers on loopback through a real worker, on uvloop (where a due timer runs
before the datagrams that arrived while the loop was blocked).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sfu_peers import Publisher, wait_for

from sfu import Worker, adapter

RED = (230, 30, 30)


@pytest.fixture
def fast_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consent checks 25 times as often, aioice's own (six misses in a row) as well."""
    import aioice.ice

    monkeypatch.setattr(adapter, "CONSENT_INTERVAL_S", 0.2)
    monkeypatch.setattr(adapter, "CONSENT_TIMEOUT_S", 2.0)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)


async def test_a_busy_worker_keeps_its_publishers(worker: Worker, fast_consent: None) -> None:
    failed: list[str] = []
    worker.on_failed = lambda endpoint_id, reason: failed.append(reason)
    publisher = Publisher("pub", RED)
    try:
        await publisher.join(worker)
        await wait_for(lambda: publisher.pc.connectionState == "connected", 10, "connected")
        # The loop blocks for 0.7 s again and again, longer than a check's first wait, over
        # a stretch longer than the consent timeout: every check's timer fires late.
        until = time.monotonic() + 4.0
        while time.monotonic() < until:
            time.sleep(0.7)  # noqa: ASYNC251 - blocking the loop is the point
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert failed == []
        assert publisher.pc.connectionState == "connected"
    finally:
        await publisher.close()


async def test_a_publisher_that_vanishes_loses_consent(worker: Worker, fast_consent: None) -> None:
    failed: list[str] = []
    worker.on_failed = lambda endpoint_id, reason: failed.append(reason)
    publisher = Publisher("pub", RED)
    try:
        await publisher.join(worker)
        await wait_for(lambda: publisher.pc.connectionState == "connected", 10, "connected")
        # The publisher's machine goes away without a word: its sockets stop answering.
        transport = publisher.pc.getTransceivers()[0].sender.transport.transport
        for protocol in list(transport._connection._protocols):
            protocol.datagram_received = lambda data, addr: None
        await wait_for(lambda: bool(failed), 10, "consent expiry")
        assert failed[0].startswith("publish")
    finally:
        await publisher.close()
