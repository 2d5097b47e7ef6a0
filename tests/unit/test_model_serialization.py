"""to_dict / from_dict: a lossless, JSON-friendly round trip of the whole event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signaling.model import Event, InvalidAction, RoundTemplate, Space, build_demo_event


def busy_event() -> Event:
    """An event in the middle of things: raised hands, Q&A slots, an open round, history."""
    event = Event.create("ev", "Busy", "Lots going on.")
    event.add_space(Space("stage", "stage", "Stage", capacity=100, speaker_seats=2, qa_slots=2))
    event.add_space(Space("booth", "booth", "Booth", "Meet the team.", capacity=3))
    event.add_template(RoundTemplate("t", "Round", 2, 300.0, 6, ["North", "South"]))
    event.add_participant("mod", "Mo", "moderator", 0.0)
    event.add_participant("spk", "Sam", "speaker", 0.0, ["health"])
    for index in range(8):
        event.add_participant(f"a{index}", f"A{index}", "attendee", float(index), ["edu"])
    for pid in ("spk", "a0", "a1", "a2", "a3", "a4"):
        event.join(pid, "stage", 1.0)
    event.join("a5", "booth", 1.0)
    event.raise_hand("a2", 2.0)
    event.raise_hand("a0", 3.0)
    event.raise_hand("a3", 4.0)
    event.promote("mod", "a1", 5.0, slot=1)
    event.set_muted("a1", "video", True, 5.0)
    event.open_round("mod", 6.0, template_id="t", mode="manual", home_space_id="booth")
    event.close_round("mod", "round-1", 7.0)
    event.open_round("mod", 8.0, template_id="t", mode="choice", home_space_id="booth")
    event.join("a6", "round-2-room-2", 9.0)
    event.join("a4", "round-2-room-1", 9.0)
    event.assign("mod", "round-2", "a7", "round-2-room-2", 10.0)
    event.broadcast("mod", "round-2", "Five minutes left", 11.0)
    return event


def test_round_trip_is_lossless() -> None:
    event = busy_event()
    data = event.to_dict()
    restored = Event.from_dict(data)
    assert restored == event
    assert restored.to_dict() == data
    assert restored.version == event.version
    for space_id in event.spaces:
        assert restored.member_ids(space_id) == event.member_ids(space_id)
    assert restored.hand_queues["stage"].participant_ids() == ["a2", "a0", "a3"]
    assert restored.hand_position("a3") == 3
    assert restored.slots["stage"].occupants == [None, "a1"]
    assert restored.slots["stage"].speakers == ["spk"]
    current = restored.current_round()
    assert current is not None and current.id == "round-2"
    assert current.origin == {"a6": "lobby", "a4": "stage", "a7": "lobby"}
    assert current.broadcasts == event.rounds["round-2"].broadcasts
    assert restored.rounds["round-1"].closed_at == 7.0
    assert restored.participants["a1"].muted_video
    assert restored.check_invariants() == []


def test_round_trip_through_json() -> None:
    event = busy_event()
    text = json.dumps(event.to_dict())
    assert Event.from_dict(json.loads(text)) == event


def test_restored_event_keeps_working_the_same_way() -> None:
    event = busy_event()
    restored = Event.from_dict(event.to_dict())
    for target in (event, restored):
        target.lower_hand("a0", 20.0)
        target.promote("mod", "a3", 21.0)
        target.close_round(None, "round-2", 22.0)
    assert restored.to_dict() == event.to_dict()


def test_copy_is_independent() -> None:
    event = busy_event()
    clone = event.copy()
    clone.lower_hand("a2", 30.0)
    assert "a2" in event.hand_queues["stage"]
    assert clone != event


def test_demo_round_trip() -> None:
    event = build_demo_event(0.0)
    assert Event.from_dict(event.to_dict()) == event


def corrupt(mutate: Any) -> dict[str, Any]:
    data = busy_event().to_dict()
    mutate(data)
    return data


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("spaces"),
        lambda d: d.update(version="seven"),
        lambda d: d.update(version=-1),
        lambda d: d["participants"][0].update(space_id="nowhere"),
        lambda d: d["participants"][0].update(role="emperor"),
        lambda d: d["participants"].append(dict(d["participants"][0])),
        lambda d: d["spaces"].append(dict(d["spaces"][1])),
        lambda d: d["hand_queues"]["stage"].append({"participant_id": "mod", "raised_at": 1.0}),
        lambda d: d["hand_queues"]["stage"].append({"participant_id": "a2", "raised_at": 1.0}),
        lambda d: d["slots"]["stage"]["occupants"].append(None),
        lambda d: d["slots"]["stage"].update(occupants=["a1", "a1"]),
        lambda d: d["slots"]["stage"].update(speakers=["spk", "a0", "a2"]),
        lambda d: d["rounds"][0].update(closed_at=None),
        lambda d: d["rounds"][1]["origin"].pop("a6"),
        lambda d: d["rounds"][1].update(closed_at=50.0),
        lambda d: d["hand_queues"].pop("stage"),
        lambda d: d.update(lobby_id="stage"),
        lambda d: d["spaces"][1].update(kind="booth"),
        lambda d: d["rounds"][0].update(mode="lottery"),
        lambda d: d["rounds"][1].update(room_ids=["round-2-room-1"]),
        lambda d: d["templates"][0].update(room_count=0),
    ],
)
def test_from_dict_rejects_inconsistent_data(mutate: Any) -> None:
    with pytest.raises(InvalidAction):
        Event.from_dict(corrupt(mutate))
