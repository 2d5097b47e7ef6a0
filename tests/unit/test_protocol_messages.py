"""The message definitions: tags, struct options, constants and example round trips."""

from __future__ import annotations

import re
from typing import get_args

import msgspec
import pytest

from signaling import protocol as p
from signaling.protocol.examples import CLIENT_EXAMPLES, SERVER_EXAMPLES

ALL_TYPES = [
    *p.CLIENT_MESSAGE_TYPES.values(),
    *p.SERVER_MESSAGE_TYPES.values(),
    *p.INFO_TYPES,
]

# Tags and fields the server, the browser and the bots are written against.
SPEC_CLIENT_FIELDS = {
    "hello": {"token", "protocol"},
    "join": {"space_id"},
    "move": {"space_id"},
    "leave": set(),
    "raise_hand": set(),
    "lower_hand": set(),
    "chat": {"text", "scope"},
    "sync": set(),
    "ping": set(),
    "promote": {"participant_id", "slot"},
    "demote": {"participant_id"},
    "swap_slots": {"stage_id", "a", "b"},
    "dismiss": {"participant_id"},
    "move_participant": {"participant_id", "space_id"},
    "open_round": {"template_id", "room_count", "duration_s", "mode", "title"},
    "assign": {"round_id", "participant_id", "room_id"},
    "broadcast": {"text", "round_id"},
    "close_round": {"round_id"},
    "mute_request": {"participant_id", "kind"},
    "remove": {"participant_id", "reason"},
    "set_speaker": {"participant_id", "on"},
    "find_participants": {"query"},
    "media_offer": {"sdp", "kind", "keep_subscribe"},
    "media_subscribe": set(),
    "media_answer": {"sdp", "kind"},
    "media_mute": {"kind", "muted"},
}
SPEC_SERVER_FIELDS = {
    "welcome": {"protocol", "participant", "event", "server_time"},
    "ack": {"id", "result"},
    "error": {"id", "code", "message", "field"},
    "snapshot": {"space", "members", "member_count", "hand_queue", "slots", "round", "chat", "you"},
    "space_delta": {"space_id", "member_count", "joined", "left"},
    "counts": {"counts"},
    "hand_queue": {"stage_id", "length", "position", "entries"},
    "slots": {"stage_id", "slots", "speakers"},
    "round": {"round"},
    "round_closed": {"round_id"},
    "chat": {"message"},
    "broadcast": {"round_id", "text", "sender_name", "sent_at"},
    "moved": {"space_id", "by"},
    "mute_request": {"kind", "by"},
    "removed": {"reason"},
    "participant_updated": {"participant"},
    "space_added": {"space"},
    "space_removed": {"space_id"},
    "pong": {"server_time"},
    "media_offer": {"sdp", "kind"},
    "media_answer": {"sdp", "kind"},
    "media_slots": {"slots"},
    "media_state": {"connection", "state", "reason"},
    "media_watched": {"video", "audio"},
}
SPEC_INFO_FIELDS = {
    p.ParticipantInfo: {"id", "name", "role", "space_id", "muted_audio", "muted_video"},
    p.EventInfo: {"id", "title", "description", "spaces", "templates"},
    p.SpaceInfo: {"id", "kind", "title", "description", "capacity", "participants", "round_id"},
    p.HandEntryInfo: {"participant_id", "name", "position", "raised_at"},
    p.SlotInfo: {"index", "participant"},
    p.RoundInfo: {
        "id",
        "title",
        "mode",
        "room_ids",
        "deadline",
        "remaining_s",
        "home_space_id",
        "broadcasts",
    },
    p.ChatInfo: {"id", "scope", "space_id", "sender_id", "sender_name", "text", "sent_at"},
    p.YouInfo: {"participant_id", "role", "space_id", "hand_position", "slot"},
}


def _field_names(cls: type[msgspec.Struct]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(cls)}


def test_tags_are_the_specified_ones_in_order() -> None:
    assert list(p.CLIENT_MESSAGE_TYPES) == list(SPEC_CLIENT_FIELDS)
    assert list(p.SERVER_MESSAGE_TYPES) == list(SPEC_SERVER_FIELDS)


@pytest.mark.parametrize("tag", list(SPEC_CLIENT_FIELDS))
def test_client_messages_keep_the_specified_fields(tag: str) -> None:
    fields = _field_names(p.CLIENT_MESSAGE_TYPES[tag])
    assert SPEC_CLIENT_FIELDS[tag] | {"id"} <= fields


@pytest.mark.parametrize("tag", list(SPEC_SERVER_FIELDS))
def test_server_messages_keep_the_specified_fields(tag: str) -> None:
    assert SPEC_SERVER_FIELDS[tag] <= _field_names(p.SERVER_MESSAGE_TYPES[tag])


@pytest.mark.parametrize("cls", list(SPEC_INFO_FIELDS), ids=lambda c: c.__name__)
def test_info_structs_keep_the_specified_fields(cls: type[msgspec.Struct]) -> None:
    assert SPEC_INFO_FIELDS[cls] <= _field_names(cls)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_struct_options(cls: type[msgspec.Struct]) -> None:
    config = cls.__struct_config__
    assert config.forbid_unknown_fields
    assert config.omit_defaults
    assert config.frozen
    if cls in p.INFO_TYPES:
        assert config.tag is None
    else:
        assert config.tag_field == "type"
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", str(config.tag))


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_every_struct_has_a_sentence_docstring(cls: type[msgspec.Struct]) -> None:
    doc = (cls.__doc__ or "").strip()
    assert doc[:1].isupper() and doc.endswith("."), cls.__name__


def test_every_client_message_has_an_optional_request_id() -> None:
    for cls in p.CLIENT_MESSAGE_TYPES.values():
        (field,) = [f for f in msgspec.structs.fields(cls) if f.name == "id"]
        assert field.default is None


def test_constants_follow_the_spec() -> None:
    assert p.PROTOCOL_VERSION == 1
    assert p.MAX_MESSAGE_BYTES == 65536
    assert p.MAX_CHAT_CHARS == 2000
    assert p.MAX_NAME_CHARS == 64
    assert p.MAX_REQUEST_ID_CHARS == 64
    assert p.MAX_SDP_CHARS == 60000
    assert p.RateLimit(per_second=5, burst=10) == p.CHAT_RATE_LIMIT
    assert p.RateLimit(per_second=20, burst=40) == p.ACTION_RATE_LIMIT
    assert p.CLOSE_TOO_LARGE == 1009
    assert p.CLOSE_REMOVED == 4003


def test_error_codes_are_all_described() -> None:
    assert tuple(p.ERROR_CODES) == get_args(p.ErrorCode)
    assert all(text.endswith(".") for text in p.ERROR_CODES.values())


def test_staff_and_media_types_are_client_types() -> None:
    assert set(p.CLIENT_MESSAGE_TYPES) >= p.STAFF_MESSAGE_TYPES
    assert set(p.CLIENT_MESSAGE_TYPES) >= p.MEDIA_MESSAGE_TYPES
    assert not p.STAFF_MESSAGE_TYPES & p.MEDIA_MESSAGE_TYPES


def test_examples_cover_every_message() -> None:
    assert list(CLIENT_EXAMPLES) == list(p.CLIENT_MESSAGE_TYPES)
    assert list(SERVER_EXAMPLES) == list(p.SERVER_MESSAGE_TYPES)
    for tag, msg in {**CLIENT_EXAMPLES, **SERVER_EXAMPLES}.items():
        assert msg.__struct_config__.tag == tag


@pytest.mark.parametrize("tag", list(CLIENT_EXAMPLES))
def test_client_message_round_trips(tag: str) -> None:
    msg = CLIENT_EXAMPLES[tag]
    data = p.encode(msg)
    assert p.decode_client(data) == msg
    assert p.decode_client(data.decode()) == msg
    assert p.decode_client(p.encode_text(msg)) == msg
    assert msgspec.json.decode(data)["type"] == tag


@pytest.mark.parametrize("tag", list(CLIENT_EXAMPLES))
def test_client_message_round_trips_without_request_id(tag: str) -> None:
    msg = msgspec.structs.replace(CLIENT_EXAMPLES[tag], id=None)
    data = p.encode(msg)
    assert b'"id"' not in data
    assert p.decode_client(data) == msg


@pytest.mark.parametrize("tag", list(SERVER_EXAMPLES))
def test_server_message_round_trips(tag: str) -> None:
    msg = SERVER_EXAMPLES[tag]
    assert p.decode_server(p.encode(msg)) == msg


def test_defaults_are_left_out_of_the_json() -> None:
    assert p.encode(p.Chat(text="hi")) == b'{"type":"chat","text":"hi"}'
    assert p.encode(p.Chat(text="hi", scope="event")) == (
        b'{"type":"chat","text":"hi","scope":"event"}'
    )
    assert p.encode(p.ErrorReply(code="full", message="The space is full.")) == (
        b'{"type":"error","code":"full","message":"The space is full."}'
    )
    assert p.decode_client(b'{"type":"hello","token":"t"}') == p.Hello(token="t", protocol=1)


def test_messages_are_frozen() -> None:
    msg = p.Join(space_id="main-stage")
    with pytest.raises(AttributeError):
        msg.space_id = "lobby"  # type: ignore[misc]


def test_numbers_accept_integral_json_for_floats() -> None:
    msg = p.decode_client(b'{"type":"open_round","room_count":5,"duration_s":900}')
    assert msg == p.OpenRound(room_count=5, duration_s=900.0)
    assert isinstance(msg, p.OpenRound) and isinstance(msg.duration_s, float)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"chat","text":"' + "a" * 2000 + '"}',
        '{"type":"open_round","room_count":50,"duration_s":14400}',
        '{"type":"open_round","room_count":1,"duration_s":10}',
        '{"type":"join","space_id":"' + "s" * 64 + '"}',
        '{"type":"ping","id":"' + "r" * 64 + '"}',
        '{"type":"ping","id":""}',
        '{"type":"media_offer","kind":"publish","sdp":"' + "v" * 60000 + '"}',
        '{"type":"chat","text":"Grüße aus Köln 👋"}',
    ],
)
def test_values_at_the_limits_are_accepted(text: str) -> None:
    p.decode_client(text)
