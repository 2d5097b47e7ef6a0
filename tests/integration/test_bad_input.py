"""Bad input gets a clear error; the session and the server stay up and lose no state."""

from __future__ import annotations

import json
import time

import aiohttp
import jwt

from signaling import protocol as p

from .conftest import Running


async def _raw(running: Running) -> aiohttp.ClientWebSocketResponse:
    return await running.http.ws_connect(running.url.replace("http", "ws") + "/ws")


async def _next(ws: aiohttp.ClientWebSocketResponse) -> p.ServerMessage:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return p.decode_server(msg.data)


async def test_oversized_message_closes_with_1009(running: Running) -> None:
    alice = await running.client("Alice")
    await alice.request(p.Join(space_id="booth-01"))
    assert alice.ws is not None
    await alice.ws.send_str(json.dumps({"type": "chat", "text": "x" * (70 * 1024)}))
    await alice.until(lambda: alice.close_code is not None, timeout=5)
    assert alice.close_code == 1009
    # The server is fine and Alice kept her place: she comes back to the same booth.
    again = await running.client_with_token(alice.token)
    assert again.space_id == "booth-01"


async def test_malformed_and_mistyped_messages_get_typed_errors(running: Running) -> None:
    bob = await running.client("Bob")
    cases = [
        ("{not json", "bad_request", None),
        ("[1, 2, 3]", "bad_request", None),
        ('{"text": "no type"}', "unknown_type", None),
        ('{"type": "teleport", "id": "r1"}', "unknown_type", None),
        ('{"type": "join", "id": "r2"}', "invalid", "space_id"),
        ('{"type": "join", "id": "r3", "space_id": 42}', "invalid", "space_id"),
        ('{"type": "chat", "id": "r4", "text": ""}', "invalid", "text"),
        ('{"type": "raise_hand", "id": "r5", "extra": true}', "invalid", "extra"),
    ]
    for raw, code, field in cases:
        waiter = bob.wait_for(p.ErrorReply)
        await bob.send_raw(raw)
        error = await waiter
        assert error.code == code, (raw, error)
        if field is not None:
            assert error.field == field, (raw, error)
        assert error.message
    # Request ids are echoed even when the message is invalid.
    waiter = bob.wait_for(p.ErrorReply)
    await bob.send_raw('{"type": "join", "id": "echo-me"}')
    assert (await waiter).id == "echo-me"
    # A binary frame is refused too.
    waiter = bob.wait_for(p.ErrorReply)
    await bob.send_raw(b"\x00\x01")
    assert (await waiter).code == "bad_request"
    # The session is still up and works.
    await bob.request(p.Join(space_id="booth-02"))
    await bob.until(lambda: bob.space_id == "booth-02")


async def test_unknown_space_and_full_space(running: Running) -> None:
    carl = await running.client("Carl")
    reply = await carl.try_request(p.Join(space_id="nowhere"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "not_found"
    # Booths hold 12 people.
    others = [await running.client(f"Visitor {i}") for i in range(12)]
    for other in others:
        await other.request(p.Join(space_id="booth-05"))
    reply = await carl.try_request(p.Join(space_id="booth-05"))
    assert isinstance(reply, p.ErrorReply) and reply.code == "full"
    assert carl.space_id == "lobby"


async def test_staff_actions_are_forbidden_for_attendees(running: Running) -> None:
    eve = await running.client("Eve")
    victim = await running.client("Victim")
    for message in [
        p.Remove(participant_id=victim.participant_id),
        p.MoveParticipant(participant_id=victim.participant_id, space_id="booth-01"),
        p.OpenRound(room_count=2, duration_s=60),
        p.Broadcast(text="hi"),
        p.MuteRequest(participant_id=victim.participant_id, kind="audio"),
        p.Dismiss(participant_id=victim.participant_id),
        p.SetSpeaker(participant_id=eve.participant_id, on=True),
    ]:
        reply = await eve.try_request(message)
        assert isinstance(reply, p.ErrorReply), message
        assert reply.code == "forbidden", (message, reply)
    await victim.request(p.Ping())
    assert victim.close_code is None and victim.space_id == "lobby"


async def test_chat_flood_is_rate_limited(running: Running) -> None:
    flooder = await running.client("Flooder")
    listener = await running.client("Listener")
    for i in range(40):
        await flooder.send(p.Chat(id=f"c{i}", text=f"spam {i}", scope="event"))
    await flooder.request(p.Ping())
    limited = [m for m in flooder.inbox if isinstance(m, p.ErrorReply) and m.code == "rate_limited"]
    accepted = [m for m in flooder.inbox if isinstance(m, p.Ack) and (m.id or "").startswith("c")]
    assert len(accepted) <= 12 and len(limited) >= 28
    assert "try again" in limited[0].message
    await listener.request(p.Ping())
    received = [m for m in listener.inbox if isinstance(m, p.ChatPosted)]
    assert len(received) == len(accepted)
    # Ordinary requests still work while chat is limited.
    await flooder.request(p.Join(space_id="booth-04"))


async def test_action_flood_is_rate_limited(running: Running) -> None:
    busy = await running.client("Busy")
    for i in range(80):
        await busy.send(p.Join(id=f"j{i}", space_id="booth-09" if i % 2 else "booth-10"))
    await busy.until(
        lambda: any(isinstance(m, p.ErrorReply) and m.code == "rate_limited" for m in busy.inbox)
    )
    assert busy.close_code is None


async def test_bad_and_expired_tokens_are_refused_at_hello(running: Running) -> None:
    for token in [
        "not-a-token",
        jwt.encode({"sub": "x", "name": "X", "role": "attendee", "exp": 9999999999}, "w" * 40),
        running.token("Old", "attendee").replace(".", ".x", 1),
        jwt.encode(
            {"sub": "x", "name": "X", "role": "attendee", "exp": int(time.time()) - 10},
            running.config.resolve_secret(),
        ),
        jwt.encode(
            {"sub": "x", "name": "X", "role": "emperor", "exp": 9999999999},
            running.config.resolve_secret(),
        ),
    ]:
        ws = await _raw(running)
        await ws.send_str(p.encode_text(p.Hello(token=token, id="h")))
        reply = await _next(ws)
        assert isinstance(reply, p.ErrorReply) and reply.code == "unauthorized", token
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4001
        await ws.close()


async def test_first_message_must_be_hello(running: Running) -> None:
    ws = await _raw(running)
    await ws.send_str(p.encode_text(p.Join(space_id="main-stage")))
    reply = await _next(ws)
    assert isinstance(reply, p.ErrorReply) and reply.code == "unauthorized"
    await ws.receive(timeout=5)
    assert ws.close_code == 4001


async def test_silent_socket_is_closed_after_hello_timeout(running: Running) -> None:
    ws = await _raw(running)
    msg = await ws.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 4002


async def test_cross_origin_upgrade_is_refused(running: Running) -> None:
    try:
        await running.http.ws_connect(
            running.url.replace("http", "ws") + "/ws", headers={"Origin": "http://evil.example"}
        )
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("a cross-origin websocket was accepted")


async def test_removed_participant_is_disconnected_and_cannot_return(running: Running) -> None:
    moderator = await running.client("Mod", "moderator")
    troll = await running.client("Troll")
    bystander = await running.client("Bystander")
    for client in (troll, bystander):
        await client.request(p.Join(space_id="main-stage"))
    await troll.request(p.RaiseHand())
    notice = troll.wait_for(p.Removed)
    await moderator.request(p.Remove(participant_id=troll.participant_id, reason="spam"))
    assert (await notice).reason == "spam"
    await troll.until(lambda: troll.close_code is not None)
    assert troll.close_code == 4003
    ws = await _raw(running)
    await ws.send_str(p.encode_text(p.Hello(token=troll.token)))
    reply = await _next(ws)
    assert isinstance(reply, p.ErrorReply) and reply.code == "forbidden"
    await ws.close()
    agenda = await (await running.http.get(f"{running.url}/api/event")).json()
    counts = {s["id"]: s["participants"] for s in agenda["spaces"]}
    assert counts["main-stage"] == 1


async def test_media_messages_answer_not_ready_until_media_is_enabled(running: Running) -> None:
    dana = await running.client("Dana")
    reply = await dana.try_request(p.MediaOffer(sdp="v=0\r\n", kind="publish"))
    assert isinstance(reply, p.ErrorReply) and reply.code in ("not_ready", "invalid")
