"""A real server on a loopback port and real websocket clients talking to it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from loadtest.client import PodiumClient
from signaling.auth import issue_token, new_participant_id
from signaling.clock import FakeClock
from signaling.config import Config
from signaling.model import Role
from signaling.server import create_app
from signaling.server.hub import Hub
from signaling.server.keys import HUB


@dataclasses.dataclass
class Running:
    """A started server and what tests need to talk to it."""

    url: str
    config: Config
    clock: FakeClock
    server: TestServer
    http: aiohttp.ClientSession

    @property
    def hub(self) -> Hub:
        return self.server.app[HUB]

    def token(self, name: str, role: Role = "attendee") -> str:
        pid = new_participant_id(role[:3])
        return issue_token(
            self.config.resolve_secret(), pid, name, role, ttl_s=3600, now=self.clock.now()
        )

    async def client(self, name: str, role: Role = "attendee") -> PodiumClient:
        client = PodiumClient(self.url, self.http)
        if role == "attendee":
            await client.register(name)
        else:
            client.token = self.token(name, role)
        await client.connect()
        return client

    async def client_with_token(self, token: str) -> PodiumClient:
        client = PodiumClient(self.url, self.http)
        await client.connect(token)
        return client


def server_config(tmp_path: Path, **changes: Any) -> Config:
    """A test server's settings: fast timers, loopback media (in the server's process
    unless ``changes`` say otherwise)."""
    config = Config(
        secret_file=str(tmp_path / "secret"),
        flush_interval_s=0.02,
        counts_interval_s=0.05,
        tick_interval_s=0.02,
        reconnect_grace_s=1.0,
        hello_timeout_s=2.0,
        media_addresses=("127.0.0.1",),
        media_workers=0,
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return server_config(tmp_path)


@pytest.fixture
async def running(config: Config) -> AsyncIterator[Running]:
    clock = FakeClock()
    app = create_app(config, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    clients: list[PodiumClient] = []
    async with aiohttp.ClientSession() as http:
        run = Running(
            url=str(server.make_url("")).rstrip("/"),
            config=config,
            clock=clock,
            server=server,
            http=http,
        )
        original = run.client

        async def tracked(name: str, role: Role = "attendee") -> PodiumClient:
            client = await original(name, role)
            clients.append(client)
            return client

        original_with_token = run.client_with_token

        async def tracked_with_token(token: str) -> PodiumClient:
            client = await original_with_token(token)
            clients.append(client)
            return client

        run.client = tracked  # type: ignore[method-assign]
        run.client_with_token = tracked_with_token  # type: ignore[method-assign]
        try:
            yield run
        finally:
            for client in clients:
                await client.close()
            await server.close()


ClientFactory = Callable[[str, Role], Awaitable[PodiumClient]]
