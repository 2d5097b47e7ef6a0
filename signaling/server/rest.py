"""HTTP endpoints: registration, the agenda, health, and moderator actions for scripts."""

from __future__ import annotations

import time
from typing import Annotated, Any, cast

import msgspec
from aiohttp import web

from signaling import protocol as p
from signaling.auth import Identity, TokenError, issue_token, new_participant_id, verify_token
from signaling.model import STAFF_ROLES, ModelError
from signaling.server import views
from signaling.server.actions import ActionError, perform
from signaling.server.keys import CONFIG, HUB, SECRET
from signaling.server.ratelimit import TokenBucket

MAX_BODY_BYTES = 16 * 1024

REGISTER_BUCKETS = web.AppKey("register_buckets", dict[str, TokenBucket])

Interest = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/register``: free registration with a display name."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=p.MAX_NAME_CHARS)]
    interests: Annotated[list[Interest], msgspec.Meta(max_length=10)] = []


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if field is not None:
        body["error"]["field"] = field
    return web.json_response(body, status=status)


_STATUS = {
    "bad_request": 400,
    "invalid": 400,
    "unknown_type": 404,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "full": 409,
    "rate_limited": 429,
    "too_large": 413,
    "not_ready": 503,
    "internal": 500,
}


async def _read_json(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ActionError("too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ActionError("too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    return body


async def register(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    config = request.app[CONFIG]
    buckets: dict[str, TokenBucket] = request.app[REGISTER_BUCKETS]
    peer = request.remote or "?"
    now = time.monotonic()
    bucket = buckets.get(peer)
    if bucket is None:
        if len(buckets) > 10_000:
            buckets.clear()
        bucket = buckets[peer] = TokenBucket(config.register_rate, now)
    if not bucket.take(now):
        return _error(429, "rate_limited", "too many registrations from this address")
    try:
        body = await _read_json(request)
        reg = msgspec.json.decode(body, type=Registration)
    except ActionError as exc:
        return _error(_STATUS[exc.code], exc.code, exc.message)
    except msgspec.ValidationError as exc:
        return _error(400, "invalid", f"registration refused: {exc}")
    except msgspec.DecodeError:
        return _error(400, "bad_request", 'the body must be a JSON object like {"name": ...}')
    name = reg.name.strip()
    if not name:
        return _error(400, "invalid", "a display name cannot be blank", "name")
    pid = new_participant_id()
    await hub.store.put_profile(pid, {"name": name, "interests": reg.interests})
    token = issue_token(
        request.app[SECRET], pid, name, "attendee", ttl_s=config.token_ttl_s, now=hub.clock.now()
    )
    return web.json_response({"token": token, "participant_id": pid, "role": "attendee"})


async def event(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response(views.agenda(await hub.store.get()))


async def healthz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    current = await hub.store.get()
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(hub.sessions),
            "participants": len(current.participants),
            "version": current.version,
            # Each media worker: name, process id, whether it runs, its endpoints.
            "media_workers": hub.media.summary() if hub.media is not None else [],
        }
    )


def _bearer(request: web.Request) -> Identity:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ActionError("unauthorized", "send `Authorization: Bearer <token>`")
    try:
        return verify_token(request.app[SECRET], token.strip(), now=request.app[HUB].clock.now())
    except TokenError as exc:
        raise ActionError("unauthorized", str(exc)) from exc


async def moderate(request: web.Request) -> web.Response:
    """``POST /api/moderate/{action}``: a staff message of the protocol, body as JSON."""
    action = request.match_info["action"]
    if action not in p.STAFF_MESSAGE_TYPES:
        return _error(404, "unknown_type", f"no moderator action `{action}`")
    try:
        who = _bearer(request)
        body = await _read_json(request)
        fields = msgspec.json.decode(body) if body.strip() else {}
        if not isinstance(fields, dict):
            raise ActionError("bad_request", "the body must be a JSON object")
        message = p.convert_client({**fields, "type": action})
        result = await perform(request.app[HUB], who, message)
    except p.ProtocolError as exc:
        return _error(_STATUS.get(exc.code, 400), exc.code, exc.message, exc.field)
    except msgspec.DecodeError:
        return _error(400, "bad_request", "the body is not valid JSON")
    except ActionError as exc:
        return _error(_STATUS[exc.code], exc.code, exc.message, exc.field)
    except ModelError as exc:
        return _error(_STATUS.get(exc.code, 400), exc.code, exc.message, exc.field)
    return web.json_response({"ok": True, "result": cast(Any, result)})


async def media_stats(request: web.Request) -> web.Response:
    """``GET /api/media/stats``: packet counters of every media worker, for operators and
    load tests (``Authorization: Bearer <moderator token>``)."""
    hub = request.app[HUB]
    try:
        who = _bearer(request)
        if who.role not in STAFF_ROLES:
            raise ActionError("forbidden", "media statistics are for moderators and hosts")
    except ActionError as exc:
        return _error(_STATUS[exc.code], exc.code, exc.message, exc.field)
    if hub.media is None:
        return _error(_STATUS["not_ready"], "not_ready", "media is not enabled on this server")
    return web.json_response({"workers": await hub.media.counters()})


def add_routes(app: web.Application) -> None:
    app[REGISTER_BUCKETS] = {}
    app.router.add_post("/api/register", register)
    app.router.add_get("/api/event", event)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/moderate/{action}", moderate)
    app.router.add_get("/api/media/stats", media_stats)
