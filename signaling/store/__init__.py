"""State stores: one interface, chosen in one place (:func:`open_store`)."""

from signaling.store.base import EventStore, StoreConflict, Update
from signaling.store.memory import MemoryStore

__all__ = ["EventStore", "MemoryStore", "StoreConflict", "Update", "open_store"]


async def open_store(redis_url: str = "") -> EventStore:
    """The in-memory store when ``redis_url`` is empty; a Redis store is a later addition."""
    if redis_url:
        raise NotImplementedError(
            "the Redis store is not available yet; run without --redis for one process"
        )
    return MemoryStore()
