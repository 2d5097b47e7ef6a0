"""The demo event served by ``make run``."""

from __future__ import annotations

from signaling.model import Event, build_demo_event


def test_demo_event_layout() -> None:
    event = build_demo_event(1_000.0)
    assert isinstance(event, Event)
    assert event.id == "podium-summit"
    assert event.title == "Podium Summit 2026"
    assert event.description
    assert event.version == 0
    assert event.participants == {}
    assert event.check_invariants() == []

    stage = event.spaces["main-stage"]
    assert (stage.kind, stage.capacity, stage.speaker_seats, stage.qa_slots) == (
        "stage",
        2000,
        4,
        2,
    )
    assert event.stage_ids() == ["main-stage"]
    assert event.slots["main-stage"].occupants == [None, None]


def test_demo_booths_are_distinct_projects() -> None:
    event = build_demo_event(0.0)
    booths = [space for space in event.spaces.values() if space.kind == "booth"]
    assert [b.id for b in booths] == [f"booth-{n:02d}" for n in range(1, 21)]
    assert all(b.capacity == 12 for b in booths)
    assert len({b.title for b in booths}) == 20
    assert len({b.description for b in booths}) == 20
    for booth in booths:
        assert booth.title and booth.description.endswith(".")
        assert booth.description.count(". ") == 0, "one sentence per description"


def test_demo_deep_dives_and_template() -> None:
    event = build_demo_event(0.0)
    deep = {sid: s for sid, s in event.spaces.items() if sid.startswith("deep-")}
    assert {sid: s.title for sid, s in deep.items()} == {
        "deep-education": "Education models",
        "deep-health": "Health care",
        "deep-information": "Trustworthy information",
        "deep-politics": "Politics and economy",
        "deep-vulnerable": "Vulnerable groups",
    }
    assert all(s.kind == "breakout" and s.capacity == 30 and s.description for s in deep.values())
    template = event.templates["discussion-round"]
    assert (template.room_count, template.duration_s, template.room_capacity) == (5, 900.0, 12)


def test_demo_event_runs_a_round() -> None:
    event = build_demo_event(0.0)
    event.add_participant("mod", "Moderator", "moderator", 0.0)
    for index in range(20):
        event.add_participant(f"p{index}", f"P{index}", "attendee", 0.0)
        event.join(f"p{index}", "main-stage", 0.0)
    event.open_round("mod", 10.0, template_id="discussion-round")
    round_ = event.current_round()
    assert round_ is not None
    assert [event.count(r) for r in round_.room_ids] == [4, 4, 4, 4, 4]
    event.tick(910.0)
    assert event.count("main-stage") == 20
    assert event.check_invariants() == []
