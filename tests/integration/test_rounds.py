"""Discussion rounds: open breakouts, assign people, count down, bring everyone back."""

from __future__ import annotations

import asyncio
from collections import Counter

from signaling import protocol as p

from .conftest import Running


async def test_round_opens_assigns_counts_down_and_returns_everyone(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    people = await asyncio.gather(*(running.client(f"Guest {i:02d}") for i in range(20)))
    await moderator.request(p.Join(space_id="main-stage"))
    # Two people start elsewhere: they are not part of the stage's round.
    for person in people[:18]:
        await person.request(p.Join(space_id="main-stage"))
    await people[18].request(p.Join(space_id="booth-03"))

    ack = await moderator.request(
        p.OpenRound(room_count=5, duration_s=600, mode="random", title="Round one")
    )
    assert ack.result is not None
    room_ids = ack.result["room_ids"]
    assert len(room_ids) == 5

    stage_people = people[:18]
    for person in stage_people:
        await person.until(lambda c=person: c.space_id in room_ids)
    rooms = Counter(person.space_id for person in stage_people)
    assert sorted(rooms.values()) == [3, 3, 4, 4, 4]
    # Everyone in a room sees the others in it and the countdown.
    for person in stage_people:
        await person.until(lambda c=person: len(c.members) == rooms[c.space_id])
        assert person.round is not None and 0 < person.round.remaining_s <= 600
    assert people[18].space_id == "booth-03" and people[19].space_id == "lobby"

    # A moderator assigns a late arrival by hand, and broadcasts to every room.
    await moderator.request(
        p.Assign(
            round_id=ack.result["round_id"],
            participant_id=people[19].participant_id,
            room_id=room_ids[0],
        )
    )
    await people[19].until(lambda: people[19].space_id == room_ids[0])
    banners = [person.wait_for(p.BroadcastPosted) for person in stage_people]
    await moderator.request(p.Broadcast(text="Two minutes left"))
    for banner in banners:
        assert (await banner).text == "Two minutes left"
    await people[18].request(p.Sync())  # not in the round: receives no banner
    assert not any(isinstance(m, p.BroadcastPosted) for m in people[18].inbox)

    # Time passes on the fake clock; the server closes the round at its deadline.
    running.clock.advance(601)
    for person in stage_people:
        await person.until(lambda c=person: c.space_id == "main-stage")
    await people[19].until(lambda: people[19].space_id == "lobby")
    assert people[18].space_id == "booth-03"
    closed = await moderator.wait_for(p.RoundClosed, seen=True)
    assert closed.round_id == ack.result["round_id"]
    agenda = await (await running.http.get(f"{running.url}/api/event")).json()
    assert not any(space["kind"] == "breakout" and space["round_id"] for space in agenda["spaces"])
    counts = {space["id"]: space["participants"] for space in agenda["spaces"]}
    assert counts["main-stage"] == 19 and counts["booth-03"] == 1 and counts["lobby"] == 1


async def test_choice_round_and_early_close(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    guest = await running.client("Chooser")
    await guest.request(p.Join(space_id="main-stage"))
    ack = await moderator.request(p.OpenRound(template_id="discussion-round", mode="choice"))
    assert ack.result is not None
    room = ack.result["room_ids"][2]
    await guest.until(lambda: guest.round is not None)
    assert guest.space_id == "main-stage"  # nobody is moved in choice mode
    await guest.request(p.Join(space_id=room))
    assert guest.space_id == room or await guest.until(lambda: guest.space_id == room) is None
    await moderator.request(p.CloseRound(round_id=ack.result["round_id"]))
    await guest.until(lambda: guest.space_id == "main-stage")
    await guest.until(lambda: guest.round is None)


async def test_only_one_round_at_a_time(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    await moderator.request(p.OpenRound(room_count=2, duration_s=60))
    reply = await moderator.try_request(p.OpenRound(room_count=2, duration_s=60))
    assert isinstance(reply, p.ErrorReply) and reply.code == "conflict"
