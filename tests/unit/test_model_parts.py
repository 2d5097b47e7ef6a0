"""Unit tests for the model's building blocks: errors, records, HandQueue, QaSlots."""

from __future__ import annotations

import random

import pytest

from signaling.model import (
    Conflict,
    Forbidden,
    HandEntry,
    HandQueue,
    InvalidAction,
    ModelError,
    Moved,
    MuteRequested,
    NotFound,
    Participant,
    QaSlots,
    RoundTemplate,
    SlotsChanged,
    Space,
    SpaceFull,
    spread_randomly,
)

# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (NotFound, "not_found"),
        (Forbidden, "forbidden"),
        (Conflict, "conflict"),
        (SpaceFull, "full"),
        (InvalidAction, "invalid"),
    ],
)
def test_error_codes(cls: type[ModelError], code: str) -> None:
    error = cls("something is wrong", field="space_id")
    assert isinstance(error, ModelError)
    assert error.code == code
    assert str(error) == "something is wrong"
    assert error.message == "something is wrong"
    assert error.field == "space_id"


def test_error_field_defaults_to_none() -> None:
    assert NotFound("x").field is None


# ---------------------------------------------------------------- Space


def test_space_defaults() -> None:
    space = Space("booth-01", "booth", "Booth")
    assert space.description == ""
    assert space.capacity is None
    assert space.round_id is None
    assert space.speaker_seats == 0
    assert space.qa_slots == 0
    assert not space.is_stage


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": ""},
        {"id": "has space"},
        {"id": "x" * 129},
        {"id": 5},
        {"kind": "hall"},
        {"title": "   "},
        {"title": "t" * 201},
        {"capacity": 0},
        {"capacity": -3},
        {"capacity": True},
        {"capacity": 2.5},
        {"speaker_seats": 2},
        {"qa_slots": 1},
        {"round_id": "round-1"},
    ],
)
def test_space_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"id": "b", "kind": "booth", "title": "Booth"}
    base.update(kwargs)
    with pytest.raises(InvalidAction):
        Space(**base)  # type: ignore[arg-type]


def test_stage_may_have_seats_and_slots() -> None:
    stage = Space("s", "stage", "Stage", speaker_seats=4, qa_slots=2)
    assert stage.is_stage
    with pytest.raises(InvalidAction):
        Space("s", "stage", "Stage", qa_slots=-1)


def test_space_dict_round_trip() -> None:
    space = Space("s", "stage", "Stage", "Desc", capacity=10, speaker_seats=1, qa_slots=2)
    assert Space.from_dict(space.to_dict()) == space


# ---------------------------------------------------------------- Participant


def test_participant_validation_and_staff() -> None:
    p = Participant("p1", "Ada", "moderator", "lobby", ["health"], 1.0)
    assert p.is_staff
    assert not Participant("p2", "Bo", "speaker", "lobby").is_staff
    assert Participant.from_dict(p.to_dict()) == p
    with pytest.raises(InvalidAction):
        Participant("p1", "Ada", "king", "lobby")  # type: ignore[arg-type]
    with pytest.raises(InvalidAction):
        Participant("p1", "", "attendee", "lobby")
    with pytest.raises(InvalidAction):
        Participant("p1", "Ada", "attendee", "lobby", joined_at=float("nan"))
    with pytest.raises(InvalidAction):
        Participant("p1", "Ada", "attendee", "lobby", muted_audio=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- RoundTemplate


def test_template_validation() -> None:
    template = RoundTemplate("t", "Round", 3, 60.0, 5, ["A", "B", "C"])
    assert RoundTemplate.from_dict(template.to_dict()) == template
    with pytest.raises(InvalidAction):
        RoundTemplate("t", "Round", 0, 60.0)
    with pytest.raises(InvalidAction):
        RoundTemplate("t", "Round", 2, 0.0)
    with pytest.raises(InvalidAction):
        RoundTemplate("t", "Round", 2, 60.0, 0)
    with pytest.raises(InvalidAction, match="room_titles"):
        RoundTemplate("t", "Round", 2, 60.0, None, ["only one"])


# ---------------------------------------------------------------- HandQueue


def test_hand_queue_is_first_come_first_served() -> None:
    queue = HandQueue()
    assert queue.raise_("a", 1.0)
    assert queue.raise_("b", 2.0)
    assert queue.raise_("c", 3.0)
    assert [e.participant_id for e in queue.entries()] == ["a", "b", "c"]
    assert [queue.position(pid) for pid in "abc"] == [1, 2, 3]
    assert queue.positions() == {"a": 1, "b": 2, "c": 3}
    assert len(queue) == 3
    assert "b" in queue
    assert queue.first() == HandEntry("a", 1.0)


def test_hand_queue_raise_twice_keeps_place() -> None:
    queue = HandQueue()
    queue.raise_("a", 1.0)
    queue.raise_("b", 2.0)
    assert not queue.raise_("a", 5.0)
    assert queue.entries() == [HandEntry("a", 1.0), HandEntry("b", 2.0)]


def test_hand_queue_lower_removes_only_that_entry() -> None:
    queue = HandQueue()
    for index, pid in enumerate("abcd"):
        queue.raise_(pid, float(index))
    assert queue.lower("b")
    assert not queue.lower("b")
    assert not queue.lower("zzz")
    assert queue.participant_ids() == ["a", "c", "d"]
    assert queue.position("d") == 3
    assert queue.position("b") is None
    queue.raise_("b", 9.0)
    assert queue.participant_ids() == ["a", "c", "d", "b"]


def test_hand_queue_order_is_raise_order_not_timestamp() -> None:
    queue = HandQueue()
    queue.raise_("late", 10.0)
    queue.raise_("early", 1.0)
    assert queue.participant_ids() == ["late", "early"]


def test_hand_queue_copy_equality_and_serialization() -> None:
    queue = HandQueue()
    queue.raise_("a", 1.0)
    queue.raise_("b", 2.0)
    clone = queue.copy()
    assert clone == queue
    clone.lower("a")
    assert clone != queue
    assert HandQueue.from_list(queue.to_list()) == queue
    assert [e.participant_id for e in queue] == ["a", "b"]
    assert queue.__eq__(object()) is NotImplemented
    assert "HandQueue" in repr(queue)
    assert HandQueue().first() is None
    with pytest.raises(ValueError):
        HandQueue([HandEntry("a", 1.0), HandEntry("a", 2.0)])


# ---------------------------------------------------------------- QaSlots


def test_slots_put_clear_and_free_index() -> None:
    slots = QaSlots.empty(2, 1)
    assert slots.capacity == 2
    assert slots.free_index() == 0
    slots.put("a", 0)
    assert slots.free_index() == 1
    assert slots.index_of("a") == 0
    slots.put("b", 1)
    assert slots.free_index() is None
    assert slots.clear("a")
    assert not slots.clear("a")
    assert slots.free_index() == 0
    assert slots.occupants == [None, "b"]


def test_slots_put_errors() -> None:
    slots = QaSlots.empty(2, 1)
    slots.put("a", 0)
    with pytest.raises(Conflict):
        slots.put("b", 0)
    with pytest.raises(Conflict):
        slots.put("a", 1)
    with pytest.raises(InvalidAction):
        slots.put("b", 2)
    with pytest.raises(InvalidAction):
        slots.put("b", -1)
    with pytest.raises(InvalidAction):
        slots.put("b", True)
    with pytest.raises(InvalidAction, match="no Q&A slots"):
        QaSlots.empty(0, 0).put("a", 0)
    assert slots.occupants == ["a", None]


def test_slots_speaker_seats() -> None:
    slots = QaSlots.empty(1, 1)
    assert slots.has_free_seat()
    slots.seat("s")
    assert slots.is_speaker("s")
    assert slots.holds("s")
    with pytest.raises(SpaceFull):
        slots.seat("t")
    with pytest.raises(Conflict):
        slots.seat("s")
    with pytest.raises(Conflict):
        slots.put("s", 0)
    slots.put("q", 0)
    assert slots.holders() == ["s", "q"]
    assert slots.clear("s")
    assert slots.speakers == []


def test_slots_swap_and_copy() -> None:
    slots = QaSlots.empty(3, 0)
    slots.put("a", 0)
    slots.swap(0, 2)
    assert slots.occupants == [None, None, "a"]
    with pytest.raises(InvalidAction):
        slots.swap(0, 3)
    clone = slots.copy()
    clone.swap(1, 2)
    assert slots.occupants == [None, None, "a"]
    assert QaSlots.from_dict(slots.to_dict()) == slots


# ---------------------------------------------------------------- assignment and changes


def test_spread_randomly_is_even_and_deterministic() -> None:
    pids = [f"p{i}" for i in range(11)]
    rooms = ["r1", "r2", "r3"]
    plan = spread_randomly(pids, rooms, random.Random(7))
    assert set(plan) == set(pids)
    sizes = sorted(list(plan.values()).count(room) for room in rooms)
    assert sizes == [3, 4, 4]
    assert plan == spread_randomly(pids, rooms, random.Random(7))
    with pytest.raises(InvalidAction):
        spread_randomly(pids, [], random.Random(1))


def test_change_records_to_dict() -> None:
    assert Moved("p", None, "lobby", reason="added").to_dict() == {
        "kind": "moved",
        "pid": "p",
        "from_space": None,
        "to_space": "lobby",
        "by": None,
        "reason": "added",
    }
    assert MuteRequested("p", "audio", "m").to_dict() == {
        "kind": "mute_requested",
        "pid": "p",
        "media_kind": "audio",
        "actor_id": "m",
    }
    assert SlotsChanged("s").kind == "slots_changed"
    assert SlotsChanged("s") == SlotsChanged("s")
