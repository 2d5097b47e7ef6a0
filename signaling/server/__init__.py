"""The aiohttp application: websocket sessions, REST endpoints and the fan-out hub."""

from signaling.server.app import create_app

__all__ = ["create_app"]
