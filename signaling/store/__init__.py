"""State stores: one interface, chosen in one place (:func:`open_store`)."""

from signaling.store.base import EventStore, StoreConflict, Update
from signaling.store.memory import MemoryStore

__all__ = ["EventStore", "MemoryStore", "StoreConflict", "Update", "open_store"]


async def open_store(redis_url: str = "") -> EventStore:
    """The in-memory store when ``redis_url`` is empty, else the Redis store."""
    if redis_url:
        from signaling.store.redis import RedisStore

        store = RedisStore.from_url(redis_url)
        await store.ping()
        return store
    return MemoryStore()
