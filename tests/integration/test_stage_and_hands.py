"""The stage with live Q&A: raise a hand, see your place, get promoted, everyone sees it."""

from __future__ import annotations

import asyncio

from signaling import protocol as p

from .conftest import Running


async def test_hand_queue_promotion_is_seen_by_everyone(running: Running) -> None:
    moderator = await running.client("Mia Moderator", "moderator")
    attendees = [await running.client(f"Attendee {i}") for i in range(3)]
    for client in [moderator, *attendees]:
        await client.request(p.Join(space_id="main-stage"))
    first, second, third = attendees

    ack = await second.request(p.RaiseHand())
    assert ack.result == {"position": 1}
    await first.request(p.RaiseHand())
    await second.until(lambda: second.hand_position == 1)
    await first.until(lambda: first.hand_position == 2)

    # The moderator sees the whole queue in order; an attendee sees only the length.
    queue = await moderator.wait_for(
        p.HandQueueUpdate, lambda m: m.length == 2 and m.entries is not None, seen=True
    )
    assert queue.entries is not None
    assert [e.participant_id for e in queue.entries] == [
        second.participant_id,
        first.participant_id,
    ]
    plain = await third.wait_for(p.HandQueueUpdate, lambda m: m.length == 2, seen=True)
    assert plain.entries is None and plain.position is None

    await moderator.request(p.Promote(participant_id=second.participant_id))
    for client in [moderator, *attendees]:
        await client.until(lambda c=client: c.slot_occupants()[:1] == [second.participant_id])
    # The promoted attendee left the queue; the other moved up to first place.
    await first.until(lambda: first.hand_position == 1)
    await second.until(lambda: second.hand_position is None)
    assert third.slots is not None and third.slots.slots[0].participant is not None
    assert third.slots.slots[0].participant.name == "Attendee 1"

    await moderator.request(p.Demote(participant_id=second.participant_id))
    await third.until(lambda: third.slot_occupants() == [None, None])


async def test_attendee_cannot_promote(running: Running) -> None:
    alice = await running.client("Alice")
    await alice.request(p.Join(space_id="main-stage"))
    await alice.request(p.RaiseHand())
    await alice.until(lambda: alice.hand_position == 1)
    reply = await alice.try_request(p.Promote(participant_id=alice.participant_id))
    assert isinstance(reply, p.ErrorReply) and reply.code == "forbidden"
    # Nothing changed: she is still first in the queue and no slot is taken.
    fresh = alice.wait_for(p.Snapshot)
    await alice.request(p.Sync())
    await fresh
    assert alice.hand_position == 1
    assert alice.slot_occupants() == [None, None]


async def test_promote_without_free_slot_keeps_queue(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    people = [await running.client(f"P{i}") for i in range(3)]
    await moderator.request(p.Join(space_id="main-stage"))
    for person in people:
        await person.request(p.Join(space_id="main-stage"))
        await person.request(p.RaiseHand())
    await moderator.request(p.Promote(participant_id=people[0].participant_id))
    await moderator.request(p.Promote(participant_id=people[1].participant_id))
    reply = await moderator.try_request(p.Promote(participant_id=people[2].participant_id))
    assert isinstance(reply, p.ErrorReply) and reply.code == "full"
    await people[2].until(lambda: people[2].hand_position == 1)
    await moderator.request(p.SwapSlots(stage_id="main-stage", a=0, b=1))
    await people[2].until(
        lambda: people[2].slot_occupants() == [people[1].participant_id, people[0].participant_id]
    )


async def test_reconnect_keeps_place_in_queue(running: Running) -> None:
    people = [await running.client(f"Q{i}") for i in range(3)]
    for person in people:
        await person.request(p.Join(space_id="main-stage"))
        await person.request(p.RaiseHand())
    middle = people[1]
    token = middle.token
    await middle.close()
    await asyncio.sleep(0.05)
    again = await running.client_with_token(token)
    assert again.space_id == "main-stage"
    assert again.hand_position == 2
    await again.until(lambda: again.hand_position == 2)


async def test_drop_without_reconnect_frees_place(running: Running) -> None:
    people = [await running.client(f"D{i}") for i in range(2)]
    for person in people:
        await person.request(p.Join(space_id="main-stage"))
        await person.request(p.RaiseHand())
    await people[0].close()
    # After the grace time the server drops the participant and the queue moves up.
    await people[1].until(lambda: people[1].hand_position == 1, timeout=5)


async def test_dismiss_mute_request_and_speaker_seat(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    guest = await running.client("Guest")
    watcher = await running.client("Watcher")
    for client in (moderator, guest, watcher):
        await client.request(p.Join(space_id="main-stage"))
    await guest.request(p.RaiseHand())
    await guest.until(lambda: guest.hand_position == 1)
    await moderator.request(p.Dismiss(participant_id=guest.participant_id))
    await guest.until(lambda: guest.hand_position is None)

    asked = guest.wait_for(p.MuteRequested)
    await moderator.request(p.MuteRequest(participant_id=guest.participant_id, kind="video"))
    request = await asked
    assert request.kind == "video" and request.by == "Mod"

    await moderator.request(p.SetSpeaker(participant_id=guest.participant_id, on=True))
    await watcher.until(
        lambda: (
            watcher.slots is not None
            and [s.id for s in watcher.slots.speakers] == [guest.participant_id]
        )
    )
    await moderator.request(p.SetSpeaker(participant_id=guest.participant_id, on=False))
    await watcher.until(lambda: watcher.slots is not None and watcher.slots.speakers == [])


async def test_moderator_moves_a_participant(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    guest = await running.client("Guest")
    await guest.request(p.Join(space_id="main-stage"))
    notice = guest.wait_for(p.Moved)
    await moderator.request(
        p.MoveParticipant(participant_id=guest.participant_id, space_id="deep-health")
    )
    moved = await notice
    assert moved.space_id == "deep-health" and moved.by == "Mod"
    await guest.until(lambda: guest.space_id == "deep-health")


async def test_moderator_gets_every_stage_queue_on_connect(running: Running) -> None:
    guest = await running.client("Early hand")
    await guest.request(p.Join(space_id="main-stage"))
    await guest.request(p.RaiseHand())
    await guest.until(lambda: guest.hand_position == 1)
    moderator = await running.client("Mod", "moderator")  # stays in the lobby
    queue = await moderator.wait_for(p.HandQueueUpdate, lambda m: m.entries is not None, seen=True)
    assert queue.stage_id == "main-stage"
    assert queue.entries is not None and queue.entries[0].name == "Early hand"
    slots = await moderator.wait_for(p.SlotsUpdate, seen=True)
    assert [s.index for s in slots.slots] == [0, 1]
    assert moderator.welcome is not None
    assert moderator.welcome.event.templates[0].id == "discussion-round"


async def test_find_participants_and_mute_state(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    ada = await running.client("Ada Lovelace")
    bob = await running.client("Bob")
    for client in (ada, bob):
        await client.request(p.Join(space_id="booth-06"))
    ack = await moderator.request(p.FindParticipants(query="lovel"))
    assert ack.result is not None
    assert [m["name"] for m in ack.result["participants"]] == ["Ada Lovelace"]
    assert ack.result["participants"][0]["space_id"] == "booth-06"
    reply = await ada.try_request(p.FindParticipants(query="bob"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "forbidden"

    update = bob.wait_for(p.ParticipantUpdated)
    await ada.request(p.MediaMute(kind="audio", muted=True))
    info = (await update).participant
    assert info.id == ada.participant_id and info.muted_audio and not info.muted_video
