"""Fixtures for the SFU tests: a worker announcing loopback only, on uvloop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import uvloop

sys.path.insert(0, str(Path(__file__).parent))
if str(Path(__file__).parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parents[2]))

from sfu import Worker, WorkerConfig


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    # The SFU runs on uvloop in production; test it there too.
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    w = Worker(WorkerConfig(host_addresses=("127.0.0.1",)))
    await w.start()
    try:
        yield w
    finally:
        await w.close()
