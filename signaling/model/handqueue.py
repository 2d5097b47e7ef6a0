"""The raised-hand queue of a stage: first come, first served."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HandEntry:
    """One raised hand. ``raised_at`` is informative; the queue order is the raise order."""

    participant_id: str
    raised_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "raised_at": self.raised_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandEntry:
        return cls(participant_id=data["participant_id"], raised_at=float(data["raised_at"]))


class HandQueue:
    """Raised hands in the order they were raised.

    Raising an already raised hand keeps its place; lowering removes only that entry, so
    everyone behind moves up by one and nobody else changes order. The queue does not know
    about participants or spaces; :class:`signaling.model.Event` keeps it consistent.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: list[HandEntry] | None = None) -> None:
        # A dict keeps insertion order and gives constant-time membership and removal.
        self._entries: dict[str, HandEntry] = {}
        for entry in entries or ():
            if entry.participant_id in self._entries:
                raise ValueError(f"{entry.participant_id!r} appears twice in a hand queue")
            self._entries[entry.participant_id] = entry

    def raise_(self, participant_id: str, now: float) -> bool:
        """Add a hand at the end of the queue. False when it was already raised."""
        if participant_id in self._entries:
            return False
        self._entries[participant_id] = HandEntry(participant_id, now)
        return True

    def lower(self, participant_id: str) -> bool:
        """Remove a hand. False when it was not raised."""
        return self._entries.pop(participant_id, None) is not None

    def position(self, participant_id: str) -> int | None:
        """1-based place in the queue, or None when the hand is not raised."""
        if participant_id not in self._entries:
            return None
        return list(self._entries).index(participant_id) + 1

    def positions(self) -> dict[str, int]:
        """Every raised hand's 1-based place, computed in one pass."""
        return {pid: index for index, pid in enumerate(self._entries, start=1)}

    def entries(self) -> list[HandEntry]:
        """A copy of the queue, first in line first."""
        return list(self._entries.values())

    def first(self) -> HandEntry | None:
        """The next person in line, or None when the queue is empty."""
        return next(iter(self._entries.values()), None)

    def participant_ids(self) -> list[str]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._entries

    def __iter__(self) -> Iterator[HandEntry]:
        return iter(list(self._entries.values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HandQueue):
            return NotImplemented
        return list(self._entries.values()) == list(other._entries.values())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HandQueue({self.entries()!r})"

    def copy(self) -> HandQueue:
        return HandQueue(self.entries())

    def to_list(self) -> list[dict[str, Any]]:
        return [entry.to_dict() for entry in self._entries.values()]

    @classmethod
    def from_list(cls, data: list[dict[str, Any]]) -> HandQueue:
        return cls([HandEntry.from_dict(item) for item in data])
