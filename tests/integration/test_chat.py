"""Chat reaches the members of a space and nobody else; event chat reaches everyone."""

from __future__ import annotations

import asyncio

from signaling import protocol as p

from .conftest import Running


async def test_space_chat_reaches_members_only(running: Running) -> None:
    ana, ben, cy = [await running.client(n) for n in ("Ana", "Ben", "Cy")]
    for client in (ana, ben):
        await client.request(p.Join(space_id="booth-07"))
    await cy.request(p.Join(space_id="booth-08"))
    arrived = ben.wait_for(p.ChatPosted)
    await ana.request(p.Chat(text="Welcome to our booth!"))
    message = (await arrived).message
    assert message.text == "Welcome to our booth!"
    assert message.sender_name == "Ana" and message.space_id == "booth-07"
    # Cy is in another booth: a ping round trip later, still nothing arrived.
    await cy.request(p.Ping())
    await ana.request(p.Ping())
    assert not any(isinstance(m, p.ChatPosted) for m in cy.inbox)


async def test_event_chat_reaches_everyone(running: Running) -> None:
    clients = [await running.client(f"E{i}") for i in range(4)]
    await clients[1].request(p.Join(space_id="booth-01"))
    await clients[2].request(p.Join(space_id="main-stage"))
    waits = [c.wait_for(p.ChatPosted) for c in clients]
    await clients[0].request(p.Chat(text="Hello summit", scope="event"))
    for wait in waits:
        assert (await wait).message.text == "Hello summit"


async def test_late_joiner_sees_last_200_messages(running: Running) -> None:
    running.config.chat_rate.rate = 10_000  # this test posts a lot, quickly
    running.config.chat_rate.burst = 10_000
    talker = await running.client("Talker")
    await talker.request(p.Join(space_id="booth-02"))
    for i in range(230):
        await talker.send(p.Chat(text=f"message {i}"))
    await talker.request(p.Ping())
    late = await running.client("Late")
    snap = late.wait_for(p.Snapshot)
    await late.request(p.Join(space_id="booth-02"))
    history = [c.text for c in (await snap).chat]
    assert len(history) == 200
    assert history[0] == "message 30" and history[-1] == "message 229"


async def test_html_in_chat_is_kept_as_text(running: Running) -> None:
    a, b = await asyncio.gather(running.client("A"), running.client("B"))
    wait = b.wait_for(p.ChatPosted)
    await a.request(p.Chat(text="<img src=x onerror=alert(1)>", scope="event"))
    assert (await wait).message.text == "<img src=x onerror=alert(1)>"
