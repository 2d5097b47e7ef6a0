"""The application factory: the one place where the parts are wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from signaling.clock import Clock, SystemClock
from signaling.config import Config
from signaling.model import Event, build_demo_event
from signaling.server import rest
from signaling.server.hub import Hub
from signaling.server.keys import CONFIG, HUB, SECRET
from signaling.server.ws import websocket
from signaling.store import EventStore, open_store

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def create_app(
    config: Config | None = None,
    *,
    clock: Clock | None = None,
    store: EventStore | None = None,
    event: Event | None = None,
) -> web.Application:
    """Build the aiohttp application.

    ``clock``, ``store`` and ``event`` default to the wall clock, the store named by the
    config and the demo event; tests pass a fake clock or an event of their own.
    """
    config = config or Config.from_env()
    clock = clock or SystemClock()
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = config
    app[SECRET] = config.resolve_secret()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        chosen = store or await open_store(config.redis_url)
        hub = Hub(config, chosen, clock)
        if event is not None:
            initial = event
        elif config.demo:
            initial = build_demo_event(clock.now())
        else:
            initial = Event.create("podium", "Podium")
        await hub.start(initial)
        app[HUB] = hub
        yield
        await hub.stop()
        await chosen.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/ws", websocket)
    rest.add_routes(app)
    static_dir = Path(config.static_dir) if config.static_dir else WEB_DIR
    if static_dir.is_dir():

        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(static_dir / "index.html")

        if (static_dir / "index.html").exists():
            app.router.add_get("/", index)
        app.router.add_static("/static/", static_dir, follow_symlinks=False)
    return app
