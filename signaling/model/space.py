"""Spaces: the places a participant can be (a stage, a booth, a breakout room, the lobby)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from .errors import InvalidAction
from .validation import (
    MAX_DESCRIPTION_CHARS,
    MAX_TITLE_CHARS,
    check_choice,
    check_id,
    check_int,
    check_text,
)

SpaceKind = Literal["stage", "booth", "breakout", "lobby"]
SPACE_KINDS: tuple[SpaceKind, ...] = get_args(SpaceKind)

MAX_CAPACITY = 100_000
MAX_SEATS = 64


@dataclass(slots=True)
class Space:
    """A place with an optional capacity.

    Only a stage has speaker seats and Q&A slots. A breakout created by a discussion round
    carries the round's id in ``round_id`` and disappears when the round closes.
    """

    id: str
    kind: SpaceKind
    title: str
    description: str = ""
    capacity: int | None = None
    round_id: str | None = None
    speaker_seats: int = 0
    qa_slots: int = 0

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_choice(self.kind, "kind", SPACE_KINDS)
        check_text(self.title, "title", MAX_TITLE_CHARS)
        check_text(self.description, "description", MAX_DESCRIPTION_CHARS, allow_empty=True)
        if self.capacity is not None:
            check_int(self.capacity, "capacity", minimum=1, maximum=MAX_CAPACITY)
        if self.round_id is not None:
            check_id(self.round_id, "round_id")
            if self.kind != "breakout":
                raise InvalidAction("only a breakout can belong to a round", field="round_id")
        check_int(self.speaker_seats, "speaker_seats", minimum=0, maximum=MAX_SEATS)
        check_int(self.qa_slots, "qa_slots", minimum=0, maximum=MAX_SEATS)
        if self.kind != "stage" and (self.speaker_seats or self.qa_slots):
            raise InvalidAction(
                f"a {self.kind} has no speaker seats or Q&A slots; only a stage does",
                field="kind",
            )

    @property
    def is_stage(self) -> bool:
        return self.kind == "stage"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "capacity": self.capacity,
            "round_id": self.round_id,
            "speaker_seats": self.speaker_seats,
            "qa_slots": self.qa_slots,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Space:
        return cls(
            id=data["id"],
            kind=data["kind"],
            title=data["title"],
            description=data.get("description", ""),
            capacity=data.get("capacity"),
            round_id=data.get("round_id"),
            speaker_seats=data.get("speaker_seats", 0),
            qa_slots=data.get("qa_slots", 0),
        )
