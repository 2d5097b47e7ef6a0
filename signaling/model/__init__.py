"""The pure event model: spaces, participants, hand queues, Q&A slots and discussion rounds.

Nothing here performs I/O or reads a clock; callers pass the current time as ``now``.
"""

from .changes import (
    BroadcastSent,
    Change,
    HandQueueChanged,
    Moved,
    MoveReason,
    MuteRequested,
    ParticipantAdded,
    ParticipantRemoved,
    ParticipantUpdated,
    RoundChanged,
    RoundClosed,
    RoundOpened,
    SlotsChanged,
    SpaceAdded,
    SpaceRemoved,
    TemplateAdded,
)
from .demo import build_demo_event
from .errors import Conflict, Forbidden, InvalidAction, ModelError, NotFound, SpaceFull
from .event import LOBBY_ID, Event, MediaKind
from .handqueue import HandEntry, HandQueue
from .participant import ROLES, SEATED_ROLES, STAFF_ROLES, Participant, Role
from .rounds import ASSIGN_MODES, AssignMode, Broadcast, Round, RoundTemplate, spread_randomly
from .slots import QaSlots
from .space import SPACE_KINDS, Space, SpaceKind

__all__ = [
    "ASSIGN_MODES",
    "LOBBY_ID",
    "ROLES",
    "SEATED_ROLES",
    "SPACE_KINDS",
    "STAFF_ROLES",
    "AssignMode",
    "Broadcast",
    "BroadcastSent",
    "Change",
    "Conflict",
    "Event",
    "Forbidden",
    "HandEntry",
    "HandQueue",
    "HandQueueChanged",
    "InvalidAction",
    "MediaKind",
    "ModelError",
    "MoveReason",
    "Moved",
    "MuteRequested",
    "NotFound",
    "Participant",
    "ParticipantAdded",
    "ParticipantRemoved",
    "ParticipantUpdated",
    "QaSlots",
    "Role",
    "Round",
    "RoundChanged",
    "RoundClosed",
    "RoundOpened",
    "RoundTemplate",
    "SlotsChanged",
    "Space",
    "SpaceAdded",
    "SpaceFull",
    "SpaceKind",
    "SpaceRemoved",
    "TemplateAdded",
    "build_demo_event",
    "spread_randomly",
]
