"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from aiohttp import web

from signaling.config import Config
from signaling.server.hub import Hub

CONFIG = web.AppKey("config", Config)
HUB = web.AppKey("hub", Hub)
SECRET = web.AppKey("secret", str)
