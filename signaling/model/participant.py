"""Participants and their roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import InvalidAction
from .validation import (
    MAX_NAME_CHARS,
    check_choice,
    check_id,
    check_interests,
    check_text,
    check_time,
)

Role = Literal["attendee", "speaker", "moderator", "host"]
ROLES: tuple[Role, ...] = get_args(Role)

#: Roles allowed to run a room: promote, move people, open and close rounds.
STAFF_ROLES: frozenset[str] = frozenset({"moderator", "host"})

#: Roles that take a free speaker seat by themselves when they enter a stage.
SEATED_ROLES: frozenset[str] = frozenset({"speaker", "host"})


@dataclass(slots=True)
class Participant:
    """A person at the event. They are always in exactly one space, named by ``space_id``."""

    id: str
    name: str
    role: Role
    space_id: str
    interests: list[str] = field(default_factory=list)
    joined_at: float = 0.0
    muted_audio: bool = False
    muted_video: bool = False

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_text(self.name, "name", MAX_NAME_CHARS)
        check_choice(self.role, "role", ROLES)
        check_id(self.space_id, "space_id")
        check_interests(self.interests)
        check_time(self.joined_at, "joined_at")
        for flag in ("muted_audio", "muted_video"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidAction(f"{flag} must be true or false", field=flag)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "space_id": self.space_id,
            "interests": list(self.interests),
            "joined_at": self.joined_at,
            "muted_audio": self.muted_audio,
            "muted_video": self.muted_video,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Participant:
        return cls(
            id=data["id"],
            name=data["name"],
            role=data["role"],
            space_id=data["space_id"],
            interests=list(data.get("interests", [])),
            joined_at=data.get("joined_at", 0.0),
            muted_audio=data.get("muted_audio", False),
            muted_video=data.get("muted_video", False),
        )
