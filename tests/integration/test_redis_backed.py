"""The server with its state in a real redis-server."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from loadtest.client import PodiumClient
from signaling import protocol as p
from signaling.config import Config
from signaling.server import create_app
from signaling.store.redis import RedisStore

pytestmark = pytest.mark.redis


async def test_hand_queue_and_promotion_with_redis(redis_url: str, tmp_path: Path) -> None:
    config = Config(secret_file=str(tmp_path / "secret"), flush_interval_s=0.02, media=False)
    store = RedisStore.from_url(redis_url, prefix="it-redis")
    server = TestServer(create_app(config, store=store), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            people = []
            for name in ("Ana", "Ben"):
                client = PodiumClient(url, http)
                await client.register(name)
                await client.connect()
                await client.request(p.Join(space_id="main-stage"))
                await client.request(p.RaiseHand())
                people.append(client)
            await people[1].until(lambda: people[1].hand_position == 2)
            await people[0].request(p.LowerHand())
            await people[1].until(lambda: people[1].hand_position == 1)
            # The state lives in Redis: a second reader sees the same queue.
            reader = RedisStore.from_url(redis_url, prefix="it-redis")
            event = await reader.get()
            assert [e.participant_id for e in event.hand_queues["main-stage"].entries()] == [
                people[1].participant_id
            ]
            await reader.close()
            for client in people:
                await client.close()
    finally:
        await server.close()
