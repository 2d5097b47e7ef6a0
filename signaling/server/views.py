"""How the event model looks on the wire: model objects -> protocol structs."""

from __future__ import annotations

from typing import Any

from signaling import protocol as p
from signaling.model import Event, Participant, Round, Space


def participant_info(participant: Participant) -> p.ParticipantInfo:
    return p.ParticipantInfo(
        id=participant.id,
        name=participant.name,
        role=participant.role,
        space_id=participant.space_id,
        muted_audio=participant.muted_audio,
        muted_video=participant.muted_video,
    )


def space_info(event: Event, space: Space) -> p.SpaceInfo:
    return p.SpaceInfo(
        id=space.id,
        kind=space.kind,
        title=space.title,
        description=space.description,
        capacity=space.capacity,
        participants=event.count(space.id),
        round_id=space.round_id,
        speaker_seats=space.speaker_seats,
        qa_slots=space.qa_slots,
    )


def event_info(event: Event) -> p.EventInfo:
    return p.EventInfo(
        id=event.id,
        title=event.title,
        description=event.description,
        spaces=[space_info(event, space) for space in event.spaces.values()],
        templates=[
            p.RoundTemplateInfo(
                id=t.id,
                title=t.title,
                room_count=t.room_count,
                duration_s=t.duration_s,
                room_capacity=t.room_capacity,
            )
            for t in event.templates.values()
        ],
    )


def agenda(event: Event) -> dict[str, Any]:
    """The body of ``GET /api/event``."""
    return {
        "event": {
            "id": event.id,
            "title": event.title,
            "description": event.description,
            "version": event.version,
            "participants": len(event.participants),
        },
        "spaces": [
            {
                "id": space.id,
                "kind": space.kind,
                "title": space.title,
                "description": space.description,
                "participants": event.count(space.id),
                "capacity": space.capacity,
                "round_id": space.round_id,
            }
            for space in event.spaces.values()
        ],
        "round": _round_dict(event),
    }


def _round_dict(event: Event) -> dict[str, Any] | None:
    round_ = event.current_round()
    if round_ is None:
        return None
    return {
        "id": round_.id,
        "title": round_.title,
        "mode": round_.mode,
        "room_ids": list(round_.room_ids),
        "deadline": round_.deadline,
    }


def slots_info(event: Event, stage_id: str) -> p.SlotsInfo:
    slots = event.slots[stage_id]
    people = event.participants
    return p.SlotsInfo(
        stage_id=stage_id,
        slots=[
            p.SlotInfo(
                index=index,
                participant=participant_info(people[pid]) if pid is not None else None,
            )
            for index, pid in enumerate(slots.occupants)
        ],
        speakers=[participant_info(people[pid]) for pid in slots.speakers if pid in people],
    )


def hand_entries(event: Event, stage_id: str) -> list[p.HandEntryInfo]:
    people = event.participants
    return [
        p.HandEntryInfo(
            participant_id=entry.participant_id,
            name=people[entry.participant_id].name,
            position=index + 1,
            raised_at=entry.raised_at,
        )
        for index, entry in enumerate(event.hand_queues[stage_id].entries())
    ]


def hand_queue_info(event: Event, stage_id: str, viewer: Participant) -> p.HandQueueInfo:
    queue = event.hand_queues[stage_id]
    return p.HandQueueInfo(
        stage_id=stage_id,
        length=len(queue),
        position=queue.position(viewer.id),
        entries=hand_entries(event, stage_id) if viewer.is_staff else None,
    )


def _sender_name(event: Event, sender_id: str | None) -> str:
    participant = event.participants.get(sender_id) if sender_id else None
    return participant.name if participant is not None else "Moderators"


def round_info(event: Event, round_: Round, now: float) -> p.RoundInfo:
    return p.RoundInfo(
        id=round_.id,
        title=round_.title,
        mode=round_.mode,
        room_ids=list(round_.room_ids),
        deadline=round_.deadline,
        remaining_s=round_.remaining_s(now),
        home_space_id=round_.home_space_id,
        broadcasts=[
            p.BroadcastInfo(
                text=b.text,
                sender_id=b.sender_id or "system",
                sender_name=_sender_name(event, b.sender_id),
                sent_at=b.sent_at,
            )
            for b in round_.broadcasts
        ],
    )


def you_info(event: Event, participant: Participant) -> p.YouInfo:
    return p.YouInfo(
        participant_id=participant.id,
        role=participant.role,
        space_id=participant.space_id,
        hand_position=event.hand_position(participant.id),
        slot=event.slot_of(participant.id),
        speaker=event.is_speaker(participant.id),
    )


def snapshot(
    event: Event,
    participant: Participant,
    chat: list[p.ChatInfo],
    *,
    now: float,
    member_list_limit: int,
) -> p.Snapshot:
    space = event.spaces[participant.space_id]
    count = event.count(space.id)
    listed = count <= member_list_limit and space.kind != "stage"
    round_ = event.current_round()
    return p.Snapshot(
        space=space_info(event, space),
        members=[participant_info(m) for m in event.members(space.id)] if listed else None,
        member_count=count,
        hand_queue=hand_queue_info(event, space.id, participant) if space.is_stage else None,
        slots=slots_info(event, space.id) if space.is_stage else None,
        round=round_info(event, round_, now) if round_ is not None else None,
        chat=chat,
        you=you_info(event, participant),
    )
