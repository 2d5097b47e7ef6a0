"""The shared store: state in Redis, for several server processes or machines.

The event is one JSON document with a version. An update reads it under ``WATCH``, applies
the model command, and writes it back in ``MULTI``/``EXEC`` only if nobody wrote in between;
otherwise it reads again and retries. Chat history is a capped list per channel, and
registrations a hash per participant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from signaling.model import Change, Event
from signaling.store.base import EventStore, StoreConflict, Update

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


class RedisStore(EventStore):
    """Keeps the event in Redis under ``{prefix}:event``."""

    def __init__(self, client: aioredis.Redis, prefix: str = "podium", retries: int = 50):
        self._redis = client
        self._prefix = prefix
        self._retries = retries
        self._event_key = f"{prefix}:event"
        # The last state read, reused while its version is still the current one.
        self._cached: Event | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "podium") -> RedisStore:
        return cls(aioredis.from_url(url), prefix)

    async def ping(self) -> None:
        """Fail early, with a clear error, when Redis cannot be reached."""
        await self._redis.ping()

    async def create(self, event: Event) -> None:
        await self._redis.set(self._event_key, _json.encode(event.to_dict()), nx=True)

    async def get(self) -> Event:
        raw = await self._redis.get(self._event_key)
        if raw is None:
            raise LookupError("no event has been created in this store")
        return self._load(raw)

    def _load(self, raw: bytes | str) -> Event:
        data = _decode.decode(raw)
        cached = self._cached
        if cached is not None and cached.version == data.get("version"):
            return cached.copy()
        event = Event.from_dict(data)
        self._cached = event.copy()
        return event

    async def update(self, mutate: Callable[[Event], list[Change]]) -> Update:
        for attempt in range(self._retries):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self._event_key)
                    raw = await pipe.get(self._event_key)
                    if raw is None:
                        raise LookupError("no event has been created in this store")
                    event = self._load(raw)
                    changes = mutate(event)
                    if not changes:
                        await pipe.unwatch()
                        return Update(event=event, changes=changes, version=event.version)
                    pipe.multi()
                    pipe.set(self._event_key, _json.encode(event.to_dict()))
                    await pipe.execute()
                except WatchError:
                    # Another writer got there first: back off a little and try again.
                    await asyncio.sleep(0.001 * min(attempt, 20))
                    continue
            self._cached = event.copy()
            return Update(event=event, changes=changes, version=event.version)
        raise StoreConflict(f"gave up after {self._retries} conflicting updates")

    async def append_chat(self, channel: str, message: dict[str, Any], keep: int) -> None:
        key = f"{self._prefix}:chat:{channel}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, _json.encode(message))
            pipe.ltrim(key, -keep, -1)
            await pipe.execute()

    async def chat_history(self, channel: str, limit: int) -> list[dict[str, Any]]:
        items = await self._redis.lrange(f"{self._prefix}:chat:{channel}", -limit, -1)
        return [_decode.decode(item) for item in items]

    async def put_profile(self, participant_id: str, profile: dict[str, Any]) -> None:
        await self._redis.set(f"{self._prefix}:profile:{participant_id}", _json.encode(profile))

    async def get_profile(self, participant_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(f"{self._prefix}:profile:{participant_id}")
        return None if raw is None else dict(_decode.decode(raw))

    async def close(self) -> None:
        await self._redis.aclose()
