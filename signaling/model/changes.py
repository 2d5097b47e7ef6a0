"""Change records: what a command changed, for the server to turn into client deltas.

Every command returns a list of these in the order things happened. A command that changes
nothing returns an empty list. Records of the idempotent kinds (``HandQueueChanged``,
``SlotsChanged``, ``RoundChanged``, ``ParticipantUpdated``) appear at most once per command
and mean "read the current state of this thing again".
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

MoveReason = Literal[
    "added", "join", "leave", "move", "assign", "round_open", "round_close", "space_removed"
]


@dataclass(frozen=True, slots=True)
class Change:
    """Base class of all change records. ``kind`` names the record on the wire and in logs."""

    kind: ClassVar[str] = "change"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for item in fields(self):
            data[item.name] = getattr(self, item.name)
        return data


@dataclass(frozen=True, slots=True)
class ParticipantAdded(Change):
    """A participant entered the event. A ``Moved`` with ``from_space=None`` follows."""

    kind: ClassVar[str] = "participant_added"
    pid: str


@dataclass(frozen=True, slots=True)
class ParticipantRemoved(Change):
    """A participant left the event for good; ``space_id`` is where they were."""

    kind: ClassVar[str] = "participant_removed"
    pid: str
    space_id: str


@dataclass(frozen=True, slots=True)
class ParticipantUpdated(Change):
    """A participant's own fields (mute flags) changed."""

    kind: ClassVar[str] = "participant_updated"
    pid: str


@dataclass(frozen=True, slots=True)
class Moved(Change):
    """A participant changed space. ``from_space`` is None when they just arrived.

    ``by`` is the staff member who moved them (None for their own moves and for the system),
    and ``reason`` says why; anything but ``"join"`` and ``"leave"`` means someone else moved
    them and their client should be told.
    """

    kind: ClassVar[str] = "moved"
    pid: str
    from_space: str | None
    to_space: str
    by: str | None = None
    reason: MoveReason = "join"


@dataclass(frozen=True, slots=True)
class HandQueueChanged(Change):
    """The raised-hand queue of a stage changed."""

    kind: ClassVar[str] = "hand_queue_changed"
    stage_id: str


@dataclass(frozen=True, slots=True)
class SlotsChanged(Change):
    """The Q&A slots or speaker seats of a stage changed."""

    kind: ClassVar[str] = "slots_changed"
    stage_id: str


@dataclass(frozen=True, slots=True)
class SpaceAdded(Change):
    kind: ClassVar[str] = "space_added"
    space_id: str


@dataclass(frozen=True, slots=True)
class SpaceRemoved(Change):
    kind: ClassVar[str] = "space_removed"
    space_id: str


@dataclass(frozen=True, slots=True)
class TemplateAdded(Change):
    kind: ClassVar[str] = "template_added"
    template_id: str


@dataclass(frozen=True, slots=True)
class RoundOpened(Change):
    kind: ClassVar[str] = "round_opened"
    round_id: str


@dataclass(frozen=True, slots=True)
class RoundClosed(Change):
    kind: ClassVar[str] = "round_closed"
    round_id: str


@dataclass(frozen=True, slots=True)
class RoundChanged(Change):
    """Assignments or origins of an open round changed."""

    kind: ClassVar[str] = "round_changed"
    round_id: str


@dataclass(frozen=True, slots=True)
class BroadcastSent(Change):
    kind: ClassVar[str] = "broadcast_sent"
    round_id: str
    text: str
    sender_id: str | None


@dataclass(frozen=True, slots=True)
class MuteRequested(Change):
    """A moderator asked ``pid`` to mute their microphone or camera; nothing else changes.

    The media kind is called ``media_kind`` because ``kind`` names the record type, as on
    every change record.
    """

    kind: ClassVar[str] = "mute_requested"
    pid: str
    media_kind: Literal["audio", "video"]
    actor_id: str | None
