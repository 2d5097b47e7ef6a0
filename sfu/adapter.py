"""Every use of aiortc and aioice internals, in one place.

aiortc's public API hands out decoded frames only. The SFU forwards raw RTP, so it needs
a few private attributes of aiortc 1.16.0 and aioice 0.13. They are all used here and
nowhere else, and :func:`self_test` checks at start-up that each one still exists, so an
upgrade of either library fails loudly instead of silently dropping media.

What is used, and why:

- ``aioice.ice.get_host_addresses``: aioice leaves loopback addresses out; the worker
  chooses the host addresses to announce (:func:`announced_addresses`).
- ``RTCDtlsTransport._rx_srtp`` / ``_tx_srtp``: the SRTP sessions, to decrypt incoming
  and encrypt outgoing packets synchronously.
- ``RTCIceTransport._connection`` (an ``aioice.Connection``), its ``_protocols`` (one
  ``StunProtocol`` per local candidate) and ``_nominated`` (the selected pair): every
  local protocol's ``datagram_received`` is wrapped so SRTP and SRTCP are handled on
  arrival, and outgoing packets go straight to the selected pair's socket.
- ``RTCRtpSender._ssrc`` / ``_rtx_ssrc``: the SSRCs a slot announces in its SDP; forwarded
  packets are rewritten to them.
- ``RTCRtpSender._run_rtcp`` and the ``__rtcp_started`` / ``__rtcp_exited`` events it
  sets: replaced on each slot's sender, whose own reports would carry counters that stay
  at zero; the worker sends reports mapped from the forwarded source instead.
- ``RTCRtpSender._ssrc`` of a publish transceiver: the sender SSRC of upstream RTCP.
- ``RTCRtpReceiver.receive``: replaced on publish receivers so aiortc starts no decoder
  thread or RTCP loop for tracks whose packets the SFU takes before aiortc sees them.
- ``pylibsrtp.Session._srtp`` / ``_cdata`` / ``_buffer`` and ``pylibsrtp._binding.lib``:
  encryption without the per-call allocation of ``Session.protect`` (about 2 us saved
  per forwarded packet).
- ``aiortc.rtcrtpreceiver.RemoteBitrateEstimator``: while the worker's own connections are
  set up (:func:`no_receive_estimators`), receivers get a stand-in. aiortc builds one
  estimator per video receiver (a 3 ms table; 27 ms per subscribe connection of 9 video
  slots, spent on the event loop at each join), which the worker never feeds: it takes
  packets before aiortc's receivers and keeps its own estimator per publisher.
- ``aioice.Connection._query_consent_task``, ``build_request``, ``remote_password`` and
  ``_nominated``: aioice's consent freshness checks (RFC 7675) are replaced per connection
  (:func:`keep_consent`). aioice gives up after six checks in a row go unanswered, each
  given one try; on uvloop a timer that is due runs before the datagrams that arrived while
  the loop was busy, so a worker busy for half a second at each check (a burst of joins)
  would drop healthy publishers. Consent here expires only when no answer at all came for
  30 s, as the RFC says.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import aioice
import aioice.ice
import aiortc
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack
from pylibsrtp._binding import ffi as _ffi
from pylibsrtp._binding import lib as _lib

logger = logging.getLogger(__name__)

#: The versions whose internals this module was written against.
PINNED_AIORTC = "1.16.0"
PINNED_AIOICE = "0.13"

RtpHandler = Callable[[bytes, float], None]
RtcpHandler = Callable[[bytes], None]


class AdapterError(RuntimeError):
    """An aiortc or aioice internal the SFU relies on is missing or changed."""


# ---------------------------------------------------------------------------------------
# Host addresses announced by ICE
# ---------------------------------------------------------------------------------------

_announced: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "sfu_announced_addresses", default=None
)
_original_get_host_addresses: Callable[[bool, bool], list[str]] | None = None


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _announced.get()
    if addresses is not None:
        return list(addresses)
    assert _original_get_host_addresses is not None
    return _original_get_host_addresses(use_ipv4, use_ipv6)


def _install_host_address_hook() -> None:
    global _original_get_host_addresses
    if _original_get_host_addresses is None:
        _original_get_host_addresses = aioice.ice.get_host_addresses
        aioice.ice.get_host_addresses = _get_host_addresses


@contextlib.contextmanager
def announced_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Within this block, ICE gathering announces exactly ``addresses`` (None: aioice's own
    choice, which leaves out loopback). Gathering happens inside ``setLocalDescription``,
    so wrap that call."""
    _install_host_address_hook()
    token = _announced.set(tuple(addresses) if addresses is not None else None)
    try:
        yield
    finally:
        _announced.reset(token)


# ---------------------------------------------------------------------------------------
# Slot senders
# ---------------------------------------------------------------------------------------


class ParkedTrack(MediaStreamTrack):
    """A track whose ``recv()`` never returns: a slot's sender waits on it forever instead
    of polling every 20 ms, and never encodes anything."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    async def recv(self) -> Any:
        return await self._never

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """The media and RTX SSRCs a sender announces in its SDP."""
    return int(sender._ssrc), int(sender._rtx_ssrc)


def rtcp_sender_ssrc(transceiver: RTCRtpTransceiver) -> int:
    """The SSRC aiortc uses as sender of a transceiver's receiver feedback."""
    return int(transceiver.sender._ssrc)


def park_sender_rtcp(sender: RTCRtpSender) -> None:
    """Replace the sender's RTCP loop (started when the connection is up) by one that
    only waits to be stopped. aiortc's loop would wake every second per slot to send a
    report saying NTP 0 / RTP 0 (its counters are filled only by its own RTP loop, which
    forwarding bypasses); the worker sends one compound report per subscriber instead.
    ``RTCRtpSender.stop()`` waits on the two events set here."""
    started = sender._RTCRtpSender__rtcp_started  # type: ignore[attr-defined]
    exited = sender._RTCRtpSender__rtcp_exited  # type: ignore[attr-defined]

    async def _run_rtcp() -> None:
        started.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        finally:
            exited.set()

    sender._run_rtcp = _run_rtcp  # type: ignore[method-assign]


def park_receiver(receiver: RTCRtpReceiver) -> None:
    """Keep aiortc from starting a receiver whose packets the SFU takes itself: no decoder
    thread and no RTCP loop per published track (the worker reports upstream instead)."""

    async def receive(parameters: Any) -> None:
        return None

    receiver.receive = receive  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------
# Raw RTP in and out of a peer connection's (bundled) transport
# ---------------------------------------------------------------------------------------


def fast_protect(session: Any) -> Callable[[bytes], bytes | None]:
    """SRTP-protect with one reused length cell: pylibsrtp's own ``protect`` allocates one
    per call and checks types, which costs about as much as the encryption itself.
    Returns None (instead of raising) when libsrtp refuses a packet."""
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    limit = len(buffer) - pylibsrtp.SRTP_MAX_TRAILER_LEN
    length = _ffi.new("int *")
    protect = _lib.srtp_protect

    def run(packet: bytes, _keep_alive: Any = session) -> bytes | None:
        # The session (default argument) owns the libsrtp context ``srtp`` points into:
        # this closure keeps it alive.
        n = len(packet)
        if n > limit:
            return None
        length[0] = n
        buffer[0:n] = packet
        if protect(srtp, cdata, length):
            return None
        return buffer[0 : length[0]]

    return run


def fast_unprotect(session: Any) -> Callable[[bytes], bytes | None]:
    """SRTP-unprotect like :func:`fast_protect`; None when authentication or the replay
    check fails (or the packet does not fit)."""
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    limit = len(buffer)
    length = _ffi.new("int *")
    unprotect = _lib.srtp_unprotect

    def run(packet: bytes, _keep_alive: Any = session) -> bytes | None:
        n = len(packet)
        if n > limit:
            return None
        length[0] = n
        buffer[0:n] = packet
        if unprotect(srtp, cdata, length):
            return None
        return buffer[0 : length[0]]

    return run


def _is_rtcp(data: bytes) -> bool:
    return len(data) >= 2 and 192 <= data[1] <= 208


#: A paused stream has one packet decrypted (and dropped) once its sequence number has
#: moved this far since the last one decrypted. libsrtp guesses a packet's rollover
#: counter from the last sequence number it decrypted, and guesses right only within
#: 2^15 of it; a quarter of that leaves room for loss and reordering.
PAUSED_DECRYPT_DISTANCE = 8192


class PausedStream:
    """One incoming SRTP stream (an SSRC) whose packets are dropped before decryption.

    Registered in :attr:`PeerTransport.paused` while nobody watches its source. Each
    packet is read only in its clear header: ``on_clear(packet)`` may look at it (an audio
    level). Every :data:`PAUSED_DECRYPT_DISTANCE` sequence numbers one packet is decrypted
    anyway, so libsrtp's rollover counter stays right, and handed to ``on_decrypted``;
    it is dropped all the same.
    """

    __slots__ = ("decrypted", "dropped", "last_decrypted", "last_seen", "on_clear", "on_decrypted")

    def __init__(
        self,
        on_clear: Callable[[bytes], None] | None = None,
        on_decrypted: Callable[[bytes], None] | None = None,
    ) -> None:
        #: The sequence number libsrtp last decrypted on this stream (-1: none yet, so the
        #: first packet is decrypted).
        self.last_decrypted = -1
        #: The newest sequence number seen in the clear (-1: none since the pause).
        self.last_seen = -1
        self.dropped = 0
        self.decrypted = 0
        self.on_clear = on_clear
        self.on_decrypted = on_decrypted

    def admit(self, seq: int) -> bool:
        """Whether this packet must be decrypted to keep the rollover guess right."""
        last = self.last_decrypted
        if last < 0:
            return True
        return PAUSED_DECRYPT_DISTANCE <= ((seq - last) & 0xFFFF) < 0x8000

    def take(self, data: bytes, unprotect: Callable[[bytes], bytes | None]) -> bool:
        """Handle one SRTP packet of this stream: count it and drop it, decrypting it
        first when :meth:`admit` says so. False when that decryption failed."""
        seq = (data[2] << 8) | data[3]
        if self.last_seen < 0 or 0 < ((seq - self.last_seen) & 0xFFFF) < 0x8000:
            self.last_seen = seq
        if not self.admit(seq):
            self.dropped += 1
            if self.on_clear is not None:
                self.on_clear(data)
            return True
        packet = unprotect(data)
        if packet is None:
            return False
        self.last_decrypted = seq
        self.decrypted += 1
        if self.on_clear is not None:
            self.on_clear(packet)
        if self.on_decrypted is not None:
            self.on_decrypted(packet)
        return True


class PeerTransport:
    """Synchronous raw RTP/RTCP access to one DTLS transport of a peer connection.

    Create it after ``setLocalDescription`` (when candidates have been gathered), then
    :meth:`attach` the handlers. Incoming SRTP/SRTCP is decrypted in the datagram callback
    itself and handed to the handlers; STUN and DTLS keep going to aiortc. RTP of an SSRC
    in :attr:`paused` is dropped before decryption (see :class:`PausedStream`); RTCP
    always passes.
    """

    def __init__(self, pc: RTCPeerConnection) -> None:
        transceivers = pc.getTransceivers()
        if not transceivers:
            raise AdapterError("peer connection has no transceivers")
        self.dtls = transceivers[0].sender.transport
        for t in transceivers[1:]:
            if t.sender.transport is not self.dtls:
                raise AdapterError("peer connection is not bundled on one transport")
        self._connection = self.dtls.transport._connection
        self._nominated: dict[int, Any] = self._connection._nominated
        self._wrapped: list[Any] = []
        self._sender: Callable[[bytes], bool] | None = None
        self._bound: list[Any] = []
        self._on_rtp: RtpHandler | None = None
        self._on_rtcp: RtcpHandler | None = None
        #: Incoming streams dropped before decryption, by SSRC (mutated in place: the
        #: datagram callback holds this dict).
        self.paused: dict[int, PausedStream] = {}
        self.rx_packets = 0
        self.rx_errors = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.tx_dropped = 0

    @property
    def ready(self) -> bool:
        """Whether SRTP keys exist and a candidate pair is selected."""
        return self.is_ready()

    def is_ready(self) -> bool:
        return self.dtls._tx_srtp is not None and 1 in self._nominated

    def attach(self, on_rtp: RtpHandler, on_rtcp: RtcpHandler, *, decrypt: bool = True) -> None:
        """Handle decrypted RTP with ``on_rtp(packet, arrival_seconds)`` and decrypted
        compound RTCP with ``on_rtcp(data)``. The handlers run synchronously in the
        datagram callback and must not raise. With ``decrypt=False`` they get the SRTP
        and SRTCP packets as they arrived (headers are in clear: enough for counting)."""
        self._on_rtp = on_rtp
        self._on_rtcp = on_rtcp
        for protocol in list(self._connection._protocols):
            self._wrap(protocol, decrypt)

    def set_socket_buffers(self, size: int) -> None:
        """Ask for ``size``-byte kernel send and receive buffers on every local socket
        (capped by net.core.rmem_max / wmem_max): a keyframe burst fanned out to many
        subscribers takes a while, and a small receive buffer would drop what arrives
        meanwhile."""
        for protocol in list(self._connection._protocols):
            sock = protocol.transport.get_extra_info("socket")
            if sock is None:
                continue
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, size)
                except OSError:
                    logger.debug("could not set socket buffer %s to %d", option, size)

    def _wrap(self, protocol: Any, decrypt: bool) -> None:
        original = protocol.datagram_received
        dtls = self.dtls
        loop_time = asyncio.get_event_loop().time
        on_rtp = self._on_rtp
        on_rtcp = self._on_rtcp
        assert on_rtp is not None and on_rtcp is not None
        unprotect: list[Any] = [None, None]  # (session, its fast unprotect)
        paused = self.paused

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            # SRTP and SRTCP start with 0b10 (RFC 7983); everything else is STUN/DTLS.
            session = dtls._rx_srtp
            if data and 127 < data[0] < 192 and session is not None:
                self.rx_packets += 1
                try:
                    if not decrypt:
                        if _is_rtcp(data):
                            on_rtcp(data)
                        else:
                            on_rtp(data, loop_time())
                    elif _is_rtcp(data):
                        on_rtcp(session.unprotect_rtcp(data))
                    else:
                        if unprotect[0] is not session:
                            unprotect[0] = session
                            unprotect[1] = fast_unprotect(session)
                        if paused:
                            # The SSRC is in the clear header; a watched source's packet
                            # pays this one lookup, and only while some source is paused.
                            stream = paused.get(int.from_bytes(data[8:12], "big"))
                            if stream is not None:
                                if not stream.take(data, unprotect[1]):
                                    self.rx_errors += 1
                                return
                        packet = unprotect[1](data)
                        if packet is None:
                            self.rx_errors += 1
                        else:
                            on_rtp(packet, loop_time())
                except Exception:
                    # Authentication failures, replays and malformed packets are
                    # counted, never raised into the event loop.
                    self.rx_errors += 1
                return
            original(data, addr)

        protocol.datagram_received = datagram_received
        self._wrapped.append((protocol, original))

    def detach(self) -> None:
        for protocol, original in self._wrapped:
            protocol.datagram_received = original
        self._wrapped.clear()

    def send_rtp(self, packet: bytes) -> bool:
        """Encrypt and send one plain RTP packet; False (and counted) if not connected."""
        sender = self._sender
        if sender is None:
            return self._send_slow(packet)
        return sender(packet)

    def _send_slow(self, packet: bytes) -> bool:
        """(Re)build the fast sender for the current SRTP session and selected pair, hand
        it to every :meth:`bind`-ed object, and send with it."""
        sender = self._make_sender()
        if sender is None:
            self.tx_dropped += 1
            return False
        return sender(packet)

    def bind(self, target: Any) -> None:
        """Keep ``target.send`` set to the fastest sender there is: this method until the
        connection is up, then one closure doing the whole protect + sendto (one Python
        call per packet), rebuilt if the selected pair changes."""
        self._bound.append(target)
        target.send = self._sender or self.send_rtp

    def _make_sender(self) -> Callable[[bytes], bool] | None:
        pair = self._nominated.get(1)
        dtls = self.dtls
        session = dtls._tx_srtp
        if pair is None or session is None:
            return None
        nominated = self._nominated
        slow = self._send_slow
        srtp = session._srtp[0]
        cdata = session._cdata
        buffer = session._buffer
        limit = len(buffer) - pylibsrtp.SRTP_MAX_TRAILER_LEN
        length = _ffi.new("int *")
        protect = _lib.srtp_protect
        sendto = pair.protocol.transport.sendto
        addr = pair.remote_addr

        def send(packet: bytes, _keep_alive: Any = session) -> bool:
            # The same steps as fast_protect, inlined: this runs once per packet and
            # subscriber. The session (default argument) owns the memory srtp points to.
            if nominated.get(1) is not pair or dtls._tx_srtp is not session:
                return slow(packet)
            n = len(packet)
            if n > limit:
                self.tx_dropped += 1
                return False
            length[0] = n
            buffer[0:n] = packet
            if protect(srtp, cdata, length):
                self.tx_dropped += 1
                return False
            sendto(buffer[0 : length[0]], addr)
            self.tx_packets += 1
            self.tx_bytes += length[0]
            return True

        self._sender = send
        for target in self._bound:
            target.send = send
        return send

    def send_rtcp(self, packet: bytes) -> bool:
        """Encrypt and send one plain (compound) RTCP packet."""
        pair = self._nominated.get(1)
        tx = self.dtls._tx_srtp
        if pair is None or tx is None:
            return False
        try:
            data = tx.protect_rtcp(packet)
        except Exception:
            self.tx_dropped += 1
            return False
        pair.protocol.transport.sendto(data, pair.remote_addr)
        return True


# ---------------------------------------------------------------------------------------
# Bandwidth estimation (aiortc's REMB estimator, fed from our own receive path)
# ---------------------------------------------------------------------------------------


class BitrateEstimator:
    """Receive-side bandwidth estimate from abs-send-time, as aiortc computes for REMB."""

    def __init__(self) -> None:
        from aiortc.rate import RemoteBitrateEstimator

        self._estimator = RemoteBitrateEstimator()
        self.bitrate: int | None = None

    def add(self, abs_send_time: int, arrival_ms: int, size: int, ssrc: int) -> bool:
        """Feed one packet; True when a new estimate is due to be reported."""
        result = self._estimator.add(
            abs_send_time=abs_send_time,
            arrival_time_ms=arrival_ms,
            payload_size=size,
            ssrc=ssrc,
        )
        if result is None:
            return False
        self.bitrate = int(result[0])
        return True


# ---------------------------------------------------------------------------------------
# Start-up self-test
# ---------------------------------------------------------------------------------------


def _require(obj: object, attr: str, where: str) -> Any:
    if not hasattr(obj, attr):
        raise AdapterError(
            f"{where} has no attribute {attr!r}: aiortc/aioice internals changed "
            f"(written for aiortc {PINNED_AIORTC}, aioice {PINNED_AIOICE}; found aiortc "
            f"{aiortc.__version__}, aioice {aioice.__version__})"
        )
    return getattr(obj, attr)


class _UnusedEstimator:
    """Stands in for the bandwidth estimator of a receiver that never sees a packet."""


_estimator_swaps = 0
_real_estimator: Any = None


@contextlib.contextmanager
def no_receive_estimators() -> Iterator[None]:
    """Receivers created meanwhile get no bandwidth estimator (see the module's notes).

    Overlapping uses (connections set up concurrently) restore aiortc's class only when the
    last one ends.
    """
    global _estimator_swaps, _real_estimator
    import aiortc.rtcrtpreceiver as receivers

    if _estimator_swaps == 0:
        _real_estimator = receivers.RemoteBitrateEstimator
        receivers.RemoteBitrateEstimator = _UnusedEstimator  # type: ignore[assignment,misc]
    _estimator_swaps += 1
    try:
        yield
    finally:
        _estimator_swaps -= 1
        if _estimator_swaps == 0:
            receivers.RemoteBitrateEstimator = _real_estimator  # type: ignore[misc]


#: RFC 7675: a check every 5 s (randomised), consent lost after 30 s without an answer.
CONSENT_INTERVAL_S = 5.0
CONSENT_TIMEOUT_S = 30.0


def keep_consent(pc: RTCPeerConnection) -> None:
    """Replace aioice's consent checks on ``pc``'s ICE connection (see the module's notes).

    Call once the connection is up. Idempotent. When consent expires the connection is
    closed, as aioice would, and the peer connection fails.
    """
    transceivers = pc.getTransceivers()
    if not transceivers:
        return
    connection = transceivers[0].sender.transport.transport._connection
    task = connection._query_consent_task
    if task is None or getattr(task, "_podium_consent", False):
        return
    task.cancel()
    mine = asyncio.get_running_loop().create_task(_consent(connection))
    mine._podium_consent = True  # type: ignore[attr-defined]
    connection._query_consent_task = mine


async def _consent(connection: Any) -> None:
    import random

    from aioice import stun

    loop = asyncio.get_running_loop()
    answered = loop.time()
    key = connection.remote_password.encode("utf8")
    while True:
        await asyncio.sleep(CONSENT_INTERVAL_S * (0.8 + 0.4 * random.random()))
        for pair in list(connection._nominated.values()):
            request = connection.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request, pair.remote_addr, integrity_key=key, retransmissions=2
                )
                answered = loop.time()
            except stun.TransactionError:
                pass
        if loop.time() - answered > CONSENT_TIMEOUT_S:
            logger.info("consent to send expired: no answer for %.0f s", CONSENT_TIMEOUT_S)
            connection._query_consent_task = None
            await connection.close()
            return


async def self_test() -> None:
    """Check that every internal used above exists; raise :class:`AdapterError` if not.

    Builds a throw-away peer connection (no network) and inspects it.
    """
    if aiortc.__version__ != PINNED_AIORTC:
        raise AdapterError(f"aiortc {aiortc.__version__} found, {PINNED_AIORTC} required")
    if not aioice.__version__.startswith(PINNED_AIOICE):
        raise AdapterError(f"aioice {aioice.__version__} found, {PINNED_AIOICE}.x required")
    if not callable(_require(aioice.ice, "get_host_addresses", "aioice.ice")):
        raise AdapterError("aioice.ice.get_host_addresses is not callable")
    from aiortc import rtcrtpreceiver

    _require(rtcrtpreceiver, "RemoteBitrateEstimator", "aiortc.rtcrtpreceiver")
    ice_connection = aioice.Connection(ice_controlling=True)
    for name in ("_query_consent_task", "_nominated", "remote_password"):
        if not hasattr(ice_connection, name):
            raise AdapterError(f"aioice.Connection has no {name}: aioice internals changed")
    if not callable(getattr(ice_connection, "build_request", None)):
        raise AdapterError("aioice.Connection.build_request is gone: aioice internals changed")
    stun_protocol = _require(aioice.ice, "StunProtocol", "aioice.ice")
    # Its own method (not asyncio's no-op default) is what routes STUN and data.
    if "datagram_received" not in vars(stun_protocol):
        raise AdapterError(
            "aioice.ice.StunProtocol defines no datagram_received: aioice internals changed"
        )
    from aiortc import rate

    estimator = _require(rate, "RemoteBitrateEstimator", "aiortc.rate")()
    try:
        estimator.add(arrival_time_ms=0, abs_send_time=0, payload_size=100, ssrc=1)
    except TypeError as exc:
        raise AdapterError(f"aiortc.rate.RemoteBitrateEstimator.add changed: {exc}") from exc
    _require(pylibsrtp, "SRTP_MAX_TRAILER_LEN", "pylibsrtp")
    _require(_lib, "srtp_protect", "pylibsrtp._binding.lib")
    _require(_lib, "srtp_unprotect", "pylibsrtp._binding.lib")
    session = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=bytes(30),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
    )
    for attr in ("_srtp", "_cdata", "_buffer"):
        _require(session, attr, "pylibsrtp.Session")
    probe = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]) + b"probe"
    if fast_protect(session)(probe) is None:
        raise AdapterError("SRTP protection through pylibsrtp's binding failed")

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver(ParkedTrack("video"), direction="sendonly")
        sender = transceiver.sender
        for attr in (
            "_ssrc",
            "_rtx_ssrc",
            "_run_rtcp",
            "_RTCRtpSender__rtcp_started",
            "_RTCRtpSender__rtcp_exited",
        ):
            _require(sender, attr, "RTCRtpSender")
        if not asyncio.iscoroutinefunction(sender._run_rtcp):
            raise AdapterError("RTCRtpSender._run_rtcp is no longer a coroutine function")
        if not asyncio.iscoroutinefunction(
            _require(transceiver.receiver, "receive", "RTCRtpReceiver")
        ):
            raise AdapterError("RTCRtpReceiver.receive is no longer a coroutine function")
        dtls = sender.transport
        for attr in ("_rx_srtp", "_tx_srtp", "transport"):
            _require(dtls, attr, "RTCDtlsTransport")
        connection = _require(dtls.transport, "_connection", "RTCIceTransport")
        for attr in ("_protocols", "_nominated"):
            _require(connection, attr, "aioice.Connection")
        if not isinstance(connection._nominated, dict):
            raise AdapterError("aioice.Connection._nominated is no longer a dict")
        _require(aioice.ice.CandidatePair, "remote_addr", "aioice.ice.CandidatePair")
    finally:
        await pc.close()
