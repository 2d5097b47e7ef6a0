"""One realistic example of every message, for the documentation, tests and bots.

The values follow the demo event: a main stage, project booths and a discussion round.
"""

from __future__ import annotations

from signaling.protocol.constants import PROTOCOL_VERSION
from signaling.protocol.messages import (
    Ack,
    Assign,
    Broadcast,
    BroadcastInfo,
    BroadcastPosted,
    Chat,
    ChatInfo,
    ChatPosted,
    ClientMessage,
    CloseRound,
    Counts,
    Demote,
    Dismiss,
    ErrorReply,
    EventInfo,
    FindParticipants,
    HandEntryInfo,
    HandQueueInfo,
    HandQueueUpdate,
    Hello,
    Join,
    Leave,
    LowerHand,
    MediaAnswer,
    MediaMute,
    MediaOffer,
    MediaSlotInfo,
    MediaSlots,
    MediaState,
    MediaSubscribe,
    MediaWatched,
    Move,
    Moved,
    MoveParticipant,
    MuteRequest,
    MuteRequested,
    OpenRound,
    ParticipantInfo,
    ParticipantUpdated,
    Ping,
    Pong,
    Promote,
    RaiseHand,
    Remove,
    Removed,
    RoundClosed,
    RoundInfo,
    RoundUpdate,
    ServerMessage,
    SetSpeaker,
    SfuAnswer,
    SfuOffer,
    SlotInfo,
    SlotsInfo,
    SlotsUpdate,
    Snapshot,
    SpaceAdded,
    SpaceDelta,
    SpaceInfo,
    SpaceRemoved,
    SwapSlots,
    Sync,
    Welcome,
    YouInfo,
)

# 2026-05-12 14:00:00 UTC, the first afternoon of the demo summit.
T0 = 1778594400.0

_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
)
_SDP_RECV = _SDP.replace("sendonly", "recvonly")

ADA = ParticipantInfo(id="p-4f1c", name="Ada Obi", role="attendee", space_id="main-stage")
LEE = ParticipantInfo(id="p-9b27", name="Lee Park", role="attendee", space_id="main-stage")
MOD = ParticipantInfo(id="p-0001", name="Sam Rivera", role="moderator", space_id="main-stage")
MIA = ParticipantInfo(id="p-77aa", name="Mia Chen", role="attendee", space_id="booth-07")
HOST = ParticipantInfo(id="p-0002", name="Noor Haddad", role="host", space_id="main-stage")

MAIN_STAGE = SpaceInfo(
    id="main-stage",
    kind="stage",
    title="Main stage",
    description="Keynotes and live Q&A.",
    capacity=2000,
    participants=1184,
    speaker_seats=4,
    qa_slots=2,
)
BOOTH = SpaceInfo(
    id="booth-07",
    kind="booth",
    title="OpenMaps for Schools",
    description="Students map their neighbourhoods with open data.",
    capacity=12,
    participants=5,
)
ROOM = SpaceInfo(
    id="round-1-room-3",
    kind="breakout",
    title="Room 3",
    capacity=12,
    participants=0,
    round_id="round-1",
)

ROUND = RoundInfo(
    id="round-1",
    title="Discussion round",
    mode="random",
    room_ids=["round-1-room-1", "round-1-room-2", "round-1-room-3"],
    deadline=T0 + 900,
    remaining_s=612.5,
    home_space_id="main-stage",
    broadcasts=[
        BroadcastInfo(
            text="Five minutes left: agree on one idea to share.",
            sender_id=MOD.id,
            sender_name=MOD.name,
            sent_at=T0 + 300,
        )
    ],
)

CHAT = ChatInfo(
    id="c-1042",
    scope="space",
    space_id="main-stage",
    sender_id=ADA.id,
    sender_name=ADA.name,
    text="Will the slides be shared after the talk?",
    sent_at=T0 + 42.5,
)

HAND_ENTRIES = [
    HandEntryInfo(participant_id=LEE.id, name=LEE.name, position=1, raised_at=T0 + 120),
    HandEntryInfo(participant_id=ADA.id, name=ADA.name, position=2, raised_at=T0 + 131.2),
]

SLOTS = [SlotInfo(index=0, participant=LEE), SlotInfo(index=1)]

#: One example of each client message, by tag.
CLIENT_EXAMPLES: dict[str, ClientMessage] = {
    "hello": Hello(token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwLTRmMWMifQ.c2lnbmF0dXJl", id="1"),
    "join": Join(space_id="booth-07", id="2"),
    "move": Move(space_id="main-stage", id="3"),
    "leave": Leave(id="4"),
    "raise_hand": RaiseHand(id="5"),
    "lower_hand": LowerHand(id="6"),
    "chat": Chat(text="Will the slides be shared after the talk?", id="7"),
    "sync": Sync(id="8"),
    "ping": Ping(id="9"),
    "promote": Promote(participant_id=ADA.id, id="m1"),
    "demote": Demote(participant_id=ADA.id, id="m2"),
    "swap_slots": SwapSlots(stage_id="main-stage", a=0, b=1, id="m3"),
    "dismiss": Dismiss(participant_id=LEE.id, id="m4"),
    "move_participant": MoveParticipant(participant_id=ADA.id, space_id="booth-07", id="m5"),
    "open_round": OpenRound(template_id="discussion-round", mode="random", id="m6"),
    "assign": Assign(round_id="round-1", participant_id=ADA.id, room_id="round-1-room-3", id="m7"),
    "broadcast": Broadcast(text="Five minutes left: agree on one idea to share.", id="m8"),
    "close_round": CloseRound(round_id="round-1", id="m9"),
    "mute_request": MuteRequest(participant_id=LEE.id, kind="audio", id="m10"),
    "remove": Remove(participant_id="p-6d02", reason="Repeated spam in the chat.", id="m11"),
    "set_speaker": SetSpeaker(participant_id=HOST.id, on=True, id="m12"),
    "find_participants": FindParticipants(query="ada", id="m13"),
    "media_offer": MediaOffer(sdp=_SDP, kind="publish", id="s1"),
    "media_subscribe": MediaSubscribe(id="s4"),
    "media_answer": MediaAnswer(sdp=_SDP_RECV, kind="subscribe", id="s2"),
    "media_mute": MediaMute(kind="video", muted=True, id="s3"),
}

#: One example of each server message, by tag.
SERVER_EXAMPLES: dict[str, ServerMessage] = {
    "welcome": Welcome(
        protocol=PROTOCOL_VERSION,
        participant=ADA,
        event=EventInfo(
            id="podium-summit",
            title="Podium Summit 2026",
            description="Two days of talks, project booths and discussion rounds.",
            spaces=[
                SpaceInfo(id="lobby", kind="lobby", title="Lobby", participants=96),
                MAIN_STAGE,
                BOOTH,
            ],
        ),
        server_time=T0,
    ),
    "ack": Ack(id="2"),
    "error": ErrorReply(
        id="7",
        code="invalid",
        message="Field 'text' must have at most 2000 characters.",
        field="text",
    ),
    "snapshot": Snapshot(
        space=MAIN_STAGE,
        members=None,
        member_count=1184,
        hand_queue=HandQueueInfo(stage_id="main-stage", length=2, position=2),
        slots=SlotsInfo(stage_id="main-stage", slots=SLOTS, speakers=[HOST]),
        chat=[CHAT],
        you=YouInfo(participant_id=ADA.id, role="attendee", space_id="main-stage", hand_position=2),
    ),
    "space_delta": SpaceDelta(
        space_id="booth-07",
        member_count=6,
        joined=[
            ParticipantInfo(id="p-77aa", name="Mia Chen", role="attendee", space_id="booth-07")
        ],
        left=["p-31e0"],
    ),
    "counts": Counts(counts={"lobby": 96, "main-stage": 1184, "booth-07": 6}),
    "hand_queue": HandQueueUpdate(
        stage_id="main-stage", length=2, position=None, entries=HAND_ENTRIES
    ),
    "slots": SlotsUpdate(stage_id="main-stage", slots=SLOTS, speakers=[HOST]),
    "round": RoundUpdate(round=ROUND),
    "round_closed": RoundClosed(round_id="round-1"),
    "chat": ChatPosted(message=CHAT),
    "broadcast": BroadcastPosted(
        round_id="round-1",
        text="Five minutes left: agree on one idea to share.",
        sender_name=MOD.name,
        sent_at=T0 + 300,
    ),
    "moved": Moved(space_id="round-1-room-3"),
    "mute_request": MuteRequested(kind="audio", by=MOD.name),
    "removed": Removed(reason="Repeated spam in the chat."),
    "participant_updated": ParticipantUpdated(
        participant=ParticipantInfo(
            id=ADA.id, name=ADA.name, role=ADA.role, space_id=ADA.space_id, muted_audio=True
        )
    ),
    "space_added": SpaceAdded(space=ROOM),
    "space_removed": SpaceRemoved(space_id="round-1-room-3"),
    "pong": Pong(id="9", server_time=T0 + 61.25),
    "media_offer": SfuOffer(sdp=_SDP, kind="subscribe"),
    "media_answer": SfuAnswer(sdp=_SDP_RECV, kind="publish"),
    "media_slots": MediaSlots(
        slots=[
            MediaSlotInfo(
                slot_id="v0",
                kind="video",
                mid="0",
                participant_id=HOST.id,
                name=HOST.name,
                role="speaker",
            ),
            MediaSlotInfo(
                slot_id="v1", kind="video", mid="1", participant_id=ADA.id, name=ADA.name, role="qa"
            ),
            MediaSlotInfo(slot_id="v2", kind="video", mid="2"),
            MediaSlotInfo(
                slot_id="a0",
                kind="audio",
                mid="9",
                participant_id=HOST.id,
                name=HOST.name,
                role="speaker",
            ),
        ]
    ),
    "media_state": MediaState(connection="subscribe", state="connected"),
    "media_watched": MediaWatched(video=False, audio=True),
}
