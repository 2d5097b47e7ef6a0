"""What each client request does. Shared by the websocket sessions and the REST endpoints.

Authorization is checked here for staff actions (and again by the model, which knows roles):
a request without the role never reaches the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from signaling import protocol as p
from signaling.auth import Identity
from signaling.media import MediaError, MediaPlane
from signaling.model import STAFF_ROLES, Change, Event
from signaling.server import views
from signaling.server.hub import Hub


class ActionError(Exception):
    """A request that cannot be carried out; becomes an ``error`` reply."""

    def __init__(self, code: p.ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code: p.ErrorCode = code
        self.message = message
        self.field = field


Result = dict[str, Any] | None
Handler = Callable[[Hub, Identity, Any], Awaitable[Result]]
_HANDLERS: dict[type[Any], Handler] = {}


def _handles(*types: type[Any]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for t in types:
            _HANDLERS[t] = handler
        return handler

    return register


async def perform(hub: Hub, who: Identity, message: Any) -> Result:
    """Carry out one request for ``who``. Raises ActionError or a model error."""
    tag = type(message).__struct_config__.tag
    if tag in p.STAFF_MESSAGE_TYPES and who.role not in STAFF_ROLES:
        raise ActionError("forbidden", f"`{tag}` is for moderators and hosts only")
    handler = _HANDLERS.get(type(message))
    if handler is None:
        raise ActionError("invalid", f"`{tag}` cannot be sent here")
    return await handler(hub, who, message)


def _actor(hub: Hub, who: Identity) -> str | None:
    """The acting participant for the model's own role check.

    Staff acting from a script over REST are not in the event; their token's role was
    checked in :func:`perform`, so the model sees them as the system (None).
    """
    event = hub.event
    if event is not None and who.participant_id in event.participants:
        return who.participant_id
    return None


async def _apply(hub: Hub, command: Callable[[Event, float], list[Change]]) -> Result:
    now = hub.clock.now()
    update = await hub.apply(lambda event: command(event, now))
    return {"version": update.version}


@_handles(p.Join, p.Move)
async def _join(hub: Hub, who: Identity, msg: p.Join | p.Move) -> Result:
    result = await _apply(hub, lambda e, now: e.join(who.participant_id, msg.space_id, now))
    return {**(result or {}), "space_id": msg.space_id}


@_handles(p.Leave)
async def _leave(hub: Hub, who: Identity, msg: p.Leave) -> Result:
    return await _apply(hub, lambda e, now: e.leave(who.participant_id, now))


@_handles(p.RaiseHand)
async def _raise(hub: Hub, who: Identity, msg: p.RaiseHand) -> Result:
    pid = who.participant_id
    await _apply(hub, lambda e, now: e.raise_hand(pid, now))
    return {"position": hub.event.hand_position(pid) if hub.event else None}


@_handles(p.LowerHand)
async def _lower(hub: Hub, who: Identity, msg: p.LowerHand) -> Result:
    return await _apply(hub, lambda e, now: e.lower_hand(who.participant_id, now))


@_handles(p.Chat)
async def _chat(hub: Hub, who: Identity, msg: p.Chat) -> Result:
    text = msg.text.strip()
    if not text:
        raise ActionError("invalid", "a chat message cannot be blank", "text")
    posted = await hub.post_chat(who, text, msg.scope)
    return {"message_id": posted.id}


@_handles(p.Sync)
async def _sync(hub: Hub, who: Identity, msg: p.Sync) -> Result:
    hub.send_snapshot(who.participant_id)
    return None


@_handles(p.Promote)
async def _promote(hub: Hub, who: Identity, msg: p.Promote) -> Result:
    actor = _actor(hub, who)
    await _apply(hub, lambda e, now: e.promote(actor, msg.participant_id, now, slot=msg.slot))
    return {"slot": hub.event.slot_of(msg.participant_id) if hub.event else None}


@_handles(p.Demote)
async def _demote(hub: Hub, who: Identity, msg: p.Demote) -> Result:
    actor = _actor(hub, who)
    return await _apply(hub, lambda e, now: e.demote(actor, msg.participant_id, now))


@_handles(p.SwapSlots)
async def _swap(hub: Hub, who: Identity, msg: p.SwapSlots) -> Result:
    actor = _actor(hub, who)
    return await _apply(hub, lambda e, now: e.swap_slots(actor, msg.stage_id, msg.a, msg.b, now))


@_handles(p.Dismiss)
async def _dismiss(hub: Hub, who: Identity, msg: p.Dismiss) -> Result:
    actor = _actor(hub, who)
    return await _apply(hub, lambda e, now: e.dismiss(actor, msg.participant_id, now))


@_handles(p.SetSpeaker)
async def _set_speaker(hub: Hub, who: Identity, msg: p.SetSpeaker) -> Result:
    actor = _actor(hub, who)
    return await _apply(hub, lambda e, now: e.set_speaker(actor, msg.participant_id, msg.on, now))


@_handles(p.MoveParticipant)
async def _move_participant(hub: Hub, who: Identity, msg: p.MoveParticipant) -> Result:
    actor = _actor(hub, who)
    return await _apply(
        hub, lambda e, now: e.move_participant(actor, msg.participant_id, msg.space_id, now)
    )


@_handles(p.OpenRound)
async def _open_round(hub: Hub, who: Identity, msg: p.OpenRound) -> Result:
    actor = _actor(hub, who)
    result = await _apply(
        hub,
        lambda e, now: e.open_round(
            actor,
            now,
            template_id=msg.template_id,
            room_count=msg.room_count,
            duration_s=msg.duration_s,
            mode=msg.mode,
            title=msg.title,
            home_space_id=msg.home_space_id,
            room_capacity=msg.room_capacity,
        ),
    )
    round_ = hub.event.current_round() if hub.event else None
    if round_ is not None:
        return {
            **(result or {}),
            "round_id": round_.id,
            "room_ids": list(round_.room_ids),
            "deadline": round_.deadline,
        }
    return result


@_handles(p.Assign)
async def _assign(hub: Hub, who: Identity, msg: p.Assign) -> Result:
    actor = _actor(hub, who)
    return await _apply(
        hub,
        lambda e, now: e.assign(actor, msg.round_id, msg.participant_id, msg.room_id, now),
    )


@_handles(p.Broadcast)
async def _broadcast(hub: Hub, who: Identity, msg: p.Broadcast) -> Result:
    actor = _actor(hub, who)
    round_id = msg.round_id
    if round_id is None:
        current = hub.event.current_round() if hub.event else None
        if current is None:
            raise ActionError("conflict", "no round is open to broadcast to", "round_id")
        round_id = current.id
    rid = round_id
    return await _apply(hub, lambda e, now: e.broadcast(actor, rid, msg.text, now))


@_handles(p.CloseRound)
async def _close_round(hub: Hub, who: Identity, msg: p.CloseRound) -> Result:
    actor = _actor(hub, who)
    return await _apply(hub, lambda e, now: e.close_round(actor, msg.round_id, now))


@_handles(p.MuteRequest)
async def _mute_request(hub: Hub, who: Identity, msg: p.MuteRequest) -> Result:
    actor = _actor(hub, who)
    return await _apply(
        hub, lambda e, now: e.request_mute(actor, msg.participant_id, msg.kind, now)
    )


FIND_LIMIT = 20


@_handles(p.FindParticipants)
async def _find(hub: Hub, who: Identity, msg: p.FindParticipants) -> Result:
    event = hub.event
    if event is None:
        return {"participants": []}
    query = msg.query.strip().casefold()
    found = [
        participant
        for participant in event.participants.values()
        if query in participant.name.casefold() or participant.id.startswith(msg.query.strip())
    ]
    found.sort(key=lambda person: (not person.name.casefold().startswith(query), person.name))
    return {
        "participants": [
            msgspec.to_builtins(views.participant_info(person)) for person in found[:FIND_LIMIT]
        ]
    }


@_handles(p.MediaMute)
async def _media_mute(hub: Hub, who: Identity, msg: p.MediaMute) -> Result:
    pid = who.participant_id
    return await _apply(hub, lambda e, now: e.set_muted(pid, msg.kind, msg.muted, now))


@_handles(p.Remove)
async def _remove(hub: Hub, who: Identity, msg: p.Remove) -> Result:
    event = hub.event
    if event is None or msg.participant_id not in event.participants:
        raise ActionError("not_found", "no such participant in the event", "participant_id")
    if msg.participant_id == who.participant_id:
        raise ActionError("invalid", "moderators cannot remove themselves", "participant_id")
    await hub.remove(msg.participant_id, msg.reason)
    return None


def _media_plane(hub: Hub) -> MediaPlane:
    if hub.media is None:
        raise ActionError("not_ready", "media is not enabled on this server")
    return hub.media


async def _open_media(hub: Hub, who: Identity, publish_sdp: str | None) -> Result:
    media = _media_plane(hub)
    pid = who.participant_id
    try:
        answer, offer = await media.open(pid, publish_sdp)
    except MediaError as exc:
        raise ActionError(exc.code, exc.message) from exc
    if answer is not None:
        hub.send_to(pid, p.SfuAnswer(sdp=answer, kind="publish"))
    hub.send_to(pid, p.SfuOffer(sdp=offer, kind="subscribe"))
    media.refresh([pid], force=True)
    return {"video_slots": hub.config.video_slots, "audio_slots": hub.config.audio_slots}


@_handles(p.MediaOffer)
async def _media_offer(hub: Hub, who: Identity, msg: p.MediaOffer) -> Result:
    if msg.kind != "publish":
        raise ActionError("invalid", "the browser offers only its publish connection", "kind")
    if msg.keep_subscribe:
        try:
            answer = await _media_plane(hub).add_publisher(who.participant_id, msg.sdp)
        except MediaError as exc:
            raise ActionError(exc.code, exc.message) from exc
        hub.send_to(who.participant_id, p.SfuAnswer(sdp=answer, kind="publish"))
        return None
    return await _open_media(hub, who, msg.sdp)


@_handles(p.MediaSubscribe)
async def _media_subscribe(hub: Hub, who: Identity, msg: p.MediaSubscribe) -> Result:
    return await _open_media(hub, who, None)


@_handles(p.MediaAnswer)
async def _media_answer(hub: Hub, who: Identity, msg: p.MediaAnswer) -> Result:
    if msg.kind != "subscribe":
        raise ActionError("invalid", "the browser answers only the subscribe offer", "kind")
    try:
        await _media_plane(hub).answer(who.participant_id, msg.sdp)
    except MediaError as exc:
        raise ActionError(exc.code, exc.message) from exc
    return None
