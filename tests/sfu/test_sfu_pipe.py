"""Two workers joined by a pipe: a source published on one plays in slots of the other."""

from __future__ import annotations

import itertools
import random

import pytest
from sfu_peers import Publisher, Subscriber, near, unwrap, wait_for

from sfu import RoutingError, Worker, WorkerConfig

pytestmark = pytest.mark.media

RED = (220, 40, 40)


async def test_a_source_crosses_a_pipe_to_another_worker(worker: Worker) -> None:
    async with Worker(WorkerConfig(host_addresses=("127.0.0.1",))) as other:
        a = Publisher("alice", RED, amplitude=0.3)
        s = Subscriber("sam")
        try:
            await a.join(worker)  # alice publishes on the first worker...
            await s.join(other, video_slots=1, audio_slots=1)  # ...sam watches on the other
            here = await worker.open_pipe("p1")
            there = await other.open_pipe("p1")
            worker.connect_pipe("p1", there)
            other.connect_pipe("p1", here)
            for source_id in ("alice:video", "alice:audio"):
                other.import_source("p1", worker.export_source("p1", source_id))
            assert {i.source_id for i in other.sources()} == {"alice:video", "alice:audio"}

            other.set_routing("sam", {"v0": "alice:video", "a0": "alice:audio"})
            await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red across the pipe")
            a0 = s.mid_of_slot["a0"]
            await wait_for(lambda: s.samples.get(a0, 0.0) > 2000, 10, "alice's tone")
            await wait_for(lambda: bool(s.sender_reports.get(s.slot_ssrc("v0"))), 5, "a mapped SR")
            values = sorted(set(unwrap(s.seqs[s.slot_ssrc("v0")])))
            assert all(y == x + 1 for x, y in itertools.pairwise(values))

            # A keyframe asked for on the far side reaches the publisher.
            plis = worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["plis_sent"]  # type: ignore[index]
            other.request_keyframe("alice:video")
            await wait_for(
                lambda: (
                    worker.stats()["endpoints"]["alice"]["sources"]["alice:video"]["plis_sent"]  # type: ignore[index]
                    > plis
                ),
                5,
                "the PLI back across the pipe",
            )

            pipe_stats = worker.stats()["pipes"]["p1"]  # type: ignore[index]
            assert pipe_stats["exports"] == ["alice:audio", "alice:video"]
            assert pipe_stats["sent"] > 0 and pipe_stats["errors"] == 0

            # Closing the pipe stops the imported source at once.
            other.close_pipe("p1")
            assert other.routing("sam") == {"v0": None, "a0": None}
            with pytest.raises(RoutingError):
                other.set_routing("sam", {"v0": "alice:video"})
        finally:
            await s.close()
            await a.close()


async def test_loss_inside_a_pipe_is_repaired_from_the_origin(worker: Worker) -> None:
    async with Worker(WorkerConfig(host_addresses=("127.0.0.1",))) as other:
        a = Publisher("alice", RED)
        s = Subscriber("sam")
        try:
            await a.join(worker)
            await s.join(other, video_slots=1, audio_slots=0)
            here = await worker.open_pipe("p1")
            there = await other.open_pipe("p1")
            worker.connect_pipe("p1", there)
            other.connect_pipe("p1", here)
            description = worker.export_source("p1", "alice:video")
            other.import_source("p1", description)
            other.set_routing("sam", {"v0": "alice:video"})
            await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red across the pipe")

            # From now on a fifth of the video packets is lost in the pipe the first time
            # it is sent (a resend goes through).
            rng = random.Random(3)
            sent: set[int] = set()
            lost: list[int] = []

            def drop(data: bytes) -> bool:
                if 192 <= data[1] <= 208 or int.from_bytes(data[8:12], "big") != int(
                    description["pipe_ssrc"]  # type: ignore[call-overload]
                ):
                    return False  # RTCP, or another source
                seq = int.from_bytes(data[2:4], "big")
                if seq in sent:
                    return False
                sent.add(seq)
                if rng.random() < 0.2:
                    lost.append(seq)
                    return True
                return False

            pipe = worker._pipe("p1")
            pipe.drop_filter = drop
            await wait_for(lambda: len(lost) >= 10, 15, "ten packets lost in the pipe")
            seen = s.packets("v0")
            await wait_for(lambda: s.packets("v0") > seen + 20, 5, "packets after the losses")

            # The importing worker asked, the exporting one sent them again, and the viewer
            # got a stream without holes.
            assert pipe.nacks_received > 0
            assert pipe.retransmitted >= len(lost) - 2  # the newest may be on their way
            ssrc = s.slot_ssrc("v0")

            def holes() -> list[int]:
                got = list(s.seqs[ssrc]) + list(s.recovered.get(ssrc, []))
                values = sorted(set(unwrap(got)))
                settled = [v for v in values if v <= values[-1] - 30]
                return [x for x, y in itertools.pairwise(settled) if y != x + 1]

            await wait_for(lambda: not holes(), 5, "a stream without holes at the viewer")
            imported = other.stats()["endpoints"]  # the import has no endpoint here
            assert "alice" not in imported
            stats = worker.stats()["pipes"]["p1"]  # type: ignore[index]
            assert stats["retransmitted"] == pipe.retransmitted
        finally:
            await s.close()
            await a.close()


async def test_a_pipe_with_keys_is_encrypted_and_refuses_what_it_cannot_authenticate(
    worker: Worker,
) -> None:
    """Pipes between machines: SRTP both ways, keys handed over by the control plane."""
    import os
    import struct

    async with Worker(WorkerConfig(host_addresses=("127.0.0.1",))) as other:
        a = Publisher("alice", RED, amplitude=0.3)
        s = Subscriber("sam")
        try:
            await a.join(worker)
            await s.join(other, video_slots=1, audio_slots=1)
            here = await worker.open_pipe("p1")
            there = await other.open_pipe("p1")
            forth, back = os.urandom(30), os.urandom(30)
            worker.connect_pipe("p1", there, (forth, back))
            other.connect_pipe("p1", here, (back, forth))
            # What crosses the wire, as the far end receives it.
            arrived: list[bytes] = []
            far_pipe = other._pipes["p1"]
            receive = far_pipe.datagram_received

            def record(data: bytes, addr: tuple[object, ...]) -> None:
                arrived.append(bytes(data))
                receive(data, addr)

            far_pipe.datagram_received = record  # type: ignore[method-assign]
            for source_id in ("alice:video", "alice:audio"):
                other.import_source("p1", worker.export_source("p1", source_id))
            other.set_routing("sam", {"v0": "alice:video", "a0": "alice:audio"})
            await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red across the pipe")
            far = other.stats()["pipes"]["p1"]  # type: ignore[index]
            assert far["encrypted"] and far["received"] > 0 and far["rejected"] == 0
            # Encrypted: the VP8 payload descriptor of a packet in clear (0x90 0x80 ... after
            # the header and extensions) is nowhere to be seen in what arrived.
            media = [d for d in arrived if not 192 <= d[1] <= 208]
            assert media
            in_clear = sum(1 for d in media if b"\x90\x80" in d[12:40])
            assert in_clear < len(media) // 10

            # A packet that was not sealed with the key is refused, not played.
            forged = struct.pack("!BBHII", 0x80, 96, 1, 0, 1234) + bytes(100)
            assert far_pipe.remote is not None
            far_pipe.datagram_received(forged, far_pipe.remote)
            assert other.stats()["pipes"]["p1"]["rejected"] == 1  # type: ignore[index]
        finally:
            await a.close()
            await s.close()
