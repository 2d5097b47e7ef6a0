"""The embedded store: state in this process's memory, for one-process deployments and tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from signaling.model import Change, Event
from signaling.store.base import EventStore, Update


class MemoryStore(EventStore):
    """Keeps the event in memory.

    Updates run synchronously inside one event-loop step, so they are atomic without a lock;
    model commands validate before they mutate, so a failed command leaves no trace.
    """

    def __init__(self) -> None:
        self._event: Event | None = None
        self._chat: dict[str, deque[dict[str, Any]]] = {}
        self._profiles: dict[str, dict[str, Any]] = {}

    async def create(self, event: Event) -> None:
        if self._event is None:
            self._event = event

    async def get(self) -> Event:
        if self._event is None:
            raise LookupError("no event has been created in this store")
        return self._event

    async def update(self, mutate: Callable[[Event], list[Change]]) -> Update:
        event = await self.get()
        changes = mutate(event)
        return Update(event=event, changes=changes, version=event.version)

    async def append_chat(self, channel: str, message: dict[str, Any], keep: int) -> None:
        history = self._chat.get(channel)
        if history is None or history.maxlen != keep:
            history = deque(history or (), maxlen=keep)
            self._chat[channel] = history
        history.append(message)

    async def chat_history(self, channel: str, limit: int) -> list[dict[str, Any]]:
        history = self._chat.get(channel)
        if not history:
            return []
        items = list(history)
        return items[-limit:] if limit < len(items) else items

    async def put_profile(self, participant_id: str, profile: dict[str, Any]) -> None:
        self._profiles[participant_id] = dict(profile)

    async def get_profile(self, participant_id: str) -> dict[str, Any] | None:
        profile = self._profiles.get(participant_id)
        return dict(profile) if profile is not None else None
