"""Routing plans: who sees whom, and slots that stay put when they can."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sfu.selection import assign_slots
from signaling.model import build_demo_event
from signaling.routing import plan_for, visible_to

T = 1000.0


def _event():  # type: ignore[no-untyped-def]
    event = build_demo_event(T)
    event.add_participant("mod", "Mod", "moderator", T)
    event.add_participant("spk", "Speaker", "speaker", T)
    for pid in ("a", "b", "c", "d"):
        event.add_participant(pid, pid.upper(), "attendee", T)
    event.join("mod", "main-stage", T)
    event.join("spk", "main-stage", T)
    for pid in ("a", "b", "c"):
        event.join(pid, "main-stage", T)
    return event


def test_stage_audience_sees_only_speakers_and_promoted() -> None:
    event = _event()
    assert [v.participant_id for v in visible_to(event, "a")] == ["spk"]
    event.raise_hand("b", T)
    assert [v.participant_id for v in visible_to(event, "a")] == ["spk"]  # a hand is not enough
    event.promote("mod", "b", T)
    shown = visible_to(event, "a")
    assert [(v.participant_id, v.shown_as) for v in shown] == [("spk", "speaker"), ("b", "qa")]
    # Nobody is shown to themselves.
    assert [v.participant_id for v in visible_to(event, "b")] == ["spk"]
    event.demote("mod", "b", T)
    assert [v.participant_id for v in visible_to(event, "c")] == ["spk"]


def test_rooms_show_everyone_else_and_the_lobby_nobody() -> None:
    event = _event()
    for pid in ("a", "b", "c"):
        event.join(pid, "booth-04", T)
    assert [v.participant_id for v in visible_to(event, "a")] == ["b", "c"]
    assert visible_to(event, "d") == []  # in the lobby
    # Recent speakers come first in a crowded room.
    order = visible_to(event, "a", last_spoke={"c": 5.0, "b": 1.0})
    assert [v.participant_id for v in order] == ["c", "b"]


def test_assign_slots_keeps_places() -> None:
    slots = ["v0", "v1", "v2"]
    first = assign_slots(slots, {}, ["x", "y"])
    assert first == {"v0": "x", "v1": "y", "v2": None}
    second = assign_slots(slots, first, ["y", "z"])
    assert second == {"v0": "z", "v1": "y", "v2": None}  # y stays in v1; z takes the free one
    third = assign_slots(slots, second, ["a", "b", "c", "d"])
    assert sorted(filter(None, third.values())) == ["a", "b", "c"]


@given(
    wanted=st.lists(st.sampled_from("abcdefghij"), max_size=12),
    current=st.dictionaries(
        st.sampled_from(["v0", "v1", "v2", "v3"]), st.none() | st.sampled_from("abcdefghij")
    ),
)
def test_assign_slots_properties(wanted: list[str], current: dict[str, str | None]) -> None:
    slots = ["v0", "v1", "v2", "v3"]
    plan = assign_slots(slots, current, wanted)
    chosen = list(dict.fromkeys(wanted))[: len(slots)]
    shown = [pid for pid in plan.values() if pid is not None]
    assert set(plan) == set(slots)
    assert len(shown) == len(set(shown))  # nobody in two slots
    assert set(shown) == set(chosen)  # exactly the first N wanted
    for slot, pid in current.items():
        if pid in chosen and list(current.values()).count(pid) == 1:
            assert plan[slot] == pid  # a publisher who stays keeps their slot


def test_plan_only_uses_publishers() -> None:
    event = _event()
    for pid in ("a", "b", "c"):
        event.join(pid, "booth-04", T)
    plan = plan_for(
        event,
        "a",
        video_slots=["v0", "v1"],
        audio_slots=["a0", "a1"],
        publishing_video={"b": "b:video"},
        publishing_audio={"b": "b:audio", "c": "c:audio"},
        current_video={},
        current_audio={},
    )
    assert plan.video == {"v0": "b", "v1": None}
    assert plan.audio == {"a0": "b", "a1": "c"}
