"""Unit tests for Event: spaces, participants, moves and queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from signaling.model import (
    LOBBY_ID,
    Conflict,
    Event,
    Forbidden,
    HandQueueChanged,
    InvalidAction,
    ModelError,
    Moved,
    MuteRequested,
    NotFound,
    ParticipantAdded,
    ParticipantRemoved,
    ParticipantUpdated,
    RoundTemplate,
    SlotsChanged,
    Space,
    SpaceAdded,
    SpaceFull,
    SpaceRemoved,
    TemplateAdded,
)

PEOPLE = [
    ("mod", "moderator"),
    ("host", "host"),
    ("spk", "speaker"),
    ("a", "attendee"),
    ("b", "attendee"),
    ("c", "attendee"),
]


def make_event() -> Event:
    event = Event.create("ev", "Test summit", "A small event for tests.")
    event.add_space(Space("stage", "stage", "Stage", capacity=50, speaker_seats=1, qa_slots=2))
    event.add_space(Space("booth", "booth", "Booth", capacity=2))
    event.add_space(Space("deep", "breakout", "Deep dive", capacity=30))
    for pid, role in PEOPLE:
        event.add_participant(pid, pid.upper(), role, 0.0)  # type: ignore[arg-type]
    return event


@contextmanager
def unchanged(event: Event, error: type[ModelError]) -> Iterator[None]:
    """Expect ``error`` and check that the event did not change at all."""
    before = event.to_dict()
    members = {sid: event.member_ids(sid) for sid in event.spaces}
    with pytest.raises(error) as info:
        yield
    assert isinstance(info.value.message, str) and info.value.message
    assert event.to_dict() == before
    assert {sid: event.member_ids(sid) for sid in event.spaces} == members
    assert event.check_invariants() == []


# ---------------------------------------------------------------- create and spaces


def test_create_has_only_the_lobby() -> None:
    event = Event.create("ev", "Title")
    assert event.lobby_id == LOBBY_ID
    assert list(event.spaces) == [LOBBY_ID]
    assert event.spaces[LOBBY_ID].kind == "lobby"
    assert event.version == 0
    assert event.description == ""
    assert event.check_invariants() == []


@pytest.mark.parametrize(("eid", "title"), [("", "T"), ("a b", "T"), ("ev", ""), ("ev", 3)])
def test_create_rejects_bad_arguments(eid: str, title: Any) -> None:
    with pytest.raises(InvalidAction):
        Event.create(eid, title)


def test_add_space_creates_queue_and_slots_for_stages() -> None:
    event = Event.create("ev", "T")
    changes = event.add_space(Space("s", "stage", "Stage", speaker_seats=2, qa_slots=3))
    assert changes == [SpaceAdded("s")]
    assert event.version == 1
    assert len(event.hand_queues["s"]) == 0
    assert event.slots["s"].occupants == [None, None, None]
    assert event.slots["s"].speaker_seats == 2
    event.add_space(Space("b", "booth", "Booth"))
    assert "b" not in event.hand_queues
    assert event.stage_ids() == ["s"]
    assert event.counts() == {"lobby": 0, "s": 0, "b": 0}


def test_add_space_errors() -> None:
    event = make_event()
    with unchanged(event, Conflict):
        event.add_space(Space("booth", "booth", "Another booth"))
    with unchanged(event, InvalidAction):
        event.add_space(Space("lobby2", "lobby", "Second lobby"))
    with unchanged(event, InvalidAction):
        event.add_space(Space("r", "breakout", "Room", round_id="round-1"))
    with unchanged(event, InvalidAction):
        event.add_space("booth-2")  # type: ignore[arg-type]


def test_remove_space_sends_members_to_the_lobby() -> None:
    event = make_event()
    event.join("a", "stage", 1.0)
    event.join("spk", "stage", 1.0)
    event.raise_hand("a", 2.0)
    version = event.version
    changes = event.remove_space("stage", 3.0)
    assert changes == [
        Moved("a", "stage", LOBBY_ID, reason="space_removed"),
        Moved("spk", "stage", LOBBY_ID, reason="space_removed"),
        SpaceRemoved("stage"),
    ]
    assert event.version == version + 1
    assert "stage" not in event.spaces
    assert "stage" not in event.hand_queues and "stage" not in event.slots
    assert event.participants["a"].space_id == LOBBY_ID
    assert event.check_invariants() == []


def test_remove_space_errors() -> None:
    event = make_event()
    with unchanged(event, InvalidAction):
        event.remove_space(LOBBY_ID, 1.0)
    with unchanged(event, NotFound):
        event.remove_space("nowhere", 1.0)
    event.open_round(None, 1.0, room_count=2, duration_s=60, mode="manual")
    with unchanged(event, Conflict):
        event.remove_space("round-1-room-1", 2.0)
    with unchanged(event, Conflict):
        event.remove_space("stage", 2.0)


def test_add_template() -> None:
    event = make_event()
    template = RoundTemplate("t", "Round", 2, 60.0)
    assert event.add_template(template) == [TemplateAdded("t")]
    assert event.templates["t"] is template
    with unchanged(event, Conflict):
        event.add_template(RoundTemplate("t", "Other", 3, 60.0))
    with unchanged(event, InvalidAction):
        event.add_template({"id": "x"})  # type: ignore[arg-type]


# ---------------------------------------------------------------- participants


def test_add_participant_lands_in_the_lobby() -> None:
    event = Event.create("ev", "T")
    changes = event.add_participant("p1", "  Ada  ", "attendee", 5.0, ["health", "health", "edu"])
    assert changes == [ParticipantAdded("p1"), Moved("p1", None, LOBBY_ID, reason="added")]
    participant = event.participants["p1"]
    assert participant.name == "Ada"
    assert participant.space_id == LOBBY_ID
    assert participant.interests == ["health", "edu"]
    assert participant.joined_at == 5.0
    assert event.version == 1
    assert event.member_ids(LOBBY_ID) == ["p1"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("a", "Dup", "attendee", 0.0), Conflict),
        (("", "Name", "attendee", 0.0), InvalidAction),
        (("new", "", "attendee", 0.0), InvalidAction),
        (("new", "x" * 65, "attendee", 0.0), InvalidAction),
        (("new", "Name", "superuser", 0.0), InvalidAction),
        (("new", "Name", "attendee", float("inf")), InvalidAction),
        (("new", "Name", "attendee", "now"), InvalidAction),
        (("new", "Name", "attendee", True), InvalidAction),
    ],
)
def test_add_participant_errors(args: tuple[Any, ...], error: type[ModelError]) -> None:
    event = make_event()
    with unchanged(event, error):
        event.add_participant(*args)


def test_add_participant_rejects_bad_interests() -> None:
    event = make_event()
    with unchanged(event, InvalidAction):
        event.add_participant("new", "N", "attendee", 0.0, "health")
    with unchanged(event, InvalidAction):
        event.add_participant("new", "N", "attendee", 0.0, [f"t{i}" for i in range(21)])
    with unchanged(event, InvalidAction):
        event.add_participant("new", "N", "attendee", 0.0, [""])


def test_remove_participant_clears_everything() -> None:
    event = make_event()
    event.join("a", "stage", 1.0)
    event.raise_hand("a", 1.0)
    event.join("b", "stage", 1.0)
    event.promote("mod", "b", 2.0)
    changes = event.remove_participant("a", 3.0)
    assert changes == [HandQueueChanged("stage"), ParticipantRemoved("a", "stage")]
    changes = event.remove_participant("b", 3.0)
    assert changes == [SlotsChanged("stage"), ParticipantRemoved("b", "stage")]
    assert "a" not in event.participants
    assert event.count("stage") == 0
    assert len(event.hand_queues["stage"]) == 0
    assert event.slots["stage"].occupants == [None, None]
    with unchanged(event, NotFound):
        event.remove_participant("a", 4.0)


def test_join_moves_between_spaces() -> None:
    event = make_event()
    version = event.version
    changes = event.join("a", "booth", 1.0)
    assert changes == [Moved("a", LOBBY_ID, "booth")]
    assert event.participants["a"].space_id == "booth"
    assert event.member_ids("booth") == ["a"]
    assert "a" not in event.member_ids(LOBBY_ID)
    assert event.join("a", "booth", 2.0) == []
    assert event.version == version + 1
    event.join("a", "deep", 3.0)
    assert event.counts()["booth"] == 0
    assert event.counts()["deep"] == 1


def test_join_errors() -> None:
    event = make_event()
    with unchanged(event, NotFound):
        event.join("ghost", "booth", 1.0)
    with unchanged(event, NotFound):
        event.join("a", "nowhere", 1.0)
    with unchanged(event, InvalidAction):
        event.join("a", "booth", float("nan"))
    with unchanged(event, InvalidAction):
        event.join(None, "booth", 1.0)  # type: ignore[arg-type]


def test_join_respects_capacity_except_for_staff() -> None:
    event = make_event()
    event.join("a", "booth", 1.0)
    event.join("b", "booth", 1.0)
    with unchanged(event, SpaceFull):
        event.join("c", "booth", 1.0)
    with unchanged(event, SpaceFull):
        event.join("spk", "booth", 1.0)
    assert event.join("mod", "booth", 1.0) == [Moved("mod", LOBBY_ID, "booth")]
    assert event.count("booth") == 3


def test_leaving_a_stage_lowers_hand_and_frees_slot() -> None:
    event = make_event()
    event.join("a", "stage", 1.0)
    event.join("b", "stage", 1.0)
    event.raise_hand("a", 2.0)
    event.promote("mod", "b", 3.0)
    assert event.join("a", "booth", 4.0) == [
        HandQueueChanged("stage"),
        Moved("a", "stage", "booth"),
    ]
    assert event.hand_position("a") is None
    assert event.leave("b", 5.0) == [
        SlotsChanged("stage"),
        Moved("b", "stage", LOBBY_ID, reason="leave"),
    ]
    assert event.slots["stage"].occupants == [None, None]


def test_speakers_take_a_free_seat_when_joining_a_stage() -> None:
    event = make_event()
    changes = event.join("spk", "stage", 1.0)
    assert changes == [Moved("spk", LOBBY_ID, "stage"), SlotsChanged("stage")]
    assert event.is_speaker("spk")
    # The only seat is taken, so the host joins the audience.
    assert event.join("host", "stage", 1.0) == [Moved("host", LOBBY_ID, "stage")]
    assert not event.is_speaker("host")
    event.leave("spk", 2.0)
    assert event.slots["stage"].speakers == []
    event.join("a", "stage", 1.0)
    assert not event.is_speaker("a")


def test_leave() -> None:
    event = make_event()
    assert event.leave("a", 1.0) == []
    event.join("a", "booth", 1.0)
    assert event.leave("a", 2.0) == [Moved("a", "booth", LOBBY_ID, reason="leave")]
    with unchanged(event, NotFound):
        event.leave("ghost", 2.0)


def test_move_participant() -> None:
    event = make_event()
    event.join("a", "booth", 1.0)
    event.join("b", "booth", 1.0)
    changes = event.move_participant("mod", "c", "booth", 2.0)
    assert changes == [Moved("c", LOBBY_ID, "booth", by="mod", reason="move")]
    assert event.count("booth") == 3
    assert event.move_participant("host", "c", "booth", 2.0) == []
    assert event.move_participant(None, "c", "deep", 2.0)[0] == Moved(
        "c", "booth", "deep", by=None, reason="move"
    )


def test_move_participant_errors() -> None:
    event = make_event()
    with unchanged(event, Forbidden):
        event.move_participant("a", "b", "booth", 1.0)
    with unchanged(event, Forbidden):
        event.move_participant("spk", "b", "booth", 1.0)
    with unchanged(event, Forbidden):
        event.move_participant("stranger", "b", "booth", 1.0)
    with unchanged(event, NotFound):
        event.move_participant("mod", "ghost", "booth", 1.0)
    with unchanged(event, NotFound):
        event.move_participant("mod", "b", "nowhere", 1.0)


def test_set_muted() -> None:
    event = make_event()
    assert event.set_muted("a", "audio", True, 1.0) == [ParticipantUpdated("a")]
    assert event.participants["a"].muted_audio
    assert event.set_muted("a", "audio", True, 1.0) == []
    assert event.set_muted("a", "video", True, 1.0) == [ParticipantUpdated("a")]
    assert event.participants["a"].muted_video
    with unchanged(event, InvalidAction):
        event.set_muted("a", "screen", True, 1.0)  # type: ignore[arg-type]
    with unchanged(event, InvalidAction):
        event.set_muted("a", "audio", 0, 1.0)  # type: ignore[arg-type]
    with unchanged(event, NotFound):
        event.set_muted("ghost", "audio", False, 1.0)


def test_request_mute_changes_nothing() -> None:
    event = make_event()
    version = event.version
    assert event.request_mute("mod", "a", "audio", 1.0) == [MuteRequested("a", "audio", "mod")]
    assert event.version == version
    with unchanged(event, Forbidden):
        event.request_mute("b", "a", "audio", 1.0)
    with unchanged(event, NotFound):
        event.request_mute("mod", "ghost", "video", 1.0)
    with unchanged(event, InvalidAction):
        event.request_mute("mod", "a", "smell", 1.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- queries


def test_queries() -> None:
    event = make_event()
    event.join("c", "stage", 1.0)
    event.join("a", "stage", 1.0)
    assert [p.id for p in event.members("stage")] == ["c", "a"]
    assert event.count("stage") == 2
    assert event.counts()["stage"] == 2
    assert event.counts()[LOBBY_ID] == 4
    assert sum(event.counts().values()) == len(event.participants)
    assert event.stage_of("a") == "stage"
    assert event.stage_of("b") is None
    assert event.stage_of("ghost") is None
    assert event.slot_of("a") is None
    assert event.is_staff("mod") and not event.is_staff("a") and not event.is_staff("ghost")
    assert event.current_round() is None
    assert event.round_of_space("stage") is None
    assert event.round_of_space("nowhere") is None
    with pytest.raises(NotFound):
        event.members("nowhere")
    with pytest.raises(NotFound):
        event.count("nowhere")


def test_version_counts_changing_commands_only() -> None:
    event = Event.create("ev", "T")
    event.add_participant("a", "A", "attendee", 0.0)
    assert event.version == 1
    event.leave("a", 1.0)
    assert event.version == 1
    with pytest.raises(NotFound):
        event.join("a", "nowhere", 1.0)
    assert event.version == 1
