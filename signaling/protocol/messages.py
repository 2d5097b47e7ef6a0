"""Every message of the Podium wire protocol, as msgspec structs.

Client messages form the tagged union `ClientMessage`, server messages the tagged union
`ServerMessage`; the tag is the `"type"` field. The `*Info` structs are plain objects
nested inside messages. All structs are frozen and keyword-only, reject unknown fields and
leave fields at their default out of the encoded JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from signaling.protocol.constants import (
    MAX_CHAT_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    MAX_REQUEST_ID_CHARS,
    MAX_ROOM_CAPACITY,
    MAX_ROOM_COUNT,
    MAX_ROUND_DURATION_S,
    MAX_SDP_CHARS,
    MAX_TOKEN_CHARS,
    MIN_ROOM_COUNT,
    MIN_ROUND_DURATION_S,
    PROTOCOL_VERSION,
)

# ---------------------------------------------------------------------------
# Value types shared by many fields.

Role = Literal["attendee", "speaker", "moderator", "host"]
SpaceKind = Literal["stage", "booth", "breakout", "lobby"]
AssignMode = Literal["random", "choice", "manual"]
ChatScope = Literal["space", "event"]
MediaKind = Literal["audio", "video"]
MediaDirection = Literal["publish", "subscribe"]

ErrorCode = Literal[
    "bad_request",
    "unknown_type",
    "invalid",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "full",
    "rate_limited",
    "too_large",
    "not_ready",
    "internal",
]

#: What each error code means, in the order of `ErrorCode`.
ERROR_CODES: dict[str, str] = {
    "bad_request": "The frame is not valid UTF-8 JSON, or its top level is not a JSON object.",
    "unknown_type": 'The `"type"` field is missing, not a string, or names no message '
    "this side accepts.",
    "invalid": "A field is missing, has the wrong type, breaks a limit or is not part of the "
    "message (`field` names it); or the action makes no sense in the current state, such as "
    "raising a hand outside a stage.",
    "unauthorized": "The first message on the socket is not `hello`, or its token is "
    "malformed, expired or wrongly signed; the server closes the socket after this error.",
    "forbidden": "The participant's role does not allow this action (moderator actions need "
    "the moderator or host role).",
    "not_found": "The space, participant, round or template named in the request does not exist.",
    "conflict": "The request clashes with the current state, for example opening a round "
    "while another one is open, or a second `hello` on a signed-in socket.",
    "full": "The space is at capacity, or no Q&A slot is free.",
    "rate_limited": "Too many messages in a short time; this one was dropped. Slow down and retry.",
    "too_large": "The message exceeds `MAX_MESSAGE_BYTES`. On the WebSocket the server closes "
    "with code 1009 instead; HTTP endpoints answer with this code.",
    "not_ready": "The request came before the session can serve it, such as a media message "
    "before the media plane is available.",
    "internal": "The server failed unexpectedly while handling the request; the session stays up.",
}
if tuple(ERROR_CODES) != get_args(ErrorCode):  # pragma: no cover - guards edits of either list
    raise RuntimeError("ERROR_CODES and ErrorCode disagree")

Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
RequestId = Annotated[str, Meta(max_length=MAX_REQUEST_ID_CHARS)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"\S")]
ChatText = Annotated[str, Meta(min_length=1, max_length=MAX_CHAT_CHARS, pattern=r"\S")]
Sdp = Annotated[str, Meta(min_length=1, max_length=MAX_SDP_CHARS)]
Count = Annotated[int, Meta(ge=0)]
SlotIndex = Annotated[int, Meta(ge=0)]
Timestamp = Annotated[float, Meta(ge=0)]
Position = Annotated[int, Meta(ge=1)]

_TIMESTAMP = "Seconds since the Unix epoch, by the server's clock."
_SLOT_INDEX = "Index of a Q&A slot on the stage, counting from 0."


class _Base(
    msgspec.Struct,
    forbid_unknown_fields=True,
    omit_defaults=True,
    frozen=True,
    kw_only=True,
):
    """Options shared by every struct of the protocol."""


class _Tagged(_Base, tag_field="type", frozen=True, kw_only=True):
    """A message: an object whose `"type"` field says which struct it is."""


# ---------------------------------------------------------------------------
# Objects nested in server messages.


class ParticipantInfo(_Base, frozen=True, kw_only=True):
    """A participant as other participants see them."""

    id: Id
    name: Annotated[str, Meta(description="Display name.")]
    role: Role
    space_id: Annotated[Id, Meta(description="The space the participant is in.")]
    muted_audio: Annotated[bool, Meta(description="They muted their microphone.")] = False
    muted_video: Annotated[bool, Meta(description="They turned their camera off.")] = False


class SpaceInfo(_Base, frozen=True, kw_only=True):
    """A space of the event: a stage, a booth, a breakout room or the lobby."""

    id: Id
    kind: SpaceKind
    title: Annotated[str, Meta(description="Shown in the agenda.")]
    description: str = ""
    capacity: Annotated[
        Count | None, Meta(description="Most participants allowed in at once; null: no limit.")
    ] = None
    participants: Annotated[Count, Meta(description="How many participants are in it now.")] = 0
    round_id: Annotated[
        Id | None, Meta(description="The round this breakout room belongs to, if any.")
    ] = None
    speaker_seats: Annotated[Count, Meta(description="Speaker seats (stages only).")] = 0
    qa_slots: Annotated[Count, Meta(description="Q&A slots for the audience (stages only).")] = 0


class RoundTemplateInfo(_Base, frozen=True, kw_only=True):
    """A reusable shape for a discussion round, offered to moderators."""

    id: Id
    title: str
    room_count: Annotated[int, Meta(ge=1, description="How many breakout rooms it opens.")]
    duration_s: Annotated[float, Meta(gt=0, description="Length of the round in seconds.")]
    room_capacity: Annotated[
        int | None, Meta(description="Capacity of each room; null: no limit.")
    ] = None


class EventInfo(_Base, frozen=True, kw_only=True):
    """The event: its title and every space, for the agenda."""

    id: Id
    title: str
    description: str = ""
    spaces: Annotated[
        list[SpaceInfo], Meta(description="Every space, with live participant counts.")
    ]
    templates: Annotated[
        list[RoundTemplateInfo], Meta(description="Round templates, for moderators' defaults.")
    ] = []


class HandEntryInfo(_Base, frozen=True, kw_only=True):
    """One raised hand in a stage's queue."""

    participant_id: Id
    name: Annotated[str, Meta(description="Display name of the participant.")]
    position: Annotated[Position, Meta(description="Place in the queue, counting from 1.")]
    raised_at: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class HandQueueInfo(_Base, frozen=True, kw_only=True):
    """The hand queue of a stage, as the receiver may see it."""

    stage_id: Annotated[Id, Meta(description="The stage this queue belongs to.")]
    length: Annotated[Count, Meta(description="How many hands are raised.")]
    position: Annotated[
        Position | None,
        Meta(description="The receiver's own place in the queue (from 1); null if not queued."),
    ] = None
    entries: Annotated[
        list[HandEntryInfo] | None,
        Meta(description="The whole queue in order; sent to moderators and hosts only."),
    ] = None


class SlotInfo(_Base, frozen=True, kw_only=True):
    """One Q&A slot of a stage and who occupies it."""

    index: Annotated[SlotIndex, Meta(description=_SLOT_INDEX)]
    participant: Annotated[
        ParticipantInfo | None, Meta(description="The occupant; null while the slot is free.")
    ] = None


class SlotsInfo(_Base, frozen=True, kw_only=True):
    """Who is on a stage by video: the Q&A slots and the speaker seats."""

    stage_id: Annotated[Id, Meta(description="The stage these slots belong to.")]
    slots: Annotated[list[SlotInfo], Meta(description="Every Q&A slot of the stage, by index.")]
    speakers: Annotated[
        list[ParticipantInfo], Meta(description="Participants on the stage's speaker seats.")
    ] = []


class BroadcastInfo(_Base, frozen=True, kw_only=True):
    """A message a moderator sent to every room of a round."""

    text: str
    sender_id: Annotated[Id, Meta(description="The moderator who sent it.")]
    sender_name: str
    sent_at: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class RoundInfo(_Base, frozen=True, kw_only=True):
    """A discussion round: its breakout rooms and its countdown."""

    id: Id
    title: Annotated[str, Meta(description="Shown in every room of the round.")]
    mode: Annotated[
        AssignMode,
        Meta(
            description="How people get into rooms: `random` (moved by the server), `choice` "
            "(they join a room themselves) or `manual` (moderators assign them)."
        ),
    ]
    room_ids: Annotated[list[Id], Meta(description="The round's breakout spaces.")]
    deadline: Annotated[Timestamp, Meta(description="When the round closes. " + _TIMESTAMP)]
    remaining_s: Annotated[float, Meta(ge=0, description="Seconds left when the message was sent.")]
    home_space_id: Annotated[
        Id, Meta(description="Where people go back to when their original space is gone.")
    ]
    broadcasts: list[BroadcastInfo] = []


class ChatInfo(_Base, frozen=True, kw_only=True):
    """One chat message."""

    id: Annotated[Id, Meta(description="Unique within the event.")]
    scope: Annotated[
        ChatScope,
        Meta(description="`space`: seen by the members of one space; `event`: seen by everyone."),
    ]
    space_id: Annotated[Id | None, Meta(description="The space, for `space` scope.")] = None
    sender_id: Id
    sender_name: str
    text: Annotated[str, Meta(description="The message, 1 to 2000 characters.")]
    sent_at: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class YouInfo(_Base, frozen=True, kw_only=True):
    """The receiver's own state."""

    participant_id: Id
    role: Role
    space_id: Annotated[Id, Meta(description="The space the receiver is in.")]
    hand_position: Annotated[
        Position | None, Meta(description="Place in the hand queue (from 1); null if no hand.")
    ] = None
    slot: Annotated[
        SlotIndex | None, Meta(description="The Q&A slot the receiver occupies, if any.")
    ] = None
    speaker: Annotated[bool, Meta(description="True while on a speaker seat.")] = False


# ---------------------------------------------------------------------------
# Client -> server.


class _ClientBase(_Tagged, frozen=True, kw_only=True):
    """Fields every client message has."""

    id: Annotated[
        RequestId | None, Meta(description="Chosen by the client; echoed in the reply.")
    ] = None


class Hello(_ClientBase, tag="hello", frozen=True, kw_only=True):
    """The first message on a new socket: the client authenticates with its token.

    The server answers with `welcome` and a `snapshot`, or with an `unauthorized` error and
    closes the socket.
    """

    token: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_TOKEN_CHARS,
            description="The access token from `POST /api/register` or `podium token`.",
        ),
    ]
    protocol: Annotated[int, Meta(ge=1, description="The protocol version the client speaks.")] = (
        PROTOCOL_VERSION
    )


class Join(_ClientBase, tag="join", frozen=True, kw_only=True):
    """A participant asks to enter a space; on success a `snapshot` of that space follows."""

    space_id: Annotated[Id, Meta(description="The space to enter.")]


class Move(_ClientBase, tag="move", frozen=True, kw_only=True):
    """Same as `join`: the participant goes to another space, leaving the current one."""

    space_id: Annotated[Id, Meta(description="The space to go to.")]


class Leave(_ClientBase, tag="leave", frozen=True, kw_only=True):
    """A participant leaves their space and goes back to the lobby."""


class RaiseHand(_ClientBase, tag="raise_hand", frozen=True, kw_only=True):
    """A participant in a stage audience raises a hand to ask a question.

    Raising twice keeps the original place; the receiver's position comes in `hand_queue`.
    """


class LowerHand(_ClientBase, tag="lower_hand", frozen=True, kw_only=True):
    """A participant lowers their raised hand and leaves the queue."""


class Chat(_ClientBase, tag="chat", frozen=True, kw_only=True):
    """A participant posts a chat message to their space or to the whole event.

    Everyone in the scope, the sender included, receives it as a server `chat` message.
    """

    text: Annotated[ChatText, Meta(description="The message, 1 to 2000 characters, not blank.")]
    scope: Annotated[
        ChatScope,
        Meta(description="`space`: the members of the sender's space; `event`: everyone."),
    ] = "space"


class Sync(_ClientBase, tag="sync", frozen=True, kw_only=True):
    """A client asks for a fresh `snapshot` of its space, for example after missing updates."""


class FindParticipants(_ClientBase, tag="find_participants", frozen=True, kw_only=True):
    """A moderator looks participants up by name or id, anywhere in the event.

    The `ack` carries `result.participants`: up to 20 matches as `ParticipantInfo` objects.
    """

    query: Annotated[
        str, Meta(min_length=1, max_length=MAX_NAME_CHARS, description="Part of a name or id.")
    ]


class Ping(_ClientBase, tag="ping", frozen=True, kw_only=True):
    """A client checks the connection; the server answers with `pong`."""


class Promote(_ClientBase, tag="promote", frozen=True, kw_only=True):
    """A moderator brings a participant of the stage into a Q&A slot, taking their hand down.

    Everyone in the stage receives the new `slots`; a `full` error means no slot was free.
    """

    participant_id: Annotated[Id, Meta(description="The participant to bring on stage.")]
    slot: Annotated[
        SlotIndex | None, Meta(description="The slot to use; null: the first free one.")
    ] = None


class Demote(_ClientBase, tag="demote", frozen=True, kw_only=True):
    """A moderator frees a participant's Q&A slot; the participant stays in the audience."""

    participant_id: Annotated[Id, Meta(description="The participant whose slot is freed.")]


class SwapSlots(_ClientBase, tag="swap_slots", frozen=True, kw_only=True):
    """A moderator swaps the occupants of two Q&A slots of a stage."""

    stage_id: Annotated[Id, Meta(description="The stage whose slots are swapped.")]
    a: Annotated[SlotIndex, Meta(description=_SLOT_INDEX)]
    b: Annotated[SlotIndex, Meta(description=_SLOT_INDEX)]


class Dismiss(_ClientBase, tag="dismiss", frozen=True, kw_only=True):
    """A moderator takes down a participant's raised hand without promoting them."""

    participant_id: Annotated[Id, Meta(description="The participant whose hand is taken down.")]


class MoveParticipant(_ClientBase, tag="move_participant", frozen=True, kw_only=True):
    """A moderator moves a participant to another space, ignoring its capacity.

    The participant receives `moved`, then a `snapshot` of the new space.
    """

    participant_id: Annotated[Id, Meta(description="The participant to move.")]
    space_id: Annotated[Id, Meta(description="Where to move them.")]


class OpenRound(_ClientBase, tag="open_round", frozen=True, kw_only=True):
    """A moderator opens a discussion round: breakout rooms with a countdown.

    Give a `template_id`, or `room_count` and `duration_s`, or both (explicit values override
    the template). Everyone receives `space_added` for each room and `round`; in `random` mode
    the participants of the home space are spread over the rooms.
    """

    template_id: Annotated[Id | None, Meta(description="A round template of the event.")] = None
    room_count: Annotated[
        Annotated[int, Meta(ge=MIN_ROOM_COUNT, le=MAX_ROOM_COUNT)] | None,
        Meta(description="How many breakout rooms to open."),
    ] = None
    duration_s: Annotated[
        Annotated[float, Meta(ge=MIN_ROUND_DURATION_S, le=MAX_ROUND_DURATION_S)] | None,
        Meta(description="Length of the round in seconds."),
    ] = None
    mode: Annotated[
        AssignMode,
        Meta(
            description="`random`: the server spreads people over the rooms; `choice`: people "
            "join a room themselves; `manual`: moderators `assign` them."
        ),
    ] = "random"
    title: Annotated[
        Name | None, Meta(description="Shown to participants; null: the template's title.")
    ] = None
    home_space_id: Annotated[
        Id | None,
        Meta(description="The space whose audience takes part; null: the first stage."),
    ] = None
    room_capacity: Annotated[
        Annotated[int, Meta(ge=1, le=MAX_ROOM_CAPACITY)] | None,
        Meta(description="Capacity of each room; null: the template's or no limit."),
    ] = None


class Assign(_ClientBase, tag="assign", frozen=True, kw_only=True):
    """A moderator puts a participant into one of the rooms of an open round."""

    round_id: Annotated[Id, Meta(description="An open round.")]
    participant_id: Annotated[Id, Meta(description="The participant to put into the room.")]
    room_id: Annotated[Id, Meta(description="A breakout space of that round.")]


class Broadcast(_ClientBase, tag="broadcast", frozen=True, kw_only=True):
    """A moderator sends a message to every room of a round; members receive `broadcast`."""

    text: Annotated[ChatText, Meta(description="The message, 1 to 2000 characters, not blank.")]
    round_id: Annotated[Id | None, Meta(description="null: the round that is open now.")] = None


class CloseRound(_ClientBase, tag="close_round", frozen=True, kw_only=True):
    """A moderator closes a round early; everyone in its rooms goes back where they came from."""

    round_id: Annotated[Id, Meta(description="The round to close.")]


class MuteRequest(_ClientBase, tag="mute_request", frozen=True, kw_only=True):
    """A moderator asks a participant to mute their microphone or camera.

    The participant receives `mute_request`; muting stays their own decision.
    """

    participant_id: Annotated[Id, Meta(description="The participant asked to mute.")]
    kind: Annotated[MediaKind, Meta(description="Microphone (`audio`) or camera (`video`).")]


class Remove(_ClientBase, tag="remove", frozen=True, kw_only=True):
    """A moderator removes a participant from the event.

    The participant receives `removed` and their socket closes with code 4003.
    """

    participant_id: Annotated[Id, Meta(description="The participant to remove.")]
    reason: Annotated[
        Annotated[str, Meta(min_length=1, max_length=MAX_REASON_CHARS)] | None,
        Meta(description="Shown to the removed participant."),
    ] = None


class SetSpeaker(_ClientBase, tag="set_speaker", frozen=True, kw_only=True):
    """A moderator gives a participant of a stage a speaker seat, or takes it away."""

    participant_id: Annotated[Id, Meta(description="A participant in the stage.")]
    on: Annotated[bool, Meta(description="True: give a seat; false: take it away.")]


class MediaOffer(_ClientBase, tag="media_offer", frozen=True, kw_only=True):
    """The browser offers its camera and microphone on its publish connection.

    Sent once per page load, with `kind` `publish`. The server replies with `media_answer`
    (publish) and then `media_offer` (subscribe) carrying the fixed set of receive slots,
    and `media_slots` whenever who is shown in which slot changes. A second offer replaces
    the participant's media connections (after a page reload, say).
    """

    sdp: Sdp
    kind: Annotated[
        MediaDirection, Meta(description="Always `publish`: the browser offers what it sends.")
    ]
    keep_subscribe: Annotated[
        bool,
        Meta(
            description="True: only add a publish connection to the media started with "
            "`media_subscribe` (a viewer turning the camera on); the subscribe connection "
            "stays as it is and no new `media_offer` follows."
        ),
    ] = False


class MediaSubscribe(_ClientBase, tag="media_subscribe", frozen=True, kw_only=True):
    """The browser publishes nothing and asks only for the subscribe connection.

    The server replies with `media_offer` (subscribe) and `media_slots`.
    """


class MediaAnswer(_ClientBase, tag="media_answer", frozen=True, kw_only=True):
    """The browser answers the server's `media_offer` for its subscribe connection."""

    sdp: Sdp
    kind: Annotated[MediaDirection, Meta(description="Which of the two connections.")]


class MediaMute(_ClientBase, tag="media_mute", frozen=True, kw_only=True):
    """A participant tells the server they muted or unmuted their microphone or camera."""

    kind: Annotated[MediaKind, Meta(description="Microphone (`audio`) or camera (`video`).")]
    muted: Annotated[bool, Meta(description="True: muted now; false: live again.")]


ClientMessage = (
    Hello
    | Join
    | Move
    | Leave
    | RaiseHand
    | LowerHand
    | Chat
    | Sync
    | Ping
    | Promote
    | Demote
    | SwapSlots
    | Dismiss
    | MoveParticipant
    | OpenRound
    | Assign
    | Broadcast
    | CloseRound
    | MuteRequest
    | Remove
    | SetSpeaker
    | FindParticipants
    | MediaOffer
    | MediaSubscribe
    | MediaAnswer
    | MediaMute
)


# ---------------------------------------------------------------------------
# Server -> client.


class Welcome(_Tagged, tag="welcome", frozen=True, kw_only=True):
    """The server accepts a `hello`: who the participant is and what the event holds.

    A `snapshot` of the participant's space follows.
    """

    protocol: Annotated[int, Meta(ge=1, description="The protocol version the server speaks.")]
    participant: ParticipantInfo
    event: EventInfo
    server_time: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class Ack(_Tagged, tag="ack", frozen=True, kw_only=True):
    """The server applied a request; `id` is the request's id."""

    id: Annotated[RequestId | None, Meta(description="The id of the request.")] = None
    result: Annotated[dict[str, Any] | None, Meta(description="Details some requests return.")] = (
        None
    )


class ErrorReply(_Tagged, tag="error", frozen=True, kw_only=True):
    """The server could not apply a request, or could not read it; the session stays up."""

    id: Annotated[
        str | None, Meta(description="The failed request's id, when it could be read.")
    ] = None
    code: Annotated[ErrorCode, Meta(description="What went wrong, for programs; see Errors.")]
    message: Annotated[str, Meta(description="A sentence for humans.")]
    field: Annotated[
        str | None,
        Meta(description="Path of the offending field, such as `text` or `slots[0].index`."),
    ] = None


class Snapshot(_Tagged, tag="snapshot", frozen=True, kw_only=True):
    """The whole state of the receiver's space, sent after `welcome`, after every move and on
    `sync`.

    Later changes to that space arrive as `space_delta`, `hand_queue`, `slots` and `round`.
    """

    space: Annotated[SpaceInfo, Meta(description="The receiver's space.")]
    members: Annotated[
        list[ParticipantInfo] | None,
        Meta(description="Everyone in the space; null for spaces too large to list."),
    ] = None
    member_count: Annotated[Count, Meta(description="How many participants are in the space.")]
    hand_queue: Annotated[HandQueueInfo | None, Meta(description="Stages only.")] = None
    slots: Annotated[SlotsInfo | None, Meta(description="Stages only.")] = None
    round: Annotated[RoundInfo | None, Meta(description="The open round, if any.")] = None
    chat: Annotated[
        list[ChatInfo], Meta(description="Recent chat of the space and the event, oldest first.")
    ] = []
    you: Annotated[YouInfo, Meta(description="The receiver's own state in this space.")]


class SpaceDelta(_Tagged, tag="space_delta", frozen=True, kw_only=True):
    """Membership of the receiver's space changed; several changes are coalesced into one.

    `joined` and `left` are filled only for spaces small enough to list their members.
    """

    space_id: Annotated[Id, Meta(description="The receiver's space.")]
    member_count: Annotated[Count, Meta(description="How many participants are in the space now.")]
    joined: Annotated[list[ParticipantInfo], Meta(description="Participants who arrived.")] = []
    left: Annotated[list[Id], Meta(description="Ids of participants who left.")] = []


class Counts(_Tagged, tag="counts", frozen=True, kw_only=True):
    """Live participant counts of every space, coalesced, for the agenda."""

    counts: Annotated[dict[str, Count], Meta(description="Space id to participant count.")]


class HandQueueUpdate(_Tagged, tag="hand_queue", frozen=True, kw_only=True):
    """The hand queue of the receiver's stage changed."""

    stage_id: Annotated[Id, Meta(description="The stage this queue belongs to.")]
    length: Annotated[Count, Meta(description="How many hands are raised.")]
    position: Annotated[
        Position | None,
        Meta(description="The receiver's own place in the queue (from 1); null if not queued."),
    ] = None
    entries: Annotated[
        list[HandEntryInfo] | None,
        Meta(description="The whole queue in order; sent to moderators and hosts only."),
    ] = None


class SlotsUpdate(_Tagged, tag="slots", frozen=True, kw_only=True):
    """The Q&A slots or speaker seats of the receiver's stage changed."""

    stage_id: Annotated[Id, Meta(description="The stage these slots belong to.")]
    slots: Annotated[list[SlotInfo], Meta(description="Every Q&A slot of the stage, by index.")]
    speakers: Annotated[
        list[ParticipantInfo], Meta(description="Participants on the stage's speaker seats.")
    ] = []


class RoundUpdate(_Tagged, tag="round", frozen=True, kw_only=True):
    """A round opened or changed (assignments, broadcasts); `remaining_s` drives the countdown."""

    round: RoundInfo


class RoundClosed(_Tagged, tag="round_closed", frozen=True, kw_only=True):
    """A round closed; its rooms are gone and their members were sent back."""

    round_id: Annotated[Id, Meta(description="The round that closed.")]


class ChatPosted(_Tagged, tag="chat", frozen=True, kw_only=True):
    """A chat message for the receiver: posted in their space, or event-wide."""

    message: ChatInfo


class BroadcastPosted(_Tagged, tag="broadcast", frozen=True, kw_only=True):
    """A moderator's message to every room of a round, shown prominently."""

    round_id: Annotated[Id, Meta(description="The round the message was sent to.")]
    text: str
    sender_name: Annotated[str, Meta(description="Display name of the moderator who sent it.")]
    sent_at: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class Moved(_Tagged, tag="moved", frozen=True, kw_only=True):
    """The receiver was moved to another space; a `snapshot` of it follows."""

    space_id: Annotated[Id, Meta(description="The space the receiver is in now.")]
    by: Annotated[
        str | None,
        Meta(
            description="Name of the moderator who moved them; null when a round "
            "opening or closing did."
        ),
    ] = None


class MuteRequested(_Tagged, tag="mute_request", frozen=True, kw_only=True):
    """A moderator asks the receiver to mute their microphone or camera."""

    kind: Annotated[MediaKind, Meta(description="Microphone (`audio`) or camera (`video`).")]
    by: Annotated[str | None, Meta(description="Name of the moderator who asks.")] = None


class Removed(_Tagged, tag="removed", frozen=True, kw_only=True):
    """A moderator removed the receiver from the event; the socket closes with code 4003."""

    reason: Annotated[str | None, Meta(description="Why, when the moderator said.")] = None


class ParticipantUpdated(_Tagged, tag="participant_updated", frozen=True, kw_only=True):
    """A participant the receiver can see changed, such as muting their microphone."""

    participant: ParticipantInfo


class SpaceAdded(_Tagged, tag="space_added", frozen=True, kw_only=True):
    """A space was created, such as a round's breakout room."""

    space: Annotated[SpaceInfo, Meta(description="The new space.")]


class SpaceRemoved(_Tagged, tag="space_removed", frozen=True, kw_only=True):
    """A space was removed, such as a closed round's breakout room."""

    space_id: Annotated[Id, Meta(description="The space that is gone.")]


class Pong(_Tagged, tag="pong", frozen=True, kw_only=True):
    """The answer to `ping`."""

    id: Annotated[RequestId | None, Meta(description="The id of the `ping`.")] = None
    server_time: Annotated[Timestamp, Meta(description=_TIMESTAMP)]


class SfuOffer(_Tagged, tag="media_offer", frozen=True, kw_only=True):
    """The server offers the subscribe connection: a fixed set of send-only slots.

    It is negotiated once; moves, promotions and speaker changes only re-point slots, which
    `media_slots` reports.
    """

    sdp: str
    kind: Annotated[MediaDirection, Meta(description="Which of the two connections.")]


class SfuAnswer(_Tagged, tag="media_answer", frozen=True, kw_only=True):
    """The server answers the browser's `media_offer` for the publish connection."""

    sdp: str
    kind: Annotated[MediaDirection, Meta(description="Which of the two connections.")]


class MediaSlotInfo(_Base, frozen=True, kw_only=True):
    """One receive slot of the subscribe connection and whose media it carries now."""

    slot_id: Annotated[str, Meta(description="Stable name of the slot, such as `v0` or `a3`.")]
    kind: MediaKind
    mid: Annotated[
        str | None, Meta(description="The m-line (transceiver mid) of the subscribe connection.")
    ] = None
    participant_id: Annotated[
        Id | None, Meta(description="Whose media the slot carries; null while empty.")
    ] = None
    name: Annotated[str | None, Meta(description="That participant's display name.")] = None
    role: Annotated[
        Literal["speaker", "qa", "member"] | None,
        Meta(description="Why they are shown: a speaker seat, a Q&A slot, or a room member."),
    ] = None


class MediaSlots(_Tagged, tag="media_slots", frozen=True, kw_only=True):
    """Who is in which receive slot, sent whenever it changes for the receiver."""

    slots: list[MediaSlotInfo]


class MediaState(_Tagged, tag="media_state", frozen=True, kw_only=True):
    """The state of the receiver's media connections, as the server sees them.

    `reconnect` means the server lost the connection on its side (the media worker that
    carried it stopped): negotiate both connections again, as at the start (`media_offer`,
    or `media_subscribe` when publishing nothing). The participant keeps their place.
    """

    connection: Annotated[MediaDirection, Meta(description="Which of the two connections.")]
    state: Annotated[
        Literal["connected", "failed", "closed", "reconnect"],
        Meta(description="Its new state."),
    ]
    reason: str | None = None


class MediaWatched(_Tagged, tag="media_watched", frozen=True, kw_only=True):
    """Whether anyone receives the receiver's camera and microphone right now.

    Sent when the publish connection is up and whenever it changes (a promotion, a move, a
    round). Send only what someone receives: pause a track nobody receives, without
    renegotiating (the web client sets its sender's encoding inactive), and resume it when
    it is watched again. The server drops what still arrives of an unwatched track.
    """

    video: Annotated[bool, Meta(description="Someone receives your camera.")]
    audio: Annotated[bool, Meta(description="Someone receives your microphone.")]


ServerMessage = (
    Welcome
    | Ack
    | ErrorReply
    | Snapshot
    | SpaceDelta
    | Counts
    | HandQueueUpdate
    | SlotsUpdate
    | RoundUpdate
    | RoundClosed
    | ChatPosted
    | BroadcastPosted
    | Moved
    | MuteRequested
    | Removed
    | ParticipantUpdated
    | SpaceAdded
    | SpaceRemoved
    | Pong
    | SfuOffer
    | SfuAnswer
    | MediaSlots
    | MediaState
    | MediaWatched
)


def _by_tag(union: Any) -> dict[str, type[msgspec.Struct]]:
    return {cls.__struct_config__.tag: cls for cls in get_args(union)}


#: Client message classes by their `"type"` tag, in declaration order.
CLIENT_MESSAGE_TYPES: dict[str, type[msgspec.Struct]] = _by_tag(ClientMessage)
#: Server message classes by their `"type"` tag, in declaration order.
SERVER_MESSAGE_TYPES: dict[str, type[msgspec.Struct]] = _by_tag(ServerMessage)

#: Client messages only moderators and hosts may send.
STAFF_MESSAGE_TYPES: frozenset[str] = frozenset(
    {
        "promote",
        "demote",
        "swap_slots",
        "dismiss",
        "move_participant",
        "open_round",
        "assign",
        "broadcast",
        "close_round",
        "mute_request",
        "remove",
        "set_speaker",
        "find_participants",
    }
)
#: Client messages of the media negotiation, handled by the SFU integration.
MEDIA_MESSAGE_TYPES: frozenset[str] = frozenset(
    {"media_offer", "media_subscribe", "media_answer", "media_mute"}
)

#: Struct classes nested inside messages, in the order the documentation lists them.
INFO_TYPES: tuple[type[msgspec.Struct], ...] = (
    ParticipantInfo,
    SpaceInfo,
    EventInfo,
    RoundTemplateInfo,
    HandEntryInfo,
    HandQueueInfo,
    SlotInfo,
    SlotsInfo,
    BroadcastInfo,
    RoundInfo,
    ChatInfo,
    YouInfo,
    MediaSlotInfo,
)
