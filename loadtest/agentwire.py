"""The channel between a coordinator and its agents: messages and their encoding.

An agent connects to ``ws://HOST:PORT/agent`` on the coordinator. Every message is one
binary websocket frame holding a msgpack map whose ``type`` names it:

- agent -> coordinator: ``hello`` (first, with the token), ``ping`` (clock estimate),
  ``clock`` (the offset the agent's workers use), ``from_worker`` (a worker's message, as
  described in :mod:`loadtest.workers`), ``worker_exited``.
- coordinator -> agent: ``welcome`` (the run: target URL, run id, bot class, first worker
  id), ``pong``, ``to_worker`` (a command for one worker), ``stop``.

msgpack rather than pickle: the peer may be another machine, and unpickling what arrives
from the network would run whatever code it names. Worker messages hold plain data (str,
int, float, bool, None, bytes, lists, maps with str or int keys) and ``array.array``, which
travels as an extension type: its typecode, its item size and its items, little-endian.
Tuples arrive as lists.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import msgspec

PROTOCOL_VERSION = 1
PATH = "/agent"
DEFAULT_PORT = 7870
# A command's arguments or a worker's results travel in one message.
MAX_MESSAGE_BYTES = 64 * 2**20
HEARTBEAT_S = 30.0

# Close codes of the channel (4000-4999 are the application's).
CLOSE_REFUSED = 4001  # wrong token, another protocol version, or no place in the run
CLOSE_PROTOCOL = 4002  # a message that is not one of the channel's

ARRAY_EXT = 1
_ARRAY_TYPECODES = frozenset("bBhHiIlLqQfd")


class ChannelError(Exception):
    """A frame that is not a message of the channel."""


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    pass


# ---------------------------------------------------------------------- agent -> coordinator


class Hello(_Message, tag="hello", forbid_unknown_fields=False):
    # Fields a later version adds are let through, so that its version can be refused by name.
    token: str
    version: int
    host: str
    pid: int
    boot_id: str
    processes: int


class Ping(_Message, tag="ping"):
    n: int


class Clock(_Message, tag="clock"):
    """Seconds to add to the agent's clock to read the coordinator's, and how sure that is."""

    offset: float
    uncertainty: float


class FromWorker(_Message, tag="from_worker"):
    worker: int  # the worker's index on its agent
    message: dict[str, Any]


class WorkerExited(_Message, tag="worker_exited"):
    worker: int


# ---------------------------------------------------------------------- coordinator -> agent


class Welcome(_Message, tag="welcome"):
    run_id: str
    base_url: str
    fleet: str  # the bot class, "module:Class"
    first_worker: int  # the global id of the agent's worker 0
    boot_id: str  # the coordinator's machine


class Pong(_Message, tag="pong"):
    n: int
    t: float  # the coordinator's clock when it answered


class ToWorker(_Message, tag="to_worker"):
    worker: int
    message: dict[str, Any]


class Stop(_Message, tag="stop"):
    reason: str


AgentMessage = Hello | Ping | Clock | FromWorker | WorkerExited
CoordinatorMessage = Welcome | Pong | ToWorker | Stop


# ---------------------------------------------------------------------- encoding


def _enc_hook(value: Any) -> Any:
    if isinstance(value, array.array) and value.typecode in _ARRAY_TYPECODES:
        items = value
        if sys.byteorder != "little":
            items = array.array(value.typecode, value)
            items.byteswap()
        header = bytes((ord(value.typecode), value.itemsize))
        return msgspec.msgpack.Ext(ARRAY_EXT, header + items.tobytes())
    raise NotImplementedError(f"{type(value).__name__} cannot be sent to another machine")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != ARRAY_EXT:
        raise ChannelError(f"unknown extension type {code}")
    if len(data) < 2:
        raise ChannelError("an array without its header")
    typecode, itemsize = chr(data[0]), data[1]
    if typecode not in _ARRAY_TYPECODES:
        raise ChannelError(f"an array of unknown typecode {typecode!r}")
    values = array.array(typecode)
    if values.itemsize != itemsize:
        raise ChannelError(
            f"an array of {typecode!r} with {itemsize}-byte items; "
            f"this machine's are {values.itemsize} bytes"
        )
    items = data[2:]
    if len(items) % itemsize:
        raise ChannelError(f"an array of {typecode!r} cut short")
    values.frombytes(items)
    if sys.byteorder != "little":
        values.byteswap()
    return values


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_agent_decoder = msgspec.msgpack.Decoder(AgentMessage, ext_hook=_ext_hook)
_coordinator_decoder = msgspec.msgpack.Decoder(CoordinatorMessage, ext_hook=_ext_hook)


def encode(message: _Message) -> bytes:
    """One frame; raises :class:`ChannelError` when something in it cannot travel."""
    try:
        data = _encoder.encode(message)
    except (TypeError, ValueError, OverflowError, NotImplementedError, msgspec.MsgspecError) as e:
        raise ChannelError(str(e)) from e
    if len(data) > MAX_MESSAGE_BYTES:
        raise ChannelError(
            f"a message of {len(data) / 2**20:.0f} MB; the channel carries at most "
            f"{MAX_MESSAGE_BYTES // 2**20} MB"
        )
    return data


def decode_from_agent(data: bytes) -> AgentMessage:
    """A message an agent sent; raises :class:`ChannelError` for anything else."""
    try:
        message: AgentMessage = _agent_decoder.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise ChannelError(str(exc)) from exc
    return message


def decode_from_coordinator(data: bytes) -> CoordinatorMessage:
    """A message a coordinator sent; raises :class:`ChannelError` for anything else."""
    try:
        message: CoordinatorMessage = _coordinator_decoder.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise ChannelError(str(exc)) from exc
    return message
