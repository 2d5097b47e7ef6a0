"""Large spaces get counts and coalesced deltas, not a member list per arrival."""

from __future__ import annotations

import asyncio

from signaling import protocol as p

from .conftest import Running


async def test_stage_audience_gets_counts_not_member_lists(running: Running) -> None:
    watcher = await running.client("Watcher")
    await watcher.request(p.Join(space_id="main-stage"))
    assert watcher.snapshot is not None and watcher.snapshot.members is None
    crowd = await asyncio.gather(*(running.client(f"Crowd {i}") for i in range(40)))
    await asyncio.gather(*(c.request(p.Join(space_id="main-stage")) for c in crowd))
    await watcher.until(lambda: watcher.member_count == 41)
    await watcher.request(p.Ping())
    stage_deltas = [
        m for m in watcher.inbox if isinstance(m, p.SpaceDelta) and m.space_id == "main-stage"
    ]
    counts = [m for m in watcher.inbox if isinstance(m, p.Counts)]
    assert stage_deltas == []  # no per-person membership traffic on a stage
    assert 1 <= len(counts) < 40  # coalesced: fewer messages than arrivals
    assert counts[-1].counts["main-stage"] == 41


async def test_booth_members_are_listed_and_coalesced(running: Running) -> None:
    host = await running.client("Booth host")
    await host.request(p.Join(space_id="booth-11"))
    visitors = await asyncio.gather(*(running.client(f"Visitor {i}") for i in range(8)))
    await asyncio.gather(*(v.request(p.Join(space_id="booth-11")) for v in visitors))
    await host.until(lambda: len(host.members) == 9)
    deltas = [m for m in host.inbox if isinstance(m, p.SpaceDelta)]
    announced = {info.id for d in deltas for info in d.joined}
    assert {v.participant_id for v in visitors} <= announced
    assert len(deltas) <= 9  # at most one per arrival, usually far fewer
    assert {m.name for m in host.members.values()} >= {"Visitor 0", "Visitor 7"}
    # Leaving shows up as well.
    await visitors[0].request(p.Leave())
    await host.until(lambda: visitors[0].participant_id not in host.members)
    assert host.member_count == 8
