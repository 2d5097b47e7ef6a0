"""Reading and writing protocol messages.

`decode_client` turns a WebSocket frame into a typed client message or raises
`ProtocolError`, whose fields are exactly what the `error` reply needs. Valid input takes
one pass through a compiled msgspec decoder; only invalid input is parsed a second time,
untyped, to tell the sender precisely what is wrong and to echo their request id.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final, Generic, TypeVar, cast

import msgspec
import msgspec.inspect as mi

from signaling.protocol.constants import MAX_MESSAGE_BYTES, MAX_REQUEST_ID_CHARS
from signaling.protocol.messages import (
    CLIENT_MESSAGE_TYPES,
    SERVER_MESSAGE_TYPES,
    ClientMessage,
    ErrorCode,
    ErrorReply,
    ServerMessage,
)

Frame = bytes | bytearray | memoryview | str

# Names and values from the peer are cut to this length before they appear in an error.
_ECHO_CHARS: Final = 64


class ProtocolError(Exception):
    """A message could not be read. Carries everything an `error` reply needs."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.field = field
        self.request_id = request_id

    def to_reply(self) -> ErrorReply:
        """The `error` message to send back to the peer."""
        return ErrorReply(
            id=self.request_id, code=self.code, message=self.message, field=self.field
        )

    def __repr__(self) -> str:
        return (
            f"ProtocolError(code={self.code!r}, message={self.message!r}, "
            f"field={self.field!r}, request_id={self.request_id!r})"
        )


# ---------------------------------------------------------------------------
# Size limit.


def frame_size_exceeds(data: Frame, limit: int = MAX_MESSAGE_BYTES) -> bool:
    """Whether `data` is longer than `limit` bytes once encoded as UTF-8.

    Text is only encoded when its length alone cannot decide, so the common case is O(1).
    """
    if isinstance(data, str):
        if len(data) > limit:
            return True
        if len(data) * 4 <= limit:
            return False
        return len(data.encode("utf-8", "surrogatepass")) > limit
    if isinstance(data, memoryview):
        return data.nbytes > limit
    return len(data) > limit


def check_size(data: Frame, limit: int = MAX_MESSAGE_BYTES) -> None:
    """Raise `ProtocolError("too_large")` if `data` is longer than `limit` bytes."""
    if frame_size_exceeds(data, limit):
        raise ProtocolError("too_large", f"The message is larger than {limit} bytes.")


# ---------------------------------------------------------------------------
# Explaining validation errors.

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>.*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.S)
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_LENGTH = re.compile(r"^Expected `(?P<want>[^`]+)` of length (?P<op>[<>]=?) (?P<n>\d+)$")
_BOUND = re.compile(r"^Expected `(?P<want>[^`]+)` (?P<op>[<>]=?) (?P<n>\S+)$")
_REGEX = re.compile(r"^Expected `str` matching regex")
_ENUM = re.compile(r"^Invalid enum value ")

_TYPE_WORDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
_OP_WORDS: Final = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_UNIT_WORDS: Final = {"str": "characters", "array": "items", "object": "entries"}


def _clip(text: str) -> str:
    return text if len(text) <= _ECHO_CHARS else text[: _ECHO_CHARS - 1] + "\u2026"


def _type_words(names: str) -> str:
    return " or ".join(_TYPE_WORDS.get(name, name) for name in names.split(" | "))


def _number(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


def _join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _literal_values(info: mi.Type) -> list[Any]:
    """The values a `Literal` field accepts, looking through `Optional` and metadata."""
    if isinstance(info, mi.Metadata):
        return _literal_values(info.type)
    if isinstance(info, mi.LiteralType):
        return list(info.values)
    if isinstance(info, mi.UnionType):
        return [value for member in info.types for value in _literal_values(member)]
    return []


@functools.cache
def _choices(cls: type[msgspec.Struct]) -> dict[str, list[Any]]:
    """The allowed values of each `Literal` field of a message, by field name."""
    struct = mi.type_info(cls)
    if not isinstance(struct, mi.StructType):  # pragma: no cover - every message is a struct
        return {}
    return {field.encode_name: _literal_values(field.type) for field in struct.fields}


def _allowed_values(cls: type[msgspec.Struct], path: str) -> list[Any]:
    return _choices(cls).get(path, [])


def _describe(what: str, path: str, tag: str, cls: type[msgspec.Struct]) -> tuple[str | None, str]:
    """Turn msgspec's validation message into (field path, human sentence)."""
    if match := _MISSING.match(what):
        field = _clip(_join_path(path, match["name"]))
        return field, f"The '{tag}' message is missing the required field '{field}'."
    if match := _UNKNOWN.match(what):
        field = _clip(_join_path(path, match["name"]))
        return field, f"The '{tag}' message has no field '{field}'."
    if not path:
        return None, f"The '{tag}' message is invalid: {what[:1].lower()}{what[1:]}."
    field = _clip(path)
    if match := _TYPE.match(what):
        want, got = _type_words(match["want"]), _type_words(match["got"])
        return field, f"Field '{field}' must be {want}, not {got}."
    if match := _LENGTH.match(what):
        unit = _UNIT_WORDS.get(match["want"], "items")
        if match["op"] == ">=" and match["n"] == "1":
            return field, f"Field '{field}' must not be empty."
        bound = f"{_OP_WORDS[match['op']]} {match['n']} {unit}"
        return field, f"Field '{field}' must have {bound}."
    if _REGEX.match(what):
        return field, f"Field '{field}' must not be blank."
    if match := _BOUND.match(what):
        bound = f"{_OP_WORDS[match['op']]} {_number(match['n'])}"
        return field, f"Field '{field}' must be {bound}."
    if _ENUM.match(what) and (allowed := _allowed_values(cls, path)):
        choices = ", ".join(repr(value) for value in allowed)
        return field, f"Field '{field}' must be one of {choices}."
    return field, f"Field '{field}' is invalid: {what[:1].lower()}{what[1:]}."


# ---------------------------------------------------------------------------
# Decoding.

M = TypeVar("M")


class MessageReader(Generic[M]):
    """Decodes one side's messages, explaining every failure with a `ProtocolError`.

    `accepted` maps the tags this reader decodes to their classes; `foreign` maps the tags
    the other side sends, so a message sent the wrong way gets a clear error.
    """

    def __init__(
        self,
        union: Any,
        accepted: dict[str, type[msgspec.Struct]],
        foreign: dict[str, type[msgspec.Struct]],
        *,
        sender: str,
        other: str,
    ) -> None:
        self._decoder: msgspec.json.Decoder[M] = msgspec.json.Decoder(union)
        self._union = union
        self._accepted = accepted
        self._foreign = foreign
        self._sender = sender
        self._other = other

    def decode(self, data: Frame) -> M:
        """Decode one frame (JSON text or UTF-8 bytes)."""
        check_size(data)
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise self._explain(self._parse(data), str(exc)) from None
        except msgspec.DecodeError as exc:
            raise _not_json(exc) from None
        except UnicodeError:
            raise ProtocolError("bad_request", "The message is not valid UTF-8.") from None
        except RecursionError:
            raise ProtocolError("bad_request", "The message is nested too deeply.") from None

    def convert(self, obj: object) -> M:
        """Validate an already parsed JSON value, such as an HTTP request body."""
        try:
            return cast(M, msgspec.convert(obj, self._union))
        except msgspec.ValidationError as exc:
            raise self._explain(obj, str(exc)) from None
        except RecursionError:
            raise ProtocolError("bad_request", "The message is nested too deeply.") from None

    @staticmethod
    def _parse(data: Frame) -> object:
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise _not_json(exc) from None
        except UnicodeError:
            raise ProtocolError("bad_request", "The message is not valid UTF-8.") from None
        except RecursionError:
            raise ProtocolError("bad_request", "The message is nested too deeply.") from None

    def _explain(self, raw: object, error: str) -> ProtocolError:
        if not isinstance(raw, dict):
            kind = _type_words(_json_type(raw))
            return ProtocolError("bad_request", f"The message must be a JSON object, not {kind}.")
        request_id = raw.get("id")
        if not isinstance(request_id, str) or len(request_id) > MAX_REQUEST_ID_CHARS:
            request_id = None
        if "type" not in raw:
            return ProtocolError(
                "unknown_type", 'The message has no "type" field.', "type", request_id
            )
        tag = raw["type"]
        if not isinstance(tag, str):
            return ProtocolError(
                "unknown_type", 'The "type" field must be a string.', "type", request_id
            )
        cls = self._accepted.get(tag)
        if cls is None:
            if tag in self._foreign:
                sides = f"by the {self._other}, not by the {self._sender}"
                text = f"The '{tag}' message is sent {sides}."
            else:
                text = f"Unknown message type '{_clip(tag)}'."
            return ProtocolError("unknown_type", text, "type", request_id)
        match = _AT.match(error)
        what, path = (
            (match["what"], (match["path"] or "").removeprefix(".")) if match else (error, "")
        )
        if path == "type":  # Duplicate keys: the decoder saw another "type" than `raw` holds.
            return ProtocolError(
                "unknown_type", 'The "type" field is ambiguous or invalid.', "type", request_id
            )
        field, text = _describe(what, path, tag, cls)
        return ProtocolError("invalid", text, field, request_id)


def _not_json(exc: msgspec.DecodeError) -> ProtocolError:
    match = _AT.match(str(exc))
    reason = (match["what"] if match else str(exc)).removeprefix("JSON is malformed: ")
    return ProtocolError(
        "bad_request", f"The message is not valid JSON: {reason[:1].lower()}{reason[1:]}."
    )


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "null"


CLIENT_READER: Final[MessageReader[ClientMessage]] = MessageReader(
    ClientMessage, CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES, sender="client", other="server"
)
SERVER_READER: Final[MessageReader[ServerMessage]] = MessageReader(
    ServerMessage, SERVER_MESSAGE_TYPES, CLIENT_MESSAGE_TYPES, sender="server", other="client"
)


def decode_client(data: Frame) -> ClientMessage:
    """Decode a frame a client sent; raise `ProtocolError` if it is not a valid message."""
    return CLIENT_READER.decode(data)


def convert_client(obj: object) -> ClientMessage:
    """Validate a parsed JSON value (say, a REST body with `"type"` set) as a client message."""
    return CLIENT_READER.convert(obj)


def decode_server(data: Frame) -> ServerMessage:
    """Decode a frame the server sent (used by bots and tests)."""
    return SERVER_READER.decode(data)


# ---------------------------------------------------------------------------
# Encoding.

#: One shared encoder: msgspec caches per-type encoding plans inside it.
ENCODER: Final = msgspec.json.Encoder()


def encode(msg: msgspec.Struct) -> bytes:
    """Encode a message (of either side) as compact UTF-8 JSON."""
    return ENCODER.encode(msg)


def encode_text(msg: msgspec.Struct) -> str:
    """Encode a message as a `str`, for WebSocket text frames."""
    return ENCODER.encode(msg).decode()
