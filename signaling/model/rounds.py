"""Discussion rounds: a set of breakout rooms that opens, counts down and brings everyone back."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import InvalidAction
from .space import MAX_CAPACITY
from .validation import (
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    check_choice,
    check_id,
    check_int,
    check_text,
    check_time,
)

AssignMode = Literal["random", "choice", "manual"]
ASSIGN_MODES: tuple[AssignMode, ...] = get_args(AssignMode)

MAX_ROOMS = 200
MAX_DURATION_S = 24 * 3600.0


def check_duration(value: Any, field: str = "duration_s") -> float:
    duration = check_time(value, field)
    if not 0 < duration <= MAX_DURATION_S:
        raise InvalidAction(
            f"{field} must be more than 0 and at most {MAX_DURATION_S:.0f} seconds", field=field
        )
    return duration


def check_room_count(value: Any, field: str = "room_count") -> int:
    return check_int(value, field, minimum=1, maximum=MAX_ROOMS)


def check_room_capacity(value: Any, field: str = "room_capacity") -> int | None:
    if value is None:
        return None
    return check_int(value, field, minimum=1, maximum=MAX_CAPACITY)


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A message a moderator sent to every room of a round."""

    text: str
    sent_at: float
    sender_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "sent_at": self.sent_at, "sender_id": self.sender_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Broadcast:
        return cls(text=data["text"], sent_at=float(data["sent_at"]), sender_id=data["sender_id"])


@dataclass(slots=True)
class RoundTemplate:
    """A reusable shape for a round: how many rooms, how long, how big."""

    id: str
    title: str
    room_count: int
    duration_s: float
    room_capacity: int | None = None
    room_titles: list[str] | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_text(self.title, "title", MAX_TITLE_CHARS)
        check_room_count(self.room_count)
        check_duration(self.duration_s)
        check_room_capacity(self.room_capacity)
        if self.room_titles is not None:
            if len(self.room_titles) != self.room_count:
                raise InvalidAction(
                    f"room_titles has {len(self.room_titles)} entries but room_count is "
                    f"{self.room_count}",
                    field="room_titles",
                )
            for title in self.room_titles:
                check_text(title, "room_titles", MAX_TITLE_CHARS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "room_count": self.room_count,
            "duration_s": self.duration_s,
            "room_capacity": self.room_capacity,
            "room_titles": list(self.room_titles) if self.room_titles is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundTemplate:
        titles = data.get("room_titles")
        return cls(
            id=data["id"],
            title=data["title"],
            room_count=data["room_count"],
            duration_s=data["duration_s"],
            room_capacity=data.get("room_capacity"),
            room_titles=list(titles) if titles is not None else None,
        )


@dataclass(slots=True)
class Round:
    """One discussion round, open or closed.

    ``origin`` maps everyone currently in one of the round's rooms to the space they came
    from; closing the round sends them back there. ``assignments`` maps participants to the
    room they were given (by the random draw, a moderator, or their own choice); an assigned
    participant may re-enter that room while the round is open. A closed round stays in the
    event as a record, with its rooms gone and ``origin`` empty.
    """

    id: str
    title: str
    home_space_id: str
    room_ids: list[str]
    mode: AssignMode
    opened_at: float
    deadline: float
    origin: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)
    broadcasts: list[Broadcast] = field(default_factory=list)
    closed_at: float | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_text(self.title, "title", MAX_TITLE_CHARS)
        check_id(self.home_space_id, "home_space_id")
        for room_id in self.room_ids:
            check_id(room_id, "room_ids")
        check_choice(self.mode, "mode", ASSIGN_MODES)
        check_time(self.opened_at, "opened_at")
        check_time(self.deadline, "deadline")
        if self.closed_at is not None:
            check_time(self.closed_at, "closed_at")

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def remaining_s(self, now: float) -> float:
        """Seconds until the deadline (0 once passed or closed)."""
        if self.closed_at is not None:
            return 0.0
        return max(0.0, self.deadline - now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "home_space_id": self.home_space_id,
            "room_ids": list(self.room_ids),
            "mode": self.mode,
            "opened_at": self.opened_at,
            "deadline": self.deadline,
            "origin": dict(self.origin),
            "assignments": dict(self.assignments),
            "broadcasts": [b.to_dict() for b in self.broadcasts],
            "closed_at": self.closed_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Round:
        closed_at = data.get("closed_at")
        return cls(
            id=data["id"],
            title=data["title"],
            home_space_id=data["home_space_id"],
            room_ids=list(data["room_ids"]),
            mode=data["mode"],
            opened_at=float(data["opened_at"]),
            deadline=float(data["deadline"]),
            origin=dict(data.get("origin", {})),
            assignments=dict(data.get("assignments", {})),
            broadcasts=[Broadcast.from_dict(b) for b in data.get("broadcasts", [])],
            closed_at=float(closed_at) if closed_at is not None else None,
        )


def check_broadcast_text(value: Any) -> str:
    return check_text(value, "text", MAX_TEXT_CHARS)


def spread_randomly(
    participant_ids: Sequence[str], room_ids: Sequence[str], rng: random.Random
) -> dict[str, str]:
    """Shuffle ``participant_ids`` and deal them round robin over ``room_ids``.

    Room sizes differ by at most one, and the first rooms get the extra people.
    """
    if not room_ids:
        raise InvalidAction("a round needs at least one room", field="room_count")
    order = list(participant_ids)
    rng.shuffle(order)
    return {pid: room_ids[index % len(room_ids)] for index, pid in enumerate(order)}
