"""The ``/ws`` endpoint: one websocket per participant, JSON messages of the protocol."""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
from aiohttp import WSMsgType, web

from signaling import protocol as p
from signaling.auth import Identity, TokenError, verify_token
from signaling.model import ModelError
from signaling.protocol import (
    CLOSE_HELLO_TIMEOUT,
    CLOSE_UNAUTHORIZED,
)
from signaling.server.actions import ActionError, perform
from signaling.server.hub import Hub
from signaling.server.keys import CONFIG, HUB, SECRET
from signaling.server.session import Session

log = logging.getLogger(__name__)

# Requests that cost nothing to serve are not counted against the action budget.
_FREE = frozenset({"ping"})


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """Refuse cross-origin upgrades: a page elsewhere must not act for our users."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (bots, scripts); they authenticate with a token
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == request.host


async def websocket(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    if not origin_allowed(request, config.allowed_origins):
        raise web.HTTPForbidden(text="cross-origin websocket refused")
    ws = web.WebSocketResponse(max_msg_size=p.MAX_MESSAGE_BYTES, heartbeat=30.0, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB]
    identity = await _hello(request, ws)
    if identity is None:
        return ws
    session = Session(identity, ws, config, hub.clock.now())
    session.start()
    try:
        profile = await hub.store.get_profile(identity.participant_id) or {}
        await hub.attach(session, list(profile.get("interests", [])))
        await _serve(hub, session, ws)
    finally:
        hub.detach(session)
        session.close()
        await _finish(session)
    return ws


async def _finish(session: Session) -> None:
    # Let the writer deliver what is queued (a final error, `removed`) before it stops.
    await session.drain(timeout=2.0)
    await session.stop()


def _send(ws: web.WebSocketResponse, message: msgspec.Struct) -> Any:
    return ws.send_str(p.encode_text(message))


async def _hello(request: web.Request, ws: web.WebSocketResponse) -> Identity | None:
    """Wait for ``hello`` and verify its token; close the socket on failure."""
    config = request.app[CONFIG]
    hub = request.app[HUB]
    try:
        msg = await ws.receive(timeout=config.hello_timeout_s)
    except TimeoutError:
        await ws.close(code=CLOSE_HELLO_TIMEOUT, message=b"no hello in time")
        return None
    if msg.type != WSMsgType.TEXT:
        if msg.type in (WSMsgType.BINARY,):
            await _send(ws, p.ErrorReply(code="bad_request", message="send JSON text frames"))
            await ws.close(code=CLOSE_UNAUTHORIZED, message=b"hello expected")
        return None
    try:
        hello = p.decode_client(msg.data)
    except p.ProtocolError as exc:
        await _send(ws, exc.to_reply())
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"hello expected")
        return None
    if not isinstance(hello, p.Hello):
        await _send(
            ws,
            p.ErrorReply(
                id=hello.id, code="unauthorized", message="the first message must be `hello`"
            ),
        )
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"hello expected")
        return None
    if hello.protocol != p.PROTOCOL_VERSION:
        await _send(
            ws,
            p.ErrorReply(
                id=hello.id,
                code="invalid",
                message=f"this server speaks protocol {p.PROTOCOL_VERSION}, not {hello.protocol}",
                field="protocol",
            ),
        )
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"protocol version")
        return None
    try:
        identity = verify_token(request.app[SECRET], hello.token, now=hub.clock.now())
    except TokenError as exc:
        await _send(ws, p.ErrorReply(id=hello.id, code="unauthorized", message=str(exc)))
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"bad token")
        return None
    profile = await hub.store.get_profile(identity.participant_id)
    if identity.participant_id in hub.removed or (profile or {}).get("removed"):
        await _send(
            ws,
            p.ErrorReply(id=hello.id, code="forbidden", message="you were removed from the event"),
        )
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"removed")
        return None
    return identity


async def _serve(hub: Hub, session: Session, ws: web.WebSocketResponse) -> None:
    """Read requests until the socket closes; every request gets an ack or an error."""
    async for msg in ws:
        if session.closed:
            break
        if msg.type == WSMsgType.TEXT:
            reply = await _handle(hub, session, msg.data)
            if reply is not None:
                session.send(p.encode_text(reply))
        elif msg.type == WSMsgType.BINARY:
            session.send(
                p.encode_text(
                    p.ErrorReply(
                        code="bad_request", message="binary frames are not part of the protocol"
                    )
                )
            )
        elif msg.type == WSMsgType.ERROR:
            log.info("websocket of %s failed: %s", session.participant_id, ws.exception())
            break


async def _handle(hub: Hub, session: Session, data: str) -> msgspec.Struct | None:
    now = hub.clock.now()
    try:
        message = p.decode_client(data)
    except p.ProtocolError as exc:
        if not session.action_bucket.take(now):
            return _rate_limited(exc.request_id, session.action_bucket.retry_after())
        return exc.to_reply()
    tag = cast(str, type(message).__struct_config__.tag)
    request_id = message.id
    if tag == "chat":
        if not session.chat_bucket.take(now):
            return _rate_limited(request_id, session.chat_bucket.retry_after(), "chat messages")
    elif tag not in _FREE and not session.action_bucket.take(now):
        return _rate_limited(request_id, session.action_bucket.retry_after())
    if isinstance(message, p.Ping):
        return p.Pong(id=request_id, server_time=now)
    if isinstance(message, p.Hello):
        return p.ErrorReply(id=request_id, code="conflict", message="already signed in")
    try:
        result = await perform(hub, session.identity, message)
    except ModelError as exc:
        return p.ErrorReply(
            id=request_id, code=cast(p.ErrorCode, exc.code), message=exc.message, field=exc.field
        )
    except ActionError as exc:
        return p.ErrorReply(id=request_id, code=exc.code, message=exc.message, field=exc.field)
    except Exception:
        log.exception("request %s of %s failed", tag, session.participant_id)
        return p.ErrorReply(id=request_id, code="internal", message="the server failed; sorry")
    return p.Ack(id=request_id, result=result)


def _rate_limited(
    request_id: str | None, retry_after: float, what: str = "requests"
) -> p.ErrorReply:
    return p.ErrorReply(
        id=request_id,
        code="rate_limited",
        message=f"too many {what}; try again in {retry_after:.1f} s",
    )
