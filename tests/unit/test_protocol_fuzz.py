"""Property tests: whatever a peer sends, decoding either succeeds or raises ProtocolError."""

from __future__ import annotations

import json
from typing import Any, get_args

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling import protocol as p

ERROR_CODES = set(get_args(p.ErrorCode))
CLIENT_TAGS = list(p.CLIENT_MESSAGE_TYPES)
FIELD_NAMES = sorted(
    {f.encode_name for cls in p.CLIENT_MESSAGE_TYPES.values() for f in msgspec.structs.fields(cls)}
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=10,
)
# Objects that look like client messages: a real tag and real field names, random values.
near_messages = st.builds(
    lambda tag, fields: {"type": tag, **fields},
    st.sampled_from(CLIENT_TAGS) | st.text(max_size=12),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=5),
)


def _decode(data: bytes | str) -> None:
    try:
        msg = p.decode_client(data)
    except p.ProtocolError as error:
        assert error.code in ERROR_CODES
        assert error.message
        if error.request_id is not None:
            assert len(error.request_id) <= p.MAX_REQUEST_ID_CHARS
        p.encode(error.to_reply())
    else:
        assert type(msg) in p.CLIENT_MESSAGE_TYPES.values()
        assert p.decode_client(p.encode(msg)) == msg


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_values(value: Any) -> None:
    _decode(json.dumps(value))
    _decode(json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(near_messages)
def test_random_message_like_objects(value: dict[str, Any]) -> None:
    _decode(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _decode(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text(data: str) -> None:
    _decode(data)


@settings(max_examples=300, deadline=None)
@given(near_messages, st.data())
def test_truncated_messages(value: dict[str, Any], data: st.DataObject) -> None:
    text = json.dumps(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    _decode(text[:cut])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(CLIENT_TAGS),
    st.text(st.characters(codec="utf-8"), max_size=80),
)
def test_request_id_survives_invalid_fields(tag: str, request_id: str) -> None:
    data = json.dumps({"type": tag, "id": request_id, "no_such_field": 1})
    try:
        p.decode_client(data)
    except p.ProtocolError as error:
        expected = request_id if len(request_id) <= p.MAX_REQUEST_ID_CHARS else None
        assert error.request_id == expected
    else:
        raise AssertionError("an unknown field must be refused")
