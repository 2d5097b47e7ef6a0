"""Media nobody watches: a source with no slot and no pipe export pointing at it is
paused, its packets dropped before decryption, until someone watches it again."""

from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest
from sfu_peers import Publisher, Subscriber, near, wait_for

from sfu import Worker
from sfu.adapter import PAUSED_DECRYPT_DISTANCE, PausedStream, fast_unprotect

RED = (220, 40, 40)


def _sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    key = os.urandom(30)
    profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    tx = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
        )
    )
    rx = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    return tx, rx


def _packets(tx: pylibsrtp.Session, first_seq: int, count: int) -> list[bytes]:
    payload = bytes(40)
    return [
        tx.protect(
            struct.pack("!BBHII", 0x80, 96, (first_seq + i) & 0xFFFF, i * 3000, 1234) + payload
        )
        for i in range(count)
    ]


def test_a_paused_stream_keeps_the_srtp_rollover_counter_right() -> None:
    # 75,000 packets from sequence number 60,000 on: the 16-bit number wraps twice while
    # the stream is paused. libsrtp guesses the rollover counter from the last sequence
    # number it decrypted, so without the occasional decryption the guess goes wrong.
    tx, rx = _sessions()
    packets = _packets(tx, 60_000, 75_020)
    unprotect = fast_unprotect(rx)
    assert all(unprotect(p) is not None for p in packets[:10])
    stream = PausedStream()
    stream.last_decrypted = (60_000 + 9) & 0xFFFF
    assert all(stream.take(p, unprotect) for p in packets[10:75_010])
    assert stream.decrypted == (75_000 - 1) // PAUSED_DECRYPT_DISTANCE
    assert stream.dropped + stream.decrypted == 75_000
    # Resumed: every packet decrypts again.
    assert all(unprotect(p) is not None for p in packets[75_010:])

    # The same pause without the occasional decryption loses the stream.
    tx, rx = _sessions()
    packets = _packets(tx, 60_000, 40_020)
    unprotect = fast_unprotect(rx)
    assert all(unprotect(p) is not None for p in packets[:10])
    assert all(unprotect(p) is None for p in packets[40_010:])


@pytest.mark.media
async def test_an_unwatched_source_is_dropped_before_decryption_until_watched(
    worker: Worker,
) -> None:
    a = Publisher("alice", RED, amplitude=0.3)
    s = Subscriber("sam")

    def video() -> dict[str, object]:
        return worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]  # type: ignore[index,no-any-return]

    try:
        await a.join(worker)
        await s.join(worker, video_slots=1, audio_slots=0)
        await wait_for(lambda: video()["dropped_paused"] > 30, 10, "unwatched video dropped")
        assert video()["paused"] is True
        assert video()["received"] == 0  # nothing of it reached the forwarding path
        assert worker.stats()["endpoints"]["alice"]["rx_errors"] == 0
        # An unwatched microphone still tells how loud it is (from the clear header).
        await wait_for(
            lambda: worker.audio_levels().get("alice:audio", 127) < 30, 5, "alice's level"
        )
        await wait_for(lambda: s.pc.connectionState == "connected", 10, "sam connected")

        # Someone watches: decrypted and forwarded at once, from a fresh keyframe.
        worker.set_routing("sam", {"v0": "alice:video"})
        assert video()["paused"] is False
        await wait_for(lambda: s.slot_frames("v0") > 0, 1.0, "alice's video within a second")
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 5, "alice's red")
        missing_before = video()["missing"]
        assert missing_before == 0  # what was dropped while paused is not asked for

        # Nobody watches again: paused at the next housekeeping round.
        worker.set_routing("sam", {"v0": None})
        await wait_for(lambda: video()["paused"] is True, 2, "paused again")
        dropped = video()["dropped_paused"]
        await wait_for(lambda: video()["dropped_paused"] > dropped + 10, 5, "dropped again")
        frames = s.slot_frames("v0")
        worker.set_routing("sam", {"v0": "alice:video"})
        await wait_for(lambda: s.slot_frames("v0") > frames + 10, 5, "alice again")
        assert worker.stats()["endpoints"]["alice"]["rx_errors"] == 0
    finally:
        await s.close()
        await a.close()
