"""Property tests for the event model's invariants.

A hypothesis state machine drives one event with random commands, valid and invalid, and
checks after every step that:

- every participant is in exactly one existing space, and nobody is lost: the number of
  participants changes only through add_participant and remove_participant;
- Q&A slots and speaker seats are never over capacity and nobody holds two of them;
- each hand queue is first come, first served: a new hand goes to the back, and a hand is
  removed only for the person concerned (who lowered it, was dismissed, promoted, seated or
  left the stage), so nobody else loses their place;
- capacity holds for non-staff joins;
- closing a round sends everyone in its rooms back to where they came from (or to the home
  space when that place is gone) and removes the rooms;
- a failed command changes nothing, and the change records match what changed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from signaling.model import (
    STAFF_ROLES,
    Change,
    Event,
    HandQueue,
    HandQueueChanged,
    ModelError,
    Moved,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    RoundClosed,
    SlotsChanged,
    Space,
    SpaceAdded,
    SpaceFull,
    SpaceRemoved,
    spread_randomly,
)

ROLES: dict[str, Role] = {
    "mod": "moderator",
    "host": "host",
    "spk": "speaker",
    "p1": "attendee",
    "p2": "attendee",
    "p3": "attendee",
    "p4": "attendee",
    "p5": "attendee",
    "p6": "attendee",
}
PIDS = [*ROLES, "ghost"]
# Mostly people with the rights to act, sometimes someone without them or nobody known.
ACTORS: list[str | None] = [None, None, "mod", "host", "mod", "host", "spk", "p1", "ghost"]

# Spaces that may be removed and put back, so that a round origin can disappear.
OPTIONAL_SPACES = {
    "booth": Space("booth", "booth", "Booth", capacity=2),
    "deep": Space("deep", "breakout", "Deep dive", capacity=3),
    "side-stage": Space("side-stage", "stage", "Side stage", speaker_seats=1, qa_slots=1),
}

actors = st.sampled_from(ACTORS)
picks = st.integers(min_value=0, max_value=1000)


@dataclass
class Snapshot:
    """What a step may change, captured before it runs."""

    data: dict[str, Any]
    where: dict[str, str]
    queues: dict[str, list[str]]
    slots: dict[str, tuple[tuple[str | None, ...], tuple[str, ...]]]
    spaces: list[str]
    version: int
    round_rooms: dict[str, list[str]]
    origin: dict[str, str]
    home: str | None


class EventMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.event = Event.create("prop", "Property test event")
        self.now = 0.0
        self.expected_participants: set[str] = set()
        self.last_error: ModelError | None = None

    @initialize(spread=st.lists(st.integers(min_value=0, max_value=3), min_size=len(ROLES)))
    def build(self, spread: list[int]) -> None:
        self.event.add_space(
            Space("main", "stage", "Main stage", capacity=6, speaker_seats=1, qa_slots=2)
        )
        for space in OPTIONAL_SPACES.values():
            self.event.add_space(Space.from_dict(space.to_dict()))
        # Start with everyone present, spread over the lobby, the stages and the booth.
        places = ["lobby", "main", "main", "side-stage"]
        for (pid, role), place in zip(ROLES.items(), spread, strict=False):
            self.event.add_participant(pid, pid.upper(), role, 0.0)
            self.expected_participants.add(pid)
            self.event.move_participant(None, pid, places[place], 0.0)

    # ------------------------------------------------------------ helpers

    def tick_clock(self, step: float = 1.0) -> float:
        self.now += step
        return self.now

    def raised_hands(self) -> list[str]:
        return [pid for queue in self.event.hand_queues.values() for pid in queue.participant_ids()]

    def pick_pid(self, index: int) -> str:
        """Mostly someone present, now and then someone unknown."""
        candidates = [*self.event.participants, "ghost"]
        return candidates[index % len(candidates)]

    def pick_space(self, index: int) -> str:
        # Rooms of an open round are listed twice so that rounds fill up often.
        current = self.event.current_round()
        rooms = current.room_ids if current else []
        candidates = [*self.event.spaces, *rooms, "nowhere"]
        return candidates[index % len(candidates)]

    def pick_stage(self, index: int) -> str:
        candidates = [*self.event.stage_ids(), "booth", "nowhere"]
        return candidates[index % len(candidates)]

    def snapshot(self) -> Snapshot:
        event = self.event
        current = event.current_round()
        return Snapshot(
            data=event.to_dict(),
            where={pid: p.space_id for pid, p in event.participants.items()},
            queues={sid: q.participant_ids() for sid, q in event.hand_queues.items()},
            slots={sid: (tuple(s.occupants), tuple(s.speakers)) for sid, s in event.slots.items()},
            spaces=list(event.spaces),
            version=event.version,
            round_rooms={r: event.member_ids(r) for r in current.room_ids} if current else {},
            origin=dict(current.origin) if current else {},
            home=current.home_space_id if current else None,
        )

    def run(
        self, command: str, target: str | None, action: Any, *, own_hand: bool = False
    ) -> list[Change] | None:
        """Run one command and check the step. ``own_hand``: the command may take the
        target's hand down (lower_hand, dismiss, promote, set_speaker)."""
        before = self.snapshot()
        self.last_error = None
        try:
            changes: list[Change] = action()
        except ModelError as error:
            assert error.message
            assert self.event.to_dict() == before.data, f"{command} failed but changed state"
            self.last_error = error
            return None
        self.check_step(command, target, before, changes, own_hand)
        return changes

    def check_step(
        self,
        command: str,
        target: str | None,
        before: Snapshot,
        changes: list[Change],
        own_hand: bool,
    ) -> None:
        event = self.event
        after = self.snapshot()
        # Version: +1 for a change, unchanged for a no-op; a mute request changes nothing.
        if command == "request_mute":
            assert after.data == before.data
        elif changes:
            assert after.version == before.version + 1
        else:
            assert after.data == before.data, f"{command} returned no changes but changed state"

        # Every move is reported, and only real moves.
        stayed = before.where.keys() & after.where.keys()
        moved = {pid for pid in stayed if before.where[pid] != after.where[pid]}
        reported = {c.pid for c in changes if isinstance(c, Moved) and c.from_space is not None}
        assert moved == reported, (command, moved, reported)
        added = after.where.keys() - before.where.keys()
        removed = before.where.keys() - after.where.keys()
        assert added == {c.pid for c in changes if isinstance(c, ParticipantAdded)}
        assert removed == {c.pid for c in changes if isinstance(c, ParticipantRemoved)}
        if command != "add_participant":
            assert not added
        if command != "remove_participant":
            assert not removed

        # Spaces come and go only with a record.
        assert set(after.spaces) - set(before.spaces) == {
            c.space_id for c in changes if isinstance(c, SpaceAdded)
        }
        assert set(before.spaces) - set(after.spaces) == {
            c.space_id for c in changes if isinstance(c, SpaceRemoved)
        }

        # Hand queues: first come, first served, and nobody loses their place.
        for stage_id in before.queues.keys() & after.queues.keys():
            old, new = before.queues[stage_id], after.queues[stage_id]
            kept = [pid for pid in old if pid in new]
            appended = new[len(kept) :]
            assert new[: len(kept)] == kept, f"{command} reordered the queue of {stage_id}"
            if command == "raise_hand":
                assert appended in ([], [target])
            else:
                assert appended == []
            for pid in set(old) - set(new):
                left_stage = after.where.get(pid) != stage_id
                assert left_stage or (own_hand and pid == target), (
                    f"{command} dropped {pid}'s hand on {stage_id}"
                )
            reported_queue = HandQueueChanged(stage_id) in changes
            assert reported_queue == (old != new), (command, stage_id, old, new)
        for stage_id in before.slots.keys() & after.slots.keys():
            changed = before.slots[stage_id] != after.slots[stage_id]
            assert (SlotsChanged(stage_id) in changes) == changed, (command, stage_id)

        # Closing a round brings everyone back and removes the rooms.
        closed = [c for c in changes if isinstance(c, RoundClosed)]
        if closed:
            assert before.home is not None
            for room_id, members in before.round_rooms.items():
                assert room_id not in event.spaces
                for pid in members:
                    origin = before.origin[pid]
                    expected = origin if origin in event.spaces else before.home
                    assert after.where[pid] == expected, (pid, origin, after.where[pid])
            in_rooms = {pid for members in before.round_rooms.values() for pid in members}
            assert moved == in_rooms
        elif command == "tick":
            assert not changes

    # ------------------------------------------------------------ participants and moves

    @rule(who=picks)
    def add_participant(self, who: int) -> None:
        # Mostly someone who is not here (yet or any more), sometimes a duplicate.
        absent = [pid for pid in PIDS if pid not in self.event.participants]
        candidates = absent + list(self.event.participants)[:1]
        pid = candidates[who % len(candidates)]
        role = ROLES.get(pid, "attendee")
        changes = self.run(
            "add_participant",
            pid,
            lambda: self.event.add_participant(pid, pid.upper(), role, self.tick_clock()),
        )
        if changes is not None:
            self.expected_participants.add(pid)

    @rule(who=picks)
    def remove_participant(self, who: int) -> None:
        pid = self.pick_pid(who)
        changes = self.run(
            "remove_participant",
            pid,
            lambda: self.event.remove_participant(pid, self.tick_clock()),
        )
        if changes is not None:
            self.expected_participants.discard(pid)

    @rule(who=picks, index=picks)
    def join(self, who: int, index: int) -> None:
        pid = self.pick_pid(who)
        space_id = self.pick_space(index)
        space = self.event.spaces.get(space_id)
        count_before = self.event.count(space_id) if space else 0
        participant = self.event.participants.get(pid)
        changes = self.run("join", pid, lambda: self.event.join(pid, space_id, self.tick_clock()))
        if isinstance(self.last_error, SpaceFull):
            assert space is not None and space.capacity is not None
            assert participant is not None and not participant.is_staff
            assert count_before >= space.capacity
        # A non-staff join never overfills a space.
        if changes and space is not None and space.capacity is not None:
            assert participant is not None
            if not participant.is_staff:
                assert self.event.count(space_id) <= space.capacity

    @rule(who=picks)
    def leave(self, who: int) -> None:
        pid = self.pick_pid(who)
        self.run("leave", pid, lambda: self.event.leave(pid, self.tick_clock()))

    @rule(actor=actors, who=picks, index=picks)
    def move_participant(self, actor: str | None, who: int, index: int) -> None:
        pid = self.pick_pid(who)
        space_id = self.pick_space(index)
        self.run(
            "move_participant",
            pid,
            lambda: self.event.move_participant(actor, pid, space_id, self.tick_clock()),
        )

    @rule(name=st.sampled_from(sorted(OPTIONAL_SPACES)))
    def remove_space(self, name: str) -> None:
        self.run("remove_space", None, lambda: self.event.remove_space(name, self.tick_clock()))

    @rule(name=st.sampled_from(sorted(OPTIONAL_SPACES)))
    def add_space(self, name: str) -> None:
        space = Space.from_dict(OPTIONAL_SPACES[name].to_dict())
        self.run("add_space", None, lambda: self.event.add_space(space))

    @rule(who=picks, kind=st.sampled_from(["audio", "video"]), muted=st.booleans())
    def set_muted(self, who: int, kind: Any, muted: bool) -> None:
        pid = self.pick_pid(who)
        self.run(
            "set_muted", pid, lambda: self.event.set_muted(pid, kind, muted, self.tick_clock())
        )

    @rule(actor=actors, who=picks)
    def request_mute(self, actor: str | None, who: int) -> None:
        pid = self.pick_pid(who)
        self.run(
            "request_mute",
            pid,
            lambda: self.event.request_mute(actor, pid, "audio", self.tick_clock()),
        )

    # ------------------------------------------------------------ hands and slots

    @rule(who=picks)
    def raise_hand(self, who: int) -> None:
        pid = self.pick_pid(who)
        self.run("raise_hand", pid, lambda: self.event.raise_hand(pid, self.tick_clock()))

    @rule(who=picks)
    def lower_hand(self, who: int) -> None:
        pid = self.pick_pid(who)
        self.run(
            "lower_hand",
            pid,
            lambda: self.event.lower_hand(pid, self.tick_clock()),
            own_hand=True,
        )

    @rule(actor=actors, who=picks)
    def dismiss(self, actor: str | None, who: int) -> None:
        pid = self.pick_pid(who)
        self.run(
            "dismiss",
            pid,
            lambda: self.event.dismiss(actor, pid, self.tick_clock()),
            own_hand=True,
        )

    @rule(actor=actors, who=picks, slot=st.none() | st.integers(min_value=-1, max_value=2))
    def promote(self, actor: str | None, who: int, slot: int | None) -> None:
        pid = self.pick_pid(who)
        self.run(
            "promote",
            pid,
            lambda: self.event.promote(actor, pid, self.tick_clock(), slot=slot),
            own_hand=True,
        )

    @rule(actor=actors, index=picks)
    def dismiss_a_raised_hand(self, actor: str | None, index: int) -> None:
        raised = [
            pid for queue in self.event.hand_queues.values() for pid in queue.participant_ids()
        ]
        if not raised:
            return
        pid = raised[index % len(raised)]
        self.run(
            "dismiss", pid, lambda: self.event.dismiss(actor, pid, self.tick_clock()), own_hand=True
        )

    @rule(index=picks)
    def raise_hand_on_a_stage(self, index: int) -> None:
        audience = [
            pid
            for stage_id in self.event.stage_ids()
            for pid in self.event.member_ids(stage_id)
            if pid not in self.event.hand_queues[stage_id]
        ]
        if not audience:
            return
        pid = audience[index % len(audience)]
        self.run("raise_hand", pid, lambda: self.event.raise_hand(pid, self.tick_clock()))

    @rule(actor=actors, index=picks, slot=st.none() | st.integers(min_value=0, max_value=1))
    def promote_a_raised_hand(self, actor: str | None, index: int, slot: int | None) -> None:
        raised = [
            pid for queue in self.event.hand_queues.values() for pid in queue.participant_ids()
        ]
        if not raised:
            return
        pid = raised[index % len(raised)]
        self.run(
            "promote",
            pid,
            lambda: self.event.promote(actor, pid, self.tick_clock(), slot=slot),
            own_hand=True,
        )

    @rule(actor=actors)
    def promote_first_in_line(self, actor: str | None) -> None:
        queue = self.event.hand_queues["main"]
        first = queue.first()
        if first is None:
            return
        rest = queue.participant_ids()[1:]
        changes = self.run(
            "promote",
            first.participant_id,
            lambda: self.event.promote(actor, first.participant_id, self.tick_clock()),
            own_hand=True,
        )
        if changes:
            assert queue.participant_ids() == rest
            assert [queue.position(pid) for pid in rest] == list(range(1, len(rest) + 1))

    @rule(actor=actors, who=picks)
    def demote(self, actor: str | None, who: int) -> None:
        pid = self.pick_pid(who)
        self.run("demote", pid, lambda: self.event.demote(actor, pid, self.tick_clock()))

    @rule(
        actor=actors,
        index=picks,
        a=st.integers(min_value=-1, max_value=2),
        b=st.integers(min_value=0, max_value=2),
    )
    def swap_slots(self, actor: str | None, index: int, a: int, b: int) -> None:
        stage_id = self.pick_stage(index)
        self.run(
            "swap_slots",
            None,
            lambda: self.event.swap_slots(actor, stage_id, a, b, self.tick_clock()),
        )

    @rule(actor=actors, who=picks, on=st.booleans())
    def set_speaker(self, actor: str | None, who: int, on: bool) -> None:
        pid = self.pick_pid(who)
        self.run(
            "set_speaker",
            pid,
            lambda: self.event.set_speaker(actor, pid, on, self.tick_clock()),
            own_hand=True,
        )

    # ------------------------------------------------------------ rounds

    @rule(
        actor=actors,
        mode=st.sampled_from(["random", "choice", "manual"]),
        room_count=st.sampled_from([1, 2, 2, 3, 3, 0]),
        room_capacity=st.sampled_from([None, None, 2, 3, 1]),
        home=st.sampled_from([None, None, "main", "booth", "lobby", "side-stage", "nowhere"]),
        duration=st.sampled_from([5.0, 30.0]),
        seed=st.integers(min_value=0, max_value=2**16),
    )
    def open_round(
        self,
        actor: str | None,
        mode: Any,
        room_count: int,
        room_capacity: int | None,
        home: str | None,
        duration: float,
        seed: int,
    ) -> None:
        self.run(
            "open_round",
            None,
            lambda: self.event.open_round(
                actor,
                self.tick_clock(),
                room_count=room_count,
                duration_s=duration,
                mode=mode,
                home_space_id=home,
                room_capacity=room_capacity,
                rng=random.Random(seed),
            ),
        )

    @rule(actor=actors, who=picks, index=picks)
    def assign(self, actor: str | None, who: int, index: int) -> None:
        pid = self.pick_pid(who)
        current = self.event.current_round()
        round_id = current.id if current else "round-1"
        rooms = current.room_ids if current else ["round-1-room-1"]
        room_id = [*rooms, "main"][index % (len(rooms) + 1)]
        self.run(
            "assign",
            pid,
            lambda: self.event.assign(actor, round_id, pid, room_id, self.tick_clock()),
        )

    @rule(actor=actors, text=st.sampled_from(["Two minutes left", "", "Wrap up"]))
    def broadcast(self, actor: str | None, text: str) -> None:
        current = self.event.current_round()
        round_id = current.id if current else "round-1"
        self.run(
            "broadcast",
            None,
            lambda: self.event.broadcast(actor, round_id, text, self.tick_clock()),
        )

    @rule(actor=actors)
    def close_round(self, actor: str | None) -> None:
        current = self.event.current_round()
        round_id = current.id if current else "round-1"
        self.run(
            "close_round",
            None,
            lambda: self.event.close_round(actor, round_id, self.tick_clock()),
        )

    @rule(step=st.sampled_from([1.0, 10.0, 40.0]))
    def tick(self, step: float) -> None:
        self.run("tick", None, lambda: self.event.tick(self.tick_clock(step)))

    @rule()
    def round_trip(self) -> None:
        restored = Event.from_dict(self.event.to_dict())
        assert restored == self.event
        for space_id in self.event.spaces:
            assert restored.member_ids(space_id) == self.event.member_ids(space_id)
        self.event = restored

    # ------------------------------------------------------------ invariants

    @invariant()
    def model_invariants_hold(self) -> None:
        assert self.event.check_invariants() == []

    @invariant()
    def nobody_is_lost(self) -> None:
        assert set(self.event.participants) == self.expected_participants
        counts = self.event.counts()
        assert sum(counts.values()) == len(self.event.participants)
        for participant in self.event.participants.values():
            assert participant.space_id in self.event.spaces
            homes = [
                sid for sid in self.event.spaces if participant.id in self.event.member_ids(sid)
            ]
            assert homes == [participant.space_id]

    @invariant()
    def slots_within_capacity(self) -> None:
        holders: list[str] = []
        for stage_id, slots in self.event.slots.items():
            space = self.event.spaces[stage_id]
            assert len(slots.occupants) == space.qa_slots
            assert len(slots.speakers) <= space.speaker_seats
            holders.extend(slots.holders())
            for pid in slots.holders():
                assert self.event.participants[pid].space_id == stage_id
        assert len(holders) == len(set(holders))

    @invariant()
    def positions_follow_the_queue(self) -> None:
        for queue in self.event.hand_queues.values():
            ids = queue.participant_ids()
            assert [queue.position(pid) for pid in ids] == list(range(1, len(ids) + 1))
            for pid in ids:
                assert self.event.hand_position(pid) == queue.position(pid)

    @invariant()
    def staff_roles_are_the_ones_with_rights(self) -> None:
        for participant in self.event.participants.values():
            assert participant.is_staff == (participant.role in STAFF_ROLES)


EventMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEventMachine = EventMachine.TestCase


# ---------------------------------------------------------------- stand-alone properties


@given(
    st.lists(
        st.tuples(st.sampled_from(["raise", "lower"]), st.sampled_from("abcdefgh")),
        max_size=60,
    )
)
@settings(max_examples=200, deadline=None)
def test_hand_queue_matches_a_plain_list(ops: list[tuple[str, str]]) -> None:
    queue = HandQueue()
    reference: list[str] = []
    for step, (op, pid) in enumerate(ops):
        if op == "raise":
            added = queue.raise_(pid, float(step))
            assert added == (pid not in reference)
            if added:
                reference.append(pid)
        else:
            assert queue.lower(pid) == (pid in reference)
            if pid in reference:
                reference.remove(pid)
        assert queue.participant_ids() == reference
        for index, member in enumerate(reference, start=1):
            assert queue.position(member) == index
    assert len(queue) == len(reference)


@given(
    st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=40),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=150, deadline=None)
def test_random_spread_is_even(pids: list[str], room_count: int, seed: int) -> None:
    rooms = [f"r{i}" for i in range(room_count)]
    plan = spread_randomly(pids, rooms, random.Random(seed))
    assert set(plan) == set(pids)
    sizes = [list(plan.values()).count(room) for room in rooms]
    assert max(sizes) - min(sizes) <= 1
    assert sum(sizes) == len(pids)
