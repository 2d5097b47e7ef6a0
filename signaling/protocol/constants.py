"""Numbers every side of the wire protocol agrees on: version, limits, rate limits, close codes."""

from __future__ import annotations

from typing import NamedTuple

#: The protocol version this code speaks. A client states it in `hello.protocol`; the
#: server answers with the version it speaks in `welcome.protocol`.
PROTOCOL_VERSION = 1

#: The largest WebSocket frame, in bytes of UTF-8, that either side accepts.
MAX_MESSAGE_BYTES = 65536
#: Chat messages and round broadcasts are 1 to this many characters.
MAX_CHAT_CHARS = 2000
#: Display names and titles are 1 to this many characters.
MAX_NAME_CHARS = 64
#: Identifiers (spaces, participants, rounds, templates) are 1 to this many characters.
MAX_ID_CHARS = 64
#: A request id chosen by the client is at most this many characters.
MAX_REQUEST_ID_CHARS = 64
#: An SDP offer or answer is 1 to this many characters.
MAX_SDP_CHARS = 60000
#: An access token in `hello` is 1 to this many characters.
MAX_TOKEN_CHARS = 4096
#: A removal reason given by a moderator is 1 to this many characters.
MAX_REASON_CHARS = 200

#: Bounds of a discussion round opened without a template.
MIN_ROOM_COUNT = 1
MAX_ROOM_COUNT = 50
MIN_ROUND_DURATION_S = 10
MAX_ROUND_DURATION_S = 14400
MAX_ROOM_CAPACITY = 1000

#: How many recent chat messages a space keeps for participants who arrive later.
CHAT_HISTORY_LENGTH = 200


class RateLimit(NamedTuple):
    """A token bucket: `per_second` tokens refill each second, up to `burst` tokens."""

    per_second: float
    burst: int


#: Bucket for `chat` messages, per participant.
CHAT_RATE_LIMIT = RateLimit(per_second=5, burst=10)
#: Bucket for every other client message, per participant.
ACTION_RATE_LIMIT = RateLimit(per_second=20, burst=40)

#: A frame exceeded `MAX_MESSAGE_BYTES` (RFC 6455 "message too big"); it was not read.
CLOSE_TOO_LARGE = 1009
#: The participant opened a newer socket (another tab or device); this one is closed.
CLOSE_REPLACED = 4000
#: The first message was not a valid `hello`, or its token or protocol version was refused.
CLOSE_UNAUTHORIZED = 4001
#: No `hello` arrived in time after the socket opened.
CLOSE_HELLO_TIMEOUT = 4002
#: A moderator removed the participant; sent after a `removed` message.
CLOSE_REMOVED = 4003
#: The client read its socket too slowly and updates piled up.
CLOSE_SLOW_CONSUMER = 4004
