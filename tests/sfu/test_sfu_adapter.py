"""The adapter to aiortc/aioice internals: it works on the pinned versions, and fails
loudly when an internal it relies on disappears."""

from __future__ import annotations

import asyncio
import gc
import struct
import threading

import aioice.ice
import aiortc
import pylibsrtp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from sfu_peers import wait_for

from sfu import adapter, rtcp
from sfu.adapter import AdapterError, PeerTransport, announced_addresses


async def test_self_test_passes_on_installed_versions() -> None:
    await adapter.self_test()


async def test_self_test_rejects_another_aiortc_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(AdapterError, match=r"1\.17\.0"):
        await adapter.self_test()


async def test_self_test_fails_when_the_datagram_callback_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(aioice.ice.StunProtocol, "datagram_received")
    with pytest.raises(AdapterError, match="datagram_received"):
        await adapter.self_test()


async def test_self_test_fails_when_sender_ssrcs_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = RTCRtpSender.__init__

    def init(self: RTCRtpSender, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self._rtx_ssrc

    monkeypatch.setattr(RTCRtpSender, "__init__", init)
    with pytest.raises(AdapterError, match="_rtx_ssrc"):
        await adapter.self_test()


async def test_self_test_fails_when_srtp_sessions_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = aiortc.RTCDtlsTransport.__init__

    def init(self: aiortc.RTCDtlsTransport, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self._tx_srtp

    monkeypatch.setattr(aiortc.RTCDtlsTransport, "__init__", init)
    with pytest.raises(AdapterError, match="_tx_srtp"):
        await adapter.self_test()


def _hosts(pc: RTCPeerConnection) -> set[str]:
    sdp = pc.localDescription.sdp
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def test_announced_addresses_controls_ice_gathering() -> None:
    inside = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    outside = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        inside.addTransceiver("audio")
        outside.addTransceiver("audio")
        with announced_addresses(["127.0.0.1"]):
            await inside.setLocalDescription(await inside.createOffer())
        await outside.setLocalDescription(await outside.createOffer())
        assert _hosts(inside) == {"127.0.0.1"}
        # Outside the block aioice's own choice applies, which never includes loopback.
        assert "127.0.0.1" not in _hosts(outside)
    finally:
        await inside.close()
        await outside.close()


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    a.addTransceiver(adapter.ParkedTrack("video"), direction="sendonly")
    with announced_addresses(["127.0.0.1"]):
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    return a, b


def _rtp(seq: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 1234, ssrc) + payload


async def test_peer_transport_sends_and_receives_raw_rtp_and_rtcp() -> None:
    a, b = await _connected_pair()
    try:
        ta, tb = PeerTransport(a), PeerTransport(b)
        got_rtp: list[bytes] = []
        got_rtcp: list[bytes] = []
        ta.attach(lambda d, t: None, got_rtcp.append)
        tb.attach(lambda d, t: got_rtp.append(d), lambda d: None)
        assert not ta.send_rtp(_rtp(1, 42, b"early"))
        assert ta.tx_dropped == 1
        await wait_for(lambda: ta.ready and tb.ready, 10, "DTLS on both sides")
        packets = [_rtp(i, 42, b"payload-%d" % i) for i in range(10)]
        for p in packets:
            assert ta.send_rtp(p)
        await wait_for(lambda: len(got_rtp) >= 10, 5, "ten packets")
        assert got_rtp[:10] == packets  # decrypted back to the very same bytes

        class Slot:
            send: object = None

        slot = Slot()
        ta.bind(slot)
        assert slot.send is not ta.send_rtp  # already the one-call fast sender
        more = [_rtp(i, 42, b"more-%d" % i) for i in range(10, 20)]
        for p in more:
            assert slot.send(p)  # type: ignore[operator]
        await wait_for(lambda: len(got_rtp) >= 20, 5, "ten more packets")
        assert got_rtp[10:20] == more
        assert ta.tx_packets == 20
        pli = rtcp.pli(7, 42)
        assert tb.send_rtcp(pli)
        await wait_for(lambda: pli in got_rtcp, 5, "the PLI")
        assert tb.rx_errors == 0
    finally:
        await a.close()
        await b.close()


async def test_parked_sender_rtcp_sends_nothing_and_stops_cleanly() -> None:
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        t = a.addTransceiver(adapter.ParkedTrack("video"), direction="sendonly")
        adapter.park_sender_rtcp(t.sender)
        with announced_addresses(["127.0.0.1"]):
            await a.setLocalDescription(await a.createOffer())
            await b.setRemoteDescription(a.localDescription)
            await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        tb = PeerTransport(b)
        reports: list[bytes] = []
        tb.attach(lambda d, t: None, reports.append)
        await wait_for(lambda: PeerTransport(a).ready and tb.ready, 10, "connected")
        # aiortc's own loop would report within 0.5-1.5 s; the parked one never does.
        await asyncio.sleep(1.6)
        assert [f.kind for r in reports for f in rtcp.parse(r)] == []
        await asyncio.wait_for(t.sender.stop(), 2)
    finally:
        await a.close()
        await b.close()


async def test_parked_track_never_yields_and_stops() -> None:
    track = adapter.ParkedTrack("audio")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(track.recv()), 0.05)
    task = asyncio.ensure_future(track.recv())
    track.stop()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_sender_ssrcs_match_the_sdp() -> None:
    async def run() -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            t = pc.addTransceiver(adapter.ParkedTrack("video"), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            ssrc, rtx = adapter.sender_ssrcs(t.sender)
            assert f"a=ssrc-group:FID {ssrc} {rtx}" in pc.localDescription.sdp
        finally:
            await pc.close()

    asyncio.run(run())


def test_bitrate_estimator_reports_an_estimate() -> None:
    est = adapter.BitrateEstimator()
    reported = False
    for i in range(1200):  # six seconds: the estimator settles after three
        # 1,000-byte packets every 5 ms: about 1.6 Mbit/s.
        abs_time = int(i * 0.005 * (1 << 18)) & 0xFFFFFF
        reported |= est.add(abs_time, 1000 + i * 5, 1000, 1234)
    assert reported
    assert est.bitrate is not None and est.bitrate > 100_000


def _session(key: bytes) -> pylibsrtp.Session:
    return pylibsrtp.Session(
        pylibsrtp.Policy(
            key=key,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
    )


def test_fast_protect_matches_pylibsrtp_and_keeps_its_session_alive() -> None:
    key = bytes(range(30))
    reference = _session(key)
    protect = adapter.fast_protect(_session(key))  # the only reference to that session
    gc.collect()
    for seq in range(50):
        packet = _rtp(seq, 42, b"x" * (seq * 20))
        assert protect(packet) == reference.protect(packet)
    assert protect(_rtp(60, 42, bytes(1500))) is None  # too long: refused, not raised


async def test_self_test_fails_when_the_estimator_signature_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiortc import rate

    class Changed:
        def add(self, packet: object) -> None:
            pass

    monkeypatch.setattr(rate, "RemoteBitrateEstimator", Changed)
    with pytest.raises(AdapterError, match="RemoteBitrateEstimator"):
        await adapter.self_test()


def test_fast_unprotect_reverses_protect_and_rejects_forgeries() -> None:
    key = bytes(range(30))
    sender = _session(key)
    receiver = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=key,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
    )
    unprotect = adapter.fast_unprotect(receiver)
    for seq in range(20):
        packet = _rtp(seq, 42, b"y" * (seq * 30))
        assert unprotect(sender.protect(packet)) == packet
    forged = bytearray(sender.protect(_rtp(99, 42, b"payload")))
    forged[-1] ^= 1
    assert unprotect(bytes(forged)) is None


async def test_parked_receiver_starts_no_decoder_thread() -> None:
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        a.addTransceiver(adapter.ParkedTrack("video"), direction="sendonly")
        with announced_addresses(["127.0.0.1"]):
            await a.setLocalDescription(await a.createOffer())
            await b.setRemoteDescription(a.localDescription)
            for t in b.getTransceivers():
                adapter.park_receiver(t.receiver)
            await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        before = {t.ident for t in threading.enumerate() if t.name == "video-decoder"}
        await wait_for(lambda: b.connectionState == "connected", 10, "connected")
        await asyncio.sleep(0.1)  # let aiortc start its receivers, if it were to
        after = {t.ident for t in threading.enumerate() if t.name == "video-decoder"}
        assert after <= before
    finally:
        await a.close()
        await b.close()


async def test_receivers_set_up_by_the_worker_get_no_estimator_and_aiortcs_comes_back() -> None:
    from aiortc import rtcrtpreceiver

    real = rtcrtpreceiver.RemoteBitrateEstimator
    first = adapter.no_receive_estimators()
    second = adapter.no_receive_estimators()
    first.__enter__()
    second.__enter__()  # a second connection set up meanwhile
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    estimator = transceiver.receiver._RTCRtpReceiver__remote_bitrate_estimator
    assert not isinstance(estimator, real)
    first.__exit__(None, None, None)
    assert rtcrtpreceiver.RemoteBitrateEstimator is not real  # the other one still runs
    second.__exit__(None, None, None)
    assert rtcrtpreceiver.RemoteBitrateEstimator is real
    await pc.close()
