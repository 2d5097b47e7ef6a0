"""Speaker ranking and stable slot assignment (pure logic)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sfu.selection import SpeakerTracker, assign_slots


def test_latest_speakers_first_with_quiet_people_in_given_order() -> None:
    t = SpeakerTracker(hold=2.0)
    t.update({"a": 127, "b": 30, "c": 20}, now=1.0)
    t.update({"c": 127, "d": 10}, now=2.0)
    assert t.select(["a", "b", "c", "d", "e"], 3, now=2.0) == ["d", "b", "c"]
    assert t.select(["a", "b", "c", "d", "e"], 5, now=2.0)[3:] == ["a", "e"]


def test_a_shown_speaker_is_held_against_a_brief_interruption() -> None:
    t = SpeakerTracker(hold=2.0)
    t.update({"a": 20}, now=10.0)
    t.update({"b": 20}, now=11.0)  # b coughs; a spoke a second ago and is shown
    assert t.select(["a", "b"], 1, now=11.0, shown=["a"]) == ["a"]
    assert t.select(["a", "b"], 1, now=12.5, shown=["a"]) == ["b"]  # a quiet for 2.5 s


def test_assignment_keeps_sources_in_their_slots() -> None:
    current = {"v0": "a", "v1": "b", "v2": "c"}
    plan = assign_slots(["v0", "v1", "v2"], current, ["c", "d", "a"])
    assert plan == {"v0": "a", "v1": "d", "v2": "c"}
    assert assign_slots(["v0", "v1"], current, []) == {"v0": None, "v1": None}


slot_ids = [f"v{i}" for i in range(6)]


@given(
    st.dictionaries(st.sampled_from(slot_ids), st.sampled_from("abcdefgh") | st.none()),
    st.lists(st.sampled_from("abcdefgh"), max_size=10),
)
def test_assignment_invariants(current: dict[str, str | None], wanted: list[str]) -> None:
    plan = assign_slots(slot_ids, current, wanted)
    shown = [s for s in plan.values() if s is not None]
    expected = list(dict.fromkeys(wanted))[: len(slot_ids)]
    assert sorted(shown) == sorted(expected)  # every wanted source once, nothing else
    assert set(plan) == set(slot_ids)
    for slot, source in current.items():
        if source in expected and list(current.values()).count(source) == 1:
            assert plan[slot] == source  # a source already shown does not move
