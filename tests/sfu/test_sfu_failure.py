"""A participant's connection dies: its sources leave every plan at once."""

from __future__ import annotations

import pytest
from sfu_peers import Publisher, Subscriber, near, wait_for

from sfu import RoutingError, SourceInfo, Worker

pytestmark = pytest.mark.media

RED = (220, 40, 40)
BLUE = (40, 40, 220)


async def test_a_publisher_whose_connection_dies_leaves_the_plans(worker: Worker) -> None:
    removed: list[SourceInfo] = []
    failed: list[str] = []
    worker.on_source_removed = removed.append
    worker.on_failed = lambda endpoint_id, reason: failed.append(endpoint_id)
    a = Publisher("alice", RED)
    b = Publisher("bob", BLUE)
    s = Subscriber("sam")
    try:
        await a.join(worker)
        await b.join(worker)
        await s.join(worker, video_slots=2, audio_slots=0)
        worker.set_routing("sam", {"v0": "alice:video", "v1": "bob:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "alice on v0")
        await wait_for(lambda: near(s.slot_colour("v1"), BLUE), 10, "bob on v1")

        await a.close()  # alice's side goes away
        await wait_for(lambda: "alice" in failed, 10, "alice's connection failing")
        assert sorted(i.source_id for i in removed) == ["alice:audio", "alice:video"]
        assert "alice:video" not in {i.source_id for i in worker.sources()}

        # Sam keeps bob.
        frames = s.slot_frames("v1")
        await wait_for(lambda: s.slot_frames("v1") > frames + 10, 5, "bob still playing")
        assert near(s.slot_colour("v1"), BLUE)

        # A plan naming alice is refused and changes nothing; one without her applies.
        with pytest.raises(RoutingError, match="alice:video"):
            worker.set_routing("sam", {"v0": "alice:video", "v1": None})
        assert worker.routing("sam") == {"v0": None, "v1": "bob:video"}
        worker.set_routings({"sam": {"v0": "bob:video", "v1": None}})
        assert worker.routing("sam") == {"v0": "bob:video", "v1": None}
        await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 5, "bob on v0")

        # Closing alice's endpoint afterwards tells nothing twice.
        await worker.close_endpoint("alice")
        assert len(removed) == 2
    finally:
        await s.close()
        await b.close()
