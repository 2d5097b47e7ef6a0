"""The store interface.

All shared state of an event lives behind :class:`EventStore`. The in-memory store serves one
process; a Redis store serves several processes or machines. The interface is shaped for the
latter: an update is a pure function applied to the latest state, atomically, and every state
carries a version that increases by one with each change. A store may call ``mutate`` more than
once (optimistic concurrency retries), so it must depend only on the state it is given.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signaling.model import Change, Event


class StoreConflict(Exception):
    """An update kept losing against concurrent writers and was given up."""


@dataclass(frozen=True, slots=True)
class Update:
    """The outcome of one atomic update: the state after it and what changed."""

    event: Event
    changes: list[Change]
    version: int


class EventStore(abc.ABC):
    """Shared state of one event: the event model, chat history and registrations."""

    @abc.abstractmethod
    async def create(self, event: Event) -> None:
        """Store ``event`` as the current state unless one is stored already."""

    @abc.abstractmethod
    async def get(self) -> Event:
        """The current state. Callers must treat it as read-only."""

    @abc.abstractmethod
    async def update(self, mutate: Callable[[Event], list[Change]]) -> Update:
        """Apply ``mutate`` to the latest state atomically.

        A :class:`signaling.model.ModelError` raised by ``mutate`` propagates and leaves the
        state as it was.
        """

    @abc.abstractmethod
    async def append_chat(self, channel: str, message: dict[str, Any], keep: int) -> None:
        """Append a chat message to ``channel``, keeping only the last ``keep`` messages."""

    @abc.abstractmethod
    async def chat_history(self, channel: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages of ``channel``, oldest first."""

    @abc.abstractmethod
    async def put_profile(self, participant_id: str, profile: dict[str, Any]) -> None:
        """Remember a registration (display name, interests)."""

    @abc.abstractmethod
    async def get_profile(self, participant_id: str) -> dict[str, Any] | None:
        """A registration, or None when unknown."""

    async def close(self) -> None:  # noqa: B027 - optional for stores without connections
        """Release connections. Idempotent."""
