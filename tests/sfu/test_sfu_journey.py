"""A participant's journey through a conference, as the control plane would route it:
stage, booth, promotion into a Q&A slot, demotion, a discussion round and back. Only
slots are re-pointed; nobody's connection is renegotiated."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sfu_peers import Publisher, Subscriber, near, unwrap, wait_for

from sfu import Worker

pytestmark = pytest.mark.media

HOST = (220, 40, 40)
BOOTH_1 = (40, 40, 220)
BOOTH_2 = (40, 200, 40)
ROUND_MATE = (220, 220, 40)
PAT = (200, 40, 200)


async def test_journey_stage_booth_qa_round_and_back(worker: Worker) -> None:
    publishers = [
        Publisher("host", HOST),
        Publisher("booth1", BOOTH_1),
        Publisher("booth2", BOOTH_2),
        Publisher("mate", ROUND_MATE),
    ]
    pat_camera = Publisher("pat", PAT)
    pat = Subscriber("pat")
    viewer = Subscriber("viewer")
    try:
        for p in publishers:
            await p.join(worker)
        # Pat publishes and watches on one endpoint, negotiated once at join.
        joined = await pat_camera.join(worker, video_slots=2, audio_slots=0)
        await worker.set_subscribe_answer("pat", await pat.accept_offer(joined.subscribe_offer_sdp))
        pat.mid_of_slot = {s.slot_id: s.mid for s in joined.slots}
        await viewer.join(worker, video_slots=2, audio_slots=0)

        # On the stage: both watch the host; pat's camera reaches nobody.
        worker.set_routing("pat", {"v0": "host:video", "v1": None})
        worker.set_routing("viewer", {"v0": "host:video", "v1": None})
        await wait_for(lambda: near(pat.slot_colour("v0"), HOST), 10, "host for pat")
        await wait_for(lambda: near(viewer.slot_colour("v0"), HOST), 10, "host for viewer")

        # Pat visits a booth: its two team members.
        worker.set_routing("pat", {"v0": "booth1:video", "v1": "booth2:video"})
        await wait_for(lambda: near(pat.slot_colour("v0"), BOOTH_1), 10, "booth1 in v0")
        await wait_for(lambda: near(pat.slot_colour("v1"), BOOTH_2), 10, "booth2 in v1")

        # Back on the stage, pat is promoted into a Q&A slot: the audience sees pat.
        worker.set_routing("pat", {"v0": "host:video", "v1": None})
        worker.set_routing("viewer", {"v1": "pat:video"})
        await wait_for(lambda: near(viewer.slot_colour("v1"), PAT), 10, "pat on stage")
        await wait_for(lambda: near(pat.slot_colour("v0"), HOST), 10, "host again for pat")

        # Demoted: pat's camera leaves the audience at once.
        worker.set_routing("viewer", {"v1": None})
        received = viewer.packets("v1")
        await asyncio.sleep(0.3)
        assert viewer.packets("v1") - received <= 2

        # A discussion round with a round mate, then everyone back on the stage.
        worker.set_routing("pat", {"v0": "mate:video"})
        await wait_for(lambda: near(pat.slot_colour("v0"), ROUND_MATE), 10, "round mate")
        worker.set_routing("pat", {"v0": "host:video"})
        await wait_for(lambda: near(pat.slot_colour("v0"), HOST), 10, "host after the round")

        for subscriber in (pat, viewer):
            assert subscriber.offers_received == 1
            assert subscriber.pc.signalingState == "stable"
        for slot_id in ("v0", "v1"):
            values = sorted(set(unwrap(pat.seqs[pat.slot_ssrc(slot_id)])))
            assert all(b == a + 1 for a, b in itertools.pairwise(values)), slot_id
        values = sorted(set(unwrap(viewer.seqs[viewer.slot_ssrc("v1")])))
        assert all(b == a + 1 for a, b in itertools.pairwise(values))
        assert worker.stats()["endpoints"]["pat"]["slots"]["v0"]["switches"] == 5  # type: ignore[index]
    finally:
        await pat.close()
        await viewer.close()
        await pat_camera.close()
        for p in publishers:
            await p.close()
