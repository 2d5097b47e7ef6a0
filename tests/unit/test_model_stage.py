"""Unit tests for the stage: hand queue, Q&A slots and speaker seats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from signaling.model import (
    Conflict,
    Event,
    Forbidden,
    HandQueueChanged,
    InvalidAction,
    ModelError,
    NotFound,
    SlotsChanged,
    Space,
    SpaceFull,
)


def make_event() -> Event:
    """A stage with 2 Q&A slots and 1 speaker seat; everyone but ``out`` is on it."""
    event = Event.create("ev", "Test summit")
    event.add_space(Space("stage", "stage", "Stage", capacity=50, speaker_seats=1, qa_slots=2))
    event.add_space(Space("stage2", "stage", "Second stage", speaker_seats=1, qa_slots=1))
    event.add_space(Space("booth", "booth", "Booth", capacity=5))
    people = [("mod", "moderator"), ("a", "attendee"), ("b", "attendee"), ("c", "attendee")]
    people += [("d", "attendee"), ("out", "attendee")]
    for pid, role in people:
        event.add_participant(pid, pid.upper(), role, 0.0)  # type: ignore[arg-type]
        if pid != "out":
            event.join(pid, "stage", 0.0)
    return event


@contextmanager
def unchanged(event: Event, error: type[ModelError]) -> Iterator[None]:
    before = event.to_dict()
    with pytest.raises(error) as info:
        yield
    assert info.value.message
    assert event.to_dict() == before


def queue_ids(event: Event, stage_id: str = "stage") -> list[str]:
    return event.hand_queues[stage_id].participant_ids()


# ---------------------------------------------------------------- raise and lower


def test_raise_hand_appends_to_the_queue() -> None:
    event = make_event()
    version = event.version
    assert event.raise_hand("a", 1.0) == [HandQueueChanged("stage")]
    assert event.raise_hand("b", 2.0) == [HandQueueChanged("stage")]
    assert event.version == version + 2
    assert queue_ids(event) == ["a", "b"]
    assert event.hand_position("a") == 1
    assert event.hand_position("b") == 2
    assert event.hand_position("c") is None
    assert event.hand_position("out") is None
    assert event.hand_position("ghost") is None


def test_raise_hand_twice_keeps_the_original_place() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    event.raise_hand("b", 2.0)
    version = event.version
    assert event.raise_hand("a", 3.0) == []
    assert event.version == version
    assert queue_ids(event) == ["a", "b"]
    assert event.hand_queues["stage"].entries()[0].raised_at == 1.0


def test_raise_hand_errors() -> None:
    event = make_event()
    with unchanged(event, InvalidAction):
        event.raise_hand("out", 1.0)
    with unchanged(event, NotFound):
        event.raise_hand("ghost", 1.0)
    with unchanged(event, InvalidAction):
        event.raise_hand("a", float("-inf"))
    event.promote("mod", "a", 1.0)
    with unchanged(event, Conflict):
        event.raise_hand("a", 2.0)


def test_lower_hand_removes_only_that_entry() -> None:
    event = make_event()
    for index, pid in enumerate("abcd"):
        event.raise_hand(pid, float(index))
    assert event.lower_hand("b", 5.0) == [HandQueueChanged("stage")]
    assert queue_ids(event) == ["a", "c", "d"]
    assert event.hand_position("c") == 2
    assert event.lower_hand("b", 6.0) == []
    assert event.lower_hand("out", 6.0) == []
    with unchanged(event, NotFound):
        event.lower_hand("ghost", 6.0)


def test_queues_are_per_stage() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    event.join("b", "stage2", 1.0)
    event.raise_hand("b", 2.0)
    assert queue_ids(event) == ["a"]
    assert queue_ids(event, "stage2") == ["b"]
    assert event.hand_position("b") == 1


# ---------------------------------------------------------------- dismiss


def test_dismiss() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    event.raise_hand("b", 2.0)
    assert event.dismiss("mod", "a", 3.0) == [HandQueueChanged("stage")]
    assert queue_ids(event) == ["b"]
    assert event.hand_position("b") == 1


def test_dismiss_errors() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    with unchanged(event, Forbidden):
        event.dismiss("b", "a", 2.0)
    with unchanged(event, InvalidAction):
        event.dismiss("mod", "b", 2.0)
    with unchanged(event, InvalidAction):
        event.dismiss("mod", "out", 2.0)
    with unchanged(event, NotFound):
        event.dismiss("mod", "ghost", 2.0)


# ---------------------------------------------------------------- promote and demote


def test_promote_takes_first_in_line_into_first_free_slot() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    event.raise_hand("b", 2.0)
    event.raise_hand("c", 3.0)
    version = event.version
    changes = event.promote("mod", "b", 4.0)
    assert changes == [HandQueueChanged("stage"), SlotsChanged("stage")]
    assert event.version == version + 1
    assert event.slots["stage"].occupants == ["b", None]
    assert event.slot_of("b") == 0
    assert queue_ids(event) == ["a", "c"]
    assert event.hand_position("c") == 2
    event.promote("mod", "a", 5.0)
    assert event.slots["stage"].occupants == ["b", "a"]
    assert queue_ids(event) == ["c"]


def test_promote_without_a_raised_hand_and_into_a_given_slot() -> None:
    event = make_event()
    assert event.promote(None, "d", 1.0, slot=1) == [SlotsChanged("stage")]
    assert event.slots["stage"].occupants == [None, "d"]
    assert event.promote("mod", "d", 1.0) == []
    assert event.promote("mod", "d", 1.0, slot=1) == []


def test_promote_when_full_leaves_the_queue_untouched() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    event.promote("mod", "b", 1.0)
    event.raise_hand("c", 2.0)
    event.raise_hand("d", 3.0)
    with unchanged(event, SpaceFull):
        event.promote("mod", "c", 4.0)
    assert queue_ids(event) == ["c", "d"]


def test_promote_errors() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0, slot=0)
    event.raise_hand("b", 2.0)
    with unchanged(event, Forbidden):
        event.promote("c", "b", 3.0)
    with unchanged(event, NotFound):
        event.promote("mod", "ghost", 3.0)
    with unchanged(event, InvalidAction):
        event.promote("mod", "out", 3.0)
    with unchanged(event, InvalidAction):
        event.promote("mod", "b", 3.0, slot=2)
    with unchanged(event, InvalidAction):
        event.promote("mod", "b", 3.0, slot=-1)
    with unchanged(event, Conflict):
        event.promote("mod", "b", 3.0, slot=0)
    with unchanged(event, Conflict):
        event.promote("mod", "a", 3.0, slot=1)
    event.set_speaker("mod", "c", True, 3.0)
    with unchanged(event, Conflict):
        event.promote("mod", "c", 3.0)


def test_promote_on_a_stage_without_slots() -> None:
    event = Event.create("ev", "T")
    event.add_space(Space("s", "stage", "Keynote only"))
    event.add_participant("a", "A", "attendee", 0.0)
    event.join("a", "s", 0.0)
    with unchanged(event, SpaceFull):
        event.promote(None, "a", 1.0)
    with unchanged(event, InvalidAction):
        event.promote(None, "a", 1.0, slot=0)


def test_demote() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    assert event.demote("mod", "a", 2.0) == [SlotsChanged("stage")]
    assert event.slots["stage"].occupants == [None, None]
    assert event.participants["a"].space_id == "stage"
    assert event.hand_position("a") is None


def test_demote_errors() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    with unchanged(event, Forbidden):
        event.demote("a", "a", 2.0)
    with unchanged(event, InvalidAction):
        event.demote("mod", "b", 2.0)
    with unchanged(event, InvalidAction):
        event.demote("mod", "out", 2.0)
    with unchanged(event, NotFound):
        event.demote("mod", "ghost", 2.0)
    event.set_speaker("mod", "c", True, 2.0)
    with unchanged(event, InvalidAction):
        event.demote("mod", "c", 2.0)


# ---------------------------------------------------------------- swap


def test_swap_slots() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    assert event.swap_slots("mod", "stage", 0, 1, 2.0) == [SlotsChanged("stage")]
    assert event.slots["stage"].occupants == [None, "a"]
    event.promote("mod", "b", 3.0)
    event.swap_slots("mod", "stage", 1, 0, 4.0)
    assert event.slots["stage"].occupants == ["a", "b"]
    assert event.swap_slots("mod", "stage", 1, 1, 5.0) == []


def test_swap_of_two_empty_slots_is_a_no_op() -> None:
    event = make_event()
    version = event.version
    assert event.swap_slots("mod", "stage", 0, 1, 1.0) == []
    assert event.version == version


def test_swap_slots_errors() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    with unchanged(event, Forbidden):
        event.swap_slots("b", "stage", 0, 1, 2.0)
    with unchanged(event, NotFound):
        event.swap_slots("mod", "nowhere", 0, 1, 2.0)
    with unchanged(event, InvalidAction):
        event.swap_slots("mod", "booth", 0, 1, 2.0)
    with unchanged(event, InvalidAction):
        event.swap_slots("mod", "stage", 0, 2, 2.0)
    with unchanged(event, InvalidAction):
        event.swap_slots("mod", "stage", "0", 1, 2.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- speaker seats


def test_set_speaker_on_and_off() -> None:
    event = make_event()
    event.raise_hand("a", 1.0)
    assert event.set_speaker("mod", "a", True, 2.0) == [
        HandQueueChanged("stage"),
        SlotsChanged("stage"),
    ]
    assert event.is_speaker("a")
    assert event.hand_position("a") is None
    assert event.set_speaker("mod", "a", True, 2.0) == []
    assert event.set_speaker("mod", "a", False, 3.0) == [SlotsChanged("stage")]
    assert not event.is_speaker("a")
    assert event.set_speaker("mod", "a", False, 3.0) == []


def test_set_speaker_moves_from_q_and_a_slot_to_seat() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    assert event.set_speaker("mod", "a", True, 2.0) == [SlotsChanged("stage")]
    assert event.slots["stage"].occupants == [None, None]
    assert event.slots["stage"].speakers == ["a"]


def test_set_speaker_errors() -> None:
    event = make_event()
    event.set_speaker("mod", "a", True, 1.0)
    event.promote("mod", "b", 1.0)
    with unchanged(event, SpaceFull):
        event.set_speaker("mod", "b", True, 2.0)
    with unchanged(event, Forbidden):
        event.set_speaker("c", "c", True, 2.0)
    with unchanged(event, InvalidAction):
        event.set_speaker("mod", "out", True, 2.0)
    with unchanged(event, InvalidAction):
        event.set_speaker("mod", "c", "yes", 2.0)  # type: ignore[arg-type]
    with unchanged(event, NotFound):
        event.set_speaker("mod", "ghost", True, 2.0)


def test_nobody_holds_two_places_across_stages() -> None:
    event = make_event()
    event.promote("mod", "a", 1.0)
    changes = event.join("a", "stage2", 2.0)
    assert SlotsChanged("stage") in changes
    event.promote("mod", "a", 3.0)
    assert event.slots["stage"].occupants == [None, None]
    assert event.slots["stage2"].occupants == ["a"]
    assert event.check_invariants() == []
