"""Unit tests for discussion rounds: open, assign, broadcast, close, tick."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from signaling.model import (
    LOBBY_ID,
    BroadcastSent,
    Conflict,
    Event,
    Forbidden,
    HandQueueChanged,
    InvalidAction,
    ModelError,
    Moved,
    NotFound,
    RoundChanged,
    RoundClosed,
    RoundOpened,
    RoundTemplate,
    SlotsChanged,
    Space,
    SpaceAdded,
    SpaceFull,
    SpaceRemoved,
)


def make_event(attendees: int = 10) -> Event:
    """A stage with ``attendees`` attendees (a0, a1, ...), a moderator and a speaker on it."""
    event = Event.create("ev", "Test summit")
    event.add_space(Space("stage", "stage", "Stage", speaker_seats=2, qa_slots=2))
    event.add_space(Space("booth", "booth", "Booth", capacity=2))
    event.add_template(
        RoundTemplate("disc", "Discussion round", 3, 600.0, 4, ["Red", "Green", "Blue"])
    )
    event.add_participant("mod", "Mo", "moderator", 0.0)
    event.add_participant("spk", "Speaker", "speaker", 0.0)
    event.join("mod", "stage", 0.0)
    event.join("spk", "stage", 0.0)
    for index in range(attendees):
        pid = f"a{index}"
        event.add_participant(pid, pid.upper(), "attendee", 0.0)
        event.join(pid, "stage", 0.0)
    return event


@contextmanager
def unchanged(event: Event, error: type[ModelError]) -> Iterator[None]:
    before = event.to_dict()
    with pytest.raises(error) as info:
        yield
    assert info.value.message
    assert event.to_dict() == before


# ---------------------------------------------------------------- open_round


def test_open_random_round_from_template() -> None:
    event = make_event(10)
    version = event.version
    changes = event.open_round("mod", 100.0, template_id="disc", rng=random.Random(1))
    assert event.version == version + 1
    rooms = ["round-1-room-1", "round-1-room-2", "round-1-room-3"]
    assert changes[:4] == [*(SpaceAdded(r) for r in rooms), RoundOpened("round-1")]
    round_ = event.current_round()
    assert round_ is not None
    assert round_.id == "round-1"
    assert round_.title == "Discussion round"
    assert round_.room_ids == rooms
    assert round_.mode == "random"
    assert round_.home_space_id == "stage"
    assert round_.opened_at == 100.0
    assert round_.deadline == 700.0
    assert round_.remaining_s(400.0) == 300.0
    assert round_.remaining_s(800.0) == 0.0
    assert [event.spaces[r].title for r in rooms] == ["Red", "Green", "Blue"]
    assert all(event.spaces[r].capacity == 4 for r in rooms)
    assert all(event.spaces[r].round_id == "round-1" for r in rooms)
    assert all(event.round_of_space(r) is round_ for r in rooms)
    # Eleven non-staff (ten attendees and the speaker) dealt evenly; the moderator stays.
    assert sorted(event.count(r) for r in rooms) == [3, 4, 4]
    assert event.member_ids("stage") == ["mod"]
    assert event.slots["stage"].speakers == []
    moved = [c for c in changes if isinstance(c, Moved)]
    assert len(moved) == 11
    assert all(c.reason == "round_open" and c.by == "mod" for c in moved)
    assert SlotsChanged("stage") in changes
    assert RoundChanged("round-1") not in changes
    assert set(round_.origin) == {m.pid for m in moved}
    assert set(round_.origin.values()) == {"stage"}
    assert round_.assignments == {m.pid: m.to_space for m in moved}
    assert event.check_invariants() == []


def test_random_round_lowers_hands_of_the_home_stage() -> None:
    event = make_event(3)
    event.raise_hand("a0", 1.0)
    changes = event.open_round(None, 2.0, template_id="disc")
    assert HandQueueChanged("stage") in changes
    assert len(event.hand_queues["stage"]) == 0


def test_random_assignment_is_reproducible() -> None:
    first, second = make_event(10), make_event(10)
    first.open_round("mod", 1.0, template_id="disc")
    second.open_round("mod", 1.0, template_id="disc")
    first_round, second_round = first.current_round(), second.current_round()
    assert first_round is not None and second_round is not None
    assert first_round.assignments == second_round.assignments


def test_random_round_that_does_not_fit() -> None:
    event = make_event(12)
    with unchanged(event, SpaceFull):
        event.open_round("mod", 1.0, template_id="disc")
    event.open_round("mod", 1.0, template_id="disc", room_capacity=5)
    assert event.current_round() is not None


def test_explicit_values_override_the_template() -> None:
    event = make_event(2)
    event.open_round(
        "mod", 0.0, template_id="disc", room_count=4, duration_s=60, title="Quick chat"
    )
    round_ = event.current_round()
    assert round_ is not None
    assert round_.title == "Quick chat"
    assert len(round_.room_ids) == 4
    assert round_.deadline == 60.0
    # Template room titles are used as far as they go.
    titles = [event.spaces[room_id].title for room_id in round_.room_ids]
    assert titles == ["Red", "Green", "Blue", "Room 4"]


def test_open_round_without_template_and_numbering() -> None:
    event = make_event(0)
    event.open_round("mod", 0.0, room_count=2, duration_s=30.0, mode="choice")
    round_ = event.current_round()
    assert round_ is not None
    assert round_.title == "Discussion round 1"
    assert round_.assignments == {} and round_.origin == {}
    assert event.spaces["round-1-room-2"].capacity is None
    event.close_round("mod", "round-1", 10.0)
    event.open_round("mod", 20.0, room_count=1, duration_s=30.0, mode="manual", round_id="r")
    assert event.current_round() is event.rounds["r"]
    assert "r-room-1" in event.spaces


def test_open_round_with_explicit_home_space() -> None:
    event = make_event(0)
    event.add_participant("x", "X", "attendee", 0.0)
    event.join("x", "booth", 0.0)
    event.open_round("mod", 0.0, room_count=1, duration_s=30.0, home_space_id="booth")
    assert event.participants["x"].space_id == "round-1-room-1"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"template_id": "nope"}, NotFound),
        ({"duration_s": 60.0}, InvalidAction),
        ({"room_count": 2}, InvalidAction),
        ({"room_count": 0, "duration_s": 60.0}, InvalidAction),
        ({"room_count": 201, "duration_s": 60.0}, InvalidAction),
        ({"room_count": 2, "duration_s": -1.0}, InvalidAction),
        ({"room_count": 2, "duration_s": 60.0, "mode": "lottery"}, InvalidAction),
        ({"room_count": 2, "duration_s": 60.0, "room_capacity": 0}, InvalidAction),
        ({"room_count": 2, "duration_s": 60.0, "title": " "}, InvalidAction),
        ({"room_count": 2, "duration_s": 60.0, "home_space_id": "nowhere"}, NotFound),
    ],
)
def test_open_round_argument_errors(kwargs: dict[str, object], error: type[ModelError]) -> None:
    event = make_event(2)
    with unchanged(event, error):
        event.open_round("mod", 0.0, **kwargs)  # type: ignore[arg-type]


def test_open_round_state_errors() -> None:
    event = make_event(2)
    with unchanged(event, Forbidden):
        event.open_round("a0", 0.0, template_id="disc")
    with unchanged(event, Forbidden):
        event.open_round("spk", 0.0, template_id="disc")
    event.add_space(Space("round-1-room-1", "breakout", "Squatter"))
    with unchanged(event, Conflict):
        event.open_round("mod", 0.0, template_id="disc", round_id="round-1")
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    assert event.current_round() is not None
    assert event.current_round().id == "round-2"  # type: ignore[union-attr]
    with unchanged(event, Conflict):
        event.open_round("mod", 0.0, template_id="disc")
    event.close_round("mod", "round-2", 1.0)
    with unchanged(event, Conflict):
        event.open_round("mod", 0.0, template_id="disc", round_id="round-2")


def test_open_round_needs_a_stage_or_home_space() -> None:
    event = Event.create("ev", "T")
    with unchanged(event, InvalidAction):
        event.open_round(None, 0.0, room_count=1, duration_s=10.0)


# ---------------------------------------------------------------- joining rooms


def test_choice_round_lets_participants_pick_a_room() -> None:
    event = make_event(6)
    event.open_round("mod", 0.0, template_id="disc", mode="choice")
    assert event.member_ids("stage") == ["mod", "spk", *(f"a{i}" for i in range(6))]
    changes = event.join("a0", "round-1-room-2", 1.0)
    assert changes == [Moved("a0", "stage", "round-1-room-2"), RoundChanged("round-1")]
    round_ = event.rounds["round-1"]
    assert round_.origin == {"a0": "stage"}
    assert round_.assignments == {"a0": "round-1-room-2"}
    event.join("a0", "round-1-room-3", 2.0)
    assert round_.origin == {"a0": "stage"}
    assert round_.assignments == {"a0": "round-1-room-3"}
    for pid in ("a1", "a2", "a3"):
        event.join(pid, "round-1-room-3", 3.0)
    with unchanged(event, SpaceFull):
        event.join("a4", "round-1-room-3", 3.0)
    event.join("mod", "round-1-room-3", 3.0)
    assert "mod" not in round_.assignments
    assert round_.origin["mod"] == "stage"


def test_manual_round_rooms_admit_only_assigned_people() -> None:
    event = make_event(3)
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    with unchanged(event, Forbidden):
        event.join("a0", "round-1-room-1", 1.0)
    changes = event.assign("mod", "round-1", "a0", "round-1-room-1", 2.0)
    assert changes == [
        Moved("a0", "stage", "round-1-room-1", by="mod", reason="assign"),
        RoundChanged("round-1"),
    ]
    with unchanged(event, Forbidden):
        event.join("a0", "round-1-room-2", 3.0)
    # An assigned participant may step out and come back.
    event.join("a0", "booth", 4.0)
    assert "a0" not in event.rounds["round-1"].origin
    event.join("a0", "round-1-room-1", 5.0)
    assert event.rounds["round-1"].origin["a0"] == "booth"
    # Staff may enter any room without being assigned.
    event.join("mod", "round-1-room-2", 6.0)


def test_assign_moves_rooms_and_keeps_origin() -> None:
    event = make_event(3)
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    event.assign("mod", "round-1", "a0", "round-1-room-1", 1.0)
    event.assign(None, "round-1", "a0", "round-1-room-2", 2.0)
    round_ = event.rounds["round-1"]
    assert round_.assignments == {"a0": "round-1-room-2"}
    assert round_.origin == {"a0": "stage"}
    assert event.assign("mod", "round-1", "a0", "round-1-room-2", 3.0) == []


def test_assign_ignores_room_capacity() -> None:
    event = make_event(6)
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    for index in range(6):
        event.assign("mod", "round-1", f"a{index}", "round-1-room-1", 1.0)
    assert event.count("round-1-room-1") == 6


def test_assign_records_someone_already_in_the_room() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc", mode="choice")
    event.join("a0", "round-1-room-1", 1.0)
    event.rounds["round-1"].assignments.clear()
    assert event.assign("mod", "round-1", "a0", "round-1-room-1", 2.0) == [RoundChanged("round-1")]
    assert event.rounds["round-1"].assignments == {"a0": "round-1-room-1"}


def test_move_participant_into_a_room_assigns_them() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    event.move_participant("mod", "a1", "round-1-room-3", 1.0)
    assert event.rounds["round-1"].assignments == {"a1": "round-1-room-3"}
    assert event.rounds["round-1"].origin == {"a1": "stage"}


def test_assign_errors() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc", mode="manual")
    with unchanged(event, Forbidden):
        event.assign("a1", "round-1", "a0", "round-1-room-1", 1.0)
    with unchanged(event, NotFound):
        event.assign("mod", "round-9", "a0", "round-1-room-1", 1.0)
    with unchanged(event, NotFound):
        event.assign("mod", "round-1", "a0", "booth", 1.0)
    with unchanged(event, NotFound):
        event.assign("mod", "round-1", "ghost", "round-1-room-1", 1.0)
    event.close_round("mod", "round-1", 2.0)
    with unchanged(event, Conflict):
        event.assign("mod", "round-1", "a0", "round-1-room-1", 3.0)


# ---------------------------------------------------------------- broadcast


def test_broadcast() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc")
    version = event.version
    changes = event.broadcast("mod", "round-1", "  Two minutes left  ", 780.0)
    assert changes == [BroadcastSent("round-1", "Two minutes left", "mod")]
    assert event.version == version + 1
    broadcast = event.rounds["round-1"].broadcasts[0]
    assert (broadcast.text, broadcast.sent_at, broadcast.sender_id) == (
        "Two minutes left",
        780.0,
        "mod",
    )


def test_broadcast_errors() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc")
    with unchanged(event, Forbidden):
        event.broadcast("a0", "round-1", "hi", 1.0)
    with unchanged(event, NotFound):
        event.broadcast("mod", "round-2", "hi", 1.0)
    with unchanged(event, InvalidAction):
        event.broadcast("mod", "round-1", "   ", 1.0)
    with unchanged(event, InvalidAction):
        event.broadcast("mod", "round-1", "x" * 2001, 1.0)
    event.close_round("mod", "round-1", 2.0)
    with unchanged(event, Conflict):
        event.broadcast("mod", "round-1", "hi", 3.0)


# ---------------------------------------------------------------- close and tick


def test_close_round_returns_everyone_to_their_origin() -> None:
    event = make_event(4)
    event.add_participant("x", "X", "attendee", 0.0)
    event.join("x", "booth", 0.0)
    event.open_round("mod", 0.0, template_id="disc", mode="random")
    event.assign("mod", "round-1", "x", "round-1-room-1", 1.0)
    event.join("mod", "round-1-room-2", 1.0)
    counts_before = sum(event.counts().values())
    version = event.version
    changes = event.close_round("mod", "round-1", 100.0)
    assert event.version == version + 1
    moved = [c for c in changes if isinstance(c, Moved)]
    assert {c.pid for c in moved} == {"spk", "x", "mod", *(f"a{i}" for i in range(4))}
    assert all(c.reason == "round_close" and c.by == "mod" for c in moved)
    assert changes[-4:] == [
        SpaceRemoved("round-1-room-1"),
        SpaceRemoved("round-1-room-2"),
        SpaceRemoved("round-1-room-3"),
        RoundClosed("round-1"),
    ]
    assert RoundChanged("round-1") not in changes
    assert event.participants["x"].space_id == "booth"
    assert event.count("stage") == 6
    assert event.is_speaker("spk")
    assert SlotsChanged("stage") in changes
    assert sum(event.counts().values()) == counts_before
    round_ = event.rounds["round-1"]
    assert round_.closed_at == 100.0
    assert not round_.is_open
    assert round_.origin == {}
    assert event.current_round() is None
    assert not any(r in event.spaces for r in round_.room_ids)
    assert event.check_invariants() == []


def test_close_round_ignores_the_capacity_of_the_origin() -> None:
    event = make_event(0)
    for pid in ("x", "y"):
        event.add_participant(pid, pid, "attendee", 0.0)
        event.join(pid, "booth", 0.0)
    event.open_round("mod", 0.0, room_count=1, duration_s=60.0, mode="manual")
    event.assign("mod", "round-1", "x", "round-1-room-1", 1.0)
    event.add_participant("z", "Z", "attendee", 1.0)
    event.join("z", "booth", 1.0)
    event.close_round("mod", "round-1", 2.0)
    assert event.member_ids("booth") == ["y", "z", "x"]


def test_close_round_sends_people_home_when_origin_is_gone() -> None:
    event = make_event(0)
    event.add_participant("x", "X", "attendee", 0.0)
    event.join("x", "booth", 0.0)
    event.open_round("mod", 0.0, room_count=1, duration_s=60.0, mode="manual")
    event.assign("mod", "round-1", "x", "round-1-room-1", 1.0)
    event.remove_space("booth", 2.0)
    event.close_round(None, "round-1", 3.0)
    assert event.participants["x"].space_id == "stage"


def test_people_who_left_the_round_stay_where_they_are() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc")
    event.join("a0", "booth", 1.0)
    event.close_round("mod", "round-1", 2.0)
    assert event.participants["a0"].space_id == "booth"
    assert event.participants["a1"].space_id == "stage"


def test_removed_participant_leaves_round_bookkeeping() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc")
    changes = event.remove_participant("a0", 1.0)
    assert RoundChanged("round-1") in changes
    assert "a0" not in event.rounds["round-1"].origin
    assert "a0" not in event.rounds["round-1"].assignments
    event.close_round("mod", "round-1", 2.0)
    assert event.check_invariants() == []


def test_close_round_errors() -> None:
    event = make_event(2)
    event.open_round("mod", 0.0, template_id="disc")
    with unchanged(event, Forbidden):
        event.close_round("a0", "round-1", 1.0)
    with unchanged(event, NotFound):
        event.close_round("mod", "round-7", 1.0)
    event.close_round(None, "round-1", 1.0)
    with unchanged(event, Conflict):
        event.close_round("mod", "round-1", 2.0)


def test_tick_closes_rounds_at_their_deadline() -> None:
    event = make_event(3)
    event.open_round("mod", 100.0, template_id="disc")
    version = event.version
    assert event.tick(699.9) == []
    assert event.version == version
    changes = event.tick(700.0)
    assert changes[-1] == RoundClosed("round-1")
    assert event.version == version + 1
    assert event.count("stage") == 5
    moved = [c for c in changes if isinstance(c, Moved)]
    assert all(c.by is None for c in moved)
    assert event.tick(800.0) == []
    with unchanged(event, InvalidAction):
        event.tick(float("nan"))


def test_rooms_are_plain_breakouts_for_lobby_returns() -> None:
    event = make_event(1)
    event.open_round("mod", 0.0, template_id="disc")
    event.leave("a0", 1.0)
    assert event.participants["a0"].space_id == LOBBY_ID
    assert event.rounds["round-1"].origin == {"spk": "stage"}
