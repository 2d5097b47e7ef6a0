"""The Event aggregate: spaces, participants, hand queues, Q&A slots and discussion rounds.

All rules of the event live here. Every command checks its arguments and the current state
first and only then changes anything, so a command that raises :class:`ModelError` leaves the
event untouched. A command that changes the event increments ``version`` by one and returns
the :class:`Change` records describing what happened; a command with nothing to do returns
an empty list and leaves ``version`` alone.

Commands that need staff rights take ``actor_id``: the participant on whose behalf the server
acts. ``None`` stands for the server itself (the round timer, a script holding a verified
moderator token) and is always allowed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

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
from .errors import Conflict, Forbidden, InvalidAction, ModelError, NotFound, SpaceFull
from .handqueue import HandQueue
from .participant import ROLES, SEATED_ROLES, Participant, Role
from .rounds import (
    ASSIGN_MODES,
    AssignMode,
    Broadcast,
    Round,
    RoundTemplate,
    check_broadcast_text,
    check_duration,
    check_room_capacity,
    check_room_count,
    spread_randomly,
)
from .slots import QaSlots
from .space import Space
from .validation import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    check_choice,
    check_id,
    check_interests,
    check_text,
    check_time,
)

LOBBY_ID = "lobby"
MEDIA_KINDS = ("audio", "video")
MediaKind = Literal["audio", "video"]

# Change kinds that only say "look again"; one per command is enough.
_IDEMPOTENT = (HandQueueChanged, SlotsChanged, RoundChanged, ParticipantUpdated)


class _Changes:
    """Collects the change records of one command, dropping repeated "look again" records."""

    __slots__ = ("_items", "_seen")

    def __init__(self) -> None:
        self._items: list[Change] = []
        self._seen: set[Change] = set()

    def add(self, change: Change) -> None:
        if isinstance(change, _IDEMPOTENT):
            if change in self._seen:
                return
            self._seen.add(change)
        self._items.append(change)

    def __bool__(self) -> bool:
        return bool(self._items)

    def finish(self, event: Event) -> list[Change]:
        """The final list: no records about spaces that are gone or rounds just opened/closed."""
        boundary = {c.round_id for c in self._items if isinstance(c, RoundOpened | RoundClosed)}
        result: list[Change] = []
        for change in self._items:
            if isinstance(change, HandQueueChanged | SlotsChanged):
                if change.stage_id not in event.spaces:
                    continue
            elif isinstance(change, RoundChanged) and change.round_id in boundary:
                continue
            result.append(change)
        return result


@dataclass(slots=True)
class Event:
    """One gathering and everything happening in it right now.

    ``spaces`` keeps insertion order, which is the agenda order. Every participant is in
    exactly one space (``Participant.space_id``); ``members`` lists a space's participants
    in the order they entered it.
    """

    id: str
    title: str
    description: str = ""
    version: int = 0
    spaces: dict[str, Space] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)
    lobby_id: str = LOBBY_ID
    hand_queues: dict[str, HandQueue] = field(default_factory=dict)
    slots: dict[str, QaSlots] = field(default_factory=dict)
    rounds: dict[str, Round] = field(default_factory=dict)
    templates: dict[str, RoundTemplate] = field(default_factory=dict)
    # Space id -> participant ids in order of arrival (a dict used as an ordered set).
    _members: dict[str, dict[str, None]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._members = {space_id: {} for space_id in self.spaces}
        for pid, participant in self.participants.items():
            self._members.setdefault(participant.space_id, {})[pid] = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, id: str, title: str, description: str = "") -> Event:
        """A new event with only its lobby, where arriving participants land."""
        check_id(id, "id")
        title = check_text(title, "title", MAX_TITLE_CHARS)
        description = check_text(
            description, "description", MAX_DESCRIPTION_CHARS, allow_empty=True
        )
        lobby = Space(
            LOBBY_ID, "lobby", "Lobby", "Where everyone arrives and returns between sessions."
        )
        return cls(id=id, title=title, description=description, spaces={LOBBY_ID: lobby})

    def add_space(self, space: Space) -> list[Change]:
        """Add a stage, booth or breakout. Round rooms are created by :meth:`open_round`."""
        if not isinstance(space, Space):
            raise InvalidAction("space must be a Space", field="space")
        if space.id in self.spaces:
            raise Conflict(f"a space with id {space.id!r} already exists", field="id")
        if space.kind == "lobby":
            raise InvalidAction("the event already has its lobby", field="kind")
        if space.round_id is not None:
            raise InvalidAction(
                "breakouts of a round are created by opening the round", field="round_id"
            )
        ch = _Changes()
        self._insert_space(space)
        ch.add(SpaceAdded(space.id))
        return self._commit(ch)

    def remove_space(self, space_id: str, now: float) -> list[Change]:
        """Remove a space; whoever is in it goes to the lobby.

        The lobby, the rooms of an open round (close the round instead) and the home space of
        an open round cannot be removed.
        """
        check_time(now)
        space = self._space(space_id)
        if space.id == self.lobby_id:
            raise InvalidAction("the lobby cannot be removed", field="space_id")
        current = self.current_round()
        if space.round_id is not None:
            raise Conflict(
                f"{space.id!r} belongs to round {space.round_id!r}; close the round instead",
                field="space_id",
            )
        if current is not None and current.home_space_id == space.id:
            raise Conflict(
                f"{space.id!r} is the home space of open round {current.id!r}", field="space_id"
            )
        ch = _Changes()
        for pid in list(self._members[space.id]):
            self._relocate(self.participants[pid], self.lobby_id, ch, reason="space_removed")
        self._drop_space(space.id)
        ch.add(SpaceRemoved(space.id))
        return self._commit(ch)

    def add_template(self, template: RoundTemplate) -> list[Change]:
        """Make a round template available to :meth:`open_round`."""
        if not isinstance(template, RoundTemplate):
            raise InvalidAction("template must be a RoundTemplate", field="template")
        if template.id in self.templates:
            raise Conflict(f"a template with id {template.id!r} already exists", field="id")
        self.templates[template.id] = template
        ch = _Changes()
        ch.add(TemplateAdded(template.id))
        return self._commit(ch)

    # ------------------------------------------------------------------ participants

    def add_participant(
        self, pid: str, name: str, role: Role, now: float, interests: Iterable[str] = ()
    ) -> list[Change]:
        """Bring a participant into the event; they start in the lobby."""
        check_id(pid, "participant_id")
        name = check_text(name, "name", MAX_NAME_CHARS)
        check_choice(role, "role", ROLES)
        now = check_time(now)
        labels = check_interests(interests)
        if pid in self.participants:
            raise Conflict(f"participant {pid!r} is already in the event", field="participant_id")
        participant = Participant(
            id=pid, name=name, role=role, space_id=self.lobby_id, interests=labels, joined_at=now
        )
        self.participants[pid] = participant
        self._members[self.lobby_id][pid] = None
        ch = _Changes()
        ch.add(ParticipantAdded(pid))
        ch.add(Moved(pid, None, self.lobby_id, reason="added"))
        return self._commit(ch)

    def remove_participant(self, pid: str, now: float) -> list[Change]:
        """Take a participant out of everything: their space, a hand queue, a slot, a round."""
        check_time(now)
        participant = self._participant(pid)
        space_id = participant.space_id
        ch = _Changes()
        self._leave_stage(participant, ch)
        current = self.current_round()
        if current is not None and (pid in current.origin or pid in current.assignments):
            current.origin.pop(pid, None)
            current.assignments.pop(pid, None)
            ch.add(RoundChanged(current.id))
        del self._members[space_id][pid]
        del self.participants[pid]
        ch.add(ParticipantRemoved(pid, space_id))
        return self._commit(ch)

    def join(self, pid: str, space_id: str, now: float) -> list[Change]:
        """Move ``pid`` to ``space_id`` by their own choice.

        Non-staff are refused with :class:`SpaceFull` when the space is at capacity. A room of
        an open round admits staff, anyone when the round lets participants choose, and
        otherwise only the people assigned to it.
        """
        check_time(now)
        participant = self._participant(pid)
        space = self._space(space_id)
        if participant.space_id == space.id:
            return []
        assign = False
        if space.round_id is not None:
            round_ = self.rounds[space.round_id]
            assigned = round_.assignments.get(pid) == space.id
            if not (round_.mode == "choice" or participant.is_staff or assigned):
                raise Forbidden(
                    f"{space.title!r} is a room of round {round_.title!r}; only the people "
                    "assigned to it can join",
                    field="space_id",
                )
            assign = round_.mode == "choice" and not participant.is_staff
        if not participant.is_staff:
            self._check_capacity(space)
        ch = _Changes()
        self._relocate(participant, space.id, ch, assign=assign, reason="join")
        return self._commit(ch)

    def leave(self, pid: str, now: float) -> list[Change]:
        """Go back to the lobby."""
        check_time(now)
        participant = self._participant(pid)
        if participant.space_id == self.lobby_id:
            return []
        ch = _Changes()
        self._relocate(participant, self.lobby_id, ch, reason="leave")
        return self._commit(ch)

    def move_participant(
        self, actor_id: str | None, pid: str, space_id: str, now: float
    ) -> list[Change]:
        """Staff: put ``pid`` in ``space_id``, regardless of capacity.

        Moving someone into a room of the open round also assigns them to it.
        """
        self._require_staff(actor_id, "move participants")
        check_time(now)
        participant = self._participant(pid)
        space = self._space(space_id)
        if participant.space_id == space.id:
            return []
        ch = _Changes()
        self._relocate(
            participant,
            space.id,
            ch,
            assign=space.round_id is not None,
            by=actor_id,
            reason="move",
        )
        return self._commit(ch)

    def set_muted(self, pid: str, kind: MediaKind, muted: bool, now: float) -> list[Change]:
        """Record that a participant muted or unmuted their microphone or camera."""
        check_time(now)
        participant = self._participant(pid)
        check_choice(kind, "kind", MEDIA_KINDS)
        if not isinstance(muted, bool):
            raise InvalidAction("muted must be true or false", field="muted")
        attribute = "muted_audio" if kind == "audio" else "muted_video"
        if getattr(participant, attribute) == muted:
            return []
        setattr(participant, attribute, muted)
        ch = _Changes()
        ch.add(ParticipantUpdated(pid))
        return self._commit(ch)

    def request_mute(
        self, actor_id: str | None, pid: str, kind: MediaKind, now: float
    ) -> list[Change]:
        """Staff: ask ``pid`` to mute. Only a request; the event itself does not change,
        so ``version`` stays the same."""
        self._require_staff(actor_id, "ask participants to mute")
        check_time(now)
        self._participant(pid)
        check_choice(kind, "kind", MEDIA_KINDS)
        return [MuteRequested(pid, kind, actor_id)]

    # ------------------------------------------------------------------ hands and slots

    def raise_hand(self, pid: str, now: float) -> list[Change]:
        """Join the back of the hand queue of the stage ``pid`` is in.

        Raising again keeps the original place. Someone on a Q&A slot or speaker seat is
        already on stage and cannot raise a hand (:class:`Conflict`).
        """
        now = check_time(now)
        participant = self._participant(pid)
        stage_id = self._require_on_stage(participant, "raise a hand")
        if self.slots[stage_id].holds(pid):
            raise Conflict(f"{participant.name} is already on stage and cannot raise a hand")
        if not self.hand_queues[stage_id].raise_(pid, now):
            return []
        ch = _Changes()
        ch.add(HandQueueChanged(stage_id))
        return self._commit(ch)

    def lower_hand(self, pid: str, now: float) -> list[Change]:
        """Leave the hand queue. Nothing happens when the hand was not raised."""
        check_time(now)
        participant = self._participant(pid)
        stage_id = self.stage_of(pid)
        if stage_id is None or not self.hand_queues[stage_id].lower(participant.id):
            return []
        ch = _Changes()
        ch.add(HandQueueChanged(stage_id))
        return self._commit(ch)

    def hand_position(self, pid: str) -> int | None:
        """``pid``'s 1-based place in their stage's hand queue, or None."""
        stage_id = self.stage_of(pid)
        if stage_id is None:
            return None
        return self.hand_queues[stage_id].position(pid)

    def dismiss(self, actor_id: str | None, pid: str, now: float) -> list[Change]:
        """Staff: take down ``pid``'s raised hand."""
        self._require_staff(actor_id, "dismiss raised hands")
        check_time(now)
        participant = self._participant(pid)
        stage_id = self.stage_of(pid)
        if stage_id is None or pid not in self.hand_queues[stage_id]:
            raise InvalidAction(f"{participant.name} has no raised hand", field="participant_id")
        self.hand_queues[stage_id].lower(pid)
        ch = _Changes()
        ch.add(HandQueueChanged(stage_id))
        return self._commit(ch)

    def promote(
        self, actor_id: str | None, pid: str, now: float, slot: int | None = None
    ) -> list[Change]:
        """Staff: bring ``pid`` from the audience (usually the hand queue) into a Q&A slot.

        Takes the lowest free slot unless ``slot`` (0-based) is given. Promoting someone
        already in the requested slot, or in any slot when none is requested, does nothing.
        """
        self._require_staff(actor_id, "promote participants")
        check_time(now)
        participant = self._participant(pid)
        stage_id = self._require_on_stage(participant, "be promoted")
        slots = self.slots[stage_id]
        current = slots.index_of(pid)
        if slot is not None:
            slots.check_index(slot)
        if current is not None:
            if slot is None or slot == current:
                return []
            raise Conflict(
                f"{participant.name} is already in Q&A slot {current}; swap the slots instead",
                field="slot",
            )
        if slots.is_speaker(pid):
            raise Conflict(f"{participant.name} already holds a speaker seat")
        if slot is None:
            free = slots.free_index()
            if free is None:
                raise SpaceFull(f"no free Q&A slot on {self.spaces[stage_id].title!r}")
            slot = free
        else:
            occupant_id = slots.occupants[slot]
            if occupant_id is not None:
                occupant = self.participants[occupant_id]
                raise Conflict(f"Q&A slot {slot} is taken by {occupant.name}", field="slot")
        ch = _Changes()
        if self.hand_queues[stage_id].lower(pid):
            ch.add(HandQueueChanged(stage_id))
        slots.put(pid, slot)
        ch.add(SlotsChanged(stage_id))
        return self._commit(ch)

    def demote(self, actor_id: str | None, pid: str, now: float) -> list[Change]:
        """Staff: free ``pid``'s Q&A slot; they stay in the stage audience."""
        self._require_staff(actor_id, "demote participants")
        check_time(now)
        participant = self._participant(pid)
        stage_id = self.stage_of(pid)
        if stage_id is None or self.slots[stage_id].index_of(pid) is None:
            hint = ""
            if stage_id is not None and self.slots[stage_id].is_speaker(pid):
                hint = "; they hold a speaker seat, use set_speaker to free it"
            raise InvalidAction(
                f"{participant.name} is not in a Q&A slot{hint}", field="participant_id"
            )
        self.slots[stage_id].clear(pid)
        ch = _Changes()
        ch.add(SlotsChanged(stage_id))
        return self._commit(ch)

    def swap_slots(
        self, actor_id: str | None, stage_id: str, a: int, b: int, now: float
    ) -> list[Change]:
        """Staff: exchange the occupants of Q&A slots ``a`` and ``b`` (0-based)."""
        self._require_staff(actor_id, "rearrange Q&A slots")
        check_time(now)
        space = self._space(stage_id, "stage_id")
        if not space.is_stage:
            raise InvalidAction(f"{space.title!r} is not a stage", field="stage_id")
        slots = self.slots[space.id]
        slots.check_index(a, "a")
        slots.check_index(b, "b")
        if a == b or slots.occupants[a] == slots.occupants[b]:
            return []
        slots.swap(a, b)
        ch = _Changes()
        ch.add(SlotsChanged(space.id))
        return self._commit(ch)

    def set_speaker(self, actor_id: str | None, pid: str, on: bool, now: float) -> list[Change]:
        """Staff: give ``pid`` a speaker seat on their stage, or take it away.

        Someone in a Q&A slot moves to the seat (the slot is freed); a raised hand is lowered.
        """
        self._require_staff(actor_id, "seat speakers")
        check_time(now)
        if not isinstance(on, bool):
            raise InvalidAction("on must be true or false", field="on")
        participant = self._participant(pid)
        stage_id = self._require_on_stage(participant, "take a speaker seat")
        slots = self.slots[stage_id]
        ch = _Changes()
        if on:
            if slots.is_speaker(pid):
                return []
            if not slots.has_free_seat():
                raise SpaceFull(f"no free speaker seat on {self.spaces[stage_id].title!r}")
            if self.hand_queues[stage_id].lower(pid):
                ch.add(HandQueueChanged(stage_id))
            slots.clear(pid)
            slots.seat(pid)
        else:
            if not slots.is_speaker(pid):
                return []
            slots.clear(pid)
        ch.add(SlotsChanged(stage_id))
        return self._commit(ch)

    # ------------------------------------------------------------------ rounds

    def open_round(
        self,
        actor_id: str | None,
        now: float,
        *,
        template_id: str | None = None,
        room_count: int | None = None,
        duration_s: float | None = None,
        mode: AssignMode = "random",
        title: str | None = None,
        home_space_id: str | None = None,
        room_capacity: int | None = None,
        rng: random.Random | None = None,
        round_id: str | None = None,
    ) -> list[Change]:
        """Staff: open a discussion round with ``room_count`` breakout rooms.

        Values not given come from the template. ``home_space_id`` defaults to the first
        stage. In ``random`` mode every non-staff participant of the home space is dealt
        evenly over the rooms; in ``choice`` mode participants join a room themselves; in
        ``manual`` mode staff use :meth:`assign`. Without ``rng`` the shuffle is seeded from
        the event's state, so retrying the same command on the same state gives the same
        assignment.
        """
        self._require_staff(actor_id, "open rounds")
        now = check_time(now)
        current = self.current_round()
        if current is not None:
            raise Conflict(f"round {current.title!r} is still open; close it first")
        template: RoundTemplate | None = None
        if template_id is not None:
            check_id(template_id, "template_id")
            template = self.templates.get(template_id)
            if template is None:
                raise NotFound(f"no round template {template_id!r}", field="template_id")
        if room_count is None:
            if template is None:
                raise InvalidAction("room_count is required without a template", field="room_count")
            room_count = template.room_count
        room_count = check_room_count(room_count)
        if duration_s is None:
            if template is None:
                raise InvalidAction("duration_s is required without a template", field="duration_s")
            duration_s = template.duration_s
        duration_s = check_duration(duration_s)
        if room_capacity is None and template is not None:
            room_capacity = template.room_capacity
        room_capacity = check_room_capacity(room_capacity)
        check_choice(mode, "mode", ASSIGN_MODES)
        if round_id is None:
            round_id = self._next_round_id(room_count)
        else:
            check_id(round_id, "round_id")
            if round_id in self.rounds:
                raise Conflict(f"a round with id {round_id!r} already exists", field="round_id")
        room_ids = [f"{round_id}-room-{index + 1}" for index in range(room_count)]
        for room_id in room_ids:
            if room_id in self.spaces:
                raise Conflict(f"a space with id {room_id!r} already exists", field="round_id")
        if title is not None:
            title = check_text(title, "title", MAX_TITLE_CHARS)
        elif template is not None:
            title = template.title
        else:
            title = f"Discussion round {len(self.rounds) + 1}"
        home = self._home_space(home_space_id)
        room_titles = [f"Room {index + 1}" for index in range(room_count)]
        if template is not None and template.room_titles is not None:
            room_titles = [
                template.room_titles[index] if index < len(template.room_titles) else default
                for index, default in enumerate(room_titles)
            ]
        plan: dict[str, str] = {}
        if mode == "random":
            movers = [pid for pid in self._members[home.id] if not self.participants[pid].is_staff]
            per_room = math.ceil(len(movers) / room_count)
            if room_capacity is not None and per_room > room_capacity:
                needed = math.ceil(len(movers) / room_capacity)
                raise SpaceFull(
                    f"{len(movers)} participants do not fit in {room_count} rooms of "
                    f"{room_capacity}; open at least {needed} rooms",
                    field="room_count",
                )
            if rng is None:
                rng = random.Random(f"{self.id}/{round_id}/{self.version}")
            plan = spread_randomly(movers, room_ids, rng)

        ch = _Changes()
        for room_id, room_title in zip(room_ids, room_titles, strict=True):
            self._insert_space(
                Space(
                    room_id,
                    "breakout",
                    room_title,
                    f"{title}: {room_title}",
                    capacity=room_capacity,
                    round_id=round_id,
                )
            )
            ch.add(SpaceAdded(room_id))
        self.rounds[round_id] = Round(
            id=round_id,
            title=title,
            home_space_id=home.id,
            room_ids=room_ids,
            mode=mode,
            opened_at=now,
            deadline=now + duration_s,
        )
        ch.add(RoundOpened(round_id))
        for pid, room_id in plan.items():
            self._relocate(
                self.participants[pid],
                room_id,
                ch,
                assign=True,
                by=actor_id,
                reason="round_open",
            )
        return self._commit(ch)

    def assign(
        self, actor_id: str | None, round_id: str, pid: str, room_id: str, now: float
    ) -> list[Change]:
        """Staff: assign ``pid`` to a room of an open round and move them there."""
        self._require_staff(actor_id, "assign participants")
        check_time(now)
        round_ = self._open_round_by_id(round_id)
        check_id(room_id, "room_id")
        if room_id not in round_.room_ids:
            raise NotFound(f"{room_id!r} is not a room of round {round_.title!r}", field="room_id")
        participant = self._participant(pid)
        ch = _Changes()
        if participant.space_id == room_id:
            if round_.assignments.get(pid) == room_id:
                return []
            round_.assignments[pid] = room_id
            ch.add(RoundChanged(round_.id))
        else:
            self._relocate(participant, room_id, ch, assign=True, by=actor_id, reason="assign")
        return self._commit(ch)

    def broadcast(self, actor_id: str | None, round_id: str, text: str, now: float) -> list[Change]:
        """Staff: send a message to every room of an open round."""
        self._require_staff(actor_id, "broadcast to rounds")
        now = check_time(now)
        round_ = self._open_round_by_id(round_id)
        text = check_broadcast_text(text)
        round_.broadcasts.append(Broadcast(text=text, sent_at=now, sender_id=actor_id))
        ch = _Changes()
        ch.add(BroadcastSent(round_.id, text, actor_id))
        return self._commit(ch)

    def close_round(self, actor_id: str | None, round_id: str, now: float) -> list[Change]:
        """Staff, or ``None`` for the timer: end a round.

        Everyone in its rooms goes back to where they came from, or to the round's home space
        when that place is gone; then the rooms are removed.
        """
        self._require_staff(actor_id, "close rounds")
        now = check_time(now)
        round_ = self._open_round_by_id(round_id)
        ch = _Changes()
        self._close(round_, actor_id, now, ch)
        return self._commit(ch)

    def tick(self, now: float) -> list[Change]:
        """Close every open round whose deadline has passed."""
        now = check_time(now)
        ch = _Changes()
        for round_ in list(self.rounds.values()):
            if round_.is_open and round_.deadline <= now:
                self._close(round_, None, now, ch)
        return self._commit(ch)

    # ------------------------------------------------------------------ queries

    def counts(self) -> dict[str, int]:
        """Number of participants in every space, in agenda order."""
        return {space_id: len(self._members[space_id]) for space_id in self.spaces}

    def count(self, space_id: str) -> int:
        return len(self._members[self._space(space_id).id])

    def member_ids(self, space_id: str) -> list[str]:
        """Ids of the participants in ``space_id``, in order of arrival."""
        return list(self._members[self._space(space_id).id])

    def members(self, space_id: str) -> list[Participant]:
        """The participants in ``space_id``, in order of arrival."""
        return [self.participants[pid] for pid in self._members[self._space(space_id).id]]

    def current_round(self) -> Round | None:
        """The open round, if any (at most one round is open at a time)."""
        for round_ in self.rounds.values():
            if round_.is_open:
                return round_
        return None

    def round_of_space(self, space_id: str) -> Round | None:
        """The round a breakout room belongs to, or None for any other space."""
        space = self.spaces.get(space_id)
        if space is None or space.round_id is None:
            return None
        return self.rounds.get(space.round_id)

    def stage_ids(self) -> list[str]:
        return [space.id for space in self.spaces.values() if space.is_stage]

    def stage_of(self, pid: str) -> str | None:
        """The stage ``pid`` is in, or None when they are elsewhere or unknown."""
        participant = self.participants.get(pid)
        if participant is None:
            return None
        return participant.space_id if self.spaces[participant.space_id].is_stage else None

    def slot_of(self, pid: str) -> int | None:
        """The 0-based Q&A slot ``pid`` holds on their stage, or None."""
        stage_id = self.stage_of(pid)
        return None if stage_id is None else self.slots[stage_id].index_of(pid)

    def is_speaker(self, pid: str) -> bool:
        """True when ``pid`` holds a speaker seat on their stage."""
        stage_id = self.stage_of(pid)
        return stage_id is not None and self.slots[stage_id].is_speaker(pid)

    def is_staff(self, pid: str) -> bool:
        participant = self.participants.get(pid)
        return participant is not None and participant.is_staff

    def check_invariants(self) -> list[str]:
        """Describe every broken rule of the model; an empty list means all is well."""
        problems: list[str] = []
        lobby = self.spaces.get(self.lobby_id)
        if lobby is None or lobby.kind != "lobby":
            problems.append(f"lobby {self.lobby_id!r} is missing or not a lobby")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 0:
            problems.append(f"version {self.version!r} is not a non-negative integer")
        for space_id, space in self.spaces.items():
            if space.id != space_id:
                problems.append(f"space stored under {space_id!r} has id {space.id!r}")
        if set(self._members) != set(self.spaces):
            problems.append("member index does not match the spaces")
        seen: dict[str, str] = {}
        for space_id, members in self._members.items():
            for pid in members:
                if pid in seen:
                    problems.append(f"{pid!r} is in both {seen[pid]!r} and {space_id!r}")
                seen[pid] = space_id
        for pid, participant in self.participants.items():
            if participant.id != pid:
                problems.append(f"participant stored under {pid!r} has id {participant.id!r}")
            if participant.space_id not in self.spaces:
                problems.append(f"{pid!r} is in unknown space {participant.space_id!r}")
            if seen.get(pid) != participant.space_id:
                problems.append(f"{pid!r} is indexed in {seen.get(pid)!r}, not its space")
        if set(seen) != set(self.participants):
            problems.append("member index lists unknown participants")
        stages = set(self.stage_ids())
        if set(self.hand_queues) != stages or set(self.slots) != stages:
            problems.append("hand queues and slots must exist for exactly the stages")
        holders: dict[str, str] = {}
        for stage_id in stages & set(self.slots):
            space = self.spaces[stage_id]
            slots = self.slots[stage_id]
            if len(slots.occupants) != space.qa_slots:
                problems.append(
                    f"{stage_id!r} has {len(slots.occupants)} Q&A slots, not {space.qa_slots}"
                )
            if (
                slots.speaker_seats != space.speaker_seats
                or len(slots.speakers) > space.speaker_seats
            ):
                problems.append(f"{stage_id!r} speaker seats are over capacity")
            for pid in slots.holders():
                if pid in holders:
                    problems.append(f"{pid!r} holds two slots or seats")
                holders[pid] = stage_id
                if self.stage_of(pid) != stage_id:
                    problems.append(f"{pid!r} holds a slot on {stage_id!r} but is not there")
        for stage_id in stages & set(self.hand_queues):
            for pid in self.hand_queues[stage_id].participant_ids():
                if self.stage_of(pid) != stage_id:
                    problems.append(f"{pid!r} has a hand raised on {stage_id!r} but is not there")
                if pid in holders:
                    problems.append(f"{pid!r} has a hand raised while on stage")
        open_rounds = [r for r in self.rounds.values() if r.is_open]
        if len(open_rounds) > 1:
            problems.append("more than one round is open")
        for round_id, round_ in self.rounds.items():
            if round_.id != round_id:
                problems.append(f"round stored under {round_id!r} has id {round_.id!r}")
            if round_.is_open:
                in_rooms: set[str] = set()
                for room_id in round_.room_ids:
                    room = self.spaces.get(room_id)
                    if room is None or room.round_id != round_id:
                        problems.append(f"room {room_id!r} of open round {round_id!r} is missing")
                    else:
                        in_rooms.update(self._members[room_id])
                if set(round_.origin) != in_rooms:
                    problems.append(f"origins of round {round_id!r} do not match its rooms")
                for pid, room_id in round_.assignments.items():
                    if pid not in self.participants or room_id not in round_.room_ids:
                        problems.append(f"bad assignment {pid!r} -> {room_id!r}")
            else:
                if round_.origin:
                    problems.append(f"closed round {round_id!r} still has origins")
                for room_id in round_.room_ids:
                    if room_id in self.spaces:
                        problems.append(f"room {room_id!r} of closed round {round_id!r} remains")
        for space in self.spaces.values():
            if space.round_id is not None:
                owner = self.rounds.get(space.round_id)
                if owner is None or not owner.is_open or space.id not in owner.room_ids:
                    problems.append(f"{space.id!r} belongs to no open round")
        return problems

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy of the whole state; :meth:`from_dict` restores it exactly.

        Participants are listed space by space in order of arrival, which is how
        :meth:`members` order survives the round trip.
        """
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "lobby_id": self.lobby_id,
            "spaces": [space.to_dict() for space in self.spaces.values()],
            "participants": [
                self.participants[pid].to_dict()
                for space_id in self.spaces
                for pid in self._members[space_id]
            ],
            "hand_queues": {sid: queue.to_list() for sid, queue in self.hand_queues.items()},
            "slots": {sid: slots.to_dict() for sid, slots in self.slots.items()},
            "rounds": [round_.to_dict() for round_ in self.rounds.values()],
            "templates": [template.to_dict() for template in self.templates.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_dict` output; :class:`InvalidAction` if malformed."""
        try:
            spaces = [Space.from_dict(item) for item in data["spaces"]]
            participants = [Participant.from_dict(item) for item in data["participants"]]
            event = cls(
                id=check_id(data["id"], "id"),
                title=data["title"],
                description=data.get("description", ""),
                version=data["version"],
                spaces={space.id: space for space in spaces},
                participants={p.id: p for p in participants},
                lobby_id=data.get("lobby_id", LOBBY_ID),
                hand_queues={
                    sid: HandQueue.from_list(items) for sid, items in data["hand_queues"].items()
                },
                slots={sid: QaSlots.from_dict(item) for sid, item in data["slots"].items()},
                rounds={r.id: r for r in (Round.from_dict(item) for item in data["rounds"])},
                templates={
                    t.id: t for t in (RoundTemplate.from_dict(item) for item in data["templates"])
                },
            )
        except ModelError as exc:
            raise InvalidAction(f"malformed event data: {exc.message}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidAction(f"malformed event data: {exc!r}") from exc
        problems = event.check_invariants()
        if len(spaces) != len(event.spaces) or len(participants) != len(event.participants):
            problems.append("duplicate space or participant ids")
        if problems:
            raise InvalidAction("inconsistent event data: " + "; ".join(problems))
        return event

    def copy(self) -> Event:
        """An independent deep copy."""
        return Event.from_dict(self.to_dict())

    # ------------------------------------------------------------------ internals

    def _commit(self, ch: _Changes) -> list[Change]:
        changes = ch.finish(self)
        if ch:
            self.version += 1
        return changes

    def _participant(self, pid: Any, field: str = "participant_id") -> Participant:
        check_id(pid, field)
        participant = self.participants.get(pid)
        if participant is None:
            raise NotFound(f"no participant {pid!r} in this event", field=field)
        return participant

    def _space(self, space_id: Any, field: str = "space_id") -> Space:
        check_id(space_id, field)
        space = self.spaces.get(space_id)
        if space is None:
            raise NotFound(f"no space {space_id!r} in this event", field=field)
        return space

    def _require_staff(self, actor_id: str | None, action: str) -> None:
        if actor_id is None:
            return
        check_id(actor_id, "actor_id")
        actor = self.participants.get(actor_id)
        if actor is None:
            raise Forbidden(f"only a moderator or host can {action}; {actor_id!r} is not here")
        if not actor.is_staff:
            raise Forbidden(f"only a moderator or host can {action}")

    def _require_on_stage(self, participant: Participant, action: str) -> str:
        space = self.spaces[participant.space_id]
        if not space.is_stage:
            raise InvalidAction(
                f"{participant.name} must be on a stage to {action}; they are in {space.title!r}",
                field="participant_id",
            )
        return space.id

    def _check_capacity(self, space: Space) -> None:
        if space.capacity is not None and len(self._members[space.id]) >= space.capacity:
            raise SpaceFull(
                f"{space.title!r} is full ({space.capacity} of {space.capacity})",
                field="space_id",
            )

    def _open_round_by_id(self, round_id: Any) -> Round:
        check_id(round_id, "round_id")
        round_ = self.rounds.get(round_id)
        if round_ is None:
            raise NotFound(f"no round {round_id!r}", field="round_id")
        if not round_.is_open:
            raise Conflict(f"round {round_.title!r} is already closed", field="round_id")
        return round_

    def _home_space(self, home_space_id: str | None) -> Space:
        if home_space_id is not None:
            return self._space(home_space_id, "home_space_id")
        stages = self.stage_ids()
        if not stages:
            raise InvalidAction(
                "the event has no stage to gather at; pass home_space_id", field="home_space_id"
            )
        return self.spaces[stages[0]]

    def _next_round_id(self, room_count: int) -> str:
        number = len(self.rounds) + 1
        while True:
            candidate = f"round-{number}"
            rooms = (f"{candidate}-room-{index + 1}" for index in range(room_count))
            if candidate not in self.rounds and not any(r in self.spaces for r in rooms):
                return candidate
            number += 1

    def _insert_space(self, space: Space) -> None:
        self.spaces[space.id] = space
        self._members[space.id] = {}
        if space.is_stage:
            self.hand_queues[space.id] = HandQueue()
            self.slots[space.id] = QaSlots.empty(space.qa_slots, space.speaker_seats)

    def _drop_space(self, space_id: str) -> None:
        del self.spaces[space_id]
        del self._members[space_id]
        self.hand_queues.pop(space_id, None)
        self.slots.pop(space_id, None)

    def _leave_stage(self, participant: Participant, ch: _Changes) -> None:
        """Lower the hand and free the slot or seat of someone leaving their stage."""
        stage_id = participant.space_id
        if not self.spaces[stage_id].is_stage:
            return
        if self.hand_queues[stage_id].lower(participant.id):
            ch.add(HandQueueChanged(stage_id))
        if self.slots[stage_id].clear(participant.id):
            ch.add(SlotsChanged(stage_id))

    def _relocate(
        self,
        participant: Participant,
        to_space: str,
        ch: _Changes,
        *,
        assign: bool = False,
        by: str | None = None,
        reason: MoveReason = "join",
    ) -> None:
        """Move a participant and keep queues, slots and round bookkeeping in step.

        Callers have already validated the move; this never fails.
        """
        pid = participant.id
        from_space = participant.space_id
        self._leave_stage(participant, ch)
        del self._members[from_space][pid]
        self._members[to_space][pid] = None
        participant.space_id = to_space
        ch.add(Moved(pid, from_space, to_space, by=by, reason=reason))
        current = self.current_round()
        if current is not None:
            from_room = from_space in current.room_ids
            to_room = to_space in current.room_ids
            if to_room and not from_room:
                current.origin[pid] = from_space
                ch.add(RoundChanged(current.id))
            elif from_room and not to_room:
                del current.origin[pid]
                ch.add(RoundChanged(current.id))
            if assign and to_room and current.assignments.get(pid) != to_space:
                current.assignments[pid] = to_space
                ch.add(RoundChanged(current.id))
        if self.spaces[to_space].is_stage and participant.role in SEATED_ROLES:
            slots = self.slots[to_space]
            if slots.has_free_seat():
                slots.seat(pid)
                ch.add(SlotsChanged(to_space))

    def _close(self, round_: Round, actor_id: str | None, now: float, ch: _Changes) -> None:
        rooms = set(round_.room_ids)
        fallback = round_.home_space_id if round_.home_space_id in self.spaces else self.lobby_id
        for room_id in round_.room_ids:
            for pid in list(self._members[room_id]):
                destination = round_.origin.get(pid)
                if destination is None or destination not in self.spaces or destination in rooms:
                    destination = fallback
                self._relocate(
                    self.participants[pid], destination, ch, by=actor_id, reason="round_close"
                )
        for room_id in round_.room_ids:
            self._drop_space(room_id)
            ch.add(SpaceRemoved(room_id))
        round_.origin.clear()
        round_.closed_at = now
        ch.add(RoundClosed(round_.id))
