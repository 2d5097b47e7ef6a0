from __future__ import annotations

import asyncio

from sfu_peers import Publisher, Subscriber, near, wait_for

RED = (220, 40, 40)
BLUE = (40, 40, 220)


async def test_smoke(worker):
    a = Publisher("alice", RED)
    b = Publisher("bob", BLUE)
    s = Subscriber("sam")
    try:
        await a.join(worker)
        await b.join(worker)
        await s.join(worker)
        print(worker.sources())
        worker.set_routing("sam", {"v0": "alice:video", "a0": "alice:audio"})
        await wait_for(lambda: near(s.slot_colour("v0"), RED), 10, "red on v0")
        worker.set_routing("sam", {"v0": "bob:video"})
        await wait_for(lambda: near(s.slot_colour("v0"), BLUE), 10, "blue on v0")
        print(worker.stats())
    finally:
        await s.close(); await a.close(); await b.close()
