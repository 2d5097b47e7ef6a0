"""One contract for every store implementation (the Redis store joins this list later)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from signaling.model import Event, NotFound, build_demo_event
from signaling.store import EventStore, MemoryStore
from signaling.store.redis import RedisStore

_prefixes = itertools.count()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    instance: EventStore
    if request.param == "memory":
        instance = MemoryStore()
    else:
        url = request.getfixturevalue("redis_url")
        instance = RedisStore.from_url(url, prefix=f"test{next(_prefixes)}")
    await instance.create(build_demo_event(1000.0))
    yield instance
    await instance.close()


async def test_create_keeps_the_first_event(store: EventStore) -> None:
    await store.create(Event.create("other", "Other"))
    assert (await store.get()).id == "podium-summit"


async def test_update_is_versioned(store: EventStore) -> None:
    before = (await store.get()).version
    update = await store.update(lambda e: e.add_participant("p1", "Ana", "attendee", 1001.0))
    assert update.version == before + 1
    assert update.changes
    update = await store.update(lambda e: e.join("p1", "booth-01", 1002.0))
    assert update.version == before + 2
    current = await store.get()
    assert current.participants["p1"].space_id == "booth-01"
    assert current.version == before + 2


async def test_failed_update_leaves_state_unchanged(store: EventStore) -> None:
    await store.update(lambda e: e.add_participant("p1", "Ana", "attendee", 1001.0))
    before = (await store.get()).to_dict()
    with pytest.raises(NotFound):
        await store.update(lambda e: e.join("p1", "nowhere", 1002.0))
    assert (await store.get()).to_dict() == before


async def test_noop_update_keeps_version(store: EventStore) -> None:
    await store.update(lambda e: e.add_participant("p1", "Ana", "attendee", 1001.0))
    version = (await store.get()).version
    update = await store.update(lambda e: e.lower_hand("p1", 1002.0))
    assert update.changes == [] and update.version == version


async def test_chat_history_keeps_the_last_messages(store: EventStore) -> None:
    for i in range(250):
        await store.append_chat("booth-01", {"id": f"c{i}", "text": str(i)}, keep=200)
    history = await store.chat_history("booth-01", 200)
    assert len(history) == 200
    assert history[0]["id"] == "c50" and history[-1]["id"] == "c249"
    assert [m["id"] for m in await store.chat_history("booth-01", 3)] == ["c247", "c248", "c249"]
    assert await store.chat_history("booth-02", 200) == []


async def test_profiles(store: EventStore) -> None:
    assert await store.get_profile("p9") is None
    await store.put_profile("p9", {"name": "Ana", "interests": ["health"]})
    profile = await store.get_profile("p9")
    assert profile == {"name": "Ana", "interests": ["health"]}
    assert profile is not None
    profile["name"] = "changed"  # callers get a copy
    assert (await store.get_profile("p9")) == {"name": "Ana", "interests": ["health"]}


async def test_concurrent_updates_are_all_applied(store: EventStore) -> None:
    async def add(i: int) -> None:
        await store.update(lambda e: e.add_participant(f"p{i}", f"P{i}", "attendee", 1001.0))
        await store.update(lambda e: e.join(f"p{i}", "main-stage", 1002.0))

    before = (await store.get()).version
    await asyncio.gather(*(add(i) for i in range(30)))
    current = await store.get()
    assert current.count("main-stage") == 30
    assert current.version == before + 60
    assert current.check_invariants() == []


async def test_two_store_instances_share_state(
    store: EventStore, request: pytest.FixtureRequest
) -> None:
    if not isinstance(store, RedisStore):
        pytest.skip("only a shared store has a second instance")
    other = RedisStore.from_url(request.getfixturevalue("redis_url"), prefix=store._prefix)
    try:
        await other.update(lambda e: e.add_participant("x", "X", "attendee", 1001.0))
        await store.update(lambda e: e.join("x", "booth-02", 1002.0))
        assert (await other.get()).participants["x"].space_id == "booth-02"
    finally:
        await other.close()
