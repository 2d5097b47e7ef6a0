from __future__ import annotations

from signaling import protocol as p

from .conftest import Running


async def test_register_connect_and_join_stage(running: Running) -> None:
    alice = await running.client("Alice")
    assert alice.space_id == "lobby"
    ack = await alice.request(p.Join(space_id="main-stage"))
    assert ack.result and ack.result["space_id"] == "main-stage"
    await alice.until(lambda: alice.space_id == "main-stage")
    assert alice.snapshot is not None and alice.snapshot.slots is not None
