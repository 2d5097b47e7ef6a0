"""Decoding errors: every failure is a `ProtocolError` with the right code, field and id."""

from __future__ import annotations

import pytest

from signaling import protocol as p
from signaling.protocol import ProtocolError


def _error(data: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        p.decode_client(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        # Not JSON at all, or broken JSON.
        (b"hello", "bad_request", None),
        (b"", "bad_request", None),
        (b'{"type":"chat","text":"hi",', "bad_request", None),
        (b'{"type":"ping"} trailing', "bad_request", None),
        (b'{"type":"ping","id":"\xff"}', "bad_request", None),
        ("\ufeff" + '{"type":"ping"}', "bad_request", None),
        # JSON, but not an object.
        (b'[{"type":"ping"}]', "bad_request", None),
        (b'"ping"', "bad_request", None),
        (b"42", "bad_request", None),
        (b"null", "bad_request", None),
        # The type tag.
        (b"{}", "unknown_type", "type"),
        (b'{"id":"r1","text":"hi"}', "unknown_type", "type"),
        (b'{"type":"shout","text":"hi"}', "unknown_type", "type"),
        (b'{"type":7}', "unknown_type", "type"),
        (b'{"type":null}', "unknown_type", "type"),
        (b'{"type":"Chat","text":"hi"}', "unknown_type", "type"),
        (b'{"type":"welcome"}', "unknown_type", "type"),
        # Missing fields.
        (b'{"type":"chat"}', "invalid", "text"),
        (b'{"type":"join"}', "invalid", "space_id"),
        (b'{"type":"hello"}', "invalid", "token"),
        (b'{"type":"swap_slots","stage_id":"main-stage","a":0}', "invalid", "b"),
        # Wrong types.
        (b'{"type":"chat","text":42}', "invalid", "text"),
        (b'{"type":"join","space_id":null}', "invalid", "space_id"),
        (b'{"type":"promote","participant_id":"p1","slot":"1"}', "invalid", "slot"),
        (b'{"type":"promote","participant_id":"p1","slot":1.5}', "invalid", "slot"),
        (b'{"type":"set_speaker","participant_id":"p1","on":"yes"}', "invalid", "on"),
        (b'{"type":"open_round","room_count":true}', "invalid", "room_count"),
        (b'{"type":"ping","id":5}', "invalid", "id"),
        # Constraints.
        (b'{"type":"chat","text":""}', "invalid", "text"),
        (b'{"type":"chat","text":" \\n\\t "}', "invalid", "text"),
        ('{"type":"chat","text":"' + "a" * 2001 + '"}', "invalid", "text"),
        (b'{"type":"chat","text":"hi","scope":"world"}', "invalid", "scope"),
        (b'{"type":"join","space_id":""}', "invalid", "space_id"),
        ('{"type":"join","space_id":"' + "s" * 65 + '"}', "invalid", "space_id"),
        ('{"type":"ping","id":"' + "r" * 65 + '"}', "invalid", "id"),
        (b'{"type":"open_round","room_count":0}', "invalid", "room_count"),
        (b'{"type":"open_round","room_count":51}', "invalid", "room_count"),
        (b'{"type":"open_round","duration_s":9.5}', "invalid", "duration_s"),
        (b'{"type":"open_round","duration_s":14401}', "invalid", "duration_s"),
        (b'{"type":"open_round","mode":"lottery"}', "invalid", "mode"),
        (b'{"type":"swap_slots","stage_id":"s","a":-1,"b":0}', "invalid", "a"),
        (b'{"type":"mute_request","participant_id":"p1","kind":"screen"}', "invalid", "kind"),
        (b'{"type":"hello","token":"t","protocol":0}', "invalid", "protocol"),
        (b'{"type":"hello","token":""}', "invalid", "token"),
        ('{"type":"media_offer","kind":"publish","sdp":"' + "v" * 60001 + '"}', "invalid", "sdp"),
        # Fields the message does not have.
        (b'{"type":"ping","extra":1}', "invalid", "extra"),
        (b'{"type":"chat","text":"hi","room":"main-stage"}', "invalid", "room"),
        (b'{"type":"leave","space_id":"lobby"}', "invalid", "space_id"),
    ],
)
def test_error_code_and_field(data: bytes | str, code: str, field: str | None) -> None:
    error = _error(data)
    assert (error.code, error.field) == (code, field)
    assert error.message[:1].isupper() and error.message.endswith(".")
    assert str(error) == error.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"nope", "The message is not valid JSON: "),
        (b"[1, 2]", "The message must be a JSON object, not an array."),
        (b"{}", 'The message has no "type" field.'),
        (b'{"type":"shout"}', "Unknown message type 'shout'."),
        (b'{"type":"welcome"}', "The 'welcome' message is sent by the server, not by the client."),
        (b'{"type":"chat"}', "The 'chat' message is missing the required field 'text'."),
        (b'{"type":"chat","text":1}', "Field 'text' must be a string, not an integer."),
        (b'{"type":"chat","text":""}', "Field 'text' must not be empty."),
        (b'{"type":"chat","text":"  "}', "Field 'text' must not be blank."),
        (
            '{"type":"chat","text":"' + "a" * 2001 + '"}',
            "Field 'text' must have at most 2000 characters.",
        ),
        (b'{"type":"chat","text":"a","scope":"x"}', "Field 'scope' must be one of "),
        (b'{"type":"open_round","room_count":51}', "Field 'room_count' must be at most 50."),
        (b'{"type":"open_round","duration_s":5}', "Field 'duration_s' must be at least 10."),
        (b'{"type":"ping","x":1}', "The 'ping' message has no field 'x'."),
    ],
)
def test_error_messages_are_sentences(data: bytes, message: str) -> None:
    assert _error(data).message.startswith(message)


@pytest.mark.parametrize(
    "data",
    [
        b'{"id":"r-17","type":"chat"}',
        b'{"type":"chat","id":"r-17","text":""}',
        b'{"type":"chat","text":"hi","id":"r-17","colour":"red"}',
        b'{"type":"shout","id":"r-17"}',
        b'{"id":"r-17"}',
        b'{"type":9,"id":"r-17"}',
        b'{"type":"open_round","id":"r-17","room_count":500}',
        b'{"type":"welcome","id":"r-17"}',
    ],
)
def test_request_id_is_recovered_from_invalid_messages(data: bytes) -> None:
    assert _error(data).request_id == "r-17"


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"chat","id":7}',
        b'{"type":"chat","id":["r"]}',
        ('{"type":"chat","id":"' + "r" * 65 + '"}').encode(),
        b'{"type":"chat","text":"hi",',
        b'["r-17"]',
    ],
)
def test_unusable_request_ids_are_not_echoed(data: bytes) -> None:
    assert _error(data).request_id is None


def test_error_reply_echoes_everything() -> None:
    error = _error(b'{"type":"chat","id":"r-9","text":""}')
    reply = error.to_reply()
    assert reply == p.ErrorReply(id="r-9", code="invalid", message=error.message, field="text")
    assert p.decode_server(p.encode(reply)) == reply


def test_nested_field_paths_are_reported() -> None:
    snapshot = b'{"type":"slots","stage_id":"main-stage","slots":[{"index":0},{"index":-1}]}'
    with pytest.raises(ProtocolError) as info:
        p.decode_server(snapshot)
    assert (info.value.code, info.value.field) == ("invalid", "slots[1].index")

    missing = b'{"type":"slots","stage_id":"main-stage","slots":[{}]}'
    with pytest.raises(ProtocolError) as info:
        p.decode_server(missing)
    assert info.value.field == "slots[0].index"

    unknown = b'{"type":"slots","stage_id":"s","slots":[{"index":0,"seat":2}]}'
    with pytest.raises(ProtocolError) as info:
        p.decode_server(unknown)
    assert info.value.field == "slots[0].seat"


def test_client_messages_are_refused_by_the_server_reader() -> None:
    with pytest.raises(ProtocolError) as info:
        p.decode_server(b'{"type":"raise_hand"}')
    assert info.value.code == "unknown_type"
    assert info.value.message == (
        "The 'raise_hand' message is sent by the client, not by the server."
    )


def test_shared_tags_decode_to_the_right_side() -> None:
    client = p.decode_client(b'{"type":"chat","text":"hi"}')
    server = p.decode_server(
        b'{"type":"chat","message":{"id":"c1","scope":"event","sender_id":"p1",'
        b'"sender_name":"Ada","text":"hi","sent_at":1.5}}'
    )
    assert isinstance(client, p.Chat)
    assert isinstance(server, p.ChatPosted)


def test_long_unknown_names_are_clipped_in_errors() -> None:
    name = "x" * 5000
    error = _error('{"type":"ping","' + name + '":1}')
    assert error.field is not None and len(error.field) <= 64
    assert len(error.message) < 200
    error = _error('{"type":"' + name + '"}')
    assert len(error.message) < 200


def test_deep_nesting_is_a_bad_request() -> None:
    assert _error("[" * 20000 + "]" * 20000).code == "bad_request"
    assert _error('{"type":"ping","x":' + "[" * 20000 + "]" * 20000 + "}").code == "bad_request"


def test_lone_surrogates_in_text_are_a_bad_request() -> None:
    assert _error('{"type":"chat","text":"\ud800"}').code == "bad_request"


def test_convert_client_validates_parsed_bodies() -> None:
    body = {"type": "move_participant", "participant_id": "p1", "space_id": "booth-01"}
    assert p.convert_client(body) == p.MoveParticipant(participant_id="p1", space_id="booth-01")
    with pytest.raises(ProtocolError) as info:
        p.convert_client({"type": "promote", "id": "r1"})
    assert (info.value.code, info.value.field, info.value.request_id) == (
        "invalid",
        "participant_id",
        "r1",
    )
    with pytest.raises(ProtocolError) as info:
        p.convert_client(["not", "an", "object"])
    assert info.value.code == "bad_request"


# ---------------------------------------------------------------------------
# Size limit.


def test_frame_size_counts_utf8_bytes() -> None:
    limit = p.MAX_MESSAGE_BYTES
    assert not p.frame_size_exceeds(b"x" * limit)
    assert p.frame_size_exceeds(b"x" * (limit + 1))
    assert p.frame_size_exceeds(bytearray(limit + 1))
    assert p.frame_size_exceeds(memoryview(b"x" * (limit + 1)))
    assert not p.frame_size_exceeds("x" * limit)
    assert p.frame_size_exceeds("x" * (limit + 1))
    # Four bytes per character: a quarter of the limit in characters is already the limit.
    assert not p.frame_size_exceeds("\U0001f44b" * (limit // 4))
    assert p.frame_size_exceeds("\U0001f44b" * (limit // 4 + 1))
    assert p.frame_size_exceeds("é" * (limit // 2 + 1))
    assert not p.frame_size_exceeds("é" * (limit // 2))
    assert p.frame_size_exceeds(b"xyz", limit=2)


def test_oversized_frames_are_refused_before_parsing() -> None:
    data = '{"type":"chat","text":"' + "a" * p.MAX_MESSAGE_BYTES + '"}'
    error = _error(data)
    assert error.code == "too_large"
    assert error.field is None
    with pytest.raises(ProtocolError) as info:
        p.check_size(data.encode())
    assert info.value.code == "too_large"
    p.check_size(b"{}")


# ---------------------------------------------------------------------------
# Encoding.


def test_encode_is_compact_utf8() -> None:
    msg = p.Chat(text="Grüße 👋", scope="event", id="r1")
    data = p.encode(msg)
    assert data == '{"type":"chat","id":"r1","text":"Grüße 👋","scope":"event"}'.encode()
    assert p.encode_text(msg) == data.decode()
    assert p.ENCODER.encode(msg) == data
