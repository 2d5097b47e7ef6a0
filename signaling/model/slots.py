"""Q&A slots and speaker seats of a stage.

A stage shows a few people on video to its whole audience: its speakers, each in a speaker
seat, and audience members a moderator has brought up for Q&A, each in a numbered Q&A slot.
Slot indexes are 0-based positions in ``occupants``. Nobody holds more than one slot or seat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Conflict, InvalidAction, SpaceFull


@dataclass(slots=True)
class QaSlots:
    """Who holds the Q&A slots (``None`` = free) and the speaker seats of one stage."""

    occupants: list[str | None]
    speakers: list[str] = field(default_factory=list)
    speaker_seats: int = 0

    @classmethod
    def empty(cls, qa_slots: int, speaker_seats: int) -> QaSlots:
        return cls(occupants=[None] * qa_slots, speakers=[], speaker_seats=speaker_seats)

    @property
    def capacity(self) -> int:
        """Number of Q&A slots."""
        return len(self.occupants)

    def free_index(self) -> int | None:
        """The lowest free Q&A slot, or None when all are taken."""
        for index, occupant in enumerate(self.occupants):
            if occupant is None:
                return index
        return None

    def index_of(self, participant_id: str) -> int | None:
        """The Q&A slot ``participant_id`` holds, or None."""
        for index, occupant in enumerate(self.occupants):
            if occupant == participant_id:
                return index
        return None

    def is_speaker(self, participant_id: str) -> bool:
        return participant_id in self.speakers

    def holds(self, participant_id: str) -> bool:
        """True when ``participant_id`` holds a Q&A slot or a speaker seat here."""
        return participant_id in self.speakers or participant_id in self.occupants

    def holders(self) -> list[str]:
        """Everyone on a seat or slot: speakers first, then Q&A slots in order."""
        return [*self.speakers, *(pid for pid in self.occupants if pid is not None)]

    def has_free_seat(self) -> bool:
        return len(self.speakers) < self.speaker_seats

    def check_index(self, index: int, field_name: str = "slot") -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidAction(f"{field_name} must be an integer", field=field_name)
        if not 0 <= index < len(self.occupants):
            if not self.occupants:
                raise InvalidAction("this stage has no Q&A slots", field=field_name)
            raise InvalidAction(
                f"Q&A slot {index} does not exist; slots are numbered 0 to "
                f"{len(self.occupants) - 1}",
                field=field_name,
            )
        return index

    def put(self, participant_id: str, index: int) -> None:
        """Place ``participant_id`` in Q&A slot ``index``, which must be free."""
        self.check_index(index)
        if self.holds(participant_id):
            raise Conflict(f"{participant_id!r} already holds a Q&A slot or speaker seat")
        occupant = self.occupants[index]
        if occupant is not None:
            raise Conflict(f"Q&A slot {index} is taken by {occupant!r}", field="slot")
        self.occupants[index] = participant_id

    def seat(self, participant_id: str) -> None:
        """Give ``participant_id`` a speaker seat."""
        if self.holds(participant_id):
            raise Conflict(f"{participant_id!r} already holds a Q&A slot or speaker seat")
        if not self.has_free_seat():
            raise SpaceFull("no free speaker seat")
        self.speakers.append(participant_id)

    def clear(self, participant_id: str) -> bool:
        """Free whatever Q&A slot or speaker seat ``participant_id`` holds. False if none."""
        freed = False
        if participant_id in self.speakers:
            self.speakers.remove(participant_id)
            freed = True
        for index, occupant in enumerate(self.occupants):
            if occupant == participant_id:
                self.occupants[index] = None
                freed = True
        return freed

    def swap(self, a: int, b: int) -> None:
        """Exchange the occupants of Q&A slots ``a`` and ``b`` (either may be free)."""
        self.check_index(a, "a")
        self.check_index(b, "b")
        self.occupants[a], self.occupants[b] = self.occupants[b], self.occupants[a]

    def copy(self) -> QaSlots:
        return QaSlots(list(self.occupants), list(self.speakers), self.speaker_seats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "occupants": list(self.occupants),
            "speakers": list(self.speakers),
            "speaker_seats": self.speaker_seats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QaSlots:
        return cls(
            occupants=list(data["occupants"]),
            speakers=list(data.get("speakers", [])),
            speaker_seats=int(data.get("speaker_seats", 0)),
        )
